//! The caller's side of a bidirectional Media Stream (`<Connect><Stream>`), as Twilio speaks it.
//!
//! Twilio opens the WebSocket with a signed upgrade request, sends `connected` and `start`, then a
//! 20 ms `media` frame every 20 ms for as long as the call lasts, `dtmf` when a key is pressed and
//! `stop` when the call ends. What the server sends back is *played*: audio is queued and drains at
//! real time, 160 bytes per 20 ms; a `mark` is echoed when the audio queued before it has played,
//! and `clear` drops the queue and echoes every pending mark at once. This module does the same
//! on one 20 ms clock and measures what a caller would notice: what was heard, how quickly the
//! agent answered, how quickly it stopped talking when interrupted.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use loquent_ai::audio::mulaw;
use loquent_twilio::media_stream::{
    Connected, Counter, Dtmf, DtmfMessage, DtmfTrack, InboundMessage, MediaChunk, MediaFormat,
    MediaMessage, MediaTrack, OutboundMessage, StartMessage, StopMessage, StreamStart, StreamStop,
};
use loquent_twilio::sid::{AccountSid, CallSid, StreamSid};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Shared;
use super::caller_script::Step;
use crate::speech::{self, FRAME_BYTES, Phrase, SAMPLE_RATE, Tone};

const FRAME: Duration = Duration::from_millis(20);
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from the stream socket at a time; the server's messages are a few hundred bytes.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// The agent has finished its reply when nothing new arrived for this long and all played out.
const REPLY_SETTLED: Duration = Duration::from_millis(300);
const DTMF_GAP: Duration = Duration::from_millis(100);

/// A Twilio error the stream ran into (the codes Twilio's debugger would show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamError {
    pub code: u32,
    pub message: String,
}

/// What the caller saw on the stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamReport {
    pub url: String,
    pub stream_sid: String,
    /// Whether the WebSocket handshake succeeded.
    pub connected: bool,
    /// The `<Parameter>`s sent in `start.customParameters`.
    pub custom_parameters: BTreeMap<String, String>,
    pub media_frames_sent: u64,
    pub media_frames_received: u64,
    /// Received frames that were recognisably the agent's voice.
    pub agent_voice_frames: u64,
    pub audio_ms_received: u64,
    /// Audio that actually reached the caller's ear (not cleared, not cut off by the hang-up).
    pub audio_ms_played: u64,
    /// Marks the server sent, in order.
    pub marks_received: Vec<String>,
    /// Marks echoed back because their audio played out.
    pub marks_played: Vec<String>,
    /// Marks echoed back because a `clear` discarded their audio.
    pub marks_cleared: Vec<String>,
    pub clears_received: u64,
    pub dtmf_sent: String,
    /// Milliseconds from `start` to the first agent audio.
    pub first_audio_ms: Option<u64>,
    /// For each caller utterance the agent answered: milliseconds from its end to the next audio.
    pub reply_latencies_ms: Vec<u64>,
    /// For each time the caller spoke over the agent: milliseconds until the server sent `clear`.
    pub barge_in_clear_ms: Vec<u64>,
    /// `caller` (hung up), `server` (closed the socket), `hangup` (the call was ended through the
    /// REST API), `redirect` (the call was redirected through the REST API) or `error`.
    pub ended_by: String,
    pub errors: Vec<StreamError>,
    pub warnings: Vec<String>,
}

/// How the stream ended, for the TwiML that runs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    CallerHungUp,
    ServerClosed,
    /// The call was completed or cancelled through the REST API.
    CallEnded,
    /// The call was redirected through the REST API: new TwiML or a URL to fetch it from.
    Redirected(String),
    Failed,
}

/// Who the stream belongs to.
pub(crate) struct StreamContext<'a> {
    pub shared: &'a Shared,
    pub account_sid: &'a str,
    pub auth_token: &'a str,
    pub call_sid: &'a str,
    pub url: &'a str,
    /// Connect with plain `ws://` although the URL says `wss://`: the application itself runs
    /// without TLS (its voice URL is `http://`), as it does on a developer's machine and in tests.
    pub without_tls: bool,
    pub parameters: BTreeMap<String, String>,
    pub stream_sid: String,
}

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connect, run `steps`, and report.
pub(crate) async fn run(context: StreamContext<'_>, steps: &[Step]) -> (StreamReport, StreamEnd) {
    let mut report = StreamReport {
        url: context.url.to_owned(),
        stream_sid: context.stream_sid.clone(),
        custom_parameters: context.parameters.clone(),
        ..StreamReport::default()
    };
    let mut ws = match open(context.url, context.auth_token, context.without_tls).await {
        Ok(ws) => ws,
        Err(message) => {
            report.errors.push(StreamError {
                code: 31920,
                message,
            });
            report.ended_by = "error".into();
            return (report, StreamEnd::Failed);
        }
    };
    report.connected = true;
    let mut caller = Caller::new(&context, report);
    let end = caller.converse(&mut ws, steps).await;
    let mut report = caller.report;
    report.ended_by = match &end {
        StreamEnd::CallerHungUp => "caller",
        StreamEnd::ServerClosed => "server",
        StreamEnd::CallEnded => "hangup",
        StreamEnd::Redirected(_) => "redirect",
        StreamEnd::Failed => "error",
    }
    .into();
    (report, end)
}

/// The signed upgrade: Twilio signs the stream URL (as written in the TwiML) like a GET.
/// `without_tls` connects a `wss://` URL as `ws://` (see [`super::webhooks::stream_without_tls`]).
pub(crate) async fn open(url: &str, auth_token: &str, without_tls: bool) -> Result<Socket, String> {
    let request = signed_request(url, auth_token, without_tls)?;
    // Nagle off: Twilio sends each 20 ms frame when it is due. With Nagle a small frame waits
    // for the previous one's ACK, which a delayed ACK holds back up to 40 ms: latency the
    // application never added would be measured as its own.
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config()), true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(e)) => Err(handshake_failed(url, e)),
        Err(_) => Err(handshake_timed_out(url)),
    }
}

/// The upgrade request Twilio sends for `url`: signed, with Twilio's user agent.
pub(crate) fn signed_request(
    url: &str,
    auth_token: &str,
    without_tls: bool,
) -> Result<Request, String> {
    let target = match url.strip_prefix("wss://") {
        Some(rest) if without_tls => format!("ws://{rest}"),
        _ => url.to_owned(),
    };
    let mut request = target
        .as_str()
        .into_client_request()
        .map_err(|e| format!("stream URL {url:?} is not a WebSocket URL: {e}"))?;
    let signature =
        loquent_twilio::signature::sign(auth_token, url, std::iter::empty::<(&str, &str)>());
    let headers = request.headers_mut();
    for (name, value) in [
        ("x-twilio-signature", signature.as_str()),
        ("user-agent", "Twilio.TmeWs/1.0"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    Ok(request)
}

/// A small read buffer: tungstenite zero-fills the whole buffer (128 KiB by default) before
/// every read, which with a thousand streams of 20 ms frames (the load generator) costs more
/// than everything else together.
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)
}

pub(crate) fn handshake_failed(url: &str, e: impl std::fmt::Display) -> String {
    format!("WebSocket handshake with {url} failed: {e}")
}

pub(crate) fn handshake_timed_out(url: &str) -> String {
    format!(
        "WebSocket handshake with {url} timed out after {} s",
        HANDSHAKE_TIMEOUT.as_secs()
    )
}

/// Something queued for playback.
enum Queued {
    /// Decoded µ-law bytes still to play.
    Audio(Vec<u8>),
    Mark(String),
}

/// Where the script is.
enum Doing {
    Next,
    Saying {
        tone: Tone,
        until: Instant,
    },
    Silent {
        until: Instant,
    },
    Pressing {
        keys: VecDeque<char>,
        next_at: Instant,
    },
    WaitingForSpeech {
        frames_before: u64,
        deadline: Instant,
        limit: Duration,
    },
    WaitingForReply {
        frames_before: u64,
        deadline: Instant,
        limit: Duration,
    },
    WaitingForHangup {
        deadline: Instant,
        limit: Duration,
    },
}

struct Caller<'a> {
    context: &'a StreamContext<'a>,
    report: StreamReport,
    sequence: u64,
    chunk: u64,
    started: Instant,
    queue: VecDeque<Queued>,
    last_received: Option<Instant>,
    /// When the caller last stopped talking, until the agent's next audio arrives.
    utterance_ended: Option<Instant>,
    /// When the caller started talking over the agent, until the server clears.
    barge_in_started: Option<Instant>,
}

impl<'a> Caller<'a> {
    fn new(context: &'a StreamContext<'a>, report: StreamReport) -> Self {
        Self {
            context,
            report,
            sequence: 0,
            chunk: 0,
            started: Instant::now(),
            queue: VecDeque::new(),
            last_received: None,
            utterance_ended: None,
            barge_in_started: None,
        }
    }

    fn next_sequence(&mut self) -> Counter {
        self.sequence += 1;
        Counter(self.sequence)
    }

    fn stream_sid(&self) -> Option<StreamSid> {
        self.context.stream_sid.parse().ok()
    }

    async fn send(&mut self, ws: &mut Socket, message: InboundMessage<'_>) -> bool {
        match message.to_json() {
            Ok(text) => ws.send(Message::text(text)).await.is_ok(),
            Err(_) => false,
        }
    }

    async fn converse(&mut self, ws: &mut Socket, steps: &[Step]) -> StreamEnd {
        let (Some(stream_sid), Ok(account_sid), Ok(call_sid)) = (
            self.stream_sid(),
            self.context.account_sid.parse::<AccountSid>(),
            self.context.call_sid.parse::<CallSid>(),
        ) else {
            self.report.errors.push(StreamError {
                code: 31920,
                message: "the sandbox made an invalid SID".into(),
            });
            return StreamEnd::Failed;
        };
        let connected = InboundMessage::Connected(Connected {
            protocol: "Call".into(),
            version: "1.0.0".into(),
        });
        let start = InboundMessage::Start(StartMessage {
            sequence_number: self.next_sequence(),
            stream_sid: stream_sid.clone(),
            start: StreamStart {
                stream_sid: stream_sid.clone(),
                account_sid: account_sid.clone(),
                call_sid: call_sid.clone(),
                tracks: vec![MediaTrack::Inbound],
                custom_parameters: self.context.parameters.clone(),
                media_format: MediaFormat::default(),
            },
        });
        if !self.send(ws, connected).await || !self.send(ws, start).await {
            return StreamEnd::ServerClosed;
        }
        self.started = Instant::now();

        let mut steps = steps.iter();
        let mut doing = Doing::Next;
        let mut clock = tokio::time::interval(FRAME);
        // Twilio keeps real time: frames missed while the machine was busy are sent late, not
        // dropped, so the server sees every 20 ms of the call.
        clock.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let end = 'stream: loop {
            tokio::select! {
                _ = clock.tick() => {
                    if let Some(end) = self.call_state() {
                        break end;
                    }
                    if let Some(echo) = self.play_20ms() {
                        for name in echo {
                            if !self.send_mark(ws, &stream_sid, name).await {
                                return StreamEnd::ServerClosed;
                            }
                        }
                    }
                    // Advance the script until a step produces this frame's audio.
                    let frame = loop {
                        match self.advance(&mut doing, &mut steps) {
                            Advance::Frame(frame) => break Some(frame),
                            Advance::Key(key) => {
                                self.report.dtmf_sent.push(key);
                                let dtmf = InboundMessage::Dtmf(DtmfMessage {
                                    sequence_number: self.next_sequence(),
                                    stream_sid: stream_sid.clone(),
                                    dtmf: Dtmf { track: DtmfTrack::InboundTrack, digit: key.to_string() },
                                });
                                if !self.send(ws, dtmf).await {
                                    return StreamEnd::ServerClosed;
                                }
                            }
                            Advance::Continue => {}
                            Advance::HangUp => break None,
                        }
                    };
                    let Some(frame) = frame else {
                        break StreamEnd::CallerHungUp;
                    };
                    if !self.send_media(ws, &stream_sid, &frame).await {
                        break StreamEnd::ServerClosed;
                    }
                }
                received = ws.next() => match received {
                    Some(Ok(Message::Text(text))) => {
                        for name in self.receive(text.as_str(), &stream_sid) {
                            if !self.send_mark(ws, &stream_sid, name).await {
                                break 'stream StreamEnd::ServerClosed;
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => self.report.errors.push(StreamError {
                        code: 31950,
                        message: "the server sent a binary frame; Media Streams messages are JSON text".into(),
                    }),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break StreamEnd::ServerClosed,
                    Some(Ok(_)) => {}
                },
            }
        };
        // Whatever was still queued never reached the caller.
        self.queue.clear();
        if end != StreamEnd::ServerClosed {
            let stop = InboundMessage::Stop(StopMessage {
                sequence_number: self.next_sequence(),
                stream_sid,
                stop: StreamStop {
                    account_sid,
                    call_sid,
                },
            });
            self.send(ws, stop).await;
            let _ = ws.close(None).await;
            // Read until the server's close reply, briefly, so it sees a clean close.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
        end
    }

    /// Whether the call was hung up or redirected through the REST API meanwhile.
    fn call_state(&mut self) -> Option<StreamEnd> {
        let mut store = self
            .context
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let call = store
            .accounts
            .get_mut(self.context.account_sid)?
            .calls
            .iter_mut()
            .find(|c| c.sid == self.context.call_sid)?;
        if !call.is_live() {
            return Some(StreamEnd::CallEnded);
        }
        call.instructions.take().map(StreamEnd::Redirected)
    }

    async fn send_media(&mut self, ws: &mut Socket, stream_sid: &StreamSid, frame: &[u8]) -> bool {
        self.chunk += 1;
        let payload = BASE64.encode(frame);
        let timestamp = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let media = InboundMessage::Media(MediaMessage {
            sequence_number: self.next_sequence(),
            stream_sid: stream_sid.as_str().into(),
            media: MediaChunk {
                track: MediaTrack::Inbound,
                chunk: Counter(self.chunk),
                timestamp: Counter(timestamp),
                payload: payload.into(),
            },
        });
        let sent = self.send(ws, media).await;
        if sent {
            self.report.media_frames_sent += 1;
        }
        sent
    }

    async fn send_mark(&mut self, ws: &mut Socket, stream_sid: &StreamSid, name: String) -> bool {
        let mark = InboundMessage::Mark(loquent_twilio::media_stream::MarkMessage {
            sequence_number: self.next_sequence(),
            stream_sid: stream_sid.clone(),
            mark: loquent_twilio::media_stream::Mark { name },
        });
        self.send(ws, mark).await
    }

    /// Play 20 ms of queued audio; the marks that became due are returned to be echoed.
    fn play_20ms(&mut self) -> Option<Vec<String>> {
        let mut budget = FRAME_BYTES;
        let mut due = Vec::new();
        loop {
            match self.queue.front_mut() {
                Some(Queued::Mark(_)) => {
                    if let Some(Queued::Mark(name)) = self.queue.pop_front() {
                        self.report.marks_played.push(name.clone());
                        due.push(name);
                    }
                }
                Some(Queued::Audio(audio)) if budget > 0 => {
                    let take = budget.min(audio.len());
                    audio.drain(..take);
                    budget -= take;
                    self.report.audio_ms_played += (take / speech_bytes_per_ms()) as u64;
                    if audio.is_empty() {
                        self.queue.pop_front();
                    }
                }
                _ => break,
            }
        }
        (!due.is_empty()).then_some(due)
    }

    fn agent_is_talking(&self) -> bool {
        self.queue.iter().any(|q| matches!(q, Queued::Audio(_)))
    }

    fn advance<'s>(
        &mut self,
        doing: &mut Doing,
        steps: &mut impl Iterator<Item = &'s Step>,
    ) -> Advance {
        let now = Instant::now();
        match doing {
            Doing::Next => {
                *doing = match steps.next() {
                    None | Some(Step::Hangup) => return Advance::HangUp,
                    Some(Step::Say { phrase, duration }) => {
                        if self.agent_is_talking() {
                            self.barge_in_started = Some(now);
                        }
                        Doing::Saying {
                            tone: Tone::new(Phrase::frequency_hz(*phrase), SAMPLE_RATE),
                            until: now + *duration,
                        }
                    }
                    Some(Step::Silence(d)) => Doing::Silent { until: now + *d },
                    Some(Step::Dtmf(keys)) => Doing::Pressing {
                        keys: keys.chars().collect(),
                        next_at: now,
                    },
                    Some(Step::WaitForSpeech(limit)) => Doing::WaitingForSpeech {
                        frames_before: self.report.media_frames_received,
                        deadline: now + *limit,
                        limit: *limit,
                    },
                    Some(Step::WaitForReply(limit)) => Doing::WaitingForReply {
                        frames_before: self.report.media_frames_received,
                        deadline: now + *limit,
                        limit: *limit,
                    },
                    Some(Step::WaitForHangup(limit)) => Doing::WaitingForHangup {
                        deadline: now + *limit,
                        limit: *limit,
                    },
                };
                Advance::Continue
            }
            Doing::Saying { tone, until } => {
                if now >= *until {
                    self.utterance_ended = Some(now);
                    *doing = Doing::Next;
                    return Advance::Continue;
                }
                Advance::Frame(tone.mulaw_frame())
            }
            Doing::Silent { until } => {
                if now >= *until {
                    *doing = Doing::Next;
                    return Advance::Continue;
                }
                Advance::Frame(speech::silence_frame())
            }
            Doing::Pressing { keys, next_at } => {
                if now >= *next_at {
                    match keys.pop_front() {
                        Some(key) => {
                            *next_at = now + DTMF_GAP;
                            return Advance::Key(key);
                        }
                        None => {
                            *doing = Doing::Next;
                            return Advance::Continue;
                        }
                    }
                }
                Advance::Frame(speech::silence_frame())
            }
            Doing::WaitingForSpeech {
                frames_before,
                deadline,
                limit,
            } => {
                if self.report.media_frames_received > *frames_before {
                    *doing = Doing::Next;
                    return Advance::Continue;
                }
                if now >= *deadline {
                    self.report.warnings.push(format!(
                        "no agent audio within {} ms (wait_for_speech)",
                        limit.as_millis()
                    ));
                    *doing = Doing::Next;
                    return Advance::Continue;
                }
                Advance::Frame(speech::silence_frame())
            }
            Doing::WaitingForReply {
                frames_before,
                deadline,
                limit,
            } => {
                let heard = self.report.media_frames_received > *frames_before;
                let settled = self
                    .last_received
                    .is_some_and(|at| now.duration_since(at) >= REPLY_SETTLED);
                if heard && settled && !self.agent_is_talking() {
                    *doing = Doing::Next;
                    return Advance::Continue;
                }
                if now >= *deadline {
                    self.report.warnings.push(format!(
                        "the agent did not {} within {} ms (wait_for_reply)",
                        if heard { "finish its reply" } else { "reply" },
                        limit.as_millis()
                    ));
                    *doing = Doing::Next;
                    return Advance::Continue;
                }
                Advance::Frame(speech::silence_frame())
            }
            Doing::WaitingForHangup { deadline, limit } => {
                if now >= *deadline {
                    self.report.warnings.push(format!(
                        "the call was still up after {} ms (wait_for_hangup); the caller hung up",
                        limit.as_millis()
                    ));
                    return Advance::HangUp;
                }
                Advance::Frame(speech::silence_frame())
            }
        }
    }

    /// A frame from the server: check it the way Twilio does, then queue, mark or clear. Returns
    /// the marks to echo at once (those a `clear` released).
    fn receive(&mut self, text: &str, stream_sid: &StreamSid) -> Vec<String> {
        let message = match OutboundMessage::parse(text) {
            Ok(message) => message,
            Err(e) => {
                self.report.errors.push(StreamError {
                    code: 31951,
                    message: format!("invalid message from the server ({e}): {}", clip(text)),
                });
                return Vec::new();
            }
        };
        let sid = match &message {
            OutboundMessage::Media { stream_sid, .. }
            | OutboundMessage::Mark { stream_sid, .. }
            | OutboundMessage::Clear { stream_sid } => stream_sid,
        };
        if sid != stream_sid {
            self.report.errors.push(StreamError {
                code: 31951,
                message: format!("message for stream {sid}, but this stream is {stream_sid}"),
            });
            return Vec::new();
        }
        let now = Instant::now();
        match message {
            OutboundMessage::Media { media, .. } => {
                let audio = match BASE64.decode(media.payload.as_bytes()) {
                    Ok(audio) if !audio.is_empty() => audio,
                    Ok(_) => return Vec::new(),
                    Err(e) => {
                        self.report.errors.push(StreamError {
                            code: 31951,
                            message: format!("media payload is not base64: {e}"),
                        });
                        return Vec::new();
                    }
                };
                if self.report.media_frames_received == 0 {
                    self.report.first_audio_ms =
                        Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(0));
                }
                if let Some(ended) = self.utterance_ended.take() {
                    self.report
                        .reply_latencies_ms
                        .push(u64::try_from(now.duration_since(ended).as_millis()).unwrap_or(0));
                }
                self.report.media_frames_received += 1;
                self.report.audio_ms_received += (audio.len() / speech_bytes_per_ms()) as u64;
                let pcm: Vec<i16> = audio.iter().map(|&c| mulaw::decode(c)).collect();
                if speech::is_agent_voice(&pcm, SAMPLE_RATE) {
                    self.report.agent_voice_frames += 1;
                }
                self.last_received = Some(now);
                match self.queue.back_mut() {
                    Some(Queued::Audio(tail)) => tail.extend_from_slice(&audio),
                    _ => self.queue.push_back(Queued::Audio(audio)),
                }
            }
            OutboundMessage::Mark { mark, .. } => {
                self.report.marks_received.push(mark.name.clone());
                self.queue.push_back(Queued::Mark(mark.name));
            }
            OutboundMessage::Clear { .. } => {
                self.report.clears_received += 1;
                if let Some(started) = self.barge_in_started.take() {
                    self.report
                        .barge_in_clear_ms
                        .push(u64::try_from(now.duration_since(started).as_millis()).unwrap_or(0));
                }
                let released: Vec<String> = self
                    .queue
                    .drain(..)
                    .filter_map(|queued| match queued {
                        Queued::Mark(name) => Some(name),
                        Queued::Audio(_) => None,
                    })
                    .collect();
                self.report.marks_cleared.extend(released.iter().cloned());
                return released;
            }
        }
        Vec::new()
    }
}

/// What the script contributes to this 20 ms tick.
enum Advance {
    Frame(Vec<u8>),
    Key(char),
    Continue,
    HangUp,
}

fn speech_bytes_per_ms() -> usize {
    loquent_ai::audio::MULAW_BYTES_PER_MS
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
