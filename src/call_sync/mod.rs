//! Call-history sync (seed 000): a number's completed calls imported from the organization's
//! Twilio account, read-only on Twilio, with live progress.
//!
//! The request ([`start::sync_number`]) fetches both directions, deduplicates by Call SID,
//! resolves contacts, inserts the new calls and moves `last_contacted_at`, then answers
//! `{imported, skipped}`. The new calls' recordings continue in the background as a job group
//! ([`crate::jobs::enqueue_group`]), enqueued with the calls they belong to: one
//! [`kind::RECORDING`] job per new call, released `recording_batch_size` at a time by the sync's
//! [`kind::FOLLOW`] job, which publishes the counters as they end and `Done` after the last.
//!
//! Invariants:
//! - Nothing is ever written to Twilio: no recording is deleted, whatever the organization's
//!   delete setting, and the imported calls start no post-call steps (no reports about history).
//! - One unfinished sync per number (a partial unique index); a second one is refused.
//! - Every phase is stored on the `call_sync` row before it is published, so a page opened
//!   mid-sync shows where it is.

pub mod follow;
pub mod recording;
pub mod start;

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use crate::entity::call_sync;
use crate::orgs::twilio::{TwilioAccountError, TwilioFailure};
use crate::realtime::EventHub;

/// The job kinds of a sync.
pub mod kind {
    /// Look up an imported call's recordings and process the first ([`super::recording`]).
    pub const RECORDING: &str = "call_sync.recording";
    /// Release a sync's recording jobs a few at a time and publish their progress
    /// ([`super::follow`]).
    pub const FOLLOW: &str = "call_sync.follow";
}

/// The realtime event of a sync's progress.
pub const PROGRESS_EVENT: &str = "twilio.call_sync.progress";

/// The default and the bounds of `recording_batch_size`.
pub const DEFAULT_BATCH: i32 = 5;
pub const MAX_BATCH: i32 = 50;

/// Where a call-history sync is, in seed 000's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Phase {
    Fetching,
    Deduplicating,
    ResolvingContacts,
    Inserting,
    UpdatingTimestamps,
    ProcessingRecordings,
    Done,
    Error,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetching => "Fetching",
            Self::Deduplicating => "Deduplicating",
            Self::ResolvingContacts => "ResolvingContacts",
            Self::Inserting => "Inserting",
            Self::UpdatingTimestamps => "UpdatingTimestamps",
            Self::ProcessingRecordings => "ProcessingRecordings",
            Self::Done => "Done",
            Self::Error => "Error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Fetching,
            Self::Deduplicating,
            Self::ResolvingContacts,
            Self::Inserting,
            Self::UpdatingTimestamps,
            Self::ProcessingRecordings,
            Self::Done,
            Self::Error,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// In words for the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fetching => "Fetching calls from Twilio",
            Self::Deduplicating => "Skipping calls already imported",
            Self::ResolvingContacts => "Matching contacts",
            Self::Inserting => "Saving calls",
            Self::UpdatingTimestamps => "Updating contacts",
            Self::ProcessingRecordings => "Processing recordings",
            Self::Done => "Done",
            Self::Error => "Failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sync's state: the answer of `GET /api/twilio/call-syncs` and the payload of the
/// `twilio.call_sync.progress` event. A counter is absent in the phases that have not counted it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Progress {
    pub sync_id: Uuid,
    pub phone_number_id: Uuid,
    pub phase: Phase,
    /// Calls fetched from Twilio so far (both directions, before deduplication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched: Option<i32>,
    /// Calls new to Loquent (imported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_count: Option<i32>,
    /// Calls already here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<i32>,
    /// Imported calls whose recordings have been looked up and processed, of `total`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Progress {
    /// The state a `call_sync` row records, with the counters that phase has.
    pub fn of(row: &call_sync::Model) -> Self {
        let phase = Phase::parse(&row.phase).unwrap_or(Phase::Error);
        let counted = !matches!(phase, Phase::Fetching | Phase::Deduplicating);
        let recordings = matches!(phase, Phase::ProcessingRecordings | Phase::Done);
        Self {
            sync_id: row.id,
            phone_number_id: row.phone_number_id,
            phase,
            fetched: Some(row.fetched),
            new_count: counted.then_some(row.imported),
            skipped: counted.then_some(row.skipped),
            completed: recordings.then_some(row.recordings_completed),
            total: recordings.then_some(row.recordings_total),
            message: row.message.clone(),
        }
    }
}

impl Progress {
    /// The counters in words, for the dashboard (its script writes the same).
    pub fn summary(&self) -> String {
        let counts = || {
            format!(
                "{} imported, {} already here",
                self.new_count.unwrap_or(0),
                self.skipped.unwrap_or(0)
            )
        };
        match self.phase {
            Phase::Fetching | Phase::Deduplicating => {
                format!("{} calls fetched", self.fetched.unwrap_or(0))
            }
            Phase::ProcessingRecordings => format!(
                "{} · recordings {} of {}",
                counts(),
                self.completed.unwrap_or(0),
                self.total.unwrap_or(0)
            ),
            Phase::ResolvingContacts
            | Phase::Inserting
            | Phase::UpdatingTimestamps
            | Phase::Done => counts(),
            Phase::Error => self.message.clone().unwrap_or_default(),
        }
    }
}

/// Publishes `row`'s state to the organization's browsers. Best effort: progress that cannot be
/// published is logged, never a failed sync (the row keeps the state for the next look).
pub async fn publish(events: &EventHub, row: &call_sync::Model) {
    let payload = serde_json::to_value(Progress::of(row)).unwrap_or_default();
    if let Err(error) = events
        .publish(row.organization_id, PROGRESS_EVENT, payload)
        .await
    {
        tracing::warn!(%error, sync_id = %row.id, "cannot publish call sync progress");
    }
}

/// The organization's syncs under way, each as the event a browser would have received last:
/// what `/api/realtime` sends first on connecting.
pub async fn unfinished_events(
    db: &sea_orm::DatabaseConnection,
    org_id: Uuid,
) -> Result<Vec<String>, sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let rows = call_sync::Entity::find()
        .filter(call_sync::Column::OrganizationId.eq(org_id))
        .filter(call_sync::Column::FinishedAt.is_null())
        .order_by_asc(call_sync::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            serde_json::json!({"type": PROGRESS_EVENT, "payload": Progress::of(row)}).to_string()
        })
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("phone number not found")]
    NumberNotFound,
    #[error("recording_batch_size must be a whole number from 1 to {MAX_BATCH}")]
    BadBatchSize,
    #[error("a sync of this number is already running; wait for it to finish")]
    AlreadyRunning,
    #[error(transparent)]
    Account(#[from] TwilioAccountError),
    #[error(transparent)]
    Twilio(#[from] TwilioFailure),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}

impl From<crate::jobs::JobError> for SyncError {
    fn from(e: crate::jobs::JobError) -> Self {
        match e {
            crate::jobs::JobError::Database(e) => Self::Database(e),
            other => Self::Database(sea_orm::DbErr::Custom(other.to_string())),
        }
    }
}
