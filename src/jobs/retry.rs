//! What an organization sees of its jobs, and starting a failed one over.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{JobError, status};
use crate::entity::job;

/// The jobs concerning call `call_id` of organization `org_id`, oldest first.
pub async fn of_call(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<Vec<job::Model>, JobError> {
    Ok(job::Entity::find()
        .filter(job::Column::OrganizationId.eq(org_id))
        .filter(job::Column::CallId.eq(call_id))
        .order_by_asc(job::Column::CreatedAt)
        .order_by_asc(job::Column::Id)
        .all(db)
        .await?)
}

/// Organization `org_id`'s failed jobs, the most recently failed first, at most `limit`.
pub async fn failed(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    limit: u64,
) -> Result<Vec<job::Model>, JobError> {
    Ok(job::Entity::find()
        .filter(job::Column::OrganizationId.eq(org_id))
        .filter(job::Column::Status.eq(status::FAILED))
        .order_by_desc(job::Column::UpdatedAt)
        .order_by_desc(job::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Puts failed job `job_id` of organization `org_id` back in the queue with all its attempts,
/// due now; its last error stays until it runs. Only a failed job: one that is queued or
/// running is already on its way, and a done one has nothing left to do.
pub async fn retry(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    job_id: Uuid,
) -> Result<job::Model, JobError> {
    let now = Utc::now();
    let result = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::QUEUED))
        .col_expr(job::Column::Attempts, Expr::value(0))
        .col_expr(job::Column::RunAt, Expr::value(now))
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
        .col_expr(job::Column::LockedBy, Expr::value(Value::String(None)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(job_id))
        .filter(job::Column::OrganizationId.eq(org_id))
        .filter(job::Column::Status.eq(status::FAILED))
        .exec(db)
        .await?;
    let job = job::Entity::find_by_id(job_id)
        .filter(job::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(JobError::NotFound)?;
    if result.rows_affected == 0 {
        return Err(JobError::NotFailed(job.status));
    }
    super::enqueue::notify(db).await?;
    Ok(job)
}
