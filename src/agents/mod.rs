//! The organization's AI voice agents: a name, a system prompt and the live-call settings in
//! `config.rs`. A phone number names the agent that answers it; deleting an agent leaves its
//! numbers unanswered (`agent_id` NULL) rather than deleting them.

pub mod config;
pub mod delete;
pub mod providers;
pub mod save;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

pub use config::{ConfigInput, ConfigView, Provider, RealtimeConfig};
pub use save::AgentInput;

use crate::entity::agent;
use crate::validation::FieldError;

/// Why an agent could not be found or saved.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Another organization's agent is as unknown as a missing one.
    #[error("agent not found")]
    NotFound,
    #[error("{}", FieldError::summary(.0))]
    InvalidFields(Vec<FieldError>),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}

/// An agent as the API shows it. The lookup token appears only as `config.lookup.has_token`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub prompt: String,
    pub config: ConfigView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<agent::Model> for AgentView {
    fn from(a: agent::Model) -> Self {
        Self {
            config: ConfigView::from(&RealtimeConfig::from_json(&a.realtime_config)),
            id: a.id,
            name: a.name,
            prompt: a.prompt,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// The organization's agents by name.
pub async fn list(
    db: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<Vec<agent::Model>, sea_orm::DbErr> {
    agent::Entity::find()
        .filter(agent::Column::OrganizationId.eq(org_id))
        .order_by_asc(agent::Column::Name)
        .order_by_asc(agent::Column::Id)
        .all(db)
        .await
}

/// One of the organization's agents; another organization's is "not found".
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<agent::Model, AgentError> {
    agent::Entity::find_by_id(id)
        .filter(agent::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(AgentError::NotFound)
}
