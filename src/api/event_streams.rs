//! `/api/twilio/event-streams`, `/api/twilio/setup-event-sink` and `/api/twilio/remove-event-sink`:
//! the organization's Twilio Event Streams sink and subscriptions (seed 001).

use axum::extract::State;
use serde::Deserialize;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, Unauthorized, Upstream};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json};
use crate::event_streams::setup::{Streams, Wanted};
use crate::event_streams::{Kind, StreamsState};

permissions! {
    ReadStreams = "Twilio:Instance:Read",
    SetUpStreams = "Twilio:Collection:Create",
    RemoveStreams = "Twilio:Collection:Delete",
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSinkSetup {
    /// Deliver SMS events (received, sent, delivered, failed, undelivered).
    #[serde(default)]
    sms_events: bool,
    /// Deliver call events (answered, completed, Voice Insights call summaries).
    #[serde(default)]
    call_events: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStreamKind {
    Sms,
    Call,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSinkRemoval {
    /// Which subscription to delete; the sink goes too once neither is left.
    event_type: EventStreamKind,
}

/// What is set up.
#[utoipa::path(
    get,
    path = "/api/twilio/event-streams",
    tag = "twilio",
    operation_id = "event_streams_read",
    responses(
        (status = 200, description = "The sink and subscriptions.", body = StreamsState),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadStreams>,
) -> Result<Json<StreamsState>, ApiError> {
    Ok(Json(
        crate::event_streams::read(&state.db, member.org_id()).await?,
    ))
}

/// Sets up event delivery.
///
/// Creates the webhook sink (or reuses the one already delivering to this server) and a
/// subscription for each kind asked for; a kind not asked for stays as it is. Safe to repeat.
#[utoipa::path(
    post,
    path = "/api/twilio/setup-event-sink",
    tag = "twilio",
    operation_id = "event_streams_setup",
    request_body = EventSinkSetup,
    responses(
        (status = 200, description = "What is now set up.", body = StreamsState),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
pub async fn setup(
    State(state): State<AppState>,
    member: Allowed<SetUpStreams>,
    Json(body): Json<EventSinkSetup>,
) -> Result<Json<StreamsState>, ApiError> {
    let streams = Streams::of(&state.db, &state.twilio, member.org_id()).await?;
    let wanted = Wanted {
        call: body.call_events,
        sms: body.sms_events,
    };
    Ok(Json(streams.setup(member.org_id(), wanted).await?))
}

/// Removes one kind of event delivery.
///
/// Deletes the kind's subscription, and the sink once no subscription uses it. Safe to repeat.
#[utoipa::path(
    post,
    path = "/api/twilio/remove-event-sink",
    tag = "twilio",
    operation_id = "event_streams_remove",
    request_body = EventSinkRemoval,
    responses(
        (status = 200, description = "What is still set up.", body = StreamsState),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    member: Allowed<RemoveStreams>,
    Json(body): Json<EventSinkRemoval>,
) -> Result<Json<StreamsState>, ApiError> {
    let streams = Streams::of(&state.db, &state.twilio, member.org_id()).await?;
    let kind = match body.event_type {
        EventStreamKind::Sms => Kind::Sms,
        EventStreamKind::Call => Kind::Call,
    };
    Ok(Json(streams.remove(member.org_id(), kind).await?))
}
