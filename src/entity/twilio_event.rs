//! An Event Streams event as Twilio delivered it, once per organization and event id.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "twilio_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The CloudEvents `id`.
    pub event_id: String,
    pub event_type: String,
    /// The CloudEvents `data`, as received.
    pub data: Json,
    pub received_at: DateTimeUtc,
    /// When the event was acted on; `None` while it waits (or after a failed attempt).
    pub handled_at: Option<DateTimeUtc>,
    /// `done`, or `skipped: ` and why.
    pub outcome: Option<String>,
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
}

impl ActiveModelBehavior for ActiveModel {}
