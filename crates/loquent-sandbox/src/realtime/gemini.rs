//! Gemini Live (`BidiGenerateContent`, Developer API) at [`super::GEMINI_LIVE_PATH`].
//!
//! Follows `vendor/specs/openai/PROTOCOLS.md` §2: the key in `?key=`, `setup` first (anything
//! else first closes the socket with 1007, as fatal errors arrive as close frames), JSON sent in
//! **binary** frames as the real service does, automatic activity detection on the PCM16 input,
//! model turns of PCM16 24 kHz agent voice paced in real time, `interrupted` on barge-in,
//! `toolCall` / `toolResponse`, transcriptions, resumption handles and `goAway`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use loquent_ai::audio::{Resampler, SampleRate};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::arguments;
use super::faults::Faults;
use super::script::{self, Reply};
use super::vad::{Vad, VadEvent};
use super::voice::{AgentVoice, VoiceFormat};
use super::{ConnectionLog, Provider, Shared, lock, sleep_until};
use crate::speech::{self, Phrase};

/// Model audio goes out in chunks of this many milliseconds, one chunk per that much time.
const CHUNK_MS: u64 = 100;
const OUTPUT_MIME: &str = "audio/pcm;rate=24000";
/// Between `goAway` and the server closing the connection.
const GO_AWAY_NOTICE: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
pub(crate) struct LiveQuery {
    key: Option<String>,
}

pub(crate) async fn upgrade(
    State(shared): State<Shared>,
    Query(query): Query<LiveQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if query.key.as_deref().is_none_or(|key| key.trim().is_empty()) {
        let body = json!({ "error": {
            "code": 403,
            "message": "Method doesn't allow unregistered callers (callers without established \
                        identity). Please use API Key or other form of API consumer identity to call \
                        this API.",
            "status": "PERMISSION_DENIED"
        } });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    ws.read_buffer_size(super::READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            // The model (and with it the model-id modes) is only known once `setup` arrives.
            let (id, queued, log) = shared.open(Provider::Gemini, "");
            let mut connection = Connection::new(socket, shared, id, queued, log.clone());
            let ended = connection.serve().await;
            lock(&log).ended = Some(ended);
        })
}

/// What `setup` asked for.
#[derive(Debug, Clone, Default)]
struct Setup {
    tools: Vec<(String, Value)>,
    input_transcription: bool,
    output_transcription: bool,
    resumption: bool,
    /// `START_OF_ACTIVITY_INTERRUPTS` (the default).
    interrupts: bool,
    /// Automatic activity detection off: `activityStart` / `activityEnd` mark turns.
    manual_turns: bool,
    prefix_ms: u64,
    silence_ms: u64,
}

struct ModelTurn {
    reply: Reply,
    sent_ms: u64,
    transcript_sent: usize,
    next_at: Instant,
    voice: AgentVoice,
}

type Sent = Result<(), axum::Error>;

struct Connection {
    ws: WebSocket,
    shared: Shared,
    id: u64,
    faults: Faults,
    log: Arc<Mutex<ConnectionLog>>,
    setup: Setup,
    resumed: bool,
    vad: Option<Vad>,
    /// Audio of a manual (`activityStart`…`activityEnd`) turn.
    manual: Option<Vec<i16>>,
    samples: Vec<i16>,
    echo: Option<Resampler>,
    turn: Option<ModelTurn>,
    /// The tool call awaiting its `toolResponse`: (id, name).
    pending_call: Option<(String, String)>,
    turns_done: u64,
    counter: u64,
}

/// Why a client message is refused: the close code and reason the real service would send.
type Refusal = (u16, String);

fn invalid(reason: impl Into<String>) -> Refusal {
    (1007, reason.into())
}

impl Connection {
    fn new(
        ws: WebSocket,
        shared: Shared,
        id: u64,
        faults: Faults,
        log: Arc<Mutex<ConnectionLog>>,
    ) -> Self {
        Self {
            ws,
            shared,
            id,
            faults,
            log,
            setup: Setup::default(),
            resumed: false,
            vad: None,
            manual: None,
            samples: Vec::new(),
            echo: None,
            turn: None,
            pending_call: None,
            turns_done: 0,
            counter: 0,
        }
    }

    /// Gemini sends its JSON in binary frames (PROTOCOLS.md §2.1): clients must cope.
    async fn emit(&mut self, message: Value) -> Result<(), axum::Error> {
        lock(&self.log).sent(&message);
        self.ws
            .send(Message::Binary(message.to_string().into_bytes().into()))
            .await
    }

    async fn close(&mut self, (code, reason): Refusal) -> String {
        let frame = CloseFrame {
            code,
            reason: reason.clone().into(),
        };
        if self.ws.send(Message::Close(Some(frame))).await.is_ok() {
            let drain = async { while let Some(Ok(_)) = self.ws.recv().await {} };
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        }
        format!("closed with {code}: {reason}")
    }

    /// The next client message as JSON, `Ok(None)` when the client went away.
    async fn receive(&mut self) -> Result<Option<Value>, Refusal> {
        loop {
            let text = match self.ws.recv().await {
                None | Some(Err(_)) => return Ok(None),
                Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                Some(Ok(Message::Close(_))) => {
                    while let Some(Ok(_)) = self.ws.recv().await {}
                    return Ok(None);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            };
            let value: Value = serde_json::from_str(&text)
                .map_err(|_| invalid("Invalid JSON payload received."))?;
            lock(&self.log).received(&value);
            match value.as_object() {
                Some(object) if object.len() == 1 => return Ok(Some(value)),
                _ => {
                    return Err(invalid(
                        "Invalid JSON payload received. A message must have exactly one field.",
                    ));
                }
            }
        }
    }

    async fn serve(&mut self) -> String {
        let setup = match self.receive().await {
            Ok(None) => return "client disconnected before setup".to_owned(),
            Err(refusal) => return self.close(refusal).await,
            Ok(Some(message)) => match message.get("setup") {
                Some(setup) => setup.clone(),
                None => {
                    return self
                        .close(invalid("Request contains an invalid argument: the first message must be setup."))
                        .await;
                }
            },
        };
        if let Err(refusal) = self.apply_setup(&setup) {
            return self.close(refusal).await;
        }
        if let Some(delay) = self.faults.slow_start() {
            tokio::time::sleep(delay).await;
        }
        if let Err(e) = self.emit(json!({ "setupComplete": {} })).await {
            return format!("send failed: {e}");
        }
        if self.setup.resumption
            && let Err(e) = self.new_handle().await
        {
            return format!("send failed: {e}");
        }
        let started = Instant::now();
        let at = |ms: Option<u64>| ms.map(|ms| started + Duration::from_millis(ms));
        let error_at = at(self.faults.error_after_ms);
        let drop_at = at(self.faults.drop_after_ms);
        // Resumed connections are not sent away again, so a session survives one goAway.
        let mut go_away_at = at(self.faults.go_away_after_ms).filter(|_| !self.resumed);
        let mut gone_at = None;
        loop {
            let tick = self.turn.as_ref().map(|turn| turn.next_at);
            let sent = tokio::select! {
                message = self.receive() => match message {
                    Ok(None) => return "client disconnected".to_owned(),
                    Err(refusal) => return self.close(refusal).await,
                    Ok(Some(message)) => match self.on_message(&message).await {
                        Ok(sent) => sent,
                        Err(refusal) => return self.close(refusal).await,
                    },
                },
                () = sleep_until(tick) => self.play().await,
                () = sleep_until(error_at) => {
                    return self.close((1011, "Internal error encountered.".to_owned())).await;
                }
                () = sleep_until(drop_at) => return "dropped without a close frame (fault)".to_owned(),
                () = sleep_until(go_away_at) => {
                    go_away_at = None;
                    gone_at = Some(Instant::now() + GO_AWAY_NOTICE);
                    let time_left = format!("{}s", GO_AWAY_NOTICE.as_secs());
                    self.emit(json!({ "goAway": { "timeLeft": time_left } })).await
                }
                () = sleep_until(gone_at) => {
                    return self.close((1000, "The connection was closed after goAway.".to_owned())).await;
                }
            };
            if let Err(e) = sent {
                return format!("send failed: {e}");
            }
        }
    }

    fn apply_setup(&mut self, setup: &Value) -> Result<(), Refusal> {
        let model = setup["model"].as_str().unwrap_or_default();
        let Some(id) = model.strip_prefix("models/").filter(|id| !id.is_empty()) else {
            return Err((
                1008,
                format!(
                    "{model:?} is not found for API version v1beta: model names start with \"models/\""
                ),
            ));
        };
        lock(&self.log).model = id.to_owned();
        self.faults = Faults::from_model(id).or(self.faults.clone());
        let modalities = &setup["generationConfig"]["responseModalities"];
        if !modalities.is_null() && *modalities != json!(["AUDIO"]) {
            return Err(invalid(
                "Request contains an invalid argument: a native-audio model answers in AUDIO only.",
            ));
        }
        let realtime = &setup["realtimeInputConfig"];
        let detection = &realtime["automaticActivityDetection"];
        let handle = &setup["sessionResumption"]["handle"];
        if let Some(handle) = handle.as_str() {
            let turns = lock(&self.shared.handles).get(handle).copied();
            let Some(turns) = turns else {
                return Err(invalid(
                    "Request contains an invalid argument: unknown session resumption handle.",
                ));
            };
            self.resumed = true;
            self.turns_done = turns;
        }
        let mut tools = Vec::new();
        for tool in setup["tools"].as_array().into_iter().flatten() {
            for declaration in tool["functionDeclarations"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let Some(name) = declaration["name"].as_str() else {
                    return Err(invalid(
                        "Request contains an invalid argument: a function declaration needs a name.",
                    ));
                };
                tools.push((name.to_owned(), declaration["parameters"].clone()));
            }
        }
        self.setup = Setup {
            tools,
            input_transcription: setup.get("inputAudioTranscription").is_some(),
            output_transcription: setup.get("outputAudioTranscription").is_some(),
            resumption: setup.get("sessionResumption").is_some(),
            interrupts: realtime["activityHandling"].as_str() != Some("NO_INTERRUPTION"),
            manual_turns: detection["disabled"].as_bool() == Some(true),
            prefix_ms: detection["prefixPaddingMs"].as_u64().unwrap_or(300),
            silence_ms: detection["silenceDurationMs"].as_u64().unwrap_or(500),
        };
        Ok(())
    }

    async fn new_handle(&mut self) -> Result<(), axum::Error> {
        self.counter += 1;
        let handle = format!("sandbox-handle-{}-{}", self.id, self.counter);
        lock(&self.shared.handles).insert(handle.clone(), self.turns_done);
        self.emit(json!({ "sessionResumptionUpdate": { "newHandle": handle, "resumable": true } }))
            .await
    }

    async fn on_message(&mut self, message: &Value) -> Result<Sent, Refusal> {
        if message.get("setup").is_some() {
            return Err(invalid(
                "Request contains an invalid argument: setup may be sent only once.",
            ));
        }
        if let Some(input) = message.get("realtimeInput") {
            return self.realtime_input(input).await;
        }
        if let Some(content) = message.get("clientContent") {
            if content["turnComplete"].as_bool() == Some(true) && self.turn.is_none() {
                return Ok(self.start_turn(script::greeting()));
            }
            return Ok(Ok(()));
        }
        if let Some(response) = message.get("toolResponse") {
            return self.tool_response(response);
        }
        let name = message
            .as_object()
            .and_then(|object| object.keys().next().cloned())
            .unwrap_or_default();
        Err(invalid(format!(
            "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
        )))
    }

    async fn realtime_input(&mut self, input: &Value) -> Result<Sent, Refusal> {
        let mut blobs: Vec<&Value> = input.get("audio").into_iter().collect();
        // `mediaChunks` is deprecated but still accepted.
        blobs.extend(input["mediaChunks"].as_array().into_iter().flatten());
        for blob in blobs {
            let mime = blob["mimeType"].as_str().unwrap_or_default();
            let rate = audio_rate(mime)
                .ok_or_else(|| invalid(format!("Unsupported mime type {mime:?}.")))?;
            let bytes = BASE64
                .decode(blob["data"].as_str().unwrap_or_default())
                .map_err(|_| {
                    invalid("Invalid value at 'realtime_input.audio.data': not base64.")
                })?;
            let mut samples = std::mem::take(&mut self.samples);
            samples.clear();
            samples.extend(
                bytes
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
            );
            let sent = self.hear(&samples, rate).await;
            self.samples = samples;
            if let Err(e) = sent? {
                return Ok(Err(e));
            }
        }
        if input["audioStreamEnd"].as_bool() == Some(true)
            && let Some(stopped) = self.vad.as_mut().and_then(Vad::finish)
        {
            return Ok(self.on_vad(stopped).await);
        }
        if input.get("activityStart").is_some() {
            self.manual = Some(Vec::new());
            return Ok(self.on_vad(VadEvent::Started { audio_start_ms: 0 }).await);
        }
        if input.get("activityEnd").is_some() {
            let audio = self.manual.take().unwrap_or_default();
            let rate = self.vad.as_ref().map_or(16_000, Vad::rate);
            let phrase = speech::recognise(&audio, rate);
            return Ok(self
                .on_vad(VadEvent::Stopped {
                    audio_end_ms: 0,
                    phrase,
                })
                .await);
        }
        Ok(Ok(()))
    }

    async fn hear(&mut self, samples: &[i16], rate: u32) -> Result<Sent, Refusal> {
        if self.faults.echo {
            let from = sample_rate(rate)
                .ok_or_else(|| invalid("Echo mode takes 8, 16 or 24 kHz audio."))?;
            let resampler = self
                .echo
                .get_or_insert_with(|| Resampler::new(from, SampleRate::Hz24000));
            let mut wide = Vec::new();
            resampler.process(samples, &mut wide);
            let data = BASE64.encode(
                wide.iter()
                    .flat_map(|s| s.to_le_bytes())
                    .collect::<Vec<u8>>(),
            );
            let message = json!({ "serverContent": { "modelTurn": { "parts": [
                { "inlineData": { "mimeType": OUTPUT_MIME, "data": data } }
            ] } } });
            return Ok(self.emit(message).await);
        }
        if let Some(manual) = &mut self.manual {
            manual.extend_from_slice(samples);
        }
        if self.setup.manual_turns {
            return Ok(Ok(()));
        }
        let (prefix_ms, silence_ms) = (self.setup.prefix_ms, self.setup.silence_ms);
        let vad = self
            .vad
            .get_or_insert_with(|| Vad::new(rate, prefix_ms, silence_ms));
        if vad.rate() != rate {
            return Err(invalid(
                "The audio sample rate cannot change within a session.",
            ));
        }
        let mut events = Vec::new();
        vad.push(samples, &mut events);
        for event in events {
            if let Err(e) = self.on_vad(event).await {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    async fn on_vad(&mut self, event: VadEvent) -> Sent {
        match event {
            VadEvent::Started { .. } => {
                if !self.setup.interrupts {
                    return Ok(());
                }
                if self.turn.take().is_some() {
                    self.emit(json!({ "serverContent": { "interrupted": true } }))
                        .await?;
                    // Interrupted turns go straight to turnComplete, without generationComplete.
                    self.emit(json!({ "serverContent": { "turnComplete": true } }))
                        .await?;
                }
                if let Some((id, _)) = self.pending_call.take() {
                    self.emit(json!({ "toolCallCancellation": { "ids": [id] } }))
                        .await?;
                }
                Ok(())
            }
            VadEvent::Stopped { phrase, .. } => {
                if self.setup.input_transcription {
                    let text = script::caller_text(phrase);
                    self.emit(
                        json!({ "serverContent": { "inputTranscription": { "text": text } } }),
                    )
                    .await?;
                }
                if self.turn.is_some() || self.pending_call.is_some() {
                    return Ok(());
                }
                let declared = phrase.and_then(Phrase::tool).and_then(|tool| {
                    self.setup
                        .tools
                        .iter()
                        .find(|(name, _)| name == tool)
                        .cloned()
                });
                match declared {
                    Some((name, parameters)) => {
                        self.counter += 1;
                        let id = format!("function-call-sandbox-{}-{}", self.id, self.counter);
                        let args = arguments::example(&parameters, "");
                        self.emit(json!({ "toolCall": { "functionCalls": [
                            { "id": id, "name": name, "args": args }
                        ] } }))
                        .await?;
                        self.pending_call = Some((id, name));
                        Ok(())
                    }
                    None => self.start_turn(script::reply_to(phrase)),
                }
            }
        }
    }

    fn tool_response(&mut self, response: &Value) -> Result<Sent, Refusal> {
        let Some(responses) = response["functionResponses"].as_array() else {
            return Err(invalid(
                "Invalid value at 'tool_response.function_responses'.",
            ));
        };
        for answer in responses {
            if !answer["response"].is_object() {
                // OpenAI takes a string; Gemini wants a JSON object here.
                return Err(invalid(
                    "Invalid value at 'tool_response.function_responses[0].response': expected an object.",
                ));
            }
            let matches = self
                .pending_call
                .as_ref()
                .is_some_and(|(id, _)| answer["id"].as_str() == Some(id));
            if matches && let Some((_, name)) = self.pending_call.take() {
                return Ok(self.start_turn(script::after_tool(&name)));
            }
        }
        // Answers to calls that were cancelled or never made are ignored.
        Ok(Ok(()))
    }

    fn start_turn(&mut self, reply: Reply) -> Sent {
        self.turn = Some(ModelTurn {
            reply,
            sent_ms: 0,
            transcript_sent: 0,
            next_at: Instant::now(),
            voice: AgentVoice::new(VoiceFormat::Pcm24k),
        });
        Ok(())
    }

    async fn play(&mut self) -> Sent {
        let Some(turn) = &mut self.turn else {
            return Ok(());
        };
        let ms = CHUNK_MS.min(turn.reply.ms - turn.sent_ms);
        let data = BASE64.encode(turn.voice.speak(ms));
        turn.sent_ms += ms;
        turn.next_at += Duration::from_millis(CHUNK_MS);
        let upto = script::spoken_chars(turn.reply.text, turn.sent_ms, turn.reply.ms);
        let words = turn.reply.text[turn.transcript_sent..upto].to_owned();
        turn.transcript_sent = upto;
        let done = turn.sent_ms >= turn.reply.ms;
        let audio_ms = turn.reply.ms;
        self.emit(json!({ "serverContent": { "modelTurn": { "parts": [
            { "inlineData": { "mimeType": OUTPUT_MIME, "data": data } }
        ] } } }))
        .await?;
        if self.setup.output_transcription && !words.is_empty() {
            self.emit(json!({ "serverContent": { "outputTranscription": { "text": words } } }))
                .await?;
        }
        if done {
            self.turn = None;
            self.turns_done += 1;
            self.emit(json!({ "serverContent": { "generationComplete": true } }))
                .await?;
            self.emit(json!({ "serverContent": { "turnComplete": true } }))
                .await?;
            let output = audio_ms / 40;
            self.emit(json!({ "usageMetadata": {
                "promptTokenCount": 100,
                "responseTokenCount": output,
                "totalTokenCount": 100 + output
            } }))
            .await?;
            if self.setup.resumption {
                self.new_handle().await?;
            }
        }
        Ok(())
    }
}

/// The sample rate of an `audio/pcm;rate=N` MIME type (16 kHz when unstated).
fn audio_rate(mime: &str) -> Option<u32> {
    let mut parts = mime.split(';').map(str::trim);
    if parts.next()? != "audio/pcm" {
        return None;
    }
    match parts.find_map(|p| p.strip_prefix("rate=")) {
        Some(rate) => rate
            .parse()
            .ok()
            .filter(|&rate| (8_000..=48_000).contains(&rate)),
        None => Some(16_000),
    }
}

fn sample_rate(hz: u32) -> Option<SampleRate> {
    [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz24000]
        .into_iter()
        .find(|rate| rate.hz() == hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_give_the_rate() {
        assert_eq!(audio_rate("audio/pcm;rate=16000"), Some(16_000));
        assert_eq!(audio_rate("audio/pcm; rate=8000"), Some(8_000));
        assert_eq!(audio_rate("audio/pcm"), Some(16_000));
        assert_eq!(audio_rate("audio/wav"), None);
        assert_eq!(audio_rate("audio/pcm;rate=abc"), None);
    }
}
