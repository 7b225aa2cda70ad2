//! Durable background jobs: work that must survive a restart (a recording to process, a call
//! history to import) is a row in `job`, claimed with a lease and run by a [`Runner`].
//!
//! Invariants:
//! - A job carries ids, not rows, and its handler re-reads state when it runs; handlers are
//!   idempotent, because a job may run more than once (a worker that dies mid-run leaves its job
//!   to be claimed again once its lease expires).
//! - At most one worker holds a job at a time: [`claim`] sets `running`, `locked_by` and
//!   `locked_until` in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
//!   writer at a time), and [`complete`] and [`fail`] change a job only while that worker still
//!   holds it.
//! - Leases are never renewed: a job's lease must exceed its longest run, or a second worker
//!   claims it while the first still runs.
//! - Enqueuing the same `dedupe_key` twice yields one job.
//! - A job whose last attempt's lease expired (its worker died on the last attempt) is marked
//!   `failed` instead of run again, so a job that kills its process cannot loop forever.

mod claim;
mod enqueue;
mod finish;
mod group;
mod retry;
mod runner;

pub use claim::claim;
pub use enqueue::{Enqueued, NewJob, enqueue};
pub use finish::{complete, fail, later, skip};
pub use group::{GroupCounts, counts, enqueue_group, release};
pub use retry::{failed, of_call, retry};
pub use runner::{Handler, Outcome, Runner};

use sea_orm::DbErr;

/// The `job.status` values.
pub mod status {
    /// Not claimable yet: its group releases it (to `queued`) when it may run.
    pub const WAITING: &str = "waiting";
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    /// Done with nothing to do; `last_error` says why.
    pub const SKIPPED: &str = "skipped";
}

/// The PostgreSQL channel [`enqueue`] notifies and the [`Runner`] listens on.
pub const CHANNEL: &str = "loquent_jobs";

/// The longest `last_error` stored, in characters.
pub const MAX_ERROR_CHARS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("no such job")]
    NotFound,
    /// Only a failed job can be retried; this one's status is the payload.
    #[error("only a failed job can be retried; this one is {0}")]
    NotFailed(String),
}
