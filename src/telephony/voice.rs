//! `POST /twilio/voice`: Twilio asks what to do with an incoming call.
//!
//! The answer records the call when the organization wants it (fail-closed), then connects the
//! caller to the agent over a bidirectional media stream. Only `<Connect><Stream>` can carry
//! audio back to the caller; `<Connect action>` brings the call back to us when the stream ends.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use loquent_twilio::twiml::{
    self, Connect, Method, Recording, RecordingChannels, RecordingEvent, Say, Start, Stream,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::session::AgentSetup;
use super::webhook::{TwilioForm, WebhookError, public_url_of};
use crate::app::{App, AppState};
use crate::entity::{agent, organization_twilio_settings, phone_number};

/// What a caller hears when nobody here can take the call.
pub const UNAVAILABLE: &str =
    "Sorry, this number cannot take calls right now. Please try again later. Goodbye.";

pub async fn answer(
    State(state): State<AppState>,
    form: TwilioForm,
) -> Result<Response, WebhookError> {
    let call_sid = form.require("CallSid")?;
    let to = form.require("To")?;
    let from = form.require("From")?;
    let org = &form.org;
    let Some((number, agent)) = answering_agent(&state, org.id, to).await? else {
        tracing::warn!(org_id = %org.id, %call_sid, %to, "no agent answers this number; declining the call");
        return Ok(twiml_response(&unavailable()));
    };
    let setup = AgentSetup::of(&agent, &state.secrets);
    state
        .live
        .prewarmed
        .start(Arc::clone(&state.0), call_sid, setup.session.clone());
    let recording = recording_enabled(&state, org.id).await;
    tracing::info!(org_id = %org.id, %call_sid, phone = %number.number, agent = %agent.name, recording, "answering call");
    Ok(twiml_response(&connect_twiml(
        &state, recording, from, to, call_sid,
    )))
}

/// The number's agent, when the organization owns the number and it has one.
pub(super) async fn answering_agent(
    app: &App,
    org_id: Uuid,
    to: &str,
) -> Result<Option<(phone_number::Model, agent::Model)>, sea_orm::DbErr> {
    let Some(number) = phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .filter(phone_number::Column::Number.eq(to))
        .one(&app.db)
        .await?
    else {
        return Ok(None);
    };
    let Some(agent_id) = number.agent_id else {
        return Ok(None);
    };
    let agent = agent::Entity::find_by_id(agent_id)
        .filter(agent::Column::OrganizationId.eq(org_id))
        .one(&app.db)
        .await?;
    Ok(agent.map(|agent| (number, agent)))
}

/// Seed 001's switch, read fail-closed: no row, or any error reading it, means no recording.
pub async fn recording_enabled(app: &App, org_id: Uuid) -> bool {
    match organization_twilio_settings::Entity::find_by_id(org_id)
        .one(&app.db)
        .await
    {
        Ok(Some(settings)) => settings.call_recording_enabled,
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(%org_id, %error, "recording setting unreadable; not recording");
            false
        }
    }
}

/// `wss://{public host}/twilio/stream`: the URL Twilio connects to and signs.
pub fn stream_url(app: &App) -> String {
    let public = &app.config.server.public_url;
    let host = public.host_str().unwrap_or("localhost");
    match public.port() {
        Some(port) => format!("wss://{host}:{port}/twilio/stream"),
        None => format!("wss://{host}/twilio/stream"),
    }
}

pub fn connect_twiml(
    app: &App,
    recording: bool,
    from: &str,
    to: &str,
    call_sid: &str,
) -> twiml::Response {
    let mut response = twiml::Response::new();
    if recording {
        response = response.start(
            Start::new().recording(
                Recording::new()
                    .channels(RecordingChannels::Dual)
                    .status_callback(public_url_of(app, "/twilio/recording"))
                    .status_callback_method(Method::Post)
                    .status_callback_events([RecordingEvent::Completed]),
            ),
        );
    }
    let stream = Stream::new(stream_url(app))
        .parameter("from", from)
        .parameter("to", to)
        .parameter("call_sid", call_sid);
    response.connect(
        Connect::new(stream)
            .action(public_url_of(app, "/twilio/call-status"))
            .method(Method::Post),
    )
}

pub fn unavailable() -> twiml::Response {
    twiml::Response::new().say(Say::new(UNAVAILABLE)).hangup()
}

pub fn twiml_response(document: &twiml::Response) -> Response {
    (
        [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
        document.to_xml(),
    )
        .into_response()
}
