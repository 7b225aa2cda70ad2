//! `POST /twilio/call-status`: the `<Connect action>` request when the media stream ends, and
//! call status callbacks. Both record the call's status and duration (`calls::status` decides
//! what may replace what); the action's answer is the TwiML that runs next (nothing: the call
//! ends).

use axum::extract::State;
use axum::response::Response;
use loquent_twilio::CallSid;
use loquent_twilio::calls::CallStatus;

use super::voice::twiml_response;
use super::webhook::{TwilioForm, WebhookError};
use crate::app::AppState;
use crate::calls::status::{StatusOutcome, record_status};

pub async fn update(
    State(state): State<AppState>,
    form: TwilioForm,
) -> Result<Response, WebhookError> {
    let call_sid: CallSid = form.parse("CallSid")?;
    let status: CallStatus = form.parse("CallStatus")?;
    // Only the final callbacks carry it; a value that is not a count of seconds is ignored
    // rather than refusing the status it came with.
    let duration = form
        .get("CallDuration")
        .and_then(|d| d.parse::<i32>().ok())
        .filter(|d| *d >= 0);
    let org_id = form.org.id;
    match record_status(&state.db, org_id, &call_sid, status, duration).await? {
        StatusOutcome::Recorded => {
            // Open calls pages follow the status (ringing, in progress, completed) without a
            // reload. Best effort: the status is stored either way.
            let event = serde_json::json!({
                "call_sid": call_sid.as_str(),
                "status": status.as_str(),
                "duration_secs": duration,
            });
            if let Err(e) = state.events.publish(org_id, "call.updated", event).await {
                tracing::warn!(error = %e, "could not publish call.updated");
            }
        }
        StatusOutcome::FinalKept => {
            tracing::debug!(%org_id, %call_sid, %status, "late non-final status after a final one; kept the final");
        }
        StatusOutcome::UnknownCall => {
            tracing::info!(%org_id, %call_sid, %status, "status for an unknown call; ignored");
        }
    }
    Ok(twiml_response(&loquent_twilio::twiml::Response::new()))
}
