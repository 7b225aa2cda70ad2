//! OpenAI Realtime (GA interface) over WebSocket.
//!
//! Both directions are `audio/pcmu` on a phone call (`audio/pcm` at 24 kHz on a call from the
//! browser): model deltas pass through to Twilio as the same base64 strings, and caller audio
//! needs no conversion either. Caller frames go up in batches (40 ms by
//! default, two Twilio frames) rather than one `input_audio_buffer.append` per 20 ms frame: half
//! the messages, and on the server half the socket reads and writes, which are most of a bridge's
//! CPU. LiveKit's agents batch 100 ms. A batch holds its first frame back one frame's time (20 ms),
//! which leaves the bridge's 50 ms budget room for a busy host; 60 ms batches cost a quarter less
//! CPU but hold the first frame 40 ms, within a few ms of the budget (docs/PERFORMANCE.md has both
//! measured; `with_uplink_batch` chooses). Twilio sends a frame every
//! 20 ms for the whole call, silence included, so a batch always fills within two frames' time;
//! the bridge also flushes a partial batch when the caller's socket has nothing more to read. Any
//! other message and `close()` send what is pending first, so the model never hears audio out of
//! order.
//! `connect` refuses to return a session until `session.updated` confirms both
//! formats: a failed update would leave the model speaking PCM 24 kHz, which is loud noise on a
//! phone leg.
//!
//! A session that ends without our asking (OpenAI's 60-minute limit, a dropped connection, a
//! failed write) is replaced under the bridge's feet: a new connection with the same
//! configuration, then the conversation so far (the final transcript lines and the context
//! injected without a response) as conversation items. Meanwhile caller audio is dropped and
//! other client messages wait for the new session; the caller hears a gap of a connection's
//! set-up. At most [`MAX_REPLACEMENTS`] a [`REPLACEMENT_WINDOW`]: a server that fails every new
//! session ends the call with its reason instead.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use loquent_ws::SocketError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::socket::{self, Incoming, Socket};
use super::{
    AudioChunk, Provider, RealtimeConfig, RealtimeError, RealtimeEvent, RealtimeSession,
    ResponseStatus, Role, TurnDetection,
};
use crate::audio::AudioFormat;

const PROVIDER: Provider = Provider::OpenAi;
/// An `input_audio_buffer.append` up to its base64.
const APPEND_OPEN: &str = r#"{"type":"input_audio_buffer.append","audio":""#;

/// OpenAI's name for `format`, in both directions: `audio/pcmu` (µ-law 8 kHz), or `audio/pcm`
/// (PCM16 at 24 kHz, the only rate it takes).
fn wire_format(format: AudioFormat) -> Value {
    match format {
        AudioFormat::Mulaw8k => json!({ "type": "audio/pcmu" }),
        AudioFormat::Pcm24k => json!({ "type": "audio/pcm", "rate": 24_000 }),
    }
}
/// Replacements allowed within [`REPLACEMENT_WINDOW`].
const MAX_REPLACEMENTS: usize = 3;
const REPLACEMENT_WINDOW: Duration = Duration::from_secs(60);
/// The conversation carried into a replacement session, newest kept: about an hour of talk.
const HISTORY_CHARS: usize = 32 * 1024;
/// Client messages (tool results, injected text) held while a replacement connects.
const HELD_MESSAGES: usize = 64;

/// How long `close()` and the events after it wait for the server's close reply: a server that
/// never answers must not hold a finished call open.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The `error.code` OpenAI sends when a session reaches its 60-minute cap, just before it closes
/// the socket (1001).
const SESSION_EXPIRED: &str = "session_expired";

/// Opens OpenAI Realtime sessions. Cheap to clone; holds the API key, which `Debug` hides.
#[derive(Clone)]
pub struct OpenAiRealtime {
    base_url: String,
    api_key: String,
    setup_timeout: Duration,
    input_transcription: Option<String>,
    uplink_batch: Duration,
}

impl fmt::Debug for OpenAiRealtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiRealtime")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("setup_timeout", &self.setup_timeout)
            .field("input_transcription", &self.input_transcription)
            .field("uplink_batch", &self.uplink_batch)
            .finish()
    }
}

impl OpenAiRealtime {
    /// The public API; any OpenAI-compatible server works (`http://` gives `ws://`).
    pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
    /// How long `connect` waits for `session.updated`.
    pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(10);
    /// How much caller audio goes up in one `input_audio_buffer.append`.
    pub const DEFAULT_UPLINK_BATCH: Duration = Duration::from_millis(40);

    /// `base_url` is the HTTP API base, e.g. [`Self::DEFAULT_BASE_URL`].
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            setup_timeout: Self::DEFAULT_SETUP_TIMEOUT,
            input_transcription: None,
            uplink_batch: Self::DEFAULT_UPLINK_BATCH,
        }
    }

    /// Caller audio per `input_audio_buffer.append`. A batch of one frame or less (e.g.
    /// `Duration::ZERO`) forwards each Twilio payload as it comes, without decoding it.
    pub fn with_uplink_batch(mut self, batch: Duration) -> Self {
        self.uplink_batch = batch;
        self
    }

    pub fn with_setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// Turns on the caller transcript (`audio.input.transcription`), e.g. with
    /// `gpt-4o-mini-transcribe`. Off by default: it is a separate, billed ASR pass.
    pub fn with_input_transcription(mut self, model: impl Into<String>) -> Self {
        self.input_transcription = Some(model.into());
        self
    }

    /// `wss://…/realtime?model=…` for the configured base URL.
    pub fn realtime_url(&self, model: &str) -> Result<String, RealtimeError> {
        let base = socket::websocket_base(PROVIDER, &self.base_url)?;
        Ok(format!(
            "{base}/realtime?model={}",
            socket::query_value(model)
        ))
    }

    /// The GA `session.update` for `config`.
    pub fn session_update(&self, config: &RealtimeConfig) -> Value {
        let turn_detection = match config.turn_detection {
            TurnDetection::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
            } => json!({
                "type": "server_vad",
                "threshold": threshold,
                "prefix_padding_ms": prefix_padding_ms,
                "silence_duration_ms": silence_duration_ms,
                "create_response": true,
                "interrupt_response": true,
            }),
            TurnDetection::SemanticVad { eagerness } => json!({
                "type": "semantic_vad",
                "eagerness": eagerness,
                "create_response": true,
                "interrupt_response": true,
            }),
        };
        let format = wire_format(config.audio_format);
        let mut input = json!({
            "format": format,
            "turn_detection": turn_detection,
        });
        if let Some(model) = &self.input_transcription {
            input["transcription"] = json!({ "model": model });
        }
        let tools: Vec<Value> = config
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                })
            })
            .collect();
        json!({
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["audio"],
                "instructions": config.instructions,
                "audio": {
                    "input": input,
                    "output": { "format": format, "voice": config.voice },
                },
                "tools": tools,
            }
        })
    }

    /// Connects, configures the session and waits until `session.updated` confirms the config's
    /// audio format in both directions.
    pub async fn connect(&self, config: &RealtimeConfig) -> Result<OpenAiSession, RealtimeError> {
        config.validate()?;
        if config.provider != PROVIDER {
            return Err(RealtimeError::InvalidConfig(format!(
                "a {} config cannot open an {PROVIDER} session",
                config.provider
            )));
        }
        let url = self.realtime_url(&config.model)?;
        let mut ws = socket::open(
            PROVIDER,
            &url,
            &[("authorization", format!("Bearer {}", self.api_key))],
        )
        .await?;
        socket::send(&mut ws, &self.session_update(config).to_string())
            .await
            .map_err(|e| connect_error(format!("could not send session.update: {e}")))?;
        let updated = await_session_updated(&mut ws, config.audio_format);
        match tokio::time::timeout(self.setup_timeout, updated).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                socket::close(&mut ws).await;
                return Err(error);
            }
            Err(_) => {
                socket::close(&mut ws).await;
                return Err(connect_error(format!(
                    "no session.updated within {} ms",
                    self.setup_timeout.as_millis()
                )));
            }
        }
        let frame_bytes = config.audio_format.frame_bytes();
        let batch_bytes =
            self.uplink_batch.as_millis() as usize * config.audio_format.bytes_per_ms();
        Ok(OpenAiSession {
            ws,
            uplink: Vec::with_capacity(batch_bytes + frame_bytes),
            uplink_batch_bytes: (batch_bytes > frame_bytes).then_some(batch_bytes),
            frame_bytes,
            pending: VecDeque::new(),
            expired: false,
            ended: false,
            closed: false,
            close_deadline: None,
            finished: false,
            continuity: Continuity {
                realtime: self.clone(),
                config: config.clone(),
                history: VecDeque::new(),
                history_chars: 0,
                replaced: Vec::new(),
            },
            replacement: None,
            held: Vec::new(),
        })
    }
}

fn connect_error(message: String) -> RealtimeError {
    RealtimeError::Connect {
        provider: PROVIDER,
        message,
    }
}

async fn await_session_updated(ws: &mut Socket, format: AudioFormat) -> Result<(), RealtimeError> {
    let wanted = wire_format(format);
    let wanted = wanted["type"].as_str();
    loop {
        let next = ws.next().await;
        let value = match socket::decode(ws, next) {
            Incoming::Json(Ok(value)) => value,
            Incoming::Json(Err(_)) => continue,
            Incoming::Closed(reason) => {
                return Err(connect_error(format!(
                    "closed before session.updated ({})",
                    reason.as_deref().unwrap_or("normal close")
                )));
            }
            Incoming::Ended(reason) => {
                return Err(connect_error(format!(
                    "{} before session.updated",
                    reason.as_deref().unwrap_or("connection ended")
                )));
            }
        };
        match value["type"].as_str() {
            Some("session.updated") => {
                let audio = &value["session"]["audio"];
                let input = audio["input"]["format"]["type"].as_str();
                let output = audio["output"]["format"]["type"].as_str();
                if input == wanted && output == wanted {
                    return Ok(());
                }
                return Err(connect_error(format!(
                    "session.updated kept input format {input:?} and output format {output:?}, \
                     not {wanted:?}"
                )));
            }
            Some("error") => {
                let (code, message) = error_fields(&value);
                return Err(connect_error(format!(
                    "session.update rejected ({}): {message}",
                    code.as_deref().unwrap_or("no code")
                )));
            }
            _ => {}
        }
    }
}

/// `response.output_audio.delta`, read without a JSON tree; `None` for any other message (or one
/// this shortcut cannot read), which then takes the general path.
fn audio_delta(text: &str) -> Option<AudioChunk> {
    #[derive(Deserialize)]
    struct Delta<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        delta: String,
        item_id: Option<String>,
        response_id: Option<String>,
    }
    if !text.contains("\"response.output_audio.delta\"") {
        return None;
    }
    let event: Delta<'_> = serde_json::from_str(text).ok()?;
    (event.kind == "response.output_audio.delta").then_some(AudioChunk {
        payload: event.delta,
        item_id: event.item_id,
        response_id: event.response_id,
    })
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn error_fields(value: &Value) -> (Option<String>, String) {
    let error = &value["error"];
    let message = error["message"]
        .as_str()
        .unwrap_or("unknown error")
        .to_owned();
    (
        string(&error["code"]).or_else(|| string(&error["type"])),
        message,
    )
}

/// One server message (a Text frame's text) read as the session reads it: the audio shortcut
/// first, then the general path. For the fuzz target `realtime_openai` (in `fuzz/`); the session's
/// own loop takes the same steps without the intermediate `Vec`.
#[doc(hidden)]
pub fn read_server_text(text: &str, out: &mut Vec<RealtimeEvent>) {
    if let Some(chunk) = audio_delta(text) {
        out.push(RealtimeEvent::AudioDelta(chunk));
        return;
    }
    read_server_text_slowly(text, out);
}

/// The general path alone, for the fuzz target to check the audio shortcut against.
#[doc(hidden)]
pub fn read_server_text_slowly(text: &str, out: &mut Vec<RealtimeEvent>) {
    match socket::parse(text) {
        Ok(value) => map_server_event(&value, out),
        Err(message) => out.push(RealtimeEvent::Error {
            code: Some("invalid_server_message".to_owned()),
            message,
        }),
    }
}

/// Maps one server event; most types are bookkeeping the bridge does not need.
fn map_server_event(value: &Value, out: &mut Vec<RealtimeEvent>) {
    let Some(kind) = value["type"].as_str() else {
        out.push(RealtimeEvent::Error {
            code: Some("invalid_server_message".to_owned()),
            message: "server event has no type".to_owned(),
        });
        return;
    };
    match kind {
        "response.output_audio.delta" => {
            if let Some(payload) = string(&value["delta"]) {
                out.push(RealtimeEvent::AudioDelta(AudioChunk {
                    payload,
                    item_id: string(&value["item_id"]),
                    response_id: string(&value["response_id"]),
                }));
            }
        }
        "input_audio_buffer.speech_started" => out.push(RealtimeEvent::SpeechStarted),
        "response.created" => out.push(RealtimeEvent::ResponseStarted {
            response_id: string(&value["response"]["id"]),
        }),
        "response.done" => {
            let response = &value["response"];
            // Tool calls are taken from here, not from `response.function_call_arguments.done`,
            // so each is reported once; calls cut short by a cancellation are not reported.
            for item in response["output"].as_array().into_iter().flatten() {
                let completed = matches!(item["status"].as_str(), None | Some("completed"));
                if item["type"] == "function_call" && completed {
                    out.push(RealtimeEvent::ToolCall {
                        call_id: string(&item["call_id"]).unwrap_or_default(),
                        name: string(&item["name"]).unwrap_or_default(),
                        arguments: string(&item["arguments"]).unwrap_or_else(|| "{}".to_owned()),
                    });
                }
            }
            let status = match response["status"].as_str() {
                Some("completed") => ResponseStatus::Completed,
                Some("cancelled") => ResponseStatus::Cancelled,
                Some("incomplete") => ResponseStatus::Incomplete,
                _ => ResponseStatus::Failed,
            };
            out.push(RealtimeEvent::ResponseDone {
                response_id: string(&response["id"]),
                status,
            });
        }
        "response.output_audio_transcript.done" => {
            if let Some(text) = string(&value["transcript"]) {
                out.push(RealtimeEvent::Transcript {
                    role: Role::Assistant,
                    text,
                    is_final: true,
                });
            }
        }
        "conversation.item.input_audio_transcription.completed" => {
            if let Some(text) = string(&value["transcript"]) {
                out.push(RealtimeEvent::Transcript {
                    role: Role::User,
                    text,
                    is_final: true,
                });
            }
        }
        "error" => {
            let (code, message) = error_fields(value);
            out.push(RealtimeEvent::Error { code, message });
        }
        _ => {}
    }
}

/// A connected OpenAI Realtime session.
///
/// It reads the socket itself, in `next_event`, rather than through a reader task and a channel:
/// at a message every 20 ms per call, the extra task wake-up and channel hop were a measurable
/// share of a bridge's CPU. The bridge polls `next_event` whenever the waker it last registered
/// fires (the socket's readiness, or a timer inside it), so nothing waits longer.
pub struct OpenAiSession {
    ws: Socket,
    /// Caller audio waiting to fill a batch.
    uplink: Vec<u8>,
    /// Bytes per append; `None` forwards every frame as it comes.
    uplink_batch_bytes: Option<usize>,
    /// One 20 ms frame of the session's audio format.
    frame_bytes: usize,
    /// Events read but not yet returned (one server message can carry several).
    pending: VecDeque<RealtimeEvent>,
    /// The server said the 60-minute limit was reached; the close that follows says so.
    expired: bool,
    /// The socket ended; `Closed` is queued.
    ended: bool,
    closed: bool,
    /// Set by `close()`: past it, `next_event` stops waiting for the server's close reply.
    close_deadline: Option<tokio::time::Instant>,
    /// `Closed` was delivered.
    finished: bool,
    /// What a replacement session needs.
    continuity: Continuity,
    /// A replacement being connected; polled by `next_event`, kept across its cancellations.
    replacement: Option<Replacement>,
    /// Client messages waiting for the replacement.
    held: Vec<String>,
}

/// Connects a replacement session and replays the conversation on it.
type Replacement = Pin<Box<dyn Future<Output = Result<Socket, RealtimeError>> + Send>>;

/// What a session keeps to be replaced: how it was opened and the conversation so far.
struct Continuity {
    realtime: OpenAiRealtime,
    config: RealtimeConfig,
    /// Final transcript lines and injected context, oldest first, at most [`HISTORY_CHARS`].
    history: VecDeque<(Role, String)>,
    history_chars: usize,
    /// When the session was replaced lately.
    replaced: Vec<tokio::time::Instant>,
}

impl Continuity {
    fn remember(&mut self, role: Role, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        self.history_chars += text.len();
        self.history.push_back((role, text.to_owned()));
        while self.history_chars > HISTORY_CHARS
            && let Some((_, old)) = self.history.pop_front()
        {
            self.history_chars -= old.len();
        }
    }

    /// Whether another replacement is allowed now (and counts it if so).
    fn may_replace(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        self.replaced
            .retain(|at| now.duration_since(*at) < REPLACEMENT_WINDOW);
        if self.replaced.len() >= MAX_REPLACEMENTS {
            return false;
        }
        self.replaced.push(now);
        true
    }

    /// A new session with the same configuration, told the conversation so far.
    fn replacement(&self) -> Replacement {
        let realtime = self.realtime.clone();
        let config = self.config.clone();
        let history: Vec<(Role, String)> = self.history.iter().cloned().collect();
        Box::pin(async move {
            let mut ws = realtime.connect(&config).await?.ws;
            for (role, text) in history {
                socket::send(&mut ws, &conversation_item(role, &text).to_string())
                    .await
                    .map_err(|e| socket::send_error(PROVIDER, e))?;
            }
            Ok(ws)
        })
    }
}

/// Whether a client message is caller audio: batched appends are written from [`APPEND_OPEN`],
/// and an unbatched one's serialization (`AppendAudio`, its fields in order) begins the same.
fn is_audio(text: &str) -> bool {
    text.starts_with(APPEND_OPEN)
}

/// A `conversation.item.create` of a message said (or written) by `role`.
fn conversation_item(role: Role, text: &str) -> Value {
    let (role, part) = match role {
        Role::User => ("user", "input_text"),
        Role::Assistant => ("assistant", "output_text"),
    };
    json!({
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": role,
            "content": [{ "type": part, "text": text }],
        },
    })
}

impl fmt::Debug for OpenAiSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSession")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct AppendAudio<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    audio: &'a str,
}

impl OpenAiSession {
    /// Sends a client message, after any caller audio still waiting in a batch.
    async fn send_text(&mut self, text: String) -> Result<(), RealtimeError> {
        if self.closed {
            return Err(RealtimeError::Closed);
        }
        self.flush_uplink().await?;
        self.write(text).await
    }

    /// Sends the batched caller audio, if there is any.
    async fn flush_uplink(&mut self) -> Result<(), RealtimeError> {
        if self.uplink.is_empty() {
            return Ok(());
        }
        let mut text = String::with_capacity(APPEND_OPEN.len() + self.uplink.len() * 4 / 3 + 8);
        text.push_str(APPEND_OPEN);
        // Base64 never needs JSON escaping.
        BASE64.encode_string(&self.uplink, &mut text);
        text.push_str("\"}");
        self.uplink.clear();
        self.write(text).await
    }

    async fn write(&mut self, text: String) -> Result<(), RealtimeError> {
        if self.replacement.is_some() {
            self.hold(text);
            return Ok(());
        }
        // Kept for a replacement should the write fail; caller audio, nearly every message, never
        // is, so it is not copied.
        let kept = (!is_audio(&text)).then(|| text.clone());
        match socket::send(&mut self.ws, &text).await {
            Ok(()) => Ok(()),
            Err(error) => {
                if !self.closed && self.continuity.may_replace() {
                    if let Some(text) = kept {
                        self.hold(text);
                    }
                    self.replace();
                    return Ok(());
                }
                Err(socket::send_error(PROVIDER, error))
            }
        }
    }

    /// Keeps a client message for the replacement session; caller audio is not kept (the
    /// caller hears a gap either way, and stale audio would only delay the model).
    fn hold(&mut self, text: String) {
        if !is_audio(&text) && self.held.len() < HELD_MESSAGES {
            self.held.push(text);
        }
    }

    /// Starts connecting a replacement session.
    fn replace(&mut self) {
        self.uplink.clear();
        self.expired = false;
        self.replacement = Some(self.continuity.replacement());
    }

    /// One message (or the end) of the socket, as events in `pending`.
    async fn read(&mut self, next: Option<Result<loquent_ws::Incoming, SocketError>>) {
        let before = self.pending.len();
        let reason = match next {
            // Audio deltas are nearly every message of a call: read them into a typed struct
            // in one pass instead of building a JSON tree for each.
            Some(Ok(loquent_ws::Incoming::Text))
                if let Some(chunk) = audio_delta(self.ws.text()) =>
            {
                self.pending.push_back(RealtimeEvent::AudioDelta(chunk));
                None
            }
            next => match socket::decode(&self.ws, next) {
                Incoming::Json(Ok(value)) => {
                    let mut batch = Vec::new();
                    map_server_event(&value, &mut batch);
                    self.pending.extend(batch);
                    None
                }
                Incoming::Json(Err(message)) => {
                    self.pending.push_back(RealtimeEvent::Error {
                        code: Some("invalid_server_message".to_owned()),
                        message,
                    });
                    None
                }
                Incoming::Closed(reason) => {
                    socket::finish_close(&mut self.ws).await;
                    Some(reason)
                }
                Incoming::Ended(reason) => Some(reason),
            },
        };
        self.expired |= self.pending.iter().skip(before).any(
            |event| matches!(event, RealtimeEvent::Error { code: Some(code), .. } if code == SESSION_EXPIRED),
        );
        for event in self.pending.iter().skip(before) {
            if let RealtimeEvent::Transcript {
                role,
                text,
                is_final: true,
            } = event
            {
                self.continuity.remember(*role, text);
            }
        }
        // At `session_expired` the server is about to close: the replacement starts now, so that
        // nothing more is written to a session that will not read it.
        if (reason.is_some() || self.expired) && !self.closed && self.continuity.may_replace() {
            self.replace();
            return;
        }
        if let Some(reason) = reason {
            let reason = if self.expired {
                // Say why in words the bridge can log and act on: the call outlived the session.
                Some(format!(
                    "{SESSION_EXPIRED}: OpenAI ended the session at its 60-minute limit ({})",
                    reason.as_deref().unwrap_or("normal close")
                ))
            } else {
                reason
            };
            self.ended = true;
            self.pending.push_back(RealtimeEvent::Closed { reason });
        }
    }

    async fn send_json(&mut self, value: Value) -> Result<(), RealtimeError> {
        self.send_text(value.to_string()).await
    }
}

#[async_trait]
impl RealtimeSession for OpenAiSession {
    async fn send_audio(&mut self, audio_base64: &str) -> Result<(), RealtimeError> {
        if self.closed {
            return Err(RealtimeError::Closed);
        }
        if let Some(batch_bytes) = self.uplink_batch_bytes {
            let before = self.uplink.len();
            if let Err(error) = BASE64.decode_vec(audio_base64, &mut self.uplink) {
                // A bad frame is refused whole; the audio batched before it still goes.
                self.uplink.truncate(before);
                return Err(error.into());
            }
            if self.uplink.len() >= batch_bytes {
                self.flush_uplink().await?;
            }
            return Ok(());
        }
        // Unbatched: the Twilio payload goes out as is, no decode, no re-encode.
        let text = serde_json::to_string(&AppendAudio {
            kind: "input_audio_buffer.append",
            audio: audio_base64,
        })
        .map_err(|e| RealtimeError::Protocol {
            provider: PROVIDER,
            message: e.to_string(),
        })?;
        self.send_text(text).await
    }

    fn frames_per_send(&self) -> usize {
        self.uplink_batch_bytes
            .map_or(1, |bytes| bytes.div_ceil(self.frame_bytes))
    }

    async fn flush_audio(&mut self) -> Result<(), RealtimeError> {
        if self.uplink.is_empty() {
            return Ok(());
        }
        if self.closed {
            return Err(RealtimeError::Closed);
        }
        self.flush_uplink().await
    }

    async fn truncate(&mut self, item_id: &str, audio_end_ms: u32) -> Result<(), RealtimeError> {
        self.send_json(json!({
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }))
        .await
    }

    async fn send_tool_result(
        &mut self,
        call_id: &str,
        _name: &str,
        output: &str,
    ) -> Result<(), RealtimeError> {
        self.send_json(json!({
            "type": "conversation.item.create",
            "item": { "type": "function_call_output", "call_id": call_id, "output": output },
        }))
        .await?;
        // Without it the model stays silent until the caller speaks again.
        self.send_json(json!({ "type": "response.create" })).await
    }

    async fn inject_text(
        &mut self,
        role: Role,
        text: &str,
        respond: bool,
    ) -> Result<(), RealtimeError> {
        // Context (a known caller's name and notes) goes into a replacement session too; an
        // instruction that asks for a response (the greeting) has been acted on.
        if !respond {
            self.continuity.remember(role, text);
        }
        self.send_json(conversation_item(role, text)).await?;
        if respond {
            self.send_json(json!({ "type": "response.create" })).await?;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), RealtimeError> {
        if self.closed {
            return Ok(());
        }
        // The caller's last words reach the model; a failure here changes nothing about closing.
        let _ = self.flush_uplink().await;
        self.closed = true;
        self.close_deadline = Some(tokio::time::Instant::now() + CLOSE_TIMEOUT);
        // `next_event` reports `Closed` when the server answers the close frame. Sending the frame
        // can itself stall when the peer stopped reading (full TCP buffers): bounded too.
        // Our side of the connection stays open for that reply: the frame is written, not the
        // end of the stream.
        self.ws.queue_close(loquent_ws::NORMAL, "");
        match tokio::time::timeout(CLOSE_TIMEOUT, self.ws.flush()).await {
            Ok(Ok(())) | Err(_) => Ok(()),
            Ok(Err(error)) => match socket::send_error(PROVIDER, error.into()) {
                RealtimeError::Closed => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn next_event(&mut self) -> Option<RealtimeEvent> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                if matches!(event, RealtimeEvent::Closed { .. }) {
                    self.finished = true;
                }
                return Some(event);
            }
            if self.ended {
                self.finished = true;
                return None;
            }
            if let Some(replacement) = &mut self.replacement {
                if self.closed {
                    // Closed while replacing: nothing more to hear.
                    self.replacement = None;
                    self.finished = true;
                    return Some(RealtimeEvent::Closed { reason: None });
                }
                // Cancel-safe: the connecting future stays in `self` when this one is dropped.
                let connected = replacement.await;
                self.replacement = None;
                match connected {
                    Ok(ws) => {
                        self.ws = ws;
                        for text in std::mem::take(&mut self.held) {
                            if let Err(error) = self.write(text).await {
                                self.ended = true;
                                self.pending.push_back(RealtimeEvent::Closed {
                                    reason: Some(error.to_string()),
                                });
                                break;
                            }
                        }
                    }
                    Err(error) => {
                        self.ended = true;
                        self.pending.push_back(RealtimeEvent::Closed {
                            reason: Some(format!("the session could not be replaced: {error}")),
                        });
                    }
                }
                continue;
            }
            // Cancel-safe: `next()` loses nothing when dropped, and what it read is kept in
            // `pending` before the next await.
            let message = match self.close_deadline {
                None => self.ws.next().await,
                Some(deadline) => match tokio::time::timeout_at(deadline, self.ws.next()).await {
                    Ok(message) => message,
                    Err(_) => {
                        // We asked to close and the server never answered: stop waiting.
                        self.finished = true;
                        return Some(RealtimeEvent::Closed { reason: None });
                    }
                },
            };
            self.read(message).await;
        }
    }
}

#[cfg(test)]
mod tests;
