//! The media-stream bridge: caller audio to the agent's speech session, the agent's audio back
//! to the caller, barge-in, and the agent's tools.
//!
//! One task per call runs the loop below. Messages for Twilio are framed into the socket's bounded
//! write buffer, which the loop writes out whenever the socket has room, without waiting on it, so
//! a slow Twilio connection never stops the caller's audio from reaching the model. Drop policy:
//! when the buffer is full ([`media_socket::WRITE_LIMIT`], about 10 s of audio Twilio has not
//! taken), further agent audio is dropped and counted, never buffered without bound. A provider
//! socket
//! that stops accepting caller audio for [`PROVIDER_SEND_TIMEOUT`] ends the call.
//!
//! What the caller has heard is known from marks: after the first chunk of each reply and then
//! every ~500 ms of its audio we queue a `mark`, which Twilio echoes once that audio has played.
//! Playback runs in real time, so between marks the played position is the last echoed mark plus
//! the time since its echo (never more than was sent). On barge-in we send `clear` (marks then
//! come back at once, and those mean *discarded*, not played) and tell the model to truncate its
//! reply at that position, so it remembers saying only what was heard.
//!
//! Nothing here touches the database per frame: the call row was written before the loop, and
//! what changes at the end goes to the call writer.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use loquent_ai::realtime::{RealtimeEvent, Role};
use loquent_twilio::E164;
use loquent_twilio::media_stream::{InboundMessage, MediaMessage, write_media_frame};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use super::media_socket::{self, Incoming, TwilioSocket};
use super::session::{AgentSetup, Session};
use super::tools::{self, END_CALL, LOOKUP_CALLER, TRANSFER_CALL};
use super::wake::{self, ConnectionSocket, WakeThreshold};
use super::writer::CallWrite;
use crate::app::AppState;
use crate::entity::{call, contact, organization};

/// Longest wait for the provider to take one caller frame.
const PROVIDER_SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// Audio between two progress marks. Fewer marks are fewer messages per call-second; precision
/// comes from timing since the last echo, so this only bounds the drift of Twilio's clock.
const MARK_EVERY_MS: u32 = 500;
/// After `end_call`, the call ends when the goodbye has played, or after this at the latest.
const END_CALL_HARD_STOP: Duration = Duration::from_secs(15);
/// After we hang up or transfer through the REST API, Twilio stops the stream; if it does not,
/// we stop waiting after this.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long closing the provider session may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// A client WebSocket frame around a `media` message: 2 bytes, a 2-byte length, a 4-byte mask.
const WS_FRAME_OVERHEAD: usize = 8;
/// What the caller hears when the agent's service fails.
const APOLOGY: &str = "Sorry, we have been disconnected. Please call again. Goodbye.";

/// Everything known about the call when the bridge starts.
pub struct CallContext {
    pub setup: AgentSetup,
    pub org: organization::Model,
    pub call: call::Model,
    pub contact: contact::Model,
    pub stream_sid: String,
}

/// What the loop's Twilio branch produced.
enum FromTwilio {
    Message(Incoming),
    /// Nothing more to read for now, and caller audio is held back: time to send it.
    Drained,
    /// The socket failed or ended.
    Gone,
}

/// Why the loop stopped.
#[derive(Debug)]
enum End {
    /// Twilio sent `stop`: the caller hung up, or our hang-up / transfer took effect.
    Stopped,
    /// Twilio's socket closed or failed.
    TwilioGone,
    /// The speech session ended or failed under us.
    ProviderGone(String),
    /// We asked Twilio to end or move the call and it did not stop the stream in time.
    StopNeverCame,
}

/// What ends the call once the agent's last words have played.
#[derive(Debug, Clone)]
enum Farewell {
    HangUp,
    Transfer(E164),
}

struct Ending {
    farewell: Farewell,
    /// A response started after the tool's result went back: that one is the goodbye. (The
    /// response that called the tool ends after the call, so "the next `ResponseDone`" would be
    /// the wrong one.)
    goodbye_started: bool,
    /// The mark that follows the goodbye's audio.
    goodbye_mark: Option<u64>,
    deadline: tokio::time::Instant,
}

struct PendingMark {
    id: u64,
    item: Option<Arc<str>>,
    /// Milliseconds of `item` sent up to this mark.
    item_ms: u32,
}

/// A tool that ran in its own task.
struct ToolDone {
    call_id: String,
    name: String,
    output: String,
}

pub struct Bridge {
    state: AppState,
    ctx: CallContext,
    started: Instant,
    /// The caller's side: Twilio's media stream.
    twilio: TwilioSocket,
    /// Where a message for Twilio is written before it is framed (kept between messages).
    frame: String,
    // Agent audio bookkeeping.
    current_item: Option<Arc<str>>,
    item_sent_ms: u32,
    unmarked_ms: u32,
    next_mark: u64,
    pending_marks: VecDeque<PendingMark>,
    /// Marks up to this id were discarded by a `clear`; their echoes mean nothing was played.
    cleared_through: u64,
    /// The latest audio the caller has actually heard: (item, ms into it).
    /// With when Twilio echoed that point, to extrapolate the position in real time.
    played: Option<(Arc<str>, u32, Instant)>,
    current_response: Option<String>,
    /// Set by barge-in: audio of the interrupted response is dropped until a new one starts.
    interrupted: Option<Option<String>>,
    first_audio_at: Option<Instant>,
    // Tools.
    tools_tx: mpsc::Sender<ToolDone>,
    cancelled_tools: HashSet<String>,
    /// Tools running in their own tasks; their results come back on the tools channel.
    tools_running: usize,
    ending: Option<Ending>,
    stop_deadline: Option<tokio::time::Instant>,
    transcript: String,
    frames_in: FrameCount,
    frames_out: FrameCount,
    frames_dropped: FrameCount,
    // Waking once per batch of caller frames (see `wake`).
    /// The connection's socket until the first frame sets its threshold.
    connection: Option<ConnectionSocket>,
    wake: Option<WakeThreshold>,
    /// Caller audio was forwarded since the last flush while the threshold is raised.
    flush_due: bool,
    /// Fires when the caller's socket has been silent for [`wake::QUIET`].
    quiet: Pin<Box<Sleep>>,
}

impl Bridge {
    pub async fn run(
        state: AppState,
        socket: TwilioSocket,
        connection: Option<ConnectionSocket>,
        ctx: CallContext,
        started: Instant,
    ) {
        let active = metrics::gauge!("loquent_active_calls");
        active.increment(1.0);
        let (tools_tx, mut tools_rx) = mpsc::channel(8);
        let provider = ctx.setup.session.provider;
        let mut bridge = Self {
            state,
            ctx,
            started,
            twilio: socket,
            frame: String::with_capacity(512),
            current_item: None,
            item_sent_ms: 0,
            unmarked_ms: 0,
            next_mark: 0,
            pending_marks: VecDeque::new(),
            cleared_through: 0,
            played: None,
            current_response: None,
            interrupted: None,
            first_audio_at: None,
            tools_tx,
            cancelled_tools: HashSet::new(),
            tools_running: 0,
            ending: None,
            stop_deadline: None,
            transcript: String::new(),
            frames_in: FrameCount::new(
                metrics::counter!("loquent_media_frames_total", "direction" => "caller_to_agent"),
            ),
            frames_out: FrameCount::new(
                metrics::counter!("loquent_media_frames_total", "direction" => "agent_to_caller"),
            ),
            frames_dropped: FrameCount::new(metrics::counter!(
                "loquent_media_frames_dropped_total"
            )),
            connection,
            wake: None,
            flush_due: false,
            quiet: Box::pin(tokio::time::sleep(wake::QUIET)),
        };
        let end = match bridge.open_session().await {
            Ok(mut session) => {
                let end = bridge.pump(&mut session, &mut tools_rx).await;
                // Whatever reads the socket from here on (`stop`, the close) reads every byte.
                bridge.wake = None;
                if let End::ProviderGone(why) = &end {
                    metrics::counter!("loquent_provider_errors_total", "provider" => provider_label(provider)).increment(1);
                    tracing::warn!(why, "speech session ended mid-call");
                    bridge.apologise().await;
                    wait_for_stop(&mut bridge.twilio).await;
                }
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close()).await;
                end
            }
            Err(why) => {
                metrics::counter!("loquent_provider_errors_total", "provider" => provider_label(provider)).increment(1);
                tracing::error!(why, "no speech session for the call");
                bridge.apologise().await;
                wait_for_stop(&mut bridge.twilio).await;
                End::ProviderGone(why)
            }
        };
        tracing::info!(?end, "call ended");
        bridge.finish().await;
        // What is still queued (a goodbye, a mark) goes out, then the socket closes.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = bridge.twilio.close(media_socket::NORMAL, "").await;
        })
        .await;
        active.decrement(1.0);
    }

    /// The pre-warmed session, or a new one when there is none (or it failed).
    async fn open_session(&mut self) -> Result<Session, String> {
        let call_sid = self.ctx.call.call_sid.clone();
        let mut session = match self.state.live.prewarmed.claim(&call_sid).await {
            Some(Ok(session)) => session,
            claimed => {
                if let Some(Err(error)) = claimed {
                    tracing::warn!(%error, "pre-warmed session failed; connecting again");
                }
                self.state
                    .live
                    .prewarmed
                    .providers()
                    .connect(&self.ctx.setup.session)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        if self.ctx.setup.caller_context
            && let Some(context) = caller_context(&self.ctx.contact)
        {
            session
                .inject_text(Role::User, &context, false)
                .await
                .map_err(|e| e.to_string())?;
        }
        let greet = match &self.ctx.setup.greeting {
            Some(greeting) => format!(
                "A caller has just been connected. Greet them by saying exactly: {greeting}"
            ),
            None => "A caller has just been connected. Greet them briefly.".to_owned(),
        };
        session
            .inject_text(Role::User, &greet, true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(session)
    }

    async fn pump(
        &mut self,
        session: &mut Session,
        tools_rx: &mut mpsc::Receiver<ToolDone>,
    ) -> End {
        let readiness = Readiness::new();
        loop {
            let ending_deadline = self.ending.as_ref().map(|e| e.deadline);
            let flush_due = self.flush_due;
            let raised = self.wake.as_ref().is_some_and(WakeThreshold::is_raised);
            tokio::select! {
                biased;
                // Twilio's socket has one owner (no split, no lock per poll): this branch writes
                // what is queued for the caller first, as far as the socket has room, then reads
                // if the socket may have something (see `Readiness`).
                frame = std::future::poll_fn(|cx| {
                    // This branch is polled first on every pass: the markers wake `cx`'s task.
                    readiness.register(cx);
                    // Unmarked, only what is queued is written (nothing, usually).
                    let read = readiness.take(Side::Twilio);
                    let polled = poll_twilio(&mut self.twilio, flush_due, read, &mut readiness.context(Side::Twilio));
                    // After a frame there may be another; `Drained` means there was none.
                    if let Poll::Ready(FromTwilio::Message(_) | FromTwilio::Gone) = polled {
                        readiness.mark(Side::Twilio);
                    }
                    polled
                }) => {
                    match frame {
                        FromTwilio::Message(Incoming::Text) => {
                            if let Some(end) = self.on_twilio_frame(session).await {
                                return end;
                            }
                        }
                        FromTwilio::Message(Incoming::Close(_)) | FromTwilio::Gone => return End::TwilioGone,
                        FromTwilio::Message(Incoming::Binary) => {}
                        FromTwilio::Drained => {
                            self.drained();
                            if let Some(end) = provider_took(session.flush_audio()).await {
                                return end;
                            }
                        }
                    }
                }
                // `next_event` is made once the provider's socket is marked and kept for the rest
                // of the pass, as a plain branch would keep it: a close handshake or a timer
                // inside it resumes where it was (its wake-ups come through the provider's marker).
                event = async {
                    let marked = || std::future::poll_fn(|_| if readiness.take(Side::Provider) { Poll::Ready(()) } else { Poll::Pending });
                    marked().await;
                    let mut next = session.next_event();
                    loop {
                        let polled = std::future::poll_fn(|_| Poll::Ready(next.as_mut().poll(&mut readiness.context(Side::Provider)))).await;
                        if let Poll::Ready(event) = polled {
                            // One server message can carry several events: ask again after one.
                            readiness.mark(Side::Provider);
                            break event;
                        }
                        marked().await;
                    }
                } => {
                    let Some(event) = event else {
                        return End::ProviderGone("the session closed".to_owned());
                    };
                    if let Some(end) = self.on_provider_event(session, event).await {
                        return end;
                    }
                }
                // Polled only while a tool runs: one channel fewer to poll per audio frame.
                Some(done) = tools_rx.recv(), if self.tools_running > 0 => {
                    self.tools_running -= 1;
                    if self.cancelled_tools.remove(&done.call_id) {
                        continue;
                    }
                    if let Err(e) = session.send_tool_result(&done.call_id, &done.name, &done.output).await {
                        return End::ProviderGone(e.to_string());
                    }
                }
                _ = sleep_until(ending_deadline), if ending_deadline.is_some() => {
                    tracing::info!("the goodbye did not finish playing in time; ending now");
                    self.say_farewell();
                }
                _ = sleep_until(self.stop_deadline), if self.stop_deadline.is_some() => {
                    return End::StopNeverCame;
                }
                // No frame for a while: the call is ending, and a lone `stop` may sit under the
                // threshold. Lowering it wakes the branch above if anything is waiting.
                () = &mut self.quiet, if raised => {
                    if let Some(wake) = &mut self.wake {
                        wake.lower();
                    }
                }
            }
        }
    }

    /// The text message just read from Twilio; `Some` ends the call.
    async fn on_twilio_frame(&mut self, session: &mut Session) -> Option<End> {
        // Borrowed from the socket's read buffer until the next read: only fields other than
        // `twilio` are touched while it is held.
        let text = self.twilio.text();
        // Nearly every frame is `media`: one typed pass, borrowing the payload. Anything else
        // (or a media frame this shortcut rejects) takes the general parser.
        let message = match MediaMessage::parse(text) {
            Ok(media) => Ok(InboundMessage::Media(media)),
            Err(_) => InboundMessage::parse(text),
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::debug!(%error, "unreadable frame from Twilio ignored");
                return None;
            }
        };
        match message {
            InboundMessage::Media(media) => {
                self.frames_in.add();
                let frame_len = text.len() + WS_FRAME_OVERHEAD;
                let end = provider_took(session.send_audio(media.payload())).await;
                self.woken_by(frame_len, || session.frames_per_send());
                end
            }
            InboundMessage::Mark(mark) => {
                self.mark_played(&mark.mark.name);
                None
            }
            InboundMessage::Stop(_) => Some(End::Stopped),
            InboundMessage::Dtmf(dtmf) => {
                tracing::debug!(digit = %dtmf.dtmf.digit, "caller pressed a key");
                None
            }
            InboundMessage::Connected(_) | InboundMessage::Start(_) => None,
            InboundMessage::Unknown(event) => {
                tracing::debug!(event, "unknown Media Streams event ignored");
                None
            }
        }
    }

    async fn on_provider_event(
        &mut self,
        session: &mut Session,
        event: RealtimeEvent,
    ) -> Option<End> {
        match event {
            RealtimeEvent::AudioDelta(chunk) => {
                if let Some(interrupted) = &self.interrupted {
                    let same = chunk.response_id.is_none() || *interrupted == chunk.response_id;
                    if same {
                        return None;
                    }
                    self.interrupted = None;
                }
                if self.first_audio_at.is_none() {
                    let now = Instant::now();
                    self.first_audio_at = Some(now);
                    metrics::histogram!("loquent_first_audio_seconds")
                        .record((now - self.started).as_secs_f64());
                }
                let item = chunk.item_id.as_deref();
                if item != self.current_item.as_deref() {
                    self.current_item = item.map(Arc::from);
                    self.item_sent_ms = 0;
                }
                let ms = u32::try_from(chunk.mulaw_len() / loquent_ai::audio::MULAW_BYTES_PER_MS)
                    .unwrap_or(u32::MAX);
                self.frame.clear();
                write_media_frame(&mut self.frame, &self.ctx.stream_sid, &chunk.payload);
                if self.twilio.queue_text(&self.frame) {
                    self.frames_out.add();
                    let first_of_item = self.item_sent_ms == 0;
                    self.item_sent_ms = self.item_sent_ms.saturating_add(ms);
                    self.unmarked_ms = self.unmarked_ms.saturating_add(ms);
                    // The first chunk's mark tells when the caller started hearing this reply.
                    if first_of_item || self.unmarked_ms >= MARK_EVERY_MS {
                        self.mark();
                    }
                } else {
                    self.frames_dropped.add();
                }
                None
            }
            RealtimeEvent::SpeechStarted => {
                self.barge_in(session).await;
                None
            }
            RealtimeEvent::ResponseStarted { response_id } => {
                if self.interrupted.is_some() && response_id.is_none() {
                    self.interrupted = None;
                }
                if let Some(ending) = &mut self.ending {
                    ending.goodbye_started = true;
                }
                self.current_response = response_id;
                None
            }
            RealtimeEvent::ResponseDone { .. } => {
                let mark = (self.unmarked_ms > 0).then(|| self.mark());
                if let Some(ending) = &mut self.ending
                    && ending.goodbye_mark.is_none()
                    && ending.goodbye_started
                {
                    let last = mark.or(self.pending_marks.back().map(|m| m.id));
                    match last {
                        Some(id) => ending.goodbye_mark = Some(id),
                        // Nothing left to play: the goodbye is over.
                        None => self.say_farewell(),
                    }
                }
                None
            }
            RealtimeEvent::ToolCall {
                call_id,
                name,
                arguments,
            } => self.tool(session, call_id, name, arguments).await,
            RealtimeEvent::ToolCallCancelled { call_ids } => {
                self.cancelled_tools.extend(call_ids);
                None
            }
            RealtimeEvent::Transcript {
                role,
                text,
                is_final: true,
            } => {
                let who = match role {
                    Role::User => "Caller",
                    Role::Assistant => "Agent",
                };
                self.transcript.push_str(who);
                self.transcript.push_str(": ");
                self.transcript.push_str(text.trim());
                self.transcript.push('\n');
                None
            }
            RealtimeEvent::Transcript { .. } => None,
            RealtimeEvent::Error { code, message } => {
                metrics::counter!("loquent_provider_errors_total", "provider" => provider_label(self.ctx.setup.session.provider)).increment(1);
                tracing::warn!(
                    code = code.as_deref().unwrap_or("none"),
                    message,
                    "provider error"
                );
                None
            }
            RealtimeEvent::Closed { reason } => Some(End::ProviderGone(
                reason.unwrap_or_else(|| "the session closed".to_owned()),
            )),
        }
    }

    /// After a caller frame of `frame_len` bytes, with the provider sending `frames_per_send()`
    /// frames at a time (asked once, on the first frame): the first sets the socket's threshold;
    /// later ones keep it raised. The quiet timer is pushed back once the batch is read (see
    /// `drained`), not per frame: a timer reset is a clock read and a move in the timer wheel.
    fn woken_by(&mut self, frame_len: usize, frames_per_send: impl FnOnce() -> usize) {
        match (&mut self.wake, self.connection.take()) {
            (None, Some(connection)) => {
                self.wake = WakeThreshold::raise(&connection, frame_len, frames_per_send());
            }
            (Some(wake), _) => wake.restore(),
            (None, None) => {}
        }
        self.flush_due = self.wake.as_ref().is_some_and(WakeThreshold::is_raised);
    }

    /// The caller's socket has nothing more to read after frames that arrived with the threshold
    /// raised: the quiet spell, if one comes, starts now.
    fn drained(&mut self) {
        self.flush_due = false;
        let at = tokio::time::Instant::now() + wake::QUIET;
        self.quiet.as_mut().reset(at);
    }

    /// Queues a progress mark after the audio sent so far; returns its id.
    fn mark(&mut self) -> u64 {
        self.next_mark += 1;
        let id = self.next_mark;
        self.unmarked_ms = 0;
        self.frame.clear();
        let _ = write!(
            self.frame,
            r#"{{"event":"mark","streamSid":"{}","mark":{{"name":"{id}"}}}}"#,
            self.ctx.stream_sid
        );
        if self.twilio.queue_text(&self.frame) {
            self.pending_marks.push_back(PendingMark {
                id,
                item: self.current_item.clone(),
                item_ms: self.item_sent_ms,
            });
        }
        id
    }

    /// Twilio echoed a mark: its audio has played (unless a `clear` discarded it).
    fn mark_played(&mut self, name: &str) {
        let Ok(id) = name.parse::<u64>() else {
            return;
        };
        if id <= self.cleared_through {
            return;
        }
        while let Some(mark) = self.pending_marks.pop_front() {
            if mark.id > id {
                self.pending_marks.push_front(mark);
                break;
            }
            if let Some(item) = mark.item {
                self.played = Some((item, mark.item_ms, Instant::now()));
            }
        }
        let goodbye_done = self
            .ending
            .as_ref()
            .and_then(|e| e.goodbye_mark)
            .is_some_and(|goodbye| id >= goodbye);
        if goodbye_done {
            self.say_farewell();
        }
    }

    /// The caller spoke over the agent: stop the audio Twilio still holds and make the model
    /// forget what the caller did not hear.
    async fn barge_in(&mut self, session: &mut Session) {
        let unplayed = !self.pending_marks.is_empty() || self.unmarked_ms > 0;
        if !unplayed {
            return;
        }
        let heard = Instant::now();
        self.frame.clear();
        let _ = write!(
            self.frame,
            r#"{{"event":"clear","streamSid":"{}"}}"#,
            self.ctx.stream_sid
        );
        // Never dropped, even behind a full buffer: Twilio clears what it holds when it reads it.
        self.twilio.queue_text_always(&self.frame);
        metrics::histogram!("loquent_barge_in_clear_seconds").record(heard.elapsed().as_secs_f64());
        self.cleared_through = self.next_mark;
        self.pending_marks.clear();
        self.unmarked_ms = 0;
        self.interrupted = Some(self.current_response.clone());
        if let Some(item) = self.current_item.clone() {
            let played_ms = match &self.played {
                Some((played_item, ms, at)) if *played_item == item => {
                    let since = u32::try_from(at.elapsed().as_millis()).unwrap_or(u32::MAX);
                    ms.saturating_add(since).min(self.item_sent_ms)
                }
                _ => 0,
            };
            tracing::debug!(item = %item, played_ms, "barge-in: truncating the reply");
            if let Err(error) = session.truncate(&item, played_ms).await {
                tracing::warn!(%error, "truncate failed");
            }
        }
        if let Some(ending) = &mut self.ending {
            // The goodbye was interrupted; the deadline still ends the call.
            ending.goodbye_mark = None;
        }
    }

    async fn tool(
        &mut self,
        session: &mut Session,
        call_id: String,
        name: String,
        arguments: String,
    ) -> Option<End> {
        tracing::info!(tool = %name, "agent called a tool");
        let immediate = match name.as_str() {
            END_CALL => {
                self.end_with(Farewell::HangUp);
                Some(json!({"ok": true, "next": "Say a short goodbye; the call ends after it."}))
            }
            TRANSFER_CALL => {
                match tools::transfer_target(&arguments, &self.ctx.setup.transfer_numbers) {
                    Ok(number) => {
                        let result = json!({"ok": true, "transferring_to": number.as_str(),
                                        "next": "Tell the caller you are putting them through."});
                        self.end_with(Farewell::Transfer(number));
                        Some(result)
                    }
                    Err(why) => Some(json!({"error": why})),
                }
            }
            LOOKUP_CALLER => match self.ctx.setup.lookup.clone() {
                Some((url, token)) => {
                    let caller = self.ctx.call.from_number.clone();
                    let allow_private = self.state.config.calls.allow_private_lookups;
                    let done = self.tools_tx.clone();
                    self.tools_running += 1;
                    tokio::spawn(async move {
                        let output =
                            tools::lookup_caller(&url, token.as_deref(), &caller, allow_private)
                                .await;
                        let _ = done
                            .send(ToolDone {
                                call_id,
                                name,
                                output,
                            })
                            .await;
                    });
                    return None;
                }
                None => Some(json!({"error": "caller lookup is not set up for this agent"})),
            },
            other => Some(json!({"error": format!("there is no tool named {other}")})),
        };
        let output = immediate?.to_string();
        match session.send_tool_result(&call_id, &name, &output).await {
            Ok(()) => None,
            Err(e) => Some(End::ProviderGone(e.to_string())),
        }
    }

    fn end_with(&mut self, farewell: Farewell) {
        if self.ending.is_some() {
            return;
        }
        self.ending = Some(Ending {
            farewell,
            goodbye_started: false,
            goodbye_mark: None,
            deadline: tokio::time::Instant::now() + END_CALL_HARD_STOP,
        });
    }

    /// The goodbye has played (or time is up): hang up or transfer through the REST API. Twilio
    /// then stops the stream.
    fn say_farewell(&mut self) {
        let Some(ending) = self.ending.take() else {
            return;
        };
        let state = self.state.clone();
        let org = self.ctx.org.clone();
        let call_sid = self.ctx.call.call_sid.clone();
        tokio::spawn(async move {
            let done = match &ending.farewell {
                Farewell::HangUp => tools::hang_up(&state.twilio, &org, &call_sid).await,
                Farewell::Transfer(number) => {
                    tools::transfer(&state.twilio, &org, &call_sid, number).await
                }
            };
            match done {
                Ok(()) => tracing::info!(farewell = ?ending.farewell, "call handed back to Twilio"),
                Err(why) => tracing::error!(why, "could not end the call"),
            }
        });
        self.stop_deadline = Some(tokio::time::Instant::now() + STOP_GRACE);
    }

    /// The agent is gone: tell the caller and end the call, rather than leave them in silence.
    async fn apologise(&mut self) {
        let twiml = loquent_twilio::twiml::Response::new()
            .say(loquent_twilio::twiml::Say::new(APOLOGY))
            .hangup();
        let update = loquent_twilio::calls::CallUpdate::twiml(&twiml);
        if let Err(why) = tools::update_call(
            &self.state.twilio,
            &self.ctx.org,
            &self.ctx.call.call_sid,
            update,
        )
        .await
        {
            tracing::warn!(why, "could not play the apology");
        }
    }

    async fn finish(&mut self) {
        let duration_secs = i32::try_from(self.started.elapsed().as_secs()).unwrap_or(i32::MAX);
        self.state
            .live
            .writer
            .write(CallWrite::StreamEnded {
                call_id: self.ctx.call.id,
                duration_secs,
                transcript: std::mem::take(&mut self.transcript),
            })
            .await;
    }
}

/// A frame counter that reaches the shared metric in batches: the registry's counter is cheap,
/// but not free at 100 frames per call-second.
struct FrameCount {
    pending: u64,
    counter: metrics::Counter,
}

impl FrameCount {
    const BATCH: u64 = 250;

    fn new(counter: metrics::Counter) -> Self {
        Self {
            pending: 0,
            counter,
        }
    }

    fn add(&mut self) {
        self.pending += 1;
        if self.pending == Self::BATCH {
            self.counter.increment(self.pending);
            self.pending = 0;
        }
    }
}

impl Drop for FrameCount {
    fn drop(&mut self) {
        if self.pending > 0 {
            self.counter.increment(self.pending);
        }
    }
}

/// The caller's name and notes, for the model, before it greets them.
fn caller_context(contact: &contact::Model) -> Option<String> {
    let name = contact
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let notes = contact
        .notes
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_none() && notes.is_none() {
        return None;
    }
    let mut text = String::from("(Context from the business's records, not said by the caller.)");
    if let Some(name) = name {
        text.push_str(&format!(" The caller is {name}."));
    }
    if let Some(notes) = notes {
        text.push_str(&format!(" Notes about them: {notes}"));
    }
    Some(text)
}

fn provider_label(provider: loquent_ai::realtime::Provider) -> &'static str {
    match provider {
        loquent_ai::realtime::Provider::OpenAi => "openai",
        loquent_ai::realtime::Provider::Gemini => "gemini",
    }
}

/// After we redirect the call, Twilio ends the stream itself; closing our side first would cut
/// the redirect short on some edges. Waits for `stop` or the socket's end, at most STOP_GRACE.
async fn wait_for_stop(socket: &mut TwilioSocket) {
    let _ = tokio::time::timeout(STOP_GRACE, async {
        while let Some(Ok(frame)) = socket.next().await {
            match frame {
                Incoming::Text if socket.text().contains("\"event\":\"stop\"") => return,
                Incoming::Close(_) => return,
                _ => {}
            }
        }
    })
    .await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The loop's Twilio branch: writes what is queued (without waiting for room), then, with
/// `read`, reads the next message; with `flush_due`, says so when there is nothing more to read.
fn poll_twilio(
    socket: &mut TwilioSocket,
    flush_due: bool,
    read: bool,
    cx: &mut Context<'_>,
) -> Poll<FromTwilio> {
    // `Pending` here only means the socket is full: `cx` is woken when it has room.
    if let Poll::Ready(Err(_)) = socket.poll_flush(cx) {
        return Poll::Ready(FromTwilio::Gone);
    }
    if !read {
        return Poll::Pending;
    }
    let polled = socket.poll_next(cx);
    if socket.has_queued() {
        // The read queued an answer (a pong): it goes out now, not after the next message.
        let _ = socket.poll_flush(cx);
    }
    match polled {
        Poll::Ready(Some(Ok(message))) => Poll::Ready(FromTwilio::Message(message)),
        Poll::Ready(Some(Err(_)) | None) => Poll::Ready(FromTwilio::Gone),
        // `cx` is registered for the next frame either way.
        Poll::Pending if flush_due => Poll::Ready(FromTwilio::Drained),
        Poll::Pending => Poll::Pending,
    }
}

/// The loop's two sockets.
#[derive(Clone, Copy)]
enum Side {
    Twilio,
    Provider,
}

/// Which of the loop's sockets may have something for it. Every wake-up of the call's task used
/// to poll both, two or three times a batch, and polling an idle tungstenite stream is not free:
/// it zeroes its read buffer and registers two wakers. So each socket is polled with a waker of
/// its own, which marks that socket and wakes the task, and a socket is polled only when marked:
/// woken since its last `Pending`, or its last poll gave something (there may be more). The mark
/// is taken before the poll, so a wake-up during it is kept.
struct Readiness {
    marks: Arc<Marks>,
    twilio: Waker,
    provider: Waker,
}

struct Marks {
    task: AtomicWaker,
    twilio: AtomicBool,
    provider: AtomicBool,
}

impl Marks {
    fn flag(&self, side: Side) -> &AtomicBool {
        match side {
            Side::Twilio => &self.twilio,
            Side::Provider => &self.provider,
        }
    }
}

/// One socket's waker.
struct Marker {
    marks: Arc<Marks>,
    side: Side,
}

impl Wake for Marker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.marks.flag(self.side).store(true, Ordering::Release);
        self.marks.task.wake();
    }
}

impl Readiness {
    /// Both sockets marked: the first pass polls them.
    fn new() -> Self {
        let marks = Arc::new(Marks {
            task: AtomicWaker::new(),
            twilio: AtomicBool::new(true),
            provider: AtomicBool::new(true),
        });
        let waker = |side| {
            Waker::from(Arc::new(Marker {
                marks: Arc::clone(&marks),
                side,
            }))
        };
        Self {
            twilio: waker(Side::Twilio),
            provider: waker(Side::Provider),
            marks,
        }
    }

    /// The markers wake `cx`'s task.
    fn register(&self, cx: &Context<'_>) {
        self.marks.task.register(cx.waker());
    }

    /// Whether `side` is marked, clearing the mark.
    fn take(&self, side: Side) -> bool {
        self.marks.flag(side).swap(false, Ordering::AcqRel)
    }

    /// Marks `side` again: its last poll gave something.
    fn mark(&self, side: Side) {
        self.marks.flag(side).store(true, Ordering::Release);
    }

    /// The context to poll `side` with.
    fn context(&self, side: Side) -> Context<'_> {
        Context::from_waker(match side {
            Side::Twilio => &self.twilio,
            Side::Provider => &self.provider,
        })
    }
}

/// Caller audio handed to the provider, bounded by [`PROVIDER_SEND_TIMEOUT`]; `Some` ends the
/// call.
async fn provider_took(
    sent: impl Future<Output = Result<(), loquent_ai::realtime::RealtimeError>>,
) -> Option<End> {
    // Most frames only join a batch and are taken at once: no clock read, no timer for those.
    let mut sent = std::pin::pin!(sent);
    let at_once = std::future::poll_fn(|cx| Poll::Ready(sent.as_mut().poll(cx))).await;
    let taken = match at_once {
        Poll::Ready(taken) => Ok(taken),
        Poll::Pending => tokio::time::timeout(PROVIDER_SEND_TIMEOUT, sent).await,
    };
    match taken {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(End::ProviderGone(e.to_string())),
        Err(_) => Some(End::ProviderGone(
            "the provider stopped taking audio".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts the wake-ups of "the call's task".
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_socket_is_polled_again_only_once_woken_or_after_it_gave_something() {
        let task = Arc::new(Task(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let readiness = Readiness::new();
        readiness.register(&Context::from_waker(&waker));
        // The first pass polls both.
        assert!(readiness.take(Side::Twilio));
        assert!(readiness.take(Side::Provider));
        // Both came back `Pending`: nothing to poll until a socket's waker fires.
        assert!(!readiness.take(Side::Twilio));
        assert!(!readiness.take(Side::Provider));
        readiness.context(Side::Provider).waker().wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task was not woken");
        assert!(!readiness.take(Side::Twilio), "the wrong socket was marked");
        assert!(readiness.take(Side::Provider));
        // A poll that gave something marks its socket again: there may be more.
        readiness.mark(Side::Twilio);
        assert!(readiness.take(Side::Twilio));
        // A wake-up with no task registered since the last one still marks the socket.
        readiness.context(Side::Twilio).waker().wake_by_ref();
        assert!(readiness.take(Side::Twilio));
    }
}
