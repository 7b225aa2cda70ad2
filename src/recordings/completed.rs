//! Twilio reports a completed recording: one processing job per Recording SID.

use chrono::Utc;
use loquent_twilio::CallSid;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::calls::after::{RecordingJob, kind};
use crate::jobs::{self, JobError, NewJob};

/// Attempts of a recording's processing before it is marked failed.
pub const ATTEMPTS: i32 = 5;

/// What [`recording_completed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    /// The processing job is queued (`created` is false when an earlier callback queued it).
    Queued { job_id: Uuid, created: bool },
    /// No call of this organization has the Call SID: nothing to attach the recording to.
    UnknownCall,
}

/// Enqueues the processing of recording `recording_sid` of the organization's call `call_sid`,
/// once per Recording SID however often Twilio reports it.
pub async fn recording_completed(
    db: &DatabaseConnection,
    org_id: Uuid,
    call_sid: &CallSid,
    recording_sid: &str,
    recording_url: Option<&str>,
) -> Result<Completed, JobError> {
    let txn = crate::db::begin_write(db).await?;
    let Some(call) = crate::calls::start::find(&txn, org_id, call_sid).await? else {
        return Ok(Completed::UnknownCall);
    };
    let payload = serde_json::to_value(RecordingJob {
        call_sid: call_sid.as_str().to_owned(),
        recording_sid: recording_sid.to_owned(),
        recording_url: recording_url.map(str::to_owned),
    })
    .unwrap_or_default();
    let enqueued = jobs::enqueue(
        &txn,
        NewJob {
            kind: kind::PROCESS_RECORDING.to_owned(),
            organization_id: Some(org_id),
            call_id: Some(call.id),
            payload,
            dedupe_key: Some(format!("{}:{recording_sid}", kind::PROCESS_RECORDING)),
            run_at: Utc::now(),
            max_attempts: ATTEMPTS,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Completed::Queued {
        job_id: enqueued.id,
        created: enqueued.created,
    })
}
