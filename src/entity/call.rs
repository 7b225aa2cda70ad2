//! One phone call, live or imported. `call_sid` makes every writer idempotent.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub phone_number_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub call_sid: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    /// The contact's number (seed 000): `from` for inbound calls, `to` for outbound ones.
    pub from_to_number: String,
    pub contact_id: Option<Uuid>,
    /// Twilio's call status: `in-progress`, `completed`, `busy`, ...
    pub status: String,
    pub started_at: Option<DateTimeUtc>,
    pub duration_secs: Option<i32>,
    pub recording_sid: Option<String>,
    /// Storage key of the downloaded recording; set before transcription as the idempotency marker.
    pub recording_url: Option<String>,
    pub transcription: Option<String>,
    /// The transcript's segments: `[{speaker, start, end, text}]`, times in seconds from the
    /// start of the call (live) or of the recording.
    pub transcript_segments: Option<Json>,
    /// `live` (the realtime session's) or `recording` (the recording's, which replaces it).
    pub transcript_source: Option<String>,
    /// `phone` or `imported` (see [`crate::calls::source`]); NULL on calls stored before
    /// Loquent kept it.
    pub source: Option<String>,
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
        belongs_to = "super::phone_number::Entity",
        from = "Column::PhoneNumberId",
        to = "super::phone_number::Column::Id",
        on_delete = "SetNull"
    )]
    PhoneNumber,
    #[sea_orm(
        belongs_to = "super::contact::Entity",
        from = "Column::ContactId",
        to = "super::contact::Column::Id",
        on_delete = "SetNull"
    )]
    Contact,
}

impl ActiveModelBehavior for ActiveModel {}
