//! The media-stream bridge: caller audio to the agent's speech session, the agent's audio back
//! to the caller, barge-in, and the agent's tools.
//!
//! One task per call runs [`Bridge::run`]'s loop, which owns both sockets and every timer; what
//! the call knows lives in plain state the loop feeds with events and the time:
//!
//! - [`playout`]: marks sent and echoed, the played position, where to truncate on barge-in;
//! - [`ending`]: the goodbye after `end_call` or a transfer, and when it has played;
//! - [`readiness`]: which socket may have something, so an idle one is not polled;
//! - [`uplink`]: caller audio batched towards the provider.
//!
//! Messages for Twilio are framed into the socket's bounded write buffer, which the loop writes
//! out whenever the socket has room, without waiting on it, so a slow Twilio connection never
//! stops the caller's audio from reaching the model. When that buffer is full
//! ([`media_socket::WRITE_LIMIT`], about 10 s of audio Twilio has not taken), further agent audio
//! is dropped and counted, never buffered without bound. A provider that stops accepting caller
//! audio for a while ends the call (see [`uplink::provider_took`]).
//!
//! Nothing here touches the database per frame: the call row was written before the loop, and
//! what changes at the end goes to the call writer.

mod ending;
mod playout;
mod readiness;
pub mod transport;
mod uplink;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use loquent_ai::realtime::{RealtimeEvent, Role};
use serde_json::json;
use tokio::sync::mpsc;

use self::ending::{Ending, Farewell, STOP_GRACE};
use self::playout::Playout;
use self::readiness::{FromCaller, ProviderEvent, Readiness, poll_caller};
use self::transport::{Heard, Transport, WebCheck};
use self::uplink::{Uplink, provider_took};
use super::media_socket::{self, CallSocket, Incoming};
use super::session::{AgentSetup, Session};
use super::tools::{self, END_CALL, LOOKUP_CALLER, TRANSFER_CALL};
use super::wake::ConnectionSocket;
use super::writer::CallWrite;
use crate::app::AppState;
use crate::calls::transcript::Segment;
use crate::entity::{call, contact, organization};

/// How long closing the provider session may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything known about the call when the bridge starts.
pub struct CallContext {
    pub setup: AgentSetup,
    pub org: organization::Model,
    pub call: call::Model,
    /// `None` for a web call whose member calls as no contact.
    pub contact: Option<contact::Model>,
}

/// Why the loop stopped.
#[derive(Debug)]
enum End {
    /// Twilio sent `stop` (the caller hung up, or our hang-up / transfer took effect), or the
    /// page hung up.
    Stopped,
    /// The caller's socket closed or failed.
    CallerGone,
    /// The page sent no audio for a whole [`transport::WEB_CHECK_EVERY`].
    CallerSilent,
    /// A web call reached [`transport::WEB_CALL_LIMIT`].
    TimeLimit,
    /// The agent ended a web call (a phone call ends when Twilio stops the stream).
    HungUp,
    /// The speech session ended or failed under us.
    ProviderGone(String),
    /// We asked Twilio to end or move the call and it did not stop the stream in time.
    StopNeverCame,
}

/// A tool that ran in its own task.
struct ToolDone {
    call_id: String,
    name: String,
    output: String,
}

/// One live call: its sockets, its timers, and what it knows.
pub struct Bridge {
    state: AppState,
    ctx: CallContext,
    started: Instant,
    /// The caller's side: Twilio's media stream or the browser.
    socket: CallSocket,
    transport: Transport,
    /// Set when the agent has ended a web call: the loop stops at its next pass.
    hung_up: bool,
    playout: Playout,
    uplink: Uplink,
    first_audio_at: Option<Instant>,
    tools_tx: mpsc::Sender<ToolDone>,
    /// Tools running in their own tasks; their results come back on the tools channel.
    tools_running: usize,
    /// Tool calls the model cancelled while they ran: their results are not sent.
    cancelled_tools: HashSet<String>,
    ending: Option<Ending>,
    /// Set once the call was handed back to Twilio: the loop ends if no `stop` came by then.
    stop_deadline: Option<tokio::time::Instant>,
    transcript: LiveTranscript,
    frames_in: FrameCount,
    frames_out: FrameCount,
    frames_dropped: FrameCount,
}

impl Bridge {
    /// Runs the call until it ends; gives back the transport (a web call's recording is in it).
    pub async fn run(
        state: AppState,
        socket: CallSocket,
        transport: Transport,
        connection: Option<ConnectionSocket>,
        ctx: CallContext,
        started: Instant,
    ) -> Transport {
        let active = metrics::gauge!("loquent_active_calls");
        active.increment(1.0);
        let load = state.live.load.clone();
        let _live = load.enter();
        let (tools_tx, mut tools_rx) = mpsc::channel(8);
        let provider = ctx.setup.session.provider;
        let mut bridge = Self {
            state,
            ctx,
            started,
            socket,
            transport,
            hung_up: false,
            playout: Playout::default(),
            uplink: Uplink::new(connection, load),
            first_audio_at: None,
            tools_tx,
            tools_running: 0,
            cancelled_tools: HashSet::new(),
            ending: None,
            stop_deadline: None,
            transcript: LiveTranscript::default(),
            frames_in: FrameCount::new(
                metrics::counter!("loquent_media_frames_total", "direction" => "caller_to_agent"),
            ),
            frames_out: FrameCount::new(
                metrics::counter!("loquent_media_frames_total", "direction" => "agent_to_caller"),
            ),
            frames_dropped: FrameCount::new(metrics::counter!(
                "loquent_media_frames_dropped_total"
            )),
        };
        let end = match bridge.open_session().await {
            Ok(mut session) => {
                let end = bridge.pump(&mut session, &mut tools_rx).await;
                bridge.uplink.forget();
                if let End::ProviderGone(why) = &end {
                    metrics::counter!("loquent_provider_errors_total", "provider" => provider_label(provider)).increment(1);
                    tracing::warn!(why, "speech session ended mid-call");
                    bridge.apologise().await;
                }
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close()).await;
                end
            }
            Err(why) => {
                metrics::counter!("loquent_provider_errors_total", "provider" => provider_label(provider)).increment(1);
                tracing::error!(why, "no speech session for the call");
                bridge.apologise().await;
                End::ProviderGone(why)
            }
        };
        tracing::info!(?end, "call ended");
        bridge.finish().await;
        // What is still queued (a goodbye, a mark) goes out, then the socket closes.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = bridge.socket.close(media_socket::NORMAL, "").await;
        })
        .await;
        active.decrement(1.0);
        bridge.transport
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
            && let Some(context) = self.ctx.contact.as_ref().and_then(caller_context)
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

    /// The call's loop, until the call ends. Branches are polled in order: the caller's socket
    /// first (it writes what is queued for the caller before anything else), then the provider's
    /// socket, then the rarer tool results and timers.
    async fn pump(
        &mut self,
        session: &mut Session,
        tools_rx: &mut mpsc::Receiver<ToolDone>,
    ) -> End {
        let readiness = Readiness::new();
        let web = self.transport.is_web();
        loop {
            if self.hung_up {
                return End::HungUp;
            }
            let ending_deadline = self.ending.as_ref().map(|e| e.deadline);
            let flush_due = self.uplink.flush_due();
            let raised = self.uplink.is_raised();
            tokio::select! {
                biased;
                frame = std::future::poll_fn(|cx| poll_caller(&readiness, &mut self.socket, flush_due, cx)) => {
                    match frame {
                        FromCaller::Message(incoming @ (Incoming::Text | Incoming::Binary)) => {
                            if let Some(end) = self.on_caller_message(session, incoming).await {
                                return end;
                            }
                        }
                        FromCaller::Message(Incoming::Close(_)) | FromCaller::Gone => return End::CallerGone,
                        FromCaller::Drained => {
                            self.uplink.drained();
                            if let Some(end) = provider_took(session.flush_audio()).await {
                                return end;
                            }
                        }
                    }
                }
                event = ProviderEvent::new(&readiness, session) => {
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
                () = sleep_until(ending_deadline), if ending_deadline.is_some() => {
                    tracing::info!("the goodbye did not finish playing in time; ending now");
                    self.say_farewell();
                }
                () = sleep_until(self.stop_deadline), if self.stop_deadline.is_some() => {
                    return End::StopNeverCame;
                }
                () = self.uplink.quiet_spell(), if raised => self.uplink.lower(),
                () = web_check(&mut self.transport), if web => {
                    match self.transport.check() {
                        WebCheck::Fine => {}
                        WebCheck::Silent => return End::CallerSilent,
                        WebCheck::TooLong => {
                            self.transport.end_web_call(&mut self.socket, "The call reached its 30-minute limit.");
                            return End::TimeLimit;
                        }
                    }
                }
            }
        }
    }

    /// The message just read from the caller's socket; `Some` ends the call.
    async fn on_caller_message(
        &mut self,
        session: &mut Session,
        incoming: Incoming,
    ) -> Option<End> {
        // Borrowed from the socket's read buffer (or the transport's) until the next read: only
        // other fields are touched while it is held.
        match self.transport.read(&self.socket, incoming) {
            Heard::Audio { base64, wire_len } => {
                self.frames_in.add();
                let end = provider_took(session.send_audio(&base64)).await;
                self.uplink
                    .frame_forwarded(wire_len, || session.frames_per_send());
                end
            }
            Heard::Mark(name) => {
                let played = self.playout.mark_echoed(&name, Instant::now());
                if let Some(id) = played
                    && self.ending.as_ref().is_some_and(|e| e.played_through(id))
                {
                    self.say_farewell();
                }
                None
            }
            Heard::HungUp => Some(End::Stopped),
            Heard::Nothing => None,
        }
    }

    async fn on_provider_event(
        &mut self,
        session: &mut Session,
        event: RealtimeEvent,
    ) -> Option<End> {
        match event {
            RealtimeEvent::AudioDelta(chunk) => {
                if !self.playout.wants_audio_of(chunk.response_id.as_deref()) {
                    return None;
                }
                if self.first_audio_at.is_none() {
                    let now = Instant::now();
                    self.first_audio_at = Some(now);
                    metrics::histogram!("loquent_first_audio_seconds")
                        .record((now - self.started).as_secs_f64());
                }
                let item = chunk.item_id.as_deref();
                if self.transport.audio(&mut self.socket, &chunk.payload) {
                    self.frames_out.add();
                    let bytes_per_ms = self.ctx.setup.session.audio_format.bytes_per_ms();
                    let ms = u32::try_from(chunk.decoded_len() / bytes_per_ms).unwrap_or(u32::MAX);
                    if self.playout.audio_queued(item, ms) {
                        self.send_mark();
                    }
                } else {
                    self.frames_dropped.add();
                    self.playout.audio_dropped(item);
                }
                None
            }
            RealtimeEvent::SpeechStarted => {
                self.transcript.caller_started(self.started.elapsed());
                self.barge_in(session).await;
                None
            }
            RealtimeEvent::ResponseStarted { response_id } => {
                self.transcript.agent_started(self.started.elapsed());
                self.playout.response_started(response_id);
                if let Some(ending) = &mut self.ending {
                    ending.response_started();
                }
                None
            }
            RealtimeEvent::ResponseDone { .. } => {
                // A mark after the reply's last audio tells when it has all played.
                let mark = self.playout.has_unmarked_audio().then(|| self.send_mark());
                let last = mark.or(self.playout.last_pending_mark());
                if self.ending.as_mut().is_some_and(|e| e.response_done(last)) {
                    self.say_farewell();
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
                self.transport.said(&mut self.socket, role, &text);
                self.transcript.said(role, text, self.started.elapsed());
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

    /// Queues a mark after the audio queued so far; returns its id. A mark that does not fit in
    /// the write buffer is never echoed, so it is not waited for.
    fn send_mark(&mut self) -> u64 {
        let id = self.playout.next_mark();
        if self.transport.mark(&mut self.socket, id) {
            self.playout.mark_queued(id);
        }
        id
    }

    /// The caller spoke over the agent: stop the audio Twilio (or the page) still holds and make
    /// the model forget what the caller did not hear.
    async fn barge_in(&mut self, session: &mut Session) {
        let heard = Instant::now();
        let Some(clear) = self.playout.barge_in(heard) else {
            return;
        };
        self.transport.clear(&mut self.socket);
        metrics::histogram!("loquent_barge_in_clear_seconds").record(heard.elapsed().as_secs_f64());
        if let Some((item, played_ms)) = clear.truncate {
            tracing::debug!(item = %item, played_ms, "barge-in: truncating the reply");
            if let Err(error) = session.truncate(&item, played_ms).await {
                tracing::warn!(%error, "truncate failed");
            }
        }
        if let Some(ending) = &mut self.ending {
            ending.interrupted();
        }
    }

    /// The agent called a tool. `end_call` and `transfer_call` answer at once and start the
    /// goodbye; the caller lookup runs in its own task so audio keeps flowing; `Some` ends the
    /// call.
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
            TRANSFER_CALL if self.transport.is_web() => Some(json!({
                "error": "This caller is talking from a web browser, so the call cannot be \
                          transferred. Tell them a transfer is not possible on this call."
            })),
            LOOKUP_CALLER if self.transport.is_web() => Some(json!({
                "error": "This caller is talking from a web browser: there is no phone number \
                          to look up."
            })),
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
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "a caller lookup answers the live call and is useless after it"
                    )]
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

    /// The agent's next reply is its goodbye; the first farewell asked for is the one kept.
    fn end_with(&mut self, farewell: Farewell) {
        if self.ending.is_none() {
            self.ending = Some(Ending::new(farewell, tokio::time::Instant::now()));
        }
    }

    /// The goodbye has played (or time is up): hand the call back to Twilio, which then stops
    /// the stream; a web call ends here.
    fn say_farewell(&mut self) {
        let Some(ending) = self.ending.take() else {
            return;
        };
        if self.transport.is_web() {
            self.transport
                .end_web_call(&mut self.socket, "The agent ended the call.");
            self.hung_up = true;
            return;
        }
        ending::hand_back(
            &self.state.twilio,
            &self.ctx.org,
            &self.ctx.call.call_sid,
            ending.farewell,
        );
        self.stop_deadline = Some(tokio::time::Instant::now() + STOP_GRACE);
    }

    /// The agent is gone: the caller hears an apology, then Twilio ends the call.
    async fn apologise(&mut self) {
        if self.transport.is_web() {
            self.transport.end_web_call(
                &mut self.socket,
                "The agent is unavailable: its speech service failed.",
            );
            return;
        }
        ending::apologise(&self.state.twilio, &self.ctx.org, &self.ctx.call.call_sid).await;
        ending::wait_for_stop(&mut self.socket).await;
    }

    /// The call's duration and transcript go to the call writer, off this task.
    async fn finish(&mut self) {
        let duration_secs = i32::try_from(self.started.elapsed().as_secs()).unwrap_or(i32::MAX);
        self.state
            .live
            .writer
            .write(CallWrite::StreamEnded {
                call_id: self.ctx.call.id,
                duration_secs,
                transcript: std::mem::take(&mut self.transcript).into_segments(),
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

/// A web call's periodic check; never fires for Twilio.
async fn web_check(transport: &mut Transport) {
    match transport.check_timer() {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What both sides said, with times from the start of the stream. A final transcript arrives
/// after its words were said (a caller's once their turn is committed, the agent's once its reply
/// is done), so each segment starts when its turn began: the caller's at the VAD's speech start,
/// the agent's at its response's start; the end is when the transcript arrived.
#[derive(Debug, Default)]
struct LiveTranscript {
    segments: Vec<Segment>,
    /// Starts of the caller's turns not transcribed yet, oldest first.
    caller_turns: std::collections::VecDeque<f64>,
    agent_turn: Option<f64>,
}

impl LiveTranscript {
    /// Turns whose transcript never came are forgotten past this many.
    const MAX_PENDING_TURNS: usize = 8;

    fn caller_started(&mut self, at: Duration) {
        if self.caller_turns.len() == Self::MAX_PENDING_TURNS {
            self.caller_turns.pop_front();
        }
        self.caller_turns.push_back(seconds(at));
    }

    fn agent_started(&mut self, at: Duration) {
        self.agent_turn = Some(seconds(at));
    }

    fn said(&mut self, role: Role, text: String, at: Duration) {
        let end = seconds(at);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let (speaker, start) = match role {
            Role::User => ("Caller", self.caller_turns.pop_front()),
            Role::Assistant => ("Agent", self.agent_turn.take()),
        };
        self.segments.push(Segment {
            speaker: speaker.to_owned(),
            start: start.unwrap_or(end).min(end),
            end,
            text: text.to_owned(),
        });
    }

    fn into_segments(self) -> Vec<Segment> {
        let mut segments = self.segments;
        crate::calls::transcript::in_time_order(&mut segments);
        segments
    }
}

/// Seconds, to the millisecond.
fn seconds(at: Duration) -> f64 {
    f64::from(u32::try_from(at.as_millis()).unwrap_or(u32::MAX)) / 1000.0
}
