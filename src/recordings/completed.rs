//! Twilio reports a completed recording: one processing job per Recording SID.

use chrono::Utc;
use loquent_twilio::{CallSid, RecordingSid};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::calls::after::{RecordingJob, kind};
use crate::entity::call;
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
    let enqueued = enqueue_processing(&txn, &call, recording_sid, recording_url).await?;
    txn.commit().await?;
    Ok(Completed::Queued {
        job_id: enqueued.id,
        created: enqueued.created,
    })
}

/// A web call's recording, made by this server, is stored under `storage_key`: it is the call's
/// recording (`recording_sid` names it), and its processing is queued, as a phone call's is once
/// Twilio reports it; all in one transaction.
pub async fn web_call_recorded(
    db: &DatabaseConnection,
    call: &call::Model,
    storage_key: &str,
    recording_sid: &RecordingSid,
) -> Result<(), JobError> {
    let txn = crate::db::begin_write(db).await?;
    crate::calls::recording::set_recording(
        &txn,
        call.organization_id,
        call.id,
        storage_key,
        recording_sid.as_str(),
    )
    .await
    .map_err(|crate::calls::CallError::Database(e)| JobError::from(e))?;
    enqueue_processing(&txn, call, recording_sid.as_str(), None).await?;
    txn.commit().await?;
    Ok(())
}

/// The processing job of recording `recording_sid` of `call`, once per Recording SID.
async fn enqueue_processing(
    txn: &impl ConnectionTrait,
    call: &call::Model,
    recording_sid: &str,
    recording_url: Option<&str>,
) -> Result<jobs::Enqueued, JobError> {
    let payload = serde_json::to_value(RecordingJob {
        call_sid: call.call_sid.clone(),
        recording_sid: recording_sid.to_owned(),
        recording_url: recording_url.map(str::to_owned),
    })
    .unwrap_or_default();
    jobs::enqueue(
        txn,
        NewJob {
            kind: kind::PROCESS_RECORDING.to_owned(),
            organization_id: Some(call.organization_id),
            call_id: Some(call.id),
            payload,
            dedupe_key: Some(format!("{}:{recording_sid}", kind::PROCESS_RECORDING)),
            run_at: Utc::now(),
            max_attempts: ATTEMPTS,
        },
    )
    .await
}
