//! `/api/members`: who belongs to the organization, with which roles.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};
use crate::orgs::members::{self, MemberView};

permissions! {
    ListMembers = "Member:Collection:List",
    AddMember = "Member:Collection:Create",
    UpdateMember = "Member:Instance:Update",
    RemoveMember = "Member:Instance:Delete",
}

#[derive(Deserialize)]
pub struct AddMemberRequest {
    email: String,
    password: Option<String>,
    #[serde(default)]
    role_ids: Vec<Uuid>,
}

#[derive(Deserialize)]
pub struct UpdateMemberRequest {
    role_ids: Vec<Uuid>,
}

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

pub async fn add(
    State(state): State<AppState>,
    member: Allowed<AddMember>,
    Json(req): Json<AddMemberRequest>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let id = members::add_member(
        &state.db,
        member.org_id(),
        &req.email,
        req.password.as_deref(),
        &req.role_ids,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, member.org_id(), id).await?),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateMember>,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateMemberRequest>,
) -> Result<Json<MemberView>, ApiError> {
    members::set_roles(&state.db, member.org_id(), id, &req.role_ids).await?;
    Ok(Json(view(&state, member.org_id(), id).await?))
}

pub async fn remove(
    State(state): State<AppState>,
    member: Allowed<RemoveMember>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    members::remove_member(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
