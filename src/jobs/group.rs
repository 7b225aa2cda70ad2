//! Job groups: jobs enqueued together, held `waiting` until their group releases them a few at a
//! time, and counted as one (a call sync's recordings, processed `recording_batch_size` at a
//! time with a progress bar).

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::enqueue::{notify, row};
use super::{JobError, NewJob, status};
use crate::entity::job;

/// How many of a group's jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    pub waiting: u64,
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl GroupCounts {
    pub fn total(&self) -> u64 {
        self.waiting + self.open() + self.ended()
    }

    /// Released and not ended: queued or running.
    pub fn open(&self) -> u64 {
        self.queued + self.running
    }

    /// Done, skipped or failed for good.
    pub fn ended(&self) -> u64 {
        self.done + self.skipped + self.failed
    }
}

/// Inserts `jobs` into group `group`, `waiting` until [`release`]d, in one statement (the
/// caller's transaction makes them land with the rows that cause them). A job whose
/// `dedupe_key` exists already is left out. Returns how many were inserted.
pub async fn enqueue_group(
    conn: &impl ConnectionTrait,
    group: Uuid,
    jobs: Vec<NewJob>,
) -> Result<u64, JobError> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let rows = jobs
        .into_iter()
        .map(|new| row(Uuid::now_v7(), new, status::WAITING, Some(group)));
    let inserted = job::Entity::insert_many(rows)
        // No conflict target, as in `enqueue`: the only unique columns are the key and the id.
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(inserted)
}

/// Releases up to `n` of the group's waiting jobs, oldest first, to be claimed now; wakes the
/// runners on PostgreSQL. Returns how many were released.
pub async fn release(conn: &impl ConnectionTrait, group: Uuid, n: u64) -> Result<u64, JobError> {
    if n == 0 {
        return Ok(0);
    }
    let ids: Vec<Uuid> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::GroupId.eq(group))
        .filter(job::Column::Status.eq(status::WAITING))
        .order_by_asc(job::Column::Id)
        .limit(n)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let released = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::QUEUED))
        .col_expr(job::Column::RunAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.is_in(ids))
        .filter(job::Column::Status.eq(status::WAITING))
        .exec(conn)
        .await?
        .rows_affected;
    notify(conn).await?;
    Ok(released)
}

/// The group's jobs by state.
pub async fn counts(conn: &impl ConnectionTrait, group: Uuid) -> Result<GroupCounts, JobError> {
    let rows: Vec<(String, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::GroupId.eq(group))
        .group_by(job::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let mut counts = GroupCounts::default();
    for (state, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        match state.as_str() {
            status::WAITING => counts.waiting = n,
            status::QUEUED => counts.queued = n,
            status::RUNNING => counts.running = n,
            status::DONE => counts.done = n,
            status::SKIPPED => counts.skipped = n,
            status::FAILED => counts.failed = n,
            _ => {}
        }
    }
    Ok(counts)
}
