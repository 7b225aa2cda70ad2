//! Putting a job in the queue, inside the caller's transaction if it has one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{CHANNEL, JobError, status};
use crate::entity::job;

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Which handler runs it.
    pub kind: String,
    pub organization_id: Option<Uuid>,
    /// The call it concerns, if any: its failures show on that call.
    pub call_id: Option<Uuid>,
    /// Ids, not rows.
    pub payload: serde_json::Value,
    /// A second enqueue with the same key is a no-op that returns the first job's id.
    pub dedupe_key: Option<String>,
    /// Not run before this time.
    pub run_at: DateTime<Utc>,
    /// Attempts in total, the first one included.
    pub max_attempts: i32,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: Uuid,
    /// False when a job with the same `dedupe_key` already existed (`id` is then that job's).
    pub created: bool,
}

/// Inserts `new` unless a job with its `dedupe_key` exists, whatever that job's status (a key
/// names one piece of work for good: a done job is not enqueued again). On PostgreSQL it also notifies the
/// runners (delivered when the caller's transaction commits); on SQLite, callers wake the
/// runner in their own process through [`super::Runner::waker`].
pub async fn enqueue(conn: &impl ConnectionTrait, new: NewJob) -> Result<Enqueued, JobError> {
    let id = Uuid::now_v7();
    let dedupe_key = new.dedupe_key.clone();
    let row = row(id, new, status::QUEUED, None);
    let inserted = job::Entity::insert(row)
        // No conflict target: the only unique columns are `dedupe_key` and the fresh UUIDv7 id,
        // and SQLite resolves a target when it prepares the statement, against a connection's
        // schema that may predate the `idx_job_dedupe` index (a pool connection opened before
        // the migrations), failing with "ON CONFLICT clause does not match".
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(conn)
        .await;
    match inserted {
        Ok(0) | Err(DbErr::RecordNotInserted) => {
            let key = dedupe_key.ok_or(DbErr::RecordNotInserted)?;
            let existing = job::Entity::find()
                .filter(job::Column::DedupeKey.eq(key))
                .one(conn)
                .await?
                .ok_or(DbErr::RecordNotInserted)?;
            Ok(Enqueued {
                id: existing.id,
                created: false,
            })
        }
        Ok(_) => {
            notify(conn).await?;
            Ok(Enqueued { id, created: true })
        }
        Err(e) => Err(e.into()),
    }
}

/// The row of a new job.
pub(super) fn row(id: Uuid, new: NewJob, status: &str, group: Option<Uuid>) -> job::ActiveModel {
    let now = Utc::now();
    job::ActiveModel {
        id: Set(id),
        kind: Set(new.kind),
        organization_id: Set(new.organization_id),
        call_id: Set(new.call_id),
        payload: Set(new.payload),
        status: Set(status.to_owned()),
        attempts: Set(0),
        max_attempts: Set(new.max_attempts),
        run_at: Set(new.run_at),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        dedupe_key: Set(new.dedupe_key),
        group_id: Set(group),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Wakes the runners of every process on PostgreSQL; nothing on SQLite (one process).
pub(super) async fn notify(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    if backend == sea_orm::DatabaseBackend::Postgres {
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            "SELECT pg_notify($1, '')",
            [CHANNEL.into()],
        ))
        .await?;
    }
    Ok(())
}
