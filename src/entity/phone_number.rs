//! A Twilio number owned by an organization, optionally answered by an agent.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_number")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// E.164, unique across the whole server: a number routes to one organization.
    #[sea_orm(unique)]
    pub number: String,
    /// Twilio's `PN...` sid.
    pub twilio_sid: Option<String>,
    pub friendly_name: String,
    pub agent_id: Option<Uuid>,
    /// NULL: not configured by us; "": configured, Twilio had no URL; else the URL to restore.
    pub previous_voice_url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Cascade"
    )]
    Organization,
    #[sea_orm(
        belongs_to = "super::agent::Entity",
        from = "Column::AgentId",
        to = "super::agent::Column::Id",
        on_delete = "SetNull"
    )]
    Agent,
}

impl ActiveModelBehavior for ActiveModel {}
