//! `/api/roles` and `/api/permissions`: what can be granted, and named sets of grants.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, CurrentMember, Permission, permissions};
use crate::error::{ApiError, Json, Path};
use crate::orgs::roles::{self, RoleView};

permissions! {
    ListRoles = "Role:Collection:List",
    CreateRole = "Role:Collection:Create",
    ReadRole = "Role:Instance:Read",
    UpdateRole = "Role:Instance:Update",
    DeleteRole = "Role:Instance:Delete",
}

#[derive(Deserialize)]
pub struct CreateRoleRequest {
    name: String,
    #[serde(default)]
    permissions: Vec<Permission>,
}

#[derive(Deserialize)]
pub struct UpdateRoleRequest {
    name: Option<String>,
    permissions: Option<Vec<Permission>>,
}

pub async fn catalog(_member: CurrentMember) -> Json<Vec<Permission>> {
    Json(Permission::catalog())
}

pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListRoles>,
) -> Result<Json<Vec<RoleView>>, ApiError> {
    let all = roles::list_roles(&state.db, member.org_id()).await?;
    Ok(Json(all.into_iter().map(RoleView::from).collect()))
}

pub async fn create(
    State(state): State<AppState>,
    member: Allowed<CreateRole>,
    Json(req): Json<CreateRoleRequest>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    let role = roles::create_role(&state.db, member.org_id(), &req.name, &req.permissions).await?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

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

pub async fn delete(
    State(state): State<AppState>,
    member: Allowed<DeleteRole>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    roles::delete_role(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
