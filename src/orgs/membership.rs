//! The organizations a person belongs to, and which one a session acts for.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::OrgError;
use crate::entity::{member, organization, session};

/// One of a person's organizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization_id: Uuid,
    pub name: String,
    pub is_owner: bool,
}

/// `user_id`'s organizations, by name.
pub async fn of_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<Membership>, OrgError> {
    let rows: Vec<(member::Model, Option<organization::Model>)> = member::Entity::find()
        .filter(member::Column::UserId.eq(user_id))
        .find_also_related(organization::Entity)
        .order_by_asc(organization::Column::Name)
        .order_by_asc(organization::Column::Id)
        .limit(1_000)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, o)| {
            o.map(|o| Membership {
                organization_id: o.id,
                name: o.name,
                is_owner: m.is_owner,
            })
        })
        .collect())
}

/// Makes session `session_id` (of `user_id`) act for `organization_id`. An organization the
/// user does not belong to is "not found", whether or not it exists.
pub async fn switch(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    user_id: Uuid,
    organization_id: Uuid,
) -> Result<(), OrgError> {
    let belongs = member::Entity::find()
        .filter(member::Column::UserId.eq(user_id))
        .filter(member::Column::OrganizationId.eq(organization_id))
        .one(db)
        .await?
        .is_some();
    if !belongs {
        return Err(OrgError::NotFound("organization"));
    }
    session::Entity::update_many()
        .set(session::ActiveModel {
            organization_id: Set(organization_id),
            ..Default::default()
        })
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
