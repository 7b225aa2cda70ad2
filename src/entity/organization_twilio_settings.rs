//! Per-organization telephony switches (seed 001): recording and Event Streams state.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization_twilio_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// Off unless turned on; read fail-closed (any doubt means off).
    pub call_recording_enabled: bool,
    pub event_sink_sid: Option<String>,
    pub sms_subscription_sid: Option<String>,
    pub call_subscription_sid: Option<String>,
    pub sms_events_active: bool,
    pub call_events_active: bool,
    /// Where the `lookup_caller` tool asks about a caller.
    pub caller_lookup_url: Option<String>,
    /// Sealed header value sent with caller look-ups.
    pub caller_lookup_auth: Option<String>,
    /// Delete a recording from Twilio once it is stored here (seed 001; on by default).
    pub delete_recordings_from_twilio: bool,
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
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
