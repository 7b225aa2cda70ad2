//! A durable background job. Claimed with a lease (`locked_until`) so a crashed worker's job runs again.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Which handler runs it, e.g. `process_recording`.
    pub kind: String,
    pub organization_id: Option<Uuid>,
    /// The call it concerns, if any: its failures show on that call.
    pub call_id: Option<Uuid>,
    /// Ids, not rows: the handler re-reads state when it runs.
    pub payload: Json,
    /// `waiting` (held by its group until released), `queued`, `running`, `done`, `skipped`,
    /// `failed`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    /// Enqueuing the same key twice yields one job (e.g. one recording job per call).
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    /// Jobs enqueued together and followed as one (a call sync's recordings).
    pub group_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
