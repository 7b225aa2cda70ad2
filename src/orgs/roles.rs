//! Roles: named sets of permissions within one organization.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::OrgError;
use crate::auth::Permission;
use crate::entity::role;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<role::Model> for RoleView {
    fn from(r: role::Model) -> Self {
        Self {
            id: r.id,
            permissions: permission_strings(&r.permissions),
            name: r.name,
            created_at: r.created_at,
        }
    }
}

/// The strings stored in a role's JSON array; anything else in it is ignored.
pub fn permission_strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn check_name(name: &str) -> Result<String, OrgError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(OrgError::InvalidRoleName);
    }
    Ok(name.to_owned())
}

fn to_json(permissions: &[Permission]) -> serde_json::Value {
    let mut strings: Vec<&str> = permissions.iter().map(Permission::as_str).collect();
    strings.sort_unstable();
    strings.dedup();
    serde_json::json!(strings)
}

pub async fn list_roles(
    db: &impl ConnectionTrait,
    org: Uuid,
) -> Result<Vec<role::Model>, OrgError> {
    Ok(role::Entity::find()
        .filter(role::Column::OrganizationId.eq(org))
        .order_by_asc(role::Column::Name)
        .all(db)
        .await?)
}

/// A role of `org`; another organization's role is "not found", never "forbidden".
pub async fn find_role(
    db: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<role::Model, OrgError> {
    role::Entity::find_by_id(id)
        .filter(role::Column::OrganizationId.eq(org))
        .one(db)
        .await?
        .ok_or(OrgError::NotFound("role"))
}

/// Checks that `role_ids` are roles of `org` that someone holding `granter` may give: each
/// permission of each role must be one of theirs (`None`: an owner, who holds them all). A
/// member who may add members or change roles still cannot make anyone more than themselves.
pub async fn grantable(
    db: &impl ConnectionTrait,
    org: Uuid,
    role_ids: &[Uuid],
    granter: Option<&[Permission]>,
) -> Result<(), OrgError> {
    for id in role_ids {
        let role = find_role(db, org, *id).await?;
        if let Some(held) = granter {
            for wanted in permission_strings(&role.permissions) {
                if !held.iter().any(|p| p.grants(&wanted)) {
                    return Err(OrgError::CannotGrant(wanted));
                }
            }
        }
    }
    Ok(())
}

fn name_taken(e: sea_orm::DbErr, name: &str) -> OrgError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            OrgError::RoleNameTaken(name.to_owned())
        }
        _ => e.into(),
    }
}

pub async fn create_role(
    db: &impl ConnectionTrait,
    org: Uuid,
    name: &str,
    permissions: &[Permission],
) -> Result<role::Model, OrgError> {
    let name = check_name(name)?;
    let now = Utc::now();
    role::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        name: Set(name.clone()),
        permissions: Set(to_json(permissions)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| name_taken(e, &name))
}

pub async fn update_role(
    db: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
    name: Option<&str>,
    permissions: Option<&[Permission]>,
) -> Result<role::Model, OrgError> {
    let existing = find_role(db, org, id).await?;
    let mut active = existing.into_active_model();
    let mut new_name = String::new();
    if let Some(name) = name {
        new_name = check_name(name)?;
        active.name = Set(new_name.clone());
    }
    if let Some(permissions) = permissions {
        active.permissions = Set(to_json(permissions));
    }
    active.updated_at = Set(Utc::now());
    active
        .update(db)
        .await
        .map_err(|e| name_taken(e, &new_name))
}

pub async fn delete_role(db: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<(), OrgError> {
    let role = find_role(db, org, id).await?;
    role::Entity::delete_by_id(role.id).exec(db).await?;
    Ok(())
}
