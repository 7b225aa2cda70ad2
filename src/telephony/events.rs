//! `POST /twilio/events`: Twilio Event Streams deliveries (seed 001). The events are stored and
//! their jobs queued before the answer, which comes well within the 5 s Twilio gives a sink;
//! the jobs do the rest (see `event_streams::handle`). A retried delivery adds nothing.

use axum::extract::State;
use axum::http::StatusCode;

use super::webhook::{TwilioEvents, WebhookError};
use crate::app::AppState;
use crate::event_streams::receive::receive;

pub async fn receive_events(
    State(state): State<AppState>,
    delivery: TwilioEvents,
) -> Result<StatusCode, WebhookError> {
    let org_id = delivery.org.id;
    let count = delivery.events.len();
    let received = receive(&state.db, org_id, delivery.events)
        .await
        .map_err(|e| WebhookError::Internal(e.into()))?;
    tracing::info!(%org_id, events = count, new = received.new, duplicates = received.duplicates, "event streams delivery");
    if received.new > 0 {
        state.jobs_wake.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
}
