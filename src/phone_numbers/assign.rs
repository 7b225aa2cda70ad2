//! Name a number and choose the agent that answers it.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use uuid::Uuid;

use super::{NumberError, find};
use crate::entity::{agent, phone_number};

/// `PUT /api/phones/{id}`: absent fields stay as they are; `agent_id: null` unassigns.
pub async fn update(
    db: &DatabaseConnection,
    org_id: Uuid,
    id: Uuid,
    friendly_name: Option<&str>,
    agent_id: Option<Option<Uuid>>,
) -> Result<phone_number::Model, NumberError> {
    let number = find(db, org_id, id).await?;
    let mut active = number.into_active_model();
    if let Some(name) = friendly_name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(NumberError::BadFriendlyName);
        }
        active.friendly_name = Set(name.to_owned());
    }
    if let Some(agent_id) = agent_id {
        if let Some(agent_id) = agent_id {
            // Another organization's agent is as unknown as a missing one.
            agent::Entity::find_by_id(agent_id)
                .filter(agent::Column::OrganizationId.eq(org_id))
                .one(db)
                .await?
                .ok_or(NumberError::NotFound("agent"))?;
        }
        active.agent_id = Set(agent_id);
    }
    active.updated_at = Set(chrono::Utc::now());
    Ok(active.update(db).await?)
}
