//! `/api/members`: who belongs to the organization, with which roles.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, ErrorBody, Json, Path};
use crate::orgs::members::{self, MemberView};

permissions! {
    ListMembers = "Member:Collection:List",
    AddMember = "Member:Collection:Create",
    UpdateMember = "Member:Instance:Update",
    RemoveMember = "Member:Instance:Delete",
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateMemberRequest {
    role_ids: Vec<Uuid>,
}

/// The organization's members with their roles.
#[utoipa::path(
    get,
    path = "/api/members",
    tag = "members",
    operation_id = "members_list",
    responses(
        (status = 200, description = "The members, oldest first.", body = Vec<MemberView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListMembers>,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    Ok(Json(
        members::list_members(&state.db, member.org_id()).await?,
    ))
}

async fn view(state: &AppState, org: Uuid, id: Uuid) -> Result<MemberView, ApiError> {
    members::list_members(&state.db, org)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(ApiError::NotFound("member"))
}

/// Replaces the member's roles.
#[utoipa::path(
    put,
    path = "/api/members/{id}",
    tag = "members",
    operation_id = "members_update",
    params(("id" = Uuid, Path, description = "The member's id.")),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member with its new roles.", body = MemberView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateMember>,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateMemberRequest>,
) -> Result<Json<MemberView>, ApiError> {
    members::set_roles(
        &state.db,
        member.org_id(),
        id,
        &req.role_ids,
        member.granter(),
    )
    .await?;
    Ok(Json(view(&state, member.org_id(), id).await?))
}

/// Removes the member from the organization (the account stays).
#[utoipa::path(
    delete,
    path = "/api/members/{id}",
    tag = "members",
    operation_id = "members_remove",
    params(("id" = Uuid, Path, description = "The member's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`conflict`: the owner cannot be removed.", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    member: Allowed<RemoveMember>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    members::remove_member(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
