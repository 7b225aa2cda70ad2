//! Taking one due job for a worker, atomically.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement, Value,
    sea_query::{Expr, ExprTrait},
};

use super::{JobError, status};
use crate::entity::job;

/// Claims the due job of one of `kinds` that has waited longest, for `worker`, for `lease`:
/// a queued job whose `run_at` has come, or a running job whose lease expired (its worker died).
/// The job comes back `running`, its `attempts` counted, `locked_by` = `worker` and
/// `locked_until` = now + `lease`. `None` when nothing is due.
///
/// The lease is never renewed, so it must exceed the job's longest run.
pub async fn claim(
    db: &impl ConnectionTrait,
    kinds: &[&str],
    worker: &str,
    lease: Duration,
) -> Result<Option<job::Model>, JobError> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let now = Utc::now();
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let locked_until = now.checked_add_signed(lease).unwrap_or(now);
    give_up_dead_last_attempts(db, kinds, now).await?;

    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    let until = sql.bind(locked_until);
    let by = sql.bind(worker);
    let updated = sql.bind(now);
    let kind_list = kinds
        .iter()
        .map(|kind| sql.bind(*kind))
        .collect::<Vec<_>>()
        .join(", ");
    let due = sql.bind(now);
    let expired = sql.bind(now);
    let lock = if backend == DatabaseBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let text = format!(
        "UPDATE job SET status = '{running}', attempts = attempts + 1, locked_until = {until}, \
         locked_by = {by}, updated_at = {updated} \
         WHERE id = (SELECT id FROM job WHERE kind IN ({kind_list}) \
         AND ((status = '{queued}' AND run_at <= {due}) \
         OR (status = '{running}' AND locked_until < {expired})) \
         ORDER BY run_at LIMIT 1{lock}) RETURNING *",
        running = status::RUNNING,
        queued = status::QUEUED,
    );
    let claimed = job::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, text, sql.values))
        .one(db)
        .await?;
    Ok(claimed)
}

/// Marks `failed` the running jobs whose lease expired on their last attempt: their worker died
/// with them, and a job that kills its process must not run forever.
async fn give_up_dead_last_attempts(
    db: &impl ConnectionTrait,
    kinds: &[&str],
    now: chrono::DateTime<Utc>,
) -> Result<(), JobError> {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::FAILED))
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
        .col_expr(job::Column::LockedBy, Expr::value(Value::String(None)))
        .col_expr(
            job::Column::LastError,
            Expr::value("the worker stopped during the last attempt (lease expired)"),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Kind.is_in(kinds.iter().copied()))
        .filter(job::Column::Status.eq(status::RUNNING))
        .filter(job::Column::LockedUntil.lt(now))
        .filter(Expr::col(job::Column::Attempts).gte(Expr::col(job::Column::MaxAttempts)))
        .exec(db)
        .await?;
    Ok(())
}

/// Raw SQL with numbered placeholders on PostgreSQL and positional ones on SQLite, values in
/// order of appearance.
struct Sql {
    backend: DatabaseBackend,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }
}
