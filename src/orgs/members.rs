//! Members of an organization and the roles they hold.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::OrgError;
use super::roles::find_role;
use crate::entity::{member, member_role, role, user};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub is_owner: bool,
    pub roles: Vec<RoleRef>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Clone, utoipa::ToSchema)]
pub struct RoleRef {
    pub id: Uuid,
    pub name: String,
}

pub async fn list_members(db: &DatabaseConnection, org: Uuid) -> Result<Vec<MemberView>, OrgError> {
    let members = member::Entity::find()
        .filter(member::Column::OrganizationId.eq(org))
        .order_by_asc(member::Column::CreatedAt)
        .find_also_related(user::Entity)
        .all(db)
        .await?;
    let assignments = member_role::Entity::find()
        .filter(member_role::Column::OrganizationId.eq(org))
        .find_also_related(role::Entity)
        .all(db)
        .await?;
    let mut roles_of: HashMap<Uuid, Vec<RoleRef>> = HashMap::new();
    for (assignment, role) in assignments {
        if let Some(role) = role {
            roles_of
                .entry(assignment.member_id)
                .or_default()
                .push(RoleRef {
                    id: role.id,
                    name: role.name,
                });
        }
    }
    Ok(members
        .into_iter()
        .filter_map(|(m, u)| {
            let u = u?;
            let mut roles = roles_of.remove(&m.id).unwrap_or_default();
            roles.sort_by(|a, b| a.name.cmp(&b.name));
            Some(MemberView {
                id: m.id,
                user_id: u.id,
                email: u.email,
                name: u.name,
                is_owner: m.is_owner,
                roles,
                created_at: m.created_at,
            })
        })
        .collect())
}

pub async fn find_member(
    db: &impl sea_orm::ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<member::Model, OrgError> {
    member::Entity::find_by_id(id)
        .filter(member::Column::OrganizationId.eq(org))
        .one(db)
        .await?
        .ok_or(OrgError::NotFound("member"))
}

/// Replaces a member's roles. Every role must belong to `org` and be one `granter` may give
/// (see [`super::roles::grantable`]).
pub async fn set_roles(
    db: &DatabaseConnection,
    org: Uuid,
    member_id: Uuid,
    role_ids: &[Uuid],
    granter: Option<&[crate::auth::Permission]>,
) -> Result<(), OrgError> {
    super::roles::grantable(db, org, role_ids, granter).await?;
    let role_ids = role_ids.to_vec();
    crate::db::write_transaction::<_, _, (), OrgError>(db, |txn| {
        Box::pin(async move {
            let member = find_member(txn, org, member_id).await?;
            member_role::Entity::delete_many()
                .filter(member_role::Column::MemberId.eq(member.id))
                .exec(txn)
                .await?;
            assign_roles(txn, org, member.id, &role_ids).await
        })
    })
    .await
    .map_err(crate::db::transaction_error)
}

/// Makes `user_id` a member of `org` with `role_ids` (roles of `org`), inside the caller's
/// transaction. Already a member: nothing changes (their roles stay as they are).
pub(super) async fn join(
    txn: &impl sea_orm::ConnectionTrait,
    org: Uuid,
    user_id: Uuid,
    role_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), OrgError> {
    let already = member::Entity::find()
        .filter(member::Column::OrganizationId.eq(org))
        .filter(member::Column::UserId.eq(user_id))
        .one(txn)
        .await?;
    if already.is_some() {
        return Ok(());
    }
    let member = member::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        user_id: Set(user_id),
        is_owner: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    assign_roles(txn, org, member.id, role_ids).await
}

async fn assign_roles(
    txn: &impl sea_orm::ConnectionTrait,
    org: Uuid,
    member_id: Uuid,
    role_ids: &[Uuid],
) -> Result<(), OrgError> {
    let mut ids = role_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let role = find_role(txn, org, id).await?;
        member_role::ActiveModel {
            member_id: Set(member_id),
            role_id: Set(role.id),
            organization_id: Set(org),
            created_at: Set(Utc::now()),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

pub async fn remove_member(
    db: &DatabaseConnection,
    org: Uuid,
    member_id: Uuid,
) -> Result<(), OrgError> {
    let member = find_member(db, org, member_id).await?;
    if member.is_owner {
        return Err(OrgError::OwnerCannotBeRemoved);
    }
    member::Entity::delete_by_id(member.id).exec(db).await?;
    // Their sessions acting for this organization end with the membership.
    crate::entity::session::Entity::delete_many()
        .filter(crate::entity::session::Column::OrganizationId.eq(org))
        .filter(crate::entity::session::Column::UserId.eq(member.user_id))
        .exec(db)
        .await?;
    Ok(())
}
