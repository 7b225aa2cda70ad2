//! Recording a job's outcome, by the worker that holds it.

use chrono::Utc;
use loquent_retry::RetryPolicy;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value};
use uuid::Uuid;

use super::{JobError, MAX_ERROR_CHARS, status};
use crate::entity::job;

/// Marks job `id` done and clears its lock. False (and nothing changed) when `worker` no longer
/// holds it: its lease expired and another worker claimed it.
pub async fn complete(db: &impl ConnectionTrait, id: Uuid, worker: &str) -> Result<bool, JobError> {
    let result = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::DONE))
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
        .col_expr(job::Column::LockedBy, Expr::value(Value::String(None)))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held_by(id, worker))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks job `id` skipped with `reason` (kept in `last_error`) and clears its lock. False (and
/// nothing changed) when `worker` no longer holds it.
pub async fn skip(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    reason: &str,
) -> Result<bool, JobError> {
    let reason: String = reason.chars().take(MAX_ERROR_CHARS).collect();
    let result = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::SKIPPED))
        .col_expr(job::Column::LastError, Expr::value(reason))
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
        .col_expr(job::Column::LockedBy, Expr::value(Value::String(None)))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held_by(id, worker))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records a failed attempt of `job` with `error` (truncated to [`MAX_ERROR_CHARS`]): back to
/// `queued` after the `policy` backoff for its attempt count while attempts remain, else
/// `failed`. `policy.max_attempts` plays no part: the job's own `max_attempts` does. False (and
/// nothing changed) when `worker` no longer holds it.
pub async fn fail(
    db: &impl ConnectionTrait,
    job: &job::Model,
    worker: &str,
    error: &str,
    policy: &RetryPolicy,
) -> Result<bool, JobError> {
    let now = Utc::now();
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let mut update = job::Entity::update_many()
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
        .col_expr(job::Column::LockedBy, Expr::value(Value::String(None)))
        .col_expr(job::Column::LastError, Expr::value(error))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    if job.attempts < job.max_attempts {
        let failed = u32::try_from(job.attempts.max(1)).unwrap_or(1);
        let backoff =
            chrono::Duration::from_std(policy.backoff(failed)).unwrap_or(chrono::Duration::MAX);
        let run_at = now.checked_add_signed(backoff).unwrap_or(now);
        update = update
            .col_expr(job::Column::Status, Expr::value(status::QUEUED))
            .col_expr(job::Column::RunAt, Expr::value(run_at));
    } else {
        update = update.col_expr(job::Column::Status, Expr::value(status::FAILED));
    }
    let result = update.filter(held_by(job.id, worker)).exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// Puts job `id` back in the queue, due after `wait`, without counting the attempt it just
/// made: the handler found it could not do its work yet (it waits for other jobs). False (and
/// nothing changed) when `worker` no longer holds it.
pub async fn later(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    wait: std::time::Duration,
) -> Result<bool, JobError> {
    let now = Utc::now();
    let run_at = chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(now);
    let result = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::QUEUED))
        .col_expr(job::Column::RunAt, Expr::value(run_at))
        .col_expr(
            job::Column::Attempts,
            sea_orm::sea_query::ExprTrait::sub(Expr::col(job::Column::Attempts), 1),
        )
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
        .col_expr(job::Column::LockedBy, Expr::value(Value::String(None)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(held_by(id, worker))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The job `id` while `worker` holds it.
fn held_by(id: Uuid, worker: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(job::Column::Id.eq(id))
        .add(job::Column::Status.eq(status::RUNNING))
        .add(job::Column::LockedBy.eq(worker))
}
