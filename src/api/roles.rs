//! `/api/roles` and `/api/permissions`: what can be granted, and named sets of grants.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, CurrentMember, Permission, permissions};
use crate::error::{ApiError, ErrorBody, Json, Path};
use crate::orgs::roles::{self, RoleView};

permissions! {
    ListRoles = "Role:Collection:List",
    CreateRole = "Role:Collection:Create",
    ReadRole = "Role:Instance:Read",
    UpdateRole = "Role:Instance:Update",
    DeleteRole = "Role:Instance:Delete",
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateRoleRequest {
    name: String,
    #[serde(default)]
    permissions: Vec<Permission>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateRoleRequest {
    name: Option<String>,
    permissions: Option<Vec<Permission>>,
}

/// Every permission a role can grant.
#[utoipa::path(
    get,
    path = "/api/permissions",
    tag = "roles",
    operation_id = "roles_catalog",
    responses(
        (status = 200, body = Vec<Permission>, description = "Every permission, \
            `Resource:Level:Variant`."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn catalog(_member: CurrentMember) -> Json<Vec<Permission>> {
    Json(Permission::catalog())
}

/// The organization's roles.
#[utoipa::path(
    get,
    path = "/api/roles",
    tag = "roles",
    operation_id = "roles_list",
    responses(
        (status = 200, description = "The roles.", body = Vec<RoleView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListRoles>,
) -> Result<Json<Vec<RoleView>>, ApiError> {
    let all = roles::list_roles(&state.db, member.org_id()).await?;
    Ok(Json(all.into_iter().map(RoleView::from).collect()))
}

/// Creates a role; an unknown permission is a 422.
#[utoipa::path(
    post,
    path = "/api/roles",
    tag = "roles",
    operation_id = "roles_create",
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "The new role.", body = RoleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`conflict`: a role has this name.", body = ErrorBody),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    member: Allowed<CreateRole>,
    Json(req): Json<CreateRoleRequest>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    let role = roles::create_role(&state.db, member.org_id(), &req.name, &req.permissions).await?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

/// One role.
#[utoipa::path(
    get,
    path = "/api/roles/{id}",
    tag = "roles",
    operation_id = "roles_read",
    params(("id" = Uuid, Path, description = "The role's id.")),
    responses(
        (status = 200, description = "The role.", body = RoleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadRole>,
    Path(id): Path<Uuid>,
) -> Result<Json<RoleView>, ApiError> {
    Ok(Json(
        roles::find_role(&state.db, member.org_id(), id)
            .await?
            .into(),
    ))
}

/// Renames the role and/or replaces its permissions; what is absent stays.
#[utoipa::path(
    put,
    path = "/api/roles/{id}",
    tag = "roles",
    operation_id = "roles_update",
    params(("id" = Uuid, Path, description = "The role's id.")),
    request_body = UpdateRoleRequest,
    responses(
        (status = 200, description = "The role as it now is.", body = RoleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`conflict`: another role has this name.", body = ErrorBody),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateRole>,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateRoleRequest>,
) -> Result<Json<RoleView>, ApiError> {
    let role = roles::update_role(
        &state.db,
        member.org_id(),
        id,
        req.name.as_deref(),
        req.permissions.as_deref(),
    )
    .await?;
    Ok(Json(role.into()))
}

/// Deletes the role.
#[utoipa::path(
    delete,
    path = "/api/roles/{id}",
    tag = "roles",
    operation_id = "roles_delete",
    params(("id" = Uuid, Path, description = "The role's id.")),
    responses(
        (status = 204, description = "Deleted; members keep their other roles."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    member: Allowed<DeleteRole>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    roles::delete_role(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
