//! `/api/jobs`: the organization's background work (post-call steps) that failed, and starting
//! it over.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::calls::after;
use crate::entity::job;
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::jobs;

permissions! {
    ListCalls = "Call:Collection:List",
    UpdateCall = "Call:Instance:Update",
}

/// One job as the organization sees it: never its payload or the worker that ran it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    /// What the job does, in words (`Recording`, `Analyzer run`, ...).
    pub step: &'static str,
    pub call_id: Option<Uuid>,
    /// `queued`, `running`, `done`, `skipped` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    /// The last attempt's error, or why the job was skipped.
    pub last_error: Option<String>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<job::Model> for JobView {
    fn from(job: job::Model) -> Self {
        Self {
            id: job.id,
            step: after::step_label(&job.kind),
            kind: job.kind,
            call_id: job.call_id,
            status: job.status,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error,
            run_at: job.run_at,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Every job of this call, whatever its status.
    call_id: Option<Uuid>,
}

/// A call's jobs, or the failed ones.
///
/// The jobs of one call (`?call_id=`), oldest first, or else the organization's failed jobs,
/// the most recent first (at most 200).
#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    operation_id = "jobs_list",
    params(JobFilter),
    responses(
        (status = 200, description = "The jobs.", body = Vec<JobView>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListCalls>,
    Query(filter): Query<JobFilter>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let found = match filter.call_id {
        Some(call_id) => jobs::of_call(&state.db, member.org_id(), call_id).await?,
        None => jobs::failed(&state.db, member.org_id(), 200).await?,
    };
    Ok(Json(found.into_iter().map(JobView::from).collect()))
}

/// Starts a failed job over.
///
/// Puts a failed job back in the queue with all its attempts; 409 when it has not failed.
#[utoipa::path(
    post,
    path = "/api/jobs/{id}/retry",
    tag = "jobs",
    operation_id = "jobs_retry",
    params(("id" = Uuid, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job, queued again.", body = JobView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`conflict`: the job has not failed.", body = ErrorBody),
    ),
)]
pub async fn retry(
    State(state): State<AppState>,
    member: Allowed<UpdateCall>,
    Path(id): Path<Uuid>,
) -> Result<Json<JobView>, ApiError> {
    let job = jobs::retry(&state.db, member.org_id(), id).await?;
    state.jobs_wake.notify_one();
    Ok(Json(job.into()))
}
