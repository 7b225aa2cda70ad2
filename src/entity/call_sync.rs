//! One call-history sync of one number: where it is and what it has counted so far.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_sync")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub phone_number_id: Uuid,
    /// Only calls that started on or after this day.
    pub since: Option<Date>,
    /// Recordings processed at a time for this sync.
    pub recording_batch_size: i32,
    /// A `call_sync::Phase` name (`Fetching` ... `Done`, or `Error`).
    pub phase: String,
    pub fetched: i32,
    pub imported: i32,
    pub skipped: i32,
    /// Imported calls whose recordings are looked up and processed, and how many have ended.
    pub recordings_total: i32,
    pub recordings_completed: i32,
    /// Why the sync failed, in words for the person who started it.
    pub message: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
