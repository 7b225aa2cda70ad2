//! `POST /twilio/recording`: a recording's status callback. A completed recording becomes one
//! processing job (however often Twilio retries the callback); other statuses are acknowledged
//! and ignored. Nothing slow happens here: the job downloads and transcribes.

use axum::extract::State;
use axum::response::Response;
use loquent_twilio::{CallSid, RecordingSid};

use super::voice::twiml_response;
use super::webhook::{TwilioForm, WebhookError};
use crate::app::AppState;
use crate::recordings::completed::{Completed, recording_completed};

pub async fn completed(
    State(state): State<AppState>,
    form: TwilioForm,
) -> Result<Response, WebhookError> {
    let ack = || twiml_response(&loquent_twilio::twiml::Response::new());
    let org_id = form.org.id;
    let status = form.require("RecordingStatus")?;
    let recording_sid = form.require("RecordingSid")?;
    if status != "completed" {
        tracing::info!(%org_id, %recording_sid, %status, "recording status other than completed; ignored");
        return Ok(ack());
    }
    let call_sid: CallSid = form.parse("CallSid")?;
    let recording_sid: RecordingSid = form.parse("RecordingSid")?;
    let outcome = recording_completed(
        &state.db,
        org_id,
        &call_sid,
        recording_sid.as_str(),
        form.get("RecordingUrl"),
    )
    .await
    .map_err(|e| WebhookError::Internal(e.into()))?;
    match outcome {
        Completed::Queued { job_id, created } => {
            tracing::info!(%org_id, %call_sid, %recording_sid, %job_id, created, "recording completed; processing queued");
            if created {
                state.jobs_wake.notify_one();
            }
        }
        Completed::UnknownCall => {
            tracing::warn!(%org_id, %call_sid, %recording_sid, "recording of an unknown call; ignored");
        }
    }
    Ok(ack())
}
