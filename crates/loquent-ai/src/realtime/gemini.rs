//! Gemini Live (`BidiGenerateContent`) over WebSocket, Developer API with an API key.
//!
//! On a phone call, caller µ-law 8 kHz is converted to PCM16 16 kHz before it leaves, and model
//! PCM16 24 kHz back to µ-law 8 kHz, so the bridge sees the same audio as with OpenAI. On a call
//! from the browser (PCM16 24 kHz) only the caller's audio is resampled, to 16 kHz; the model's
//! passes through. One task owns the socket:
//! it reads server messages, writes what the session queues, and on `goAway`, or when the
//! connection ends without our asking, reconnects with the latest resumption handle, holding
//! queued caller audio until the new `setupComplete`.
//!
//! Caller audio goes up in batches (60 ms by default) rather than one message per 20 ms Twilio
//! frame: a third of the messages, base64 runs and JSON envelopes, as Google's toolkit advises
//! (50–100 ms). A frame waits at most one batch duration; any other message, an interruption and
//! `close()` send what is pending at once.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use loquent_ws::SocketError;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::socket::{self, Incoming, Socket};
use super::{
    AudioChunk, Provider, RealtimeConfig, RealtimeError, RealtimeEvent, RealtimeSession,
    ResponseStatus, Role, Sensitivity, TurnDetection,
};
use crate::audio::{AudioFormat, MulawToPcm16k, Pcm24kTo16k, Pcm24kToMulaw, TWILIO_FRAME_MS};

const PROVIDER: Provider = Provider::Gemini;
const BIDI_PATH: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const INPUT_MIME: &str = "audio/pcm;rate=16000";
/// Resumptions allowed within [`RESUME_WINDOW`]: a server that drops every new connection ends
/// the session instead of being dialled forever. Gemini's own connection lifetime is minutes.
const MAX_RESUMES: usize = 3;
const RESUME_WINDOW: Duration = Duration::from_secs(60);

/// Queued commands (mostly 20 ms audio frames): about 10 s, enough to ride out a reconnect.
const COMMAND_BUFFER: usize = 512;
const EVENT_BUFFER: usize = 256;

/// Opens Gemini Live sessions. Cheap to clone; `Debug` hides the API key.
#[derive(Clone)]
pub struct GeminiLive {
    base_url: String,
    api_key: String,
    setup_timeout: Duration,
    transcription: bool,
    uplink_batch: Duration,
}

impl fmt::Debug for GeminiLive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiLive")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("setup_timeout", &self.setup_timeout)
            .field("transcription", &self.transcription)
            .field("uplink_batch", &self.uplink_batch)
            .finish()
    }
}

impl GeminiLive {
    /// The Developer API host. A trailing `/v1beta` or `/v1alpha` (the REST base) is accepted.
    pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
    /// How long `connect` (and a resumption) waits for `setupComplete`.
    pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(10);
    /// Caller audio per `realtimeInput` message: three Twilio frames.
    pub const DEFAULT_UPLINK_BATCH: Duration = Duration::from_millis(60);

    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            setup_timeout: Self::DEFAULT_SETUP_TIMEOUT,
            transcription: true,
            uplink_batch: Self::DEFAULT_UPLINK_BATCH,
        }
    }

    /// How much caller audio goes into one `realtimeInput` message, and so the longest a frame
    /// waits before it is sent. 20 ms (or less) sends every frame on its own.
    pub fn with_uplink_batch(mut self, batch: Duration) -> Self {
        self.uplink_batch = batch;
        self
    }

    pub fn with_setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// Caller and model transcripts (`inputAudioTranscription` / `outputAudioTranscription`);
    /// on by default.
    pub fn with_transcription(mut self, enabled: bool) -> Self {
        self.transcription = enabled;
        self
    }

    /// The `wss://…BidiGenerateContent?key=…` URL. Contains the key: never log it.
    pub fn live_url(&self) -> Result<String, RealtimeError> {
        let base = socket::websocket_base(PROVIDER, &self.base_url)?;
        let base = base
            .strip_suffix("/v1beta")
            .or_else(|| base.strip_suffix("/v1alpha"))
            .unwrap_or(&base);
        Ok(format!(
            "{base}{BIDI_PATH}?key={}",
            socket::query_value(&self.api_key)
        ))
    }

    /// The `setup` message; `handle` resumes an earlier session.
    pub fn setup_message(&self, config: &RealtimeConfig, handle: Option<&str>) -> Value {
        let model = if config.model.starts_with("models/") {
            config.model.clone()
        } else {
            format!("models/{}", config.model)
        };
        let mut detection = json!({ "disabled": false });
        let sensitivity = config.turn_detection.gemini_sensitivity();
        if let Some(start) = sensitivity.start_of_speech {
            detection["startOfSpeechSensitivity"] = json!(match start {
                Sensitivity::Low => "START_SENSITIVITY_LOW",
                Sensitivity::High => "START_SENSITIVITY_HIGH",
            });
        }
        if let Some(end) = sensitivity.end_of_speech {
            detection["endOfSpeechSensitivity"] = json!(match end {
                Sensitivity::Low => "END_SENSITIVITY_LOW",
                Sensitivity::High => "END_SENSITIVITY_HIGH",
            });
        }
        if let TurnDetection::ServerVad {
            prefix_padding_ms,
            silence_duration_ms,
            ..
        } = config.turn_detection
        {
            detection["prefixPaddingMs"] = json!(prefix_padding_ms);
            detection["silenceDurationMs"] = json!(silence_duration_ms);
        }
        let mut setup = json!({
            "model": model,
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {
                    "voiceConfig": { "prebuiltVoiceConfig": { "voiceName": config.voice } }
                }
            },
            "systemInstruction": { "parts": [{ "text": config.instructions }] },
            "realtimeInputConfig": {
                "automaticActivityDetection": detection,
                "activityHandling": "START_OF_ACTIVITY_INTERRUPTS"
            },
            // Lifts the ~15 minute audio session limit.
            "contextWindowCompression": { "slidingWindow": {} },
            "sessionResumption": match handle {
                Some(handle) => json!({ "handle": handle }),
                None => json!({}),
            },
        });
        if !config.tools.is_empty() {
            let declarations: Vec<Value> = config
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    })
                })
                .collect();
            setup["tools"] = json!([{ "functionDeclarations": declarations }]);
        }
        if self.transcription {
            setup["inputAudioTranscription"] = json!({});
            setup["outputAudioTranscription"] = json!({});
        }
        json!({ "setup": setup })
    }

    /// Connects, sends `setup` and waits for `setupComplete`; no audio goes out before it.
    pub async fn connect(&self, config: &RealtimeConfig) -> Result<GeminiSession, RealtimeError> {
        config.validate()?;
        if config.provider != PROVIDER {
            return Err(RealtimeError::InvalidConfig(format!(
                "a {} config cannot open a {PROVIDER} session",
                config.provider
            )));
        }
        let socket = self.open(config, None).await?;
        let (commands_tx, commands) = mpsc::channel(COMMAND_BUFFER);
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let actor = Actor {
            live: self.clone(),
            config: config.clone(),
            socket,
            commands,
            events: events_tx,
            downlink: Downlink::new(config.audio_format),
            closing: false,
            uplink: Uplink::new(self.uplink_batch),
        };
        tokio::spawn(actor.run());
        Ok(GeminiSession {
            commands: commands_tx,
            events,
            uplink: Converter::new(config.audio_format),
            decoded: Vec::new(),
            frames_per_send: (self.uplink_batch.as_millis() as usize)
                .div_ceil(TWILIO_FRAME_MS)
                .max(1),
            closed: false,
        })
    }

    async fn open(
        &self,
        config: &RealtimeConfig,
        handle: Option<&str>,
    ) -> Result<Socket, RealtimeError> {
        let url = self.live_url()?;
        let mut ws = socket::open(PROVIDER, &url, &[]).await?;
        let setup = self.setup_message(config, handle).to_string();
        socket::send(&mut ws, &setup)
            .await
            .map_err(|e| connect_error(format!("could not send setup: {e}")))?;
        match tokio::time::timeout(self.setup_timeout, await_setup_complete(&mut ws)).await {
            Ok(Ok(())) => Ok(ws),
            Ok(Err(error)) => {
                socket::close(&mut ws).await;
                Err(error)
            }
            Err(_) => {
                socket::close(&mut ws).await;
                Err(connect_error(format!(
                    "no setupComplete within {} ms",
                    self.setup_timeout.as_millis()
                )))
            }
        }
    }
}

fn connect_error(message: String) -> RealtimeError {
    RealtimeError::Connect {
        provider: PROVIDER,
        message,
    }
}

async fn await_setup_complete(ws: &mut Socket) -> Result<(), RealtimeError> {
    loop {
        let next = ws.next().await;
        match socket::decode(ws, next) {
            Incoming::Json(Ok(value)) if value.get("setupComplete").is_some() => return Ok(()),
            Incoming::Json(_) => {}
            // Gemini rejects a bad setup with a close frame (1007 invalid argument, 1008 policy).
            Incoming::Closed(reason) => {
                return Err(connect_error(format!(
                    "closed before setupComplete ({})",
                    reason.as_deref().unwrap_or("normal close")
                )));
            }
            Incoming::Ended(reason) => {
                return Err(connect_error(format!(
                    "{} before setupComplete",
                    reason.as_deref().unwrap_or("connection ended")
                )));
            }
        }
    }
}

/// What the session asks of the socket task.
enum Command {
    /// Caller audio, PCM16LE 16 kHz, to batch.
    Audio(Vec<u8>),
    /// A complete client message.
    Send(String),
    /// Send the caller audio waiting in a batch now.
    Flush,
    Close,
}

/// Caller audio waiting to fill a batch.
struct Uplink {
    pcm: Vec<u8>,
    /// Bytes of one batch (PCM16 16 kHz: 32 per millisecond).
    batch_bytes: usize,
    batch: Duration,
    /// When the oldest pending audio has waited one batch duration.
    flush_at: Option<tokio::time::Instant>,
}

impl Uplink {
    const BYTES_PER_MS: usize = 32;

    fn new(batch: Duration) -> Self {
        let batch_bytes = (batch.as_millis() as usize * Self::BYTES_PER_MS).max(1);
        Self {
            pcm: Vec::with_capacity(batch_bytes + 640),
            batch_bytes,
            batch,
            flush_at: None,
        }
    }

    /// Adds audio; true when a batch is full.
    fn push(&mut self, pcm: &[u8]) -> bool {
        if self.pcm.is_empty() {
            self.flush_at = Some(tokio::time::Instant::now() + self.batch);
        }
        self.pcm.extend_from_slice(pcm);
        self.pcm.len() >= self.batch_bytes
    }

    /// The pending audio as one `realtimeInput` message, if there is any.
    fn take_message(&mut self) -> Option<String> {
        self.flush_at = None;
        if self.pcm.is_empty() {
            return None;
        }
        let data = BASE64.encode(&self.pcm);
        self.pcm.clear();
        let message = RealtimeInput {
            realtime_input: AudioInput {
                audio: Blob {
                    mime_type: INPUT_MIME,
                    data: &data,
                },
            },
        };
        // Serializing two string fields cannot fail.
        serde_json::to_string(&message).ok()
    }
}

/// What a server message asks of the socket task besides its events.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    Continue,
    /// `goAway`: this connection ends soon.
    GoAway,
    /// The caller barged in.
    Interrupted,
}

/// The reading of Gemini's server messages with its per-turn state, for the fuzz target
/// `realtime_gemini` (in `fuzz/`): frames go through the same decoding and state machine as in a
/// session.
#[doc(hidden)]
pub struct FuzzDownlink(Downlink);

impl FuzzDownlink {
    pub fn new(format: AudioFormat) -> Self {
        Self(Downlink::new(format))
    }

    /// One frame's payload (`binary`: a Binary frame, as Gemini sends JSON in both kinds).
    pub fn read(&mut self, payload: &[u8], binary: bool, out: &mut Vec<RealtimeEvent>) {
        let value = match std::str::from_utf8(payload) {
            Ok(text) => socket::parse(text),
            Err(_) if binary => Err("binary frame is not UTF-8".to_owned()),
            // A Text frame is UTF-8 by the time it reaches us: the WebSocket checks it.
            Err(_) => return,
        };
        match value {
            Ok(value) => {
                self.0.handle(&value, out);
            }
            Err(message) => out.push(RealtimeEvent::Error {
                code: Some("invalid_server_message".to_owned()),
                message,
            }),
        }
    }

    /// The latest session-resumption handle.
    pub fn handle(&self) -> Option<&str> {
        self.0.handle.as_deref()
    }
}

/// Server message → events, with the per-turn state and the model-audio converter.
struct Downlink {
    /// Model audio to µ-law for a phone call; `None` passes Gemini's PCM16 24 kHz through.
    pcm: Option<Pcm24kToMulaw>,
    /// A model turn is under way (ResponseStarted was reported).
    in_turn: bool,
    /// The caller interrupted this turn: drop its late audio until `turnComplete`.
    interrupted: bool,
    /// Latest resumable `sessionResumptionUpdate.newHandle`.
    handle: Option<String>,
}

impl Downlink {
    fn new(format: AudioFormat) -> Self {
        Self {
            pcm: match format {
                AudioFormat::Mulaw8k => Some(Pcm24kToMulaw::new()),
                AudioFormat::Pcm24k => None,
            },
            in_turn: false,
            interrupted: false,
            handle: None,
        }
    }

    fn handle(&mut self, value: &Value, out: &mut Vec<RealtimeEvent>) -> Control {
        if let Some(content) = value.get("serverContent") {
            self.server_content(content, out);
        }
        if let Some(calls) = value["toolCall"]["functionCalls"].as_array() {
            for call in calls {
                let name = string(&call["name"]).unwrap_or_default();
                out.push(RealtimeEvent::ToolCall {
                    // Ids are documented; fall back to the name so a reply can still be matched.
                    call_id: string(&call["id"]).unwrap_or_else(|| name.clone()),
                    name,
                    arguments: match &call["args"] {
                        Value::Null => "{}".to_owned(),
                        args => args.to_string(),
                    },
                });
            }
        }
        if let Some(ids) = value["toolCallCancellation"]["ids"].as_array() {
            out.push(RealtimeEvent::ToolCallCancelled {
                call_ids: ids.iter().filter_map(string).collect(),
            });
        }
        if let Some(update) = value.get("sessionResumptionUpdate") {
            let resumable = update["resumable"].as_bool().unwrap_or(false);
            match update["newHandle"].as_str() {
                Some(handle) if resumable && !handle.is_empty() => {
                    self.handle = Some(handle.to_owned());
                }
                _ => {}
            }
        }
        if value.get("goAway").is_some() {
            return Control::GoAway;
        }
        if value["serverContent"]["interrupted"].as_bool() == Some(true) {
            return Control::Interrupted;
        }
        Control::Continue
    }

    fn server_content(&mut self, content: &Value, out: &mut Vec<RealtimeEvent>) {
        if let Some(parts) = content["modelTurn"]["parts"].as_array() {
            if !self.in_turn && !self.interrupted {
                self.in_turn = true;
                out.push(RealtimeEvent::ResponseStarted { response_id: None });
            }
            for part in parts {
                let inline = &part["inlineData"];
                let is_audio = inline["mimeType"]
                    .as_str()
                    .is_some_and(|mime| mime.starts_with("audio/pcm"));
                let Some(data) = inline["data"].as_str().filter(|_| is_audio) else {
                    continue; // Text parts (thinking) and other media are not for the caller.
                };
                if self.interrupted {
                    continue;
                }
                let Some(pcm) = &mut self.pcm else {
                    if !data.is_empty() {
                        out.push(RealtimeEvent::AudioDelta(AudioChunk {
                            payload: data.to_owned(),
                            item_id: None,
                            response_id: None,
                        }));
                    }
                    continue;
                };
                let mut payload = String::new();
                match pcm.process_base64(data, &mut payload) {
                    Ok(()) if !payload.is_empty() => {
                        out.push(RealtimeEvent::AudioDelta(AudioChunk {
                            payload,
                            item_id: None,
                            response_id: None,
                        }));
                    }
                    Ok(()) => {}
                    Err(error) => out.push(RealtimeEvent::Error {
                        code: Some("invalid_audio".to_owned()),
                        message: format!("model audio is not base64: {error}"),
                    }),
                }
            }
        }
        for (field, role) in [
            ("inputTranscription", Role::User),
            ("outputTranscription", Role::Assistant),
        ] {
            if let Some(text) = content[field]["text"].as_str().filter(|t| !t.is_empty()) {
                out.push(RealtimeEvent::Transcript {
                    role,
                    text: text.to_owned(),
                    is_final: false,
                });
            }
        }
        if content["interrupted"].as_bool() == Some(true) {
            // Nothing of the cut-off reply may leak out after Twilio's `clear`.
            if let Some(pcm) = &mut self.pcm {
                pcm.reset();
            }
            self.interrupted = true;
            out.push(RealtimeEvent::SpeechStarted);
        }
        if content["turnComplete"].as_bool() == Some(true) {
            let status = if self.interrupted {
                ResponseStatus::Cancelled
            } else {
                ResponseStatus::Completed
            };
            if self.in_turn {
                out.push(RealtimeEvent::ResponseDone {
                    response_id: None,
                    status,
                });
            }
            self.in_turn = false;
            self.interrupted = false;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// The task that owns the socket.
struct Actor {
    live: GeminiLive,
    config: RealtimeConfig,
    socket: Socket,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<RealtimeEvent>,
    downlink: Downlink,
    /// `close()` was called; waiting for the server's close reply.
    closing: bool,
    uplink: Uplink,
}

/// How long `close()` waits for the server to answer the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

enum Step {
    Command(Option<Command>),
    Socket(Option<Result<loquent_ws::Incoming, SocketError>>),
    /// The pending caller audio has waited a whole batch duration.
    Flush,
}

impl Actor {
    async fn run(mut self) {
        let mut batch = Vec::new();
        let mut go_away = false;
        let mut close_deadline = None;
        // When the session resumed lately.
        let mut resumes: Vec<tokio::time::Instant> = Vec::new();
        loop {
            let step = tokio::select! {
                command = self.commands.recv(), if !self.closing => Step::Command(command),
                message = self.socket.next() => Step::Socket(message),
                () = sleep_until(close_deadline), if close_deadline.is_some() => Step::Socket(None),
                () = sleep_until(self.uplink.flush_at), if self.uplink.flush_at.is_some() => Step::Flush,
            };
            let ended = match step {
                Step::Command(None) => {
                    // The session was dropped without close().
                    socket::close(&mut self.socket).await;
                    return;
                }
                Step::Command(Some(Command::Audio(pcm))) => {
                    if self.uplink.push(&pcm) {
                        self.flush().await
                    } else {
                        None
                    }
                }
                Step::Flush | Step::Command(Some(Command::Flush)) => self.flush().await,
                Step::Command(Some(Command::Send(text))) => {
                    // Pending audio first: the model hears the caller before, say, a tool result.
                    match self.flush().await {
                        None => match socket::send(&mut self.socket, &text).await {
                            Ok(()) => None,
                            Err(error) => Some(Some(format!("connection failed: {error}"))),
                        },
                        ended => ended,
                    }
                }
                Step::Command(Some(Command::Close)) => {
                    let _ = self.flush().await;
                    self.closing = true;
                    close_deadline = Some(tokio::time::Instant::now() + CLOSE_TIMEOUT);
                    // Our side stays open for the server's reply: the frame is written, not the
                    // end of the stream.
                    self.socket.queue_close(loquent_ws::NORMAL, "");
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.flush()).await;
                    None
                }
                Step::Socket(next) => match socket::decode(&self.socket, next) {
                    Incoming::Json(Ok(value)) => {
                        match self.downlink.handle(&value, &mut batch) {
                            Control::GoAway => go_away = true,
                            // The caller is talking over the model: no batching delay now.
                            Control::Interrupted => {
                                let _ = self.flush().await;
                            }
                            Control::Continue => {}
                        }
                        None
                    }
                    Incoming::Json(Err(message)) => {
                        batch.push(RealtimeEvent::Error {
                            code: Some("invalid_server_message".to_owned()),
                            message,
                        });
                        None
                    }
                    Incoming::Closed(reason) => {
                        socket::finish_close(&mut self.socket).await;
                        Some(reason)
                    }
                    Incoming::Ended(reason) => Some(reason),
                },
            };
            for event in batch.drain(..) {
                if self.events.send(event).await.is_err() {
                    return; // The session is gone.
                }
            }
            // Resume on `goAway` at once when a handle is at hand, and on any end of the
            // connection we did not ask for (a drop, a server close): the session goes on where
            // its latest handle left it. A connection that keeps failing is given up after
            // `MAX_RESUMES` within `RESUME_WINDOW`.
            let lost = ended.is_some() || go_away;
            if lost && !self.closing && self.downlink.handle.is_some() {
                let now = tokio::time::Instant::now();
                resumes.retain(|at| now.duration_since(*at) < RESUME_WINDOW);
                if resumes.len() < MAX_RESUMES {
                    resumes.push(now);
                    go_away = false;
                    if let Err(reason) = self.resume().await {
                        self.finish(Some(reason)).await;
                        return;
                    }
                    continue;
                }
            }
            if let Some(reason) = ended {
                let reason = if self.closing {
                    None
                } else if go_away {
                    Some(format!(
                        "server ended the connection (goAway) with no resumption handle: {}",
                        reason.as_deref().unwrap_or("normal close")
                    ))
                } else {
                    reason
                };
                self.finish(reason).await;
                return;
            }
        }
    }

    /// Sends the pending caller audio; `Some(reason)` if the connection failed.
    async fn flush(&mut self) -> Option<Option<String>> {
        let text = self.uplink.take_message()?;
        match socket::send(&mut self.socket, &text).await {
            Ok(()) => None,
            Err(error) => Some(Some(format!("connection failed: {error}"))),
        }
    }

    /// Opens a new connection with the latest handle and swaps it in. Queued commands wait in
    /// the channel meanwhile, so no caller audio goes out before the new `setupComplete`.
    async fn resume(&mut self) -> Result<(), String> {
        let handle = self.downlink.handle.clone();
        match self.live.open(&self.config, handle.as_deref()).await {
            Ok(socket) => {
                let mut old = std::mem::replace(&mut self.socket, socket);
                tokio::spawn(async move {
                    socket::close(&mut old).await;
                });
                if let Some(pcm) = &mut self.downlink.pcm {
                    pcm.reset();
                }
                Ok(())
            }
            Err(error) => {
                let _ = self
                    .events
                    .send(RealtimeEvent::Error {
                        code: Some("resumption_failed".to_owned()),
                        message: error.to_string(),
                    })
                    .await;
                Err(format!("session resumption failed: {error}"))
            }
        }
    }

    async fn finish(self, reason: Option<String>) {
        let _ = self.events.send(RealtimeEvent::Closed { reason }).await;
    }
}

/// A connected Gemini Live session. Dropping it closes the connection.
pub struct GeminiSession {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<RealtimeEvent>,
    uplink: Converter,
    /// Scratch for the decoded caller frame.
    decoded: Vec<u8>,
    /// Twilio frames per `realtimeInput` message (the uplink batch).
    frames_per_send: usize,
    closed: bool,
}

impl fmt::Debug for GeminiSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiSession")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct RealtimeInput<'a> {
    #[serde(rename = "realtimeInput")]
    realtime_input: AudioInput<'a>,
}

#[derive(Serialize)]
struct AudioInput<'a> {
    audio: Blob<'a>,
}

#[derive(Serialize)]
struct Blob<'a> {
    #[serde(rename = "mimeType")]
    mime_type: &'a str,
    data: &'a str,
}

/// Caller audio in the session's format to Gemini's PCM16 16 kHz.
enum Converter {
    Mulaw(MulawToPcm16k),
    Pcm24k(Pcm24kTo16k),
}

impl Converter {
    fn new(format: AudioFormat) -> Self {
        match format {
            AudioFormat::Mulaw8k => Self::Mulaw(MulawToPcm16k::new()),
            AudioFormat::Pcm24k => Self::Pcm24k(Pcm24kTo16k::new()),
        }
    }

    fn process(&mut self, audio: &[u8], out: &mut Vec<u8>) {
        match self {
            // Four PCM bytes per µ-law byte.
            Self::Mulaw(converter) => {
                out.reserve(audio.len() * 4);
                converter.process(audio, out);
            }
            // Two PCM bytes out for every three in.
            Self::Pcm24k(converter) => {
                out.reserve(audio.len().div_ceil(3) * 2 + 2);
                converter.process(audio, out);
            }
        }
    }
}

impl GeminiSession {
    async fn queue(&mut self, text: String) -> Result<(), RealtimeError> {
        if self.closed {
            return Err(RealtimeError::Closed);
        }
        self.commands
            .send(Command::Send(text))
            .await
            .map_err(|_| RealtimeError::Closed)
    }
}

#[async_trait]
impl RealtimeSession for GeminiSession {
    fn frames_per_send(&self) -> usize {
        self.frames_per_send
    }

    async fn flush_audio(&mut self) -> Result<(), RealtimeError> {
        if self.closed {
            return Err(RealtimeError::Closed);
        }
        self.commands
            .send(Command::Flush)
            .await
            .map_err(|_| RealtimeError::Closed)
    }

    async fn send_audio(&mut self, audio_base64: &str) -> Result<(), RealtimeError> {
        if self.closed {
            return Err(RealtimeError::Closed);
        }
        let mut audio = std::mem::take(&mut self.decoded);
        audio.clear();
        let decoded = BASE64.decode_vec(audio_base64, &mut audio);
        // Base64 happens once per batch, in the socket task.
        let mut pcm = Vec::new();
        if decoded.is_ok() {
            self.uplink.process(&audio, &mut pcm);
        }
        self.decoded = audio;
        decoded?;
        self.commands
            .send(Command::Audio(pcm))
            .await
            .map_err(|_| RealtimeError::Closed)
    }

    /// Gemini has no truncation: it keeps its own estimate of what the caller heard.
    async fn truncate(&mut self, _item_id: &str, _audio_end_ms: u32) -> Result<(), RealtimeError> {
        Ok(())
    }

    async fn send_tool_result(
        &mut self,
        call_id: &str,
        name: &str,
        output: &str,
    ) -> Result<(), RealtimeError> {
        // `response` must be an object: a JSON object result goes as is, anything else is wrapped.
        let response = match serde_json::from_str::<Value>(output) {
            Ok(Value::Object(object)) => Value::Object(object),
            Ok(other) => json!({ "result": other }),
            Err(_) => json!({ "result": output }),
        };
        let message = json!({
            "toolResponse": {
                "functionResponses": [{ "id": call_id, "name": name, "response": response }]
            }
        });
        self.queue(message.to_string()).await
    }

    async fn inject_text(
        &mut self,
        role: Role,
        text: &str,
        respond: bool,
    ) -> Result<(), RealtimeError> {
        let role = match role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        let message = json!({
            "clientContent": {
                "turns": [{ "role": role, "parts": [{ "text": text }] }],
                "turnComplete": respond,
            }
        });
        self.queue(message.to_string()).await
    }

    async fn close(&mut self) -> Result<(), RealtimeError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        // If the task already ended, `Closed` is queued (or was delivered) anyway.
        let _ = self.commands.send(Command::Close).await;
        Ok(())
    }

    async fn next_event(&mut self) -> Option<RealtimeEvent> {
        self.events.recv().await
    }
}

#[cfg(test)]
mod tests;
