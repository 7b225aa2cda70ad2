//! OpenAI Realtime, GA interface, at `GET /openai/v1/realtime?model=…` (WebSocket).
//!
//! Follows `vendor/specs/openai/PROTOCOLS.md` §1 and the `RealtimeServerEvent*` schemas: bearer
//! auth on the upgrade, `session.created` first, `session.updated` with the full effective session
//! after every accepted `session.update` (beta shapes are refused as the real service does),
//! server VAD on the input audio, scripted responses whose audio is paced in real time,
//! function calls for tool phrases, barge-in, truncation with the real service's bounds check.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use loquent_ai::audio::mulaw;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::arguments;
use super::faults::Faults;
use super::script::{self, Reply};
use super::vad::{Vad, VadEvent};
use super::voice::{AgentVoice, VoiceFormat};
use super::{ConnectionLog, Provider, Shared, lock, sleep_until};
use crate::speech::Phrase;

/// Echo mode logs only this many appends and deltas per connection: a benchmark's thousands
/// would cost the emulator more than the echo.
const ECHOES_LOGGED: u64 = 20;
/// Output audio goes out in chunks of this many milliseconds, one chunk per that much time.
const CHUNK_MS: u64 = 100;
/// The real service's session cap; reported in `expires_at`.
const SESSION_LIFETIME_S: i64 = 3_600;
/// Fields of the retired beta session shape, which GA refuses.
const BETA_FIELDS: [&str; 8] = [
    "modalities",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "turn_detection",
    "input_audio_transcription",
    "temperature",
    "max_response_output_tokens",
];
/// Session fields whose schema has no `null`: clearing them removes them.
const NOT_NULLABLE: [&str; 3] = ["transcription", "noise_reduction", "include"];
const GA_FIELDS: [&str; 14] = [
    "type",
    "model",
    "output_modalities",
    "instructions",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "truncation",
    "tracing",
    "include",
    "prompt",
    "reasoning",
    "parallel_tool_calls",
];

#[derive(Deserialize)]
pub(crate) struct RealtimeQuery {
    model: Option<String>,
}

/// The upgrade: refuses requests without a bearer token, as the real endpoint does.
pub(crate) async fn upgrade(
    State(shared): State<Shared>,
    Query(query): Query<RealtimeQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty());
    if !bearer {
        let body = json!({ "error": {
            "message": "You didn't provide an API key. You need to provide your API key in an \
                        Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "type": "invalid_request_error",
            "param": null,
            "code": null
        } });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let model = query.model.unwrap_or_else(|| "gpt-realtime".to_owned());
    let beta = headers.contains_key("openai-beta");
    ws.read_buffer_size(super::READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            let (id, queued, log) = shared.open(Provider::OpenAi, &model);
            let faults = Faults::from_model(&model).or(queued);
            let mut connection = Connection::new(socket, id, model, faults, log.clone());
            let ended = connection.serve(beta).await;
            lock(&log).ended = Some(ended);
            // Dropping the socket here without a close frame is what the `drop` fault relies on.
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcmu,
    Pcm24k,
}

impl Format {
    fn parse(value: &Value) -> Result<Self, String> {
        match (value["type"].as_str(), &value["rate"]) {
            (Some("audio/pcmu"), _) => Ok(Self::Pcmu),
            (Some("audio/pcm"), Value::Null) => Ok(Self::Pcm24k),
            (Some("audio/pcm"), rate) if rate.as_u64() == Some(24_000) => Ok(Self::Pcm24k),
            (Some("audio/pcm"), rate) => Err(format!(
                "Invalid 'rate': {rate}. audio/pcm supports 24000 only."
            )),
            (Some("audio/pcma"), _) => Err(
                "audio/pcma is valid for OpenAI, but the sandbox emulates audio/pcmu and audio/pcm only."
                    .to_owned(),
            ),
            (other, _) => Err(format!(
                "Invalid value: {other:?}. Supported values are: 'audio/pcm', 'audio/pcmu' and 'audio/pcma'."
            )),
        }
    }

    fn rate(self) -> u32 {
        match self {
            Self::Pcmu => 8_000,
            Self::Pcm24k => 24_000,
        }
    }

    fn voice(self) -> VoiceFormat {
        match self {
            Self::Pcmu => VoiceFormat::Mulaw8k,
            Self::Pcm24k => VoiceFormat::Pcm24k,
        }
    }

    fn decode(self, bytes: &[u8], out: &mut Vec<i16>) {
        match self {
            Self::Pcmu => mulaw::decode_into(bytes, out),
            Self::Pcm24k => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
            ),
        }
    }
}

/// Server VAD settings in effect (`None` in [`Connection::turns`]: VAD off).
#[derive(Debug, Clone, Copy)]
struct Turns {
    prefix_ms: u64,
    silence_ms: u64,
    create_response: bool,
    interrupt_response: bool,
}

/// The response being spoken.
struct Speaking {
    id: String,
    item_id: String,
    reply: Reply,
    sent_ms: u64,
    transcript_sent: usize,
    next_at: Instant,
    voice: AgentVoice,
}

/// What a handler wants of the connection loop.
enum Flow {
    Continue,
    /// End the connection; the reason goes into the log.
    Stop(String),
}

type Sent = Result<Flow, axum::Error>;

struct Connection {
    ws: WebSocket,
    id: u64,
    model: String,
    faults: Faults,
    log: Arc<Mutex<ConnectionLog>>,
    counter: u64,
    /// The effective session, GA shape, as `session.updated` reports it.
    session: Value,
    input: Format,
    output: Format,
    turns: Option<Turns>,
    transcription: bool,
    tools: Vec<(String, Value)>,
    /// Set by the first audio output: the voice cannot change afterwards.
    voice_locked: bool,
    vad: Option<Vad>,
    /// Input appended since the last commit while VAD is off.
    manual: Vec<i16>,
    samples: Vec<i16>,
    caller_item: Option<String>,
    last_item: Option<String>,
    response: Option<Speaking>,
    /// Assistant audio items → milliseconds of audio they hold (after any truncation).
    audio_items: HashMap<String, u64>,
    /// Function calls in the conversation: call id → tool name.
    calls: HashMap<String, String>,
    /// The tool whose output arrived last, answered by the next `response.create`.
    answered_tool: Option<String>,
    /// Appends echoed (echo mode).
    echoes: u64,
    /// Decoded audio, reused: echo mode only checks that appends are base64.
    scratch: Vec<u8>,
}

impl Connection {
    fn new(
        ws: WebSocket,
        id: u64,
        model: String,
        faults: Faults,
        log: Arc<Mutex<ConnectionLog>>,
    ) -> Self {
        let expires_at = chrono::Utc::now().timestamp() + SESSION_LIFETIME_S;
        // The documented defaults (the `session.created` example in the spec), except that
        // fields the example shows as `null` but the schema types as objects or arrays
        // (`transcription`, `noise_reduction`, `include`) are left out: absent reads the same.
        let session = json!({
            "type": "realtime",
            "object": "realtime.session",
            "id": format!("sess_sandbox{id}"),
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": null,
            "prompt": null,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": { "type": "audio/pcm", "rate": 24_000 },
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "idle_timeout_ms": null,
                        "create_response": true,
                        "interrupt_response": true
                    }
                },
                "output": {
                    "format": { "type": "audio/pcm", "rate": 24_000 },
                    "voice": "marin",
                    "speed": 1
                }
            }
        });
        let mut connection = Self {
            ws,
            id,
            model,
            faults,
            log,
            counter: 0,
            session,
            input: Format::Pcm24k,
            output: Format::Pcm24k,
            turns: None,
            transcription: false,
            tools: Vec::new(),
            voice_locked: false,
            vad: None,
            manual: Vec::new(),
            samples: Vec::new(),
            caller_item: None,
            last_item: None,
            response: None,
            audio_items: HashMap::new(),
            calls: HashMap::new(),
            answered_tool: None,
            echoes: 0,
            scratch: Vec::new(),
        };
        connection.derive_settings();
        connection
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_sbx{}x{}", self.id, self.counter)
    }

    async fn serve(&mut self, beta: bool) -> String {
        if let Some(delay) = self.faults.slow_start() {
            tokio::time::sleep(delay).await;
        }
        if beta {
            // The real service answers the retired beta header with this error and then never
            // sends `session.created`: beta clients hang there.
            let sent = self
                .error(
                    "invalid_request_error",
                    Some("invalid_beta"),
                    "The requested beta \"realtime\" is unknown or no longer supported.".to_owned(),
                    None,
                    None,
                )
                .await;
            if sent.is_ok() {
                while let Some(Ok(message)) = self.ws.recv().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            }
            return "invalid_beta".to_owned();
        }
        let session = self.session.clone();
        if let Err(e) = self
            .emit(json!({ "type": "session.created", "session": session }))
            .await
        {
            return format!("send failed: {e}");
        }
        let started = Instant::now();
        let at = |ms: Option<u64>| ms.map(|ms| started + Duration::from_millis(ms));
        let mut error_at = at(self.faults.error_after_ms);
        let drop_at = at(self.faults.drop_after_ms);
        let expire_at = at(self.faults.expire_after_ms);
        loop {
            let tick = self.response.as_ref().map(|r| r.next_at);
            let sent = tokio::select! {
                message = self.ws.recv() => match message {
                    None => return "client disconnected".to_owned(),
                    Some(Err(e)) => return format!("connection failed: {e}"),
                    Some(Ok(message)) => self.on_message(message).await,
                },
                () = sleep_until(tick) => self.play().await,
                () = sleep_until(error_at) => {
                    error_at = None;
                    self.error(
                        "server_error",
                        None,
                        "The server had an error while processing your request. (sandbox fault)".to_owned(),
                        None,
                        None,
                    )
                    .await
                }
                () = sleep_until(drop_at) => return "dropped without a close frame (fault)".to_owned(),
                () = sleep_until(expire_at) => self.expire().await,
            };
            match sent {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop(reason)) => return reason,
                Err(e) => return format!("send failed: {e}"),
            }
        }
    }

    async fn emit(&mut self, mut event: Value) -> Result<(), axum::Error> {
        event["event_id"] = json!(self.new_id("event"));
        lock(&self.log).sent(&event);
        self.ws.send(Message::text(event.to_string())).await
    }

    async fn error(
        &mut self,
        kind: &str,
        code: Option<&str>,
        message: String,
        param: Option<&str>,
        event_id: Option<&str>,
    ) -> Sent {
        self.emit(json!({
            "type": "error",
            "error": {
                "type": kind,
                "code": code,
                "message": message,
                "param": param,
                "event_id": event_id,
            }
        }))
        .await?;
        Ok(Flow::Continue)
    }

    /// An `invalid_request_error`, the kind nearly every client mistake gets.
    async fn invalid(
        &mut self,
        code: &str,
        param: Option<&str>,
        message: String,
        event: &Value,
    ) -> Sent {
        let event_id = event["event_id"].as_str().map(str::to_owned);
        self.error(
            "invalid_request_error",
            Some(code),
            message,
            param,
            event_id.as_deref(),
        )
        .await
    }

    /// Sends a close frame and waits (briefly) for the client's reply.
    async fn close(&mut self, code: u16, reason: &str) -> Sent {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.ws.send(Message::Close(Some(frame))).await?;
        let drain = async { while let Some(Ok(_)) = self.ws.recv().await {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        Ok(Flow::Stop(format!("closed with {code}: {reason}")))
    }

    async fn expire(&mut self) -> Sent {
        let message = "Your session hit the maximum duration of 60 minutes.";
        self.error(
            "invalid_request_error",
            Some("session_expired"),
            message.to_owned(),
            None,
            None,
        )
        .await?;
        self.close(1001, message).await
    }

    async fn on_message(&mut self, message: Message) -> Sent {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self
                    .invalid(
                        "invalid_json",
                        None,
                        "Binary frames are not supported; send JSON text frames.".to_owned(),
                        &Value::Null,
                    )
                    .await;
            }
            Message::Close(_) => {
                // Reading on lets the WebSocket layer send its close reply.
                while let Some(Ok(_)) = self.ws.recv().await {}
                return Ok(Flow::Stop("client closed".to_owned()));
            }
            Message::Ping(_) | Message::Pong(_) => return Ok(Flow::Continue),
        };
        if self.faults.echo
            && let Some(sent) = self.echo(text.as_str()).await
        {
            return sent;
        }
        let event: Value = match serde_json::from_str(text.as_str()) {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                return self
                    .invalid(
                        "invalid_json",
                        None,
                        "We could not parse the JSON body of your request.".to_owned(),
                        &Value::Null,
                    )
                    .await;
            }
        };
        lock(&self.log).received(&event);
        match event["type"].as_str().unwrap_or_default() {
            "session.update" => self.update_session(&event).await,
            "input_audio_buffer.append" => self.append(&event).await,
            "input_audio_buffer.commit" => self.commit(&event).await,
            "input_audio_buffer.clear" => {
                self.manual.clear();
                self.emit(json!({ "type": "input_audio_buffer.cleared" }))
                    .await?;
                Ok(Flow::Continue)
            }
            "conversation.item.create" => self.create_item(&event).await,
            "conversation.item.truncate" => self.truncate(&event).await,
            "response.create" => {
                if self.response.is_some() {
                    return self
                        .invalid(
                            "conversation_already_has_active_response",
                            None,
                            "Conversation already has an active response in progress.".to_owned(),
                            &event,
                        )
                        .await;
                }
                let reply = match self.answered_tool.take() {
                    Some(tool) => script::after_tool(&tool),
                    None => script::greeting(),
                };
                self.start_speaking(reply).await
            }
            "response.cancel" => {
                if self.response.is_none() {
                    return self
                        .invalid(
                            "response_cancel_not_active",
                            None,
                            "Cancellation failed: no active response found.".to_owned(),
                            &event,
                        )
                        .await;
                }
                self.finish("cancelled", Some("client_cancelled")).await
            }
            "output_audio_buffer.clear" => {
                self.invalid(
                    "invalid_value",
                    Some("type"),
                    "output_audio_buffer.clear is only supported for WebRTC and SIP sessions."
                        .to_owned(),
                    &event,
                )
                .await
            }
            other => {
                let message = format!(
                    "Invalid value: '{other}'. The sandbox does not support this client event."
                );
                self.invalid("invalid_value", Some("type"), message, &event)
                    .await
            }
        }
    }

    async fn update_session(&mut self, event: &Value) -> Sent {
        let Some(update) = event["session"].as_object() else {
            return self
                .invalid(
                    "missing_required_parameter",
                    Some("session"),
                    "Missing required parameter: 'session'.".to_owned(),
                    event,
                )
                .await;
        };
        if let Some(field) = BETA_FIELDS.iter().find(|f| update.contains_key(**f)) {
            // The real service refuses the retired flat shape and closes with 4000.
            self.invalid(
                "beta_api_shape_disabled",
                Some(&format!("session.{field}")),
                "You tried to use the beta API shape, which has been disabled. Use the GA shape \
                 of /v1/realtime."
                    .to_owned(),
                event,
            )
            .await?;
            return self.close(4000, "beta_api_shape_disabled").await;
        }
        match update.get("type").and_then(Value::as_str) {
            None => {
                // The socket stays open and the session keeps its defaults: the trap of §1.3.
                return self
                    .invalid(
                        "missing_required_parameter",
                        Some("session.type"),
                        "Missing required parameter: 'session.type'.".to_owned(),
                        event,
                    )
                    .await;
            }
            Some("realtime") => {}
            Some(other) => {
                let message =
                    format!("Invalid value: '{other}'. Supported values are: 'realtime'.");
                return self
                    .invalid("invalid_value", Some("session.type"), message, event)
                    .await;
            }
        }
        if let Some(field) = update.keys().find(|k| !GA_FIELDS.contains(&k.as_str())) {
            let param = format!("session.{field}");
            let message = format!("Unknown parameter: '{param}'.");
            return self
                .invalid("unknown_parameter", Some(&param), message, event)
                .await;
        }
        if let Some(model) = update.get("model").and_then(Value::as_str)
            && model != self.model
        {
            return self
                .invalid(
                    "invalid_value",
                    Some("session.model"),
                    "The model of a session cannot be changed.".to_owned(),
                    event,
                )
                .await;
        }
        let audio = &update.get("audio").cloned().unwrap_or(Value::Null);
        for direction in ["input", "output"] {
            let format = &audio[direction]["format"];
            if !format.is_null()
                && let Err(message) = Format::parse(format)
            {
                let param = format!("session.audio.{direction}.format");
                return self
                    .invalid("invalid_value", Some(&param), message, event)
                    .await;
            }
        }
        let voice = &audio["output"]["voice"];
        if self.voice_locked
            && !voice.is_null()
            && *voice != self.session["audio"]["output"]["voice"]
        {
            return self
                .invalid(
                    "cannot_update_voice",
                    Some("session.audio.output.voice"),
                    "Cannot update a conversation's voice if assistant audio is present."
                        .to_owned(),
                    event,
                )
                .await;
        }
        let modalities = &update
            .get("output_modalities")
            .cloned()
            .unwrap_or(Value::Null);
        if !modalities.is_null()
            && *modalities != json!(["audio"])
            && *modalities != json!(["text"])
        {
            return self
                .invalid(
                    "invalid_value",
                    Some("session.output_modalities"),
                    "output_modalities must be [\"audio\"] or [\"text\"].".to_owned(),
                    event,
                )
                .await;
        }
        // Only the fields present change; `audio.input` / `audio.output` merge field by field.
        // `null` switches off what the schema cannot show as null: the field is left out.
        let set = |target: &mut Value, field: &str, value: &Value| {
            if let Some(object) = target.as_object_mut() {
                if value.is_null() && NOT_NULLABLE.contains(&field) {
                    object.remove(field);
                } else {
                    object.insert(field.to_owned(), value.clone());
                }
            }
        };
        for (key, value) in update {
            if key == "audio" {
                for direction in ["input", "output"] {
                    if let Some(fields) = value[direction].as_object() {
                        for (field, value) in fields {
                            set(&mut self.session["audio"][direction], field, value);
                        }
                    }
                }
            } else {
                set(&mut self.session, key, value);
            }
        }
        self.derive_settings();
        let session = self.session.clone();
        self.emit(json!({ "type": "session.updated", "session": session }))
            .await?;
        Ok(Flow::Continue)
    }

    /// Reads what the emulation needs out of the effective session.
    fn derive_settings(&mut self) {
        let input = &self.session["audio"]["input"];
        self.input = Format::parse(&input["format"]).unwrap_or(Format::Pcm24k);
        self.output =
            Format::parse(&self.session["audio"]["output"]["format"]).unwrap_or(Format::Pcm24k);
        self.transcription = !input["transcription"].is_null();
        let detection = &input["turn_detection"];
        self.turns = match detection["type"].as_str() {
            None => None,
            kind => Some(Turns {
                prefix_ms: detection["prefix_padding_ms"].as_u64().unwrap_or(300),
                silence_ms: match (kind, detection["eagerness"].as_str()) {
                    (Some("semantic_vad"), Some("high")) => 250,
                    (Some("semantic_vad"), Some("low")) => 800,
                    (Some("semantic_vad"), _) => 500,
                    _ => detection["silence_duration_ms"].as_u64().unwrap_or(500),
                },
                create_response: detection["create_response"].as_bool().unwrap_or(true),
                interrupt_response: detection["interrupt_response"].as_bool().unwrap_or(true),
            }),
        };
        self.tools = self.session["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|tool| tool["type"] == "function")
            .filter_map(|tool| {
                let name = tool["name"].as_str()?.to_owned();
                Some((name, tool["parameters"].clone()))
            })
            .collect();
        // A new input rate needs a new detector; otherwise only its timing changes.
        let (prefix_ms, silence_ms) = self
            .turns
            .map_or((300, 500), |t| (t.prefix_ms, t.silence_ms));
        if self.vad.as_ref().map(Vad::rate) != Some(self.input.rate()) {
            self.vad = Some(Vad::new(self.input.rate(), prefix_ms, silence_ms));
        } else if let Some(vad) = &mut self.vad {
            vad.set_timing(prefix_ms, silence_ms);
        }
    }

    /// Echo mode (latency benchmarks): a valid append comes straight back as an audio delta
    /// with the same base64, and nothing else happens. A benchmark sends fifty appends a second
    /// per call, so this path builds no JSON values and logs only the first [`ECHOES_LOGGED`]
    /// appends and deltas. Anything else, and appends the full path must refuse (bad base64), is
    /// left to the full path: `None`.
    async fn echo(&mut self, text: &str) -> Option<Sent> {
        #[derive(Deserialize)]
        struct Append<'a> {
            #[serde(rename = "type", borrow)]
            kind: Cow<'a, str>,
            #[serde(default, borrow)]
            audio: Option<Cow<'a, str>>,
        }
        let append: Append<'_> = serde_json::from_str(text).ok()?;
        let audio = append
            .audio
            .filter(|_| append.kind == "input_audio_buffer.append")?;
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        let valid = BASE64.decode_vec(audio.as_bytes(), &mut bytes).is_ok();
        self.scratch = bytes;
        if !valid {
            return None;
        }
        self.echoes += 1;
        let event_id = self.new_id("event");
        // Base64 never needs escaping inside a JSON string.
        let delta = format!(
            r#"{{"type":"response.output_audio.delta","event_id":"{event_id}","response_id":"resp_echo","item_id":"item_echo","output_index":0,"content_index":0,"delta":"{audio}"}}"#
        );
        if self.echoes <= ECHOES_LOGGED {
            let mut log = lock(&self.log);
            for (message, received) in [(text, true), (delta.as_str(), false)] {
                if let Ok(value) = serde_json::from_str::<Value>(message) {
                    if received {
                        log.received(&value);
                    } else {
                        log.sent(&value);
                    }
                }
            }
        }
        Some(
            self.ws
                .send(Message::text(delta))
                .await
                .map(|()| Flow::Continue),
        )
    }

    async fn append(&mut self, event: &Value) -> Sent {
        let Some(audio) = event["audio"].as_str() else {
            return self
                .invalid(
                    "missing_required_parameter",
                    Some("audio"),
                    "Missing required parameter: 'audio'.".to_owned(),
                    event,
                )
                .await;
        };
        let Ok(bytes) = BASE64.decode(audio) else {
            return self
                .invalid(
                    "invalid_value",
                    Some("audio"),
                    "Invalid 'audio'. Expected base64-encoded audio bytes.".to_owned(),
                    event,
                )
                .await;
        };
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        self.input.decode(&bytes, &mut samples);
        let mut events = Vec::new();
        if let Some(vad) = &mut self.vad {
            vad.push(&samples, &mut events);
        }
        if self.turns.is_none() {
            // Push-to-talk: keep the audio until the client commits it (at most a minute).
            if self.manual.len() < 60 * self.input.rate() as usize {
                self.manual.extend_from_slice(&samples);
            }
            events.clear();
        }
        self.samples = samples;
        for event in events {
            if let Flow::Stop(reason) = self.on_vad(event).await? {
                return Ok(Flow::Stop(reason));
            }
        }
        Ok(Flow::Continue)
    }

    async fn on_vad(&mut self, event: VadEvent) -> Sent {
        match event {
            VadEvent::Started { audio_start_ms } => {
                let item_id = self.new_id("item");
                self.caller_item = Some(item_id.clone());
                self.emit(json!({
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": audio_start_ms,
                    "item_id": item_id,
                }))
                .await?;
                let interrupts = self.turns.is_some_and(|t| t.interrupt_response);
                if interrupts && self.response.is_some() {
                    return self.finish("cancelled", Some("turn_detected")).await;
                }
                Ok(Flow::Continue)
            }
            VadEvent::Stopped {
                audio_end_ms,
                phrase,
            } => {
                let item_id = match self.caller_item.take() {
                    Some(id) => id,
                    None => self.new_id("item"),
                };
                self.emit(json!({
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": audio_end_ms,
                    "item_id": item_id,
                }))
                .await?;
                self.add_caller_item(item_id, phrase).await?;
                let responds = self.turns.is_some_and(|t| t.create_response);
                if responds && self.response.is_none() {
                    return self.respond_to(phrase).await;
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// `committed`, the user item, and its transcript when transcription is on.
    async fn add_caller_item(&mut self, item_id: String, phrase: Option<Phrase>) -> Sent {
        let previous = self.last_item.replace(item_id.clone());
        self.emit(json!({
            "type": "input_audio_buffer.committed",
            "previous_item_id": previous,
            "item_id": item_id,
        }))
        .await?;
        let item = json!({
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            // No transcript: it arrives separately (if at all); the schema has no null for it.
            "content": [{ "type": "input_audio" }],
        });
        self.emit(json!({ "type": "conversation.item.added", "previous_item_id": previous, "item": item }))
            .await?;
        self.emit(
            json!({ "type": "conversation.item.done", "previous_item_id": previous, "item": item }),
        )
        .await?;
        if self.transcription {
            self.emit(json!({
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": script::caller_text(phrase),
                "usage": { "type": "duration", "seconds": 1 },
            }))
            .await?;
        }
        Ok(Flow::Continue)
    }

    async fn commit(&mut self, event: &Value) -> Sent {
        let phrase = if self.turns.is_some() {
            match self.vad.as_mut().and_then(Vad::finish) {
                Some(VadEvent::Stopped { phrase, .. }) => phrase,
                _ => None,
            }
        } else {
            if self.manual.is_empty() {
                return self
                    .invalid(
                        "input_audio_buffer_commit_empty",
                        None,
                        "Error committing input audio buffer: buffer too small.".to_owned(),
                        event,
                    )
                    .await;
            }
            let phrase = crate::speech::recognise(&self.manual, self.input.rate());
            self.manual.clear();
            phrase
        };
        let item_id = match self.caller_item.take() {
            Some(id) => id,
            None => self.new_id("item"),
        };
        self.add_caller_item(item_id, phrase).await
    }

    async fn respond_to(&mut self, phrase: Option<Phrase>) -> Sent {
        let declared = phrase
            .and_then(Phrase::tool)
            .and_then(|tool| self.tools.iter().find(|(name, _)| name == tool).cloned());
        match declared {
            Some((name, parameters)) => self.call_tool(name, &parameters).await,
            None => self.start_speaking(script::reply_to(phrase)).await,
        }
    }

    fn response_object(
        &self,
        id: &str,
        status: &str,
        details: Value,
        output: Value,
        usage: Value,
    ) -> Value {
        let mut response = json!({
            "id": id,
            "object": "realtime.response",
            "status": status,
            "output": output,
            "conversation_id": format!("conv_sandbox{}", self.id),
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": { "output": {
                "format": self.session["audio"]["output"]["format"],
                "voice": self.session["audio"]["output"]["voice"],
            } },
            "metadata": null,
        });
        // Absent rather than null: the schema types both as objects.
        if !details.is_null() {
            response["status_details"] = details;
        }
        if !usage.is_null() {
            response["usage"] = usage;
        }
        response
    }

    async fn start_speaking(&mut self, reply: Reply) -> Sent {
        let id = self.new_id("resp");
        let item_id = self.new_id("item");
        let created = self.response_object(&id, "in_progress", Value::Null, json!([]), Value::Null);
        self.emit(json!({ "type": "response.created", "response": created }))
            .await?;
        let item = json!({
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        });
        self.emit(json!({ "type": "response.output_item.added", "response_id": id, "output_index": 0, "item": item }))
            .await?;
        let previous = self.last_item.replace(item_id.clone());
        self.emit(json!({ "type": "conversation.item.added", "previous_item_id": previous, "item": item }))
            .await?;
        self.emit(json!({
            "type": "response.content_part.added",
            "response_id": id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": { "type": "audio", "transcript": "" },
        }))
        .await?;
        self.audio_items.insert(item_id.clone(), 0);
        self.voice_locked = true;
        self.response = Some(Speaking {
            id,
            item_id,
            reply,
            sent_ms: 0,
            transcript_sent: 0,
            next_at: Instant::now(),
            voice: AgentVoice::new(self.output.voice()),
        });
        Ok(Flow::Continue)
    }

    /// The next chunk of the response being spoken.
    async fn play(&mut self) -> Sent {
        let Some(speaking) = &mut self.response else {
            return Ok(Flow::Continue);
        };
        let ms = CHUNK_MS.min(speaking.reply.ms - speaking.sent_ms);
        let audio = BASE64.encode(speaking.voice.speak(ms));
        speaking.sent_ms += ms;
        speaking.next_at += Duration::from_millis(CHUNK_MS);
        let upto = script::spoken_chars(speaking.reply.text, speaking.sent_ms, speaking.reply.ms);
        let words = speaking.reply.text[speaking.transcript_sent..upto].to_owned();
        speaking.transcript_sent = upto;
        let (id, item_id, sent_ms, done) = (
            speaking.id.clone(),
            speaking.item_id.clone(),
            speaking.sent_ms,
            speaking.sent_ms >= speaking.reply.ms,
        );
        self.audio_items.insert(item_id.clone(), sent_ms);
        self.emit(json!({
            "type": "response.output_audio.delta",
            "response_id": id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": audio,
        }))
        .await?;
        if !words.is_empty() {
            self.emit(json!({
                "type": "response.output_audio_transcript.delta",
                "response_id": id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": words,
            }))
            .await?;
        }
        if done {
            return self.finish("completed", None).await;
        }
        Ok(Flow::Continue)
    }

    /// Ends the spoken response: `completed`, or `cancelled` with what was said so far.
    async fn finish(&mut self, status: &str, reason: Option<&str>) -> Sent {
        let Some(speaking) = self.response.take() else {
            return Ok(Flow::Continue);
        };
        let Speaking { id, item_id, .. } = &speaking;
        let transcript = &speaking.reply.text[..speaking.transcript_sent];
        let at =
            json!({ "response_id": id, "item_id": item_id, "output_index": 0, "content_index": 0 });
        let with = |kind: &str, extra: Value| {
            let mut event = at.clone();
            event["type"] = json!(kind);
            if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
                event.extend(extra.clone());
            }
            event
        };
        self.emit(with("response.output_audio.done", json!({})))
            .await?;
        self.emit(with(
            "response.output_audio_transcript.done",
            json!({ "transcript": transcript }),
        ))
        .await?;
        self.emit(with(
            "response.content_part.done",
            json!({ "part": { "type": "audio", "transcript": transcript } }),
        ))
        .await?;
        let item = json!({
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": if status == "completed" { "completed" } else { "incomplete" },
            "role": "assistant",
            "content": [{ "type": "output_audio", "transcript": transcript }],
        });
        self.emit(json!({ "type": "response.output_item.done", "response_id": id, "output_index": 0, "item": item }))
            .await?;
        self.emit(json!({ "type": "conversation.item.done", "item": item }))
            .await?;
        let details = match reason {
            Some(reason) => json!({ "type": status, "reason": reason }),
            None => Value::Null,
        };
        let usage = usage(speaking.sent_ms);
        let done = self.response_object(id, status, details, json!([item]), usage);
        self.emit(json!({ "type": "response.done", "response": done }))
            .await?;
        Ok(Flow::Continue)
    }

    /// A response that is one function call, with arguments made up from its parameters.
    async fn call_tool(&mut self, name: String, parameters: &Value) -> Sent {
        let id = self.new_id("resp");
        let item_id = self.new_id("item");
        let call_id = self.new_id("call");
        let arguments = arguments::example(parameters, "").to_string();
        let created = self.response_object(&id, "in_progress", Value::Null, json!([]), Value::Null);
        self.emit(json!({ "type": "response.created", "response": created }))
            .await?;
        let mut item = json!({
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        });
        self.emit(json!({ "type": "response.output_item.added", "response_id": id, "output_index": 0, "item": item }))
            .await?;
        let previous = self.last_item.replace(item_id.clone());
        self.emit(json!({ "type": "conversation.item.added", "previous_item_id": previous, "item": item }))
            .await?;
        self.emit(json!({
            "type": "response.function_call_arguments.delta",
            "response_id": id,
            "item_id": item_id,
            "output_index": 0,
            "call_id": call_id,
            "delta": arguments,
        }))
        .await?;
        self.emit(json!({
            "type": "response.function_call_arguments.done",
            "response_id": id,
            "item_id": item_id,
            "output_index": 0,
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }))
        .await?;
        item["status"] = json!("completed");
        item["arguments"] = json!(arguments);
        self.emit(json!({ "type": "response.output_item.done", "response_id": id, "output_index": 0, "item": item }))
            .await?;
        self.emit(json!({ "type": "conversation.item.done", "item": item }))
            .await?;
        let done = self.response_object(&id, "completed", Value::Null, json!([item]), usage(0));
        self.emit(json!({ "type": "response.done", "response": done }))
            .await?;
        self.calls.insert(call_id, name);
        Ok(Flow::Continue)
    }

    async fn create_item(&mut self, event: &Value) -> Sent {
        let mut item = event["item"].clone();
        let problem = match item["type"].as_str() {
            Some("function_call_output") => match item["call_id"].as_str() {
                Some(call_id) => match self.calls.get(call_id) {
                    Some(tool) => {
                        self.answered_tool = Some(tool.clone());
                        None
                    }
                    None => Some((
                        "item.call_id",
                        format!("Tool call id '{call_id}' not found in conversation."),
                    )),
                },
                None => Some((
                    "item.call_id",
                    "Missing required parameter: 'item.call_id'.".to_owned(),
                )),
            },
            Some("function_call") => {
                if let (Some(call_id), Some(name)) =
                    (item["call_id"].as_str(), item["name"].as_str())
                {
                    self.calls.insert(call_id.to_owned(), name.to_owned());
                }
                None
            }
            Some("message") => message_problem(&item),
            other => Some((
                "item.type",
                format!(
                    "Invalid value: {other:?}. Supported values are: 'message', 'function_call' and 'function_call_output'."
                ),
            )),
        };
        if let Some((param, message)) = problem {
            return self
                .invalid("invalid_value", Some(param), message, event)
                .await;
        }
        let item_id = match item["id"].as_str() {
            Some(id) => id.to_owned(),
            None => self.new_id("item"),
        };
        item["id"] = json!(item_id);
        item["object"] = json!("realtime.item");
        item["status"] = json!("completed");
        let previous = self.last_item.replace(item_id);
        self.emit(json!({ "type": "conversation.item.added", "previous_item_id": previous, "item": item }))
            .await?;
        self.emit(
            json!({ "type": "conversation.item.done", "previous_item_id": previous, "item": item }),
        )
        .await?;
        Ok(Flow::Continue)
    }

    async fn truncate(&mut self, event: &Value) -> Sent {
        let Some(item_id) = event["item_id"].as_str().map(str::to_owned) else {
            return self
                .invalid(
                    "missing_required_parameter",
                    Some("item_id"),
                    "Missing required parameter: 'item_id'.".to_owned(),
                    event,
                )
                .await;
        };
        let Some(end_ms) = event["audio_end_ms"].as_u64() else {
            return self
                .invalid(
                    "invalid_type",
                    Some("audio_end_ms"),
                    format!(
                        "Invalid type for 'audio_end_ms': expected an integer, but got {}.",
                        event["audio_end_ms"]
                    ),
                    event,
                )
                .await;
        };
        let Some(&audio_ms) = self.audio_items.get(&item_id) else {
            return self
                .invalid(
                    "invalid_value",
                    Some("item_id"),
                    format!("Invalid 'item_id': no assistant audio item '{item_id}' in the conversation."),
                    event,
                )
                .await;
        };
        if end_ms > audio_ms {
            return self
                .invalid(
                    "invalid_value",
                    Some("audio_end_ms"),
                    format!("Audio content of {audio_ms}ms is already shorter than {end_ms}ms"),
                    event,
                )
                .await;
        }
        self.audio_items.insert(item_id.clone(), end_ms);
        let content_index = event["content_index"].as_u64().unwrap_or(0);
        self.emit(json!({
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": content_index,
            "audio_end_ms": end_ms,
        }))
        .await?;
        Ok(Flow::Continue)
    }
}

/// Token accounting in the spec's shape; audio is counted at 10 tokens a second.
fn usage(audio_ms: u64) -> Value {
    let audio = audio_ms / 100;
    let text = 10 + audio / 2;
    json!({
        "total_tokens": 100 + audio + text,
        "input_tokens": 100,
        "output_tokens": audio + text,
        "input_token_details": { "text_tokens": 100, "audio_tokens": 0, "cached_tokens": 0 },
        "output_token_details": { "text_tokens": text, "audio_tokens": audio },
    })
}

/// Why a `message` item cannot be added, if it cannot: roles and their GA content parts.
fn message_problem(item: &Value) -> Option<(&'static str, String)> {
    let allowed: &[&str] = match item["role"].as_str() {
        Some("user") => &["input_text", "input_audio", "input_image"],
        Some("system") => &["input_text"],
        // Assistant audio cannot be injected.
        Some("assistant") => &["output_text"],
        other => {
            return Some((
                "item.role",
                format!(
                    "Invalid value: {other:?}. Supported values are: 'user', 'assistant' and 'system'."
                ),
            ));
        }
    };
    let parts = item["content"].as_array()?;
    parts.iter().find_map(|part| {
        let kind = part["type"].as_str().unwrap_or_default();
        (!allowed.contains(&kind)).then(|| {
            (
                "item.content",
                format!(
                    "Invalid value: '{kind}'. Supported values for this role are: {allowed:?}."
                ),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_ga_union() {
        assert_eq!(
            Format::parse(&json!({ "type": "audio/pcmu" })),
            Ok(Format::Pcmu)
        );
        assert_eq!(
            Format::parse(&json!({ "type": "audio/pcm", "rate": 24000 })),
            Ok(Format::Pcm24k)
        );
        assert!(Format::parse(&json!({ "type": "audio/pcm", "rate": 16000 })).is_err());
        // The beta strings are not formats.
        assert!(Format::parse(&json!("g711_ulaw")).is_err());
    }

    #[test]
    fn message_items_take_the_parts_of_their_role() {
        let item = |role: &str, part: &str| json!({ "type": "message", "role": role, "content": [{ "type": part, "text": "x" }] });
        assert_eq!(message_problem(&item("user", "input_text")), None);
        assert_eq!(message_problem(&item("assistant", "output_text")), None);
        // Beta part names and injected assistant audio are refused.
        assert!(message_problem(&item("assistant", "text")).is_some());
        assert!(message_problem(&item("assistant", "output_audio")).is_some());
        assert!(message_problem(&item("robot", "input_text")).is_some());
    }
}
