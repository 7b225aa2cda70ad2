//! `POST /twilio/voice`: Twilio asks what to do with an incoming call.
//!
//! The answer records the call when the organization wants it (fail-closed), then connects the
//! caller to the agent over a bidirectional media stream. Only `<Connect><Stream>` can carry
//! audio back to the caller; `<Connect action>` brings the call back to us when the stream ends.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use loquent_twilio::twiml::{
    self, Connect, Method, Recording, RecordingChannels, RecordingEvent, Say, Start, Stream,
};
use url::Url;

use super::session::AgentSetup;
use super::webhook::{TwilioForm, WebhookError};
use crate::app::AppState;
use crate::config::public_url_of;
use crate::phone_numbers::answering::{Answering, find_answering, recording_enabled};

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
    let Some(Answering { number, agent }) = find_answering(&state.db, org.id, to).await? else {
        tracing::warn!(org_id = %org.id, %call_sid, %to, "no agent answers this number; declining the call");
        return Ok(twiml_response(&unavailable()));
    };
    let setup = AgentSetup::of(&agent, &state.secrets);
    state.live.prewarmed.start(call_sid, setup.session.clone());
    let recording = recording_enabled(&state.db, org.id).await;
    tracing::info!(org_id = %org.id, %call_sid, phone = %number.number, agent = %agent.name, recording, "answering call");
    Ok(twiml_response(&connect_twiml(
        &state.config.server.public_url,
        recording,
        from,
        to,
        call_sid,
    )))
}

/// `wss://{public host}/twilio/stream`: the URL Twilio connects to and signs.
pub fn stream_url(public: &Url) -> String {
    let host = public.host_str().unwrap_or("localhost");
    match public.port() {
        Some(port) => format!("wss://{host}:{port}/twilio/stream"),
        None => format!("wss://{host}/twilio/stream"),
    }
}

pub fn connect_twiml(
    public_url: &Url,
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
                    .status_callback(public_url_of(public_url, crate::recordings::CALLBACK_PATH))
                    .status_callback_method(Method::Post)
                    .status_callback_events([RecordingEvent::Completed]),
            ),
        );
    }
    let stream = Stream::new(stream_url(public_url))
        .parameter("from", from)
        .parameter("to", to)
        .parameter("call_sid", call_sid);
    response.connect(
        Connect::new(stream)
            .action(public_url_of(public_url, "/twilio/call-status"))
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
