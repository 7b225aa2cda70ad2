//! A lean load generator for the live-call bridge: many simultaneous inbound calls, each placed
//! the way Twilio places one, streaming stamped caller audio and timing its echo.
//!
//! The call simulator ([`crate::Sandbox`]'s `POST /sandbox/calls`) plays a scripted caller and
//! recognises every frame it hears; that is what a conformance test wants and far too much for a
//! thousand calls at once. Here every call does only what Twilio's side of a Media Stream must do,
//! reusing the simulator's signing and connecting code:
//!
//! 1. POST the voice URL with Twilio's form parameters, signed (`X-Twilio-Signature`);
//! 2. parse the answer with the strict TwiML parser and take its `<Connect><Stream>` (other verbs
//!    before it, such as `<Start><Recording>`, are skipped: they cost Twilio, not the server);
//! 3. open the stream with the signed upgrade (`wss://` without TLS when the voice URL is
//!    `http://`, as the simulator does; a stream that needs TLS is refused, since frames are
//!    written to the socket directly), send `connected` and `start`;
//! 4. send one 160-byte µ-law `media` frame every 20 ms for [`LoadPlan::hold`], on absolute
//!    deadlines so the pace never drifts, then silence while the last echoes drain;
//! 5. echo the server's marks once the audio before them has played out (real time, 8 bytes per
//!    millisecond), all pending ones at once on `clear`;
//! 6. send `stop`, close, and request the `<Connect action>` URL with `CallStatus=completed`.
//!
//! With [`LoadPlan::twilio_api_base`] (a sandbox) each call also exists on that Twilio: added as
//! a live call before it rings, completed through the REST API when it ends.
//!
//! With [`LoadPlan::web_call`] the calls are a browser's instead (Loquent's web calls): no
//! webhook, the upgrade carries the member's session cookie, and the audio is binary PCM16 at
//! 24 kHz, 960 bytes per 20 ms frame, both ways; marks, `clear` and the hang-up (`end`) are the
//! page's JSON messages. Stamps and their matching are the same, written over PCM silence (zero
//! bytes, which a marker never is).
//!
//! # Matching echoes
//!
//! The benchmark runs the bridge against the realtime emulator in echo mode with the OpenAI
//! provider: caller µ-law is forwarded as is and every appended chunk comes straight back, so the
//! bytes a call sends return unchanged. Each frame therefore carries a [`stamp`](write_stamp) in
//! its first bytes: a two-byte marker, the call's tag and the frame's index (one nibble per byte, as
//! quiet µ-law samples), and a check nibble; the rest of the frame is µ-law silence, which can
//! never look like a marker. The server may re-chunk the audio (batch frames, split them, forward
//! as received): received payloads are decoded into one running byte stream per call and scanned
//! for stamps, keeping a partial stamp split across two payloads for the next one. The latency of
//! a frame is the time from sending it to receiving the payload that completes its stamp.
//!
//! Assumed: the audio path is byte-transparent (no transcoding, no resampling, nothing inserted
//! inside a stamp). A Gemini agent (µ-law ↔ PCM16 conversion) destroys the stamps, and every
//! frame would be reported lost.
//!
//! # Measuring the server
//!
//! [`LoadPlan::watch`] names processes (or threads of one, by name prefix) to sample from `/proc`:
//! idle when the run starts, then at the start and end of the steady window, when every call
//! should be streaming (`ramp` + 1 s to `hold` − 0.5 s after the first call). The report turns
//! that into CPU milliseconds per streamed call-second (call-seconds counted exactly from each
//! call's stream start and end, so a window that is not perfectly steady is still fair) and
//! resident memory per streaming call.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use loquent_twilio::media_stream::{
    Connected, Counter, InboundMessage, Mark, MarkMessage, MediaChunk, MediaFormat, MediaMessage,
    MediaTrack, StartMessage, StopMessage, StreamStart, StreamStop,
};
use loquent_twilio::sid::{AccountSid, CallSid, StreamSid};
use loquent_twilio::twiml::{self, Verb};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use self::line::{Line, LineState, Outbox, Socket};
use self::pace::Pacer;
use crate::speech::FRAME_BYTES;
use crate::twilio::media_session;
use crate::twilio::webhooks;

mod line;
mod pace;

/// One Media Streams frame of audio.
pub const FRAME: Duration = Duration::from_millis(20);
/// µ-law silence (+0); never part of a stamp's marker.
const SILENCE: u8 = 0xFF;
/// Two quiet µ-law samples that never occur elsewhere in a stamped stream: stamps use 0xF0–0xFF.
const STAMP_MARKER: [u8; 2] = [0xE5, 0xEA];
/// Marker, 4 nibbles of call tag, 8 nibbles of frame index, 1 check nibble.
const STAMP_LEN: usize = 2 + 4 + 8 + 1;
/// Calls start this long after `run` is called, so spawning them is not on the clock.
const LEAD: Duration = Duration::from_millis(200);
/// The steady window opens this long after the last call was due to start (its webhook and
/// handshake take time).
const SETTLE: Duration = Duration::from_secs(1);
/// A frame sent this much after its deadline counts as late: the generator could not keep up.
const LATE: Duration = Duration::from_millis(5);
/// Reasons kept verbatim in a report; the rest are only counted.
const SAMPLES: usize = 20;
/// Lost frame indices listed per call; the count is always exact.
const LOST_LISTED: usize = 256;
/// How long to wait for the server's close reply after ours.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What to run: who calls, how many, for how long.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The number's voice URL, exactly as Twilio would request (and sign) it.
    pub voice_url: String,
    pub account_sid: String,
    /// Signs the webhooks and the stream upgrade.
    pub auth_token: String,
    /// The called number (a number of the account).
    pub to: String,
    /// The first caller's number; call `i` calls from this number plus `i` (`+15550000000`,
    /// `+15550000001`, …), so the server sees distinct callers.
    pub from: String,
    pub calls: usize,
    /// Call starts are spread evenly over this long.
    pub ramp: Duration,
    /// How long each call streams stamped audio.
    pub hold: Duration,
    /// After the last stamped frame, how long to keep the call up (sending silence, as a caller
    /// does) waiting for the remaining echoes; frames not echoed by then are lost.
    pub drain: Duration,
    /// Processes to sample for CPU and memory.
    pub watch: Vec<Watch>,
    /// A sandbox's Twilio API base. When set, each call is first added there as a live inbound
    /// call (`POST /sandbox/live-calls`) and takes its SID, and is completed through the REST API
    /// when it ends: a server that looks its calls up on Twilio (or ends them there) finds them,
    /// as it would on Twilio. Without it, call SIDs are made up here.
    pub twilio_api_base: Option<String>,
    /// Place web calls (the browser's protocol) to this agent instead of phone calls.
    pub web_call: Option<WebCallTarget>,
}

/// Where a web call connects, and as whom.
#[derive(Debug, Clone)]
pub struct WebCallTarget {
    /// `ws://host/api/agents/{id}/web-call`.
    pub url: String,
    /// The `Cookie` header of a signed-in member.
    pub cookie: String,
}

/// A web call's frame: 20 ms of PCM16 at 24 kHz.
const WEB_FRAME_BYTES: usize = 960;
/// Bytes per millisecond of a web call's audio.
const WEB_BYTES_PER_MS: usize = 48;

impl LoadPlan {
    /// One call of 5 s, callers from `+15550000000`, a 2 s drain, nothing watched.
    pub fn new(
        voice_url: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Self {
            voice_url: voice_url.into(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            to: to.into(),
            from: "+15550000000".to_owned(),
            calls: 1,
            ramp: Duration::ZERO,
            hold: Duration::from_secs(5),
            drain: Duration::from_secs(2),
            watch: Vec::new(),
            twilio_api_base: None,
            web_call: None,
        }
    }

    /// Stamped frames each call sends.
    pub fn frames_per_call(&self) -> u32 {
        let frames = self.hold.as_micros().div_ceil(FRAME.as_micros());
        u32::try_from(frames).unwrap_or(u32::MAX)
    }
}

/// A process to sample: the whole process, or only its threads whose name starts with `threads`
/// (tokio names its workers after the runtime's `thread_name`), which separates a load generator
/// from a server running in the same test process. Memory is always the whole process's.
#[derive(Debug, Clone)]
pub struct Watch {
    pub label: String,
    pub pid: u32,
    pub threads: Option<String>,
}

impl Watch {
    pub fn process(label: impl Into<String>, pid: u32) -> Self {
        Self {
            label: label.into(),
            pid,
            threads: None,
        }
    }

    pub fn threads(label: impl Into<String>, pid: u32, prefix: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            pid,
            threads: Some(prefix.into()),
        }
    }
}

/// Everything the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub calls_planned: usize,
    /// Calls that streamed for the whole hold and hung up normally.
    pub calls_completed: usize,
    pub calls_failed: usize,
    /// Failed calls by stage: `register`, `webhook`, `twiml`, `connect`, `stream`, `panic`.
    pub failures: BTreeMap<String, usize>,
    /// The first few failure reasons, with the call's index.
    pub failure_samples: Vec<String>,
    /// Stamped frames sent.
    pub frames_sent: u64,
    /// Stamped frames whose echo came back.
    pub frames_echoed: u64,
    /// Stamped frames sent and never echoed by the end of the drain.
    pub frames_lost: u64,
    /// A stamp received again after its frame was already matched.
    pub duplicate_echoes: u64,
    /// Stamps of another call: audio crossed between calls.
    pub foreign_echoes: u64,
    /// Stamps for frames this call never sent.
    pub unknown_echoes: u64,
    /// `media` messages from the server and the µ-law bytes they carried.
    pub media_received: u64,
    pub audio_bytes_received: u64,
    pub marks_received: u64,
    /// Marks echoed back (played out, or released by a `clear`).
    pub marks_echoed: u64,
    /// Marks still waiting for their audio to play when the caller hung up (never echoed, as on
    /// Twilio): `marks_received = marks_echoed + marks_unplayed`.
    pub marks_unplayed: u64,
    pub clears_received: u64,
    /// Messages Twilio would reject (31950 binary, 31951 invalid or for another stream).
    pub protocol_errors: u64,
    pub protocol_error_samples: Vec<String>,
    /// `<Connect action>` requests that failed or did not answer 2xx.
    pub action_callbacks_failed: u64,
    /// Send to echo of each matched frame.
    pub latency: Percentiles,
    /// The same for frames sent inside the steady window, when every call was streaming.
    pub steady_latency: Percentiles,
    /// Per second of the run (by send time, from the first call's due time): frames echoed,
    /// their p99 and maximum latency, and the latest any of them left after its deadline. Where
    /// a tail comes from: set-up, steady state or hang-up.
    pub timeline: Vec<TimelineSecond>,
    /// `start` sent to the first `media` received, per call.
    pub first_audio: Percentiles,
    /// The latest any frame was sent after its deadline: above a few ms the generator itself was
    /// short of CPU and its figures are upper bounds.
    pub send_lag_max_ms: f64,
    /// Frames sent more than 5 ms after their deadline.
    pub late_frames: u64,
    pub wall_seconds: f64,
    /// Seconds of streaming summed over the calls.
    pub call_seconds: f64,
    pub usage: Vec<ProcessUsage>,
    pub calls: Vec<CallSummary>,
    #[serde(skip)]
    pub latency_histogram: LatencyHistogram,
}

/// One second of the run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TimelineSecond {
    pub second: u32,
    /// Frames sent in this second whose echo came back.
    pub frames: u64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The latest a frame of this second left after its deadline: a generator short of CPU.
    pub send_lag_max_ms: f64,
}

/// One call, as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    pub index: usize,
    pub call_sid: String,
    pub from: String,
    /// `stage: reason` when the call failed.
    pub failure: Option<String>,
    pub frames_sent: u32,
    pub frames_echoed: u32,
    /// Indices (0-based, in sending order) of the frames never echoed; at most 256 listed.
    pub lost_frames: Vec<u32>,
    pub first_audio_ms: Option<f64>,
    pub marks_received: u32,
    pub marks_echoed: u32,
    pub protocol_errors: u32,
}

/// A latency distribution's summary, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// CPU and memory of a watched process over the steady window.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub label: String,
    pub pid: u32,
    /// Why it could not be sampled (it exited, `/proc` is missing…); the figures are zero then.
    pub error: Option<String>,
    pub window_seconds: f64,
    /// CPU (user + system) used during the window.
    pub cpu_seconds: f64,
    /// `cpu_seconds / window_seconds`: 1.0 is one core fully busy.
    pub cpu_share: f64,
    /// Streamed call-seconds inside the window.
    pub call_seconds: f64,
    pub cpu_ms_per_call_second: Option<f64>,
    /// Resident memory when the run started, at the end of the window, and the peak.
    pub idle_rss_kib: u64,
    pub load_rss_kib: u64,
    pub peak_rss_kib: u64,
    /// Calls streaming when `load_rss_kib` was sampled.
    pub calls_at_load: usize,
    pub rss_kib_per_call: Option<f64>,
    /// The whole run, from before the first call's webhook to [`WHOLE_SETTLE`] after the last
    /// hang-up: every call's set-up and teardown as well as its audio.
    pub whole_seconds: f64,
    pub whole_cpu_seconds: f64,
    /// Every call's streamed seconds, start to end.
    pub whole_call_seconds: f64,
    pub whole_cpu_ms_per_call_second: Option<f64>,
}

/// How long after the last call's end the whole run's last sample waits: the server's teardown
/// of the last calls (the provider session's close, the call row's last write, the status
/// callback) is part of the calls' cost.
pub const WHOLE_SETTLE: Duration = Duration::from_secs(2);

/// Place every call of `plan` and report. Never fails as a whole: each call's failure is counted
/// and described in the report.
pub async fn run(plan: LoadPlan) -> LoadReport {
    let began = Instant::now();
    let origin = began + LEAD;
    let frames = plan.frames_per_call();
    let window = steady_window(&plan, origin);
    let sampler = tokio::spawn(sample(plan.watch.clone(), window));
    let run_id = run_id();
    let (pacer, clock) = Pacer::start();
    let shared = Arc::new(Shared {
        voice_url: plan.voice_url.clone(),
        account_sid: plan.account_sid.clone(),
        auth_token: plan.auth_token.clone(),
        to: plan.to.clone(),
        frames,
        drain: plan.drain,
        without_tls: webhooks::stream_without_tls(&plan.voice_url),
        twilio_api_base: plan.twilio_api_base.clone(),
        web_call: plan.web_call.clone(),
        pacer,
    });
    let mut tasks = JoinSet::new();
    for index in 0..plan.calls {
        let due = origin + plan.ramp.mul_f64(index as f64 / plan.calls.max(1) as f64);
        let caller = Caller {
            index,
            call_sid: format!("CA{run_id:016x}{:016x}", index as u64),
            stream_sid: format!("MZ{run_id:016x}{:016x}", index as u64),
            from: caller_number(&plan.from, index),
            tag: (index & 0xFFFF) as u16,
        };
        let shared = shared.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(due).await;
            place(&shared, caller).await
        });
    }
    let mut outcomes = Vec::with_capacity(plan.calls);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => outcomes.push(CallOutcome::panicked(e.to_string())),
        }
    }
    // The clock stops once no call can join it.
    drop(shared);
    let _ = clock.await;
    tokio::time::sleep(WHOLE_SETTLE).await;
    let after: Vec<_> = plan
        .watch
        .iter()
        .map(|w| ProcessSample::of(w).map(|s| (Instant::now(), s)))
        .collect();
    outcomes.sort_by_key(|o| o.index);
    let samples = if Instant::now() < window.1 {
        // Every call ended before the window closed: there was no steady state to measure.
        sampler.abort();
        let why = "the calls ended before the steady window did (a hold shorter than 2 s, or \
                   calls that failed early)";
        plan.watch.iter().map(|_| Err(why.to_owned())).collect()
    } else {
        sampler.await.unwrap_or_default()
    };
    let mut report = summarize(&plan, outcomes, samples, &after, origin, window);
    report.wall_seconds = began.elapsed().as_secs_f64();
    report
}

/// The stretch of the run when every call should be streaming: from the last start (plus its
/// set-up) until shortly before the first call's hold ends. With a hold not much longer than the
/// ramp that is under a second; it is then stretched to one second and includes some ramp-down.
fn steady_window(plan: &LoadPlan, origin: Instant) -> (Instant, Instant) {
    let start = origin + plan.ramp + SETTLE;
    let end = (origin + plan.hold.saturating_sub(SETTLE / 2)).max(start + Duration::from_secs(1));
    (start, end)
}

/// A run id makes every run's call SIDs new, so a server keeping calls by SID sees new calls.
fn run_id() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // SplitMix64: nearby start times give unrelated ids.
    let mut z = nanos.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `base` plus `index`, keeping its width: `+15550000000`, 7 → `+15550000007`. A base that is
/// not `+` and digits gets the index appended.
pub fn caller_number(base: &str, index: usize) -> String {
    let digits = base.strip_prefix('+').unwrap_or(base);
    match digits.parse::<u64>() {
        Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let width = digits.len();
            let modulus = 10u64.checked_pow(width as u32).unwrap_or(u64::MAX);
            format!("+{:0width$}", (n + index as u64) % modulus)
        }
        _ => format!("{base}{index}"),
    }
}

/// What every call shares.
struct Shared {
    voice_url: String,
    account_sid: String,
    auth_token: String,
    to: String,
    frames: u32,
    drain: Duration,
    without_tls: bool,
    twilio_api_base: Option<String>,
    web_call: Option<WebCallTarget>,
    pacer: Pacer,
}

/// Who one call is.
struct Caller {
    index: usize,
    call_sid: String,
    stream_sid: String,
    from: String,
    tag: u16,
}

/// Where a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Register,
    Webhook,
    Twiml,
    Connect,
    Stream,
    Panic,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Webhook => "webhook",
            Self::Twiml => "twiml",
            Self::Connect => "connect",
            Self::Stream => "stream",
            Self::Panic => "panic",
        }
    }
}

/// What one call saw; folded into the report.
#[derive(Default)]
struct CallOutcome {
    index: usize,
    call_sid: String,
    from: String,
    failure: Option<(Stage, String)>,
    echoes: Echoes,
    first_audio: Option<Duration>,
    /// When stamped audio started and when `stop` was sent (or the server closed).
    streaming: Option<(Instant, Instant)>,
    media_received: u64,
    audio_bytes_received: u64,
    marks_received: u32,
    marks_echoed: u32,
    marks_unplayed: u32,
    clears_received: u32,
    protocol_errors: u32,
    protocol_error_sample: Option<String>,
    action_failed: bool,
    send_lag_max: Duration,
    late_frames: u32,
}

impl CallOutcome {
    fn panicked(message: String) -> Self {
        Self {
            index: usize::MAX,
            failure: Some((Stage::Panic, message)),
            ..Self::default()
        }
    }

    fn fail(&mut self, stage: Stage, reason: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some((stage, reason.into()));
        }
    }

    fn protocol_error(&mut self, message: impl FnOnce() -> String) {
        self.protocol_errors += 1;
        if self.protocol_error_sample.is_none() {
            self.protocol_error_sample = Some(message());
        }
    }
}

/// Place one call: webhook, TwiML, stream, hang-up.
async fn place(shared: &Shared, mut caller: Caller) -> CallOutcome {
    let mut outcome = CallOutcome {
        index: caller.index,
        from: caller.from.clone(),
        ..CallOutcome::default()
    };
    if let Some(target) = &shared.web_call {
        outcome.call_sid = caller.call_sid.clone();
        connect_web(shared, target, &caller, &mut outcome).await;
        return outcome;
    }
    if let Some(base) = &shared.twilio_api_base {
        match register(shared, base, &caller).await {
            Ok(sid) => caller.call_sid = sid,
            Err(reason) => {
                outcome.fail(Stage::Register, reason);
                return outcome;
            }
        }
    }
    outcome.call_sid = caller.call_sid.clone();
    let ended = connect(shared, &caller, &mut outcome).await;
    if !ended && let Some(base) = &shared.twilio_api_base {
        complete(shared, base, &caller.call_sid).await;
    }
    outcome
}

/// The call on the sandbox's Twilio: a live inbound call; its SID.
async fn register(shared: &Shared, base: &str, caller: &Caller) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Created {
        sid: String,
    }
    let url = format!("{base}/sandbox/live-calls");
    let body = serde_json::json!({
        "account_sid": shared.account_sid,
        "from": caller.from,
        "to": shared.to,
    });
    let response = webhooks::http()
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("{url} answered {status}: {}", clip(&text)));
    }
    let created: Created = response
        .json()
        .await
        .map_err(|e| format!("{url}: not a call: {e}"))?;
    Ok(created.sid)
}

/// The caller hung up: the call is over on Twilio too (best effort: the figures do not depend
/// on it).
async fn complete(shared: &Shared, base: &str, call_sid: &str) {
    let url = format!(
        "{base}/2010-04-01/Accounts/{}/Calls/{call_sid}.json",
        shared.account_sid
    );
    let _ = webhooks::http()
        .post(&url)
        .basic_auth(&shared.account_sid, Some(&shared.auth_token))
        .form(&[("Status", "completed")])
        .send()
        .await;
}

/// From the voice webhook to the `<Connect action>` request. True once the call has been ended
/// on Twilio (when it is registered there).
async fn connect(shared: &Shared, caller: &Caller, outcome: &mut CallOutcome) -> bool {
    let Some(connect) = answer(shared, caller, outcome).await else {
        return false;
    };
    let stream = &connect.stream;
    let Some(sids) = Sids::parse(shared, caller) else {
        outcome.fail(Stage::Stream, "the account SID is not a Twilio account SID");
        return false;
    };
    let deadline = Instant::now() + media_session::HANDSHAKE_TIMEOUT;
    let (tcp, request) = match line::connect(
        &stream.url,
        &shared.auth_token,
        shared.without_tls,
        deadline,
    )
    .await
    {
        Ok(connected) => connected,
        Err(message) => {
            outcome.fail(Stage::Connect, message);
            return false;
        }
    };
    let line = Line::new(
        tcp,
        Stream::new(shared, caller, sids, std::mem::take(outcome)),
    );
    let upgraded = line.upgrade(&stream.url, request, deadline).await;
    let hung_up = match upgraded {
        Ok(mut ws) => Some(converse(&line, &mut ws, &shared.pacer, Some(stream)).await),
        Err(message) => {
            line.lock().stream.outcome.fail(Stage::Connect, message);
            None
        }
    };
    *outcome = std::mem::take(&mut line.lock().stream.outcome);
    let Some(hung_up) = hung_up else {
        return false;
    };
    // As on Twilio, the call is over before its `action` is requested.
    if let Some(base) = &shared.twilio_api_base {
        complete(shared, base, &caller.call_sid).await;
    }
    if hung_up && let Some(action) = &connect.action {
        let method = connect.method.map_or("POST", |m| m.as_str());
        let (started, ended) = outcome
            .streaming
            .unwrap_or((Instant::now(), Instant::now()));
        let mut params = webhooks::call_params(
            &shared.account_sid,
            &caller.call_sid,
            &caller.from,
            &shared.to,
            "completed",
        );
        params.push((
            "CallDuration".into(),
            (ended - started).as_secs().to_string(),
        ));
        let token = format!("{}-action-2", caller.call_sid);
        let (_, answer) = webhooks::send_form(
            "action",
            &shared.auth_token,
            method,
            action,
            &params,
            &token,
        )
        .await;
        outcome.action_failed = !answer.is_some_and(|a| (200..300).contains(&a.status));
    }
    true
}

/// A web call: the upgrade with the member's cookie, then the stream until hang-up.
async fn connect_web(
    shared: &Shared,
    target: &WebCallTarget,
    caller: &Caller,
    outcome: &mut CallOutcome,
) {
    let Some(sids) = Sids::parse(shared, caller) else {
        outcome.fail(Stage::Stream, "the account SID is not a Twilio account SID");
        return;
    };
    let deadline = Instant::now() + media_session::HANDSHAKE_TIMEOUT;
    let (tcp, request) = match line::connect_web(&target.url, &target.cookie, deadline).await {
        Ok(connected) => connected,
        Err(message) => {
            outcome.fail(Stage::Connect, message);
            return;
        }
    };
    let mut stream = Stream::new(shared, caller, sids, std::mem::take(outcome));
    stream.web = true;
    stream.frame = vec![0; WEB_FRAME_BYTES];
    let line = Line::new(tcp, stream);
    match line.upgrade(&target.url, request, deadline).await {
        Ok(mut ws) => {
            converse(&line, &mut ws, &shared.pacer, None).await;
        }
        Err(message) => line.lock().stream.outcome.fail(Stage::Connect, message),
    }
    *outcome = std::mem::take(&mut line.lock().stream.outcome);
}

/// The voice webhook and its TwiML, down to the `<Connect>` to run.
async fn answer(
    shared: &Shared,
    caller: &Caller,
    outcome: &mut CallOutcome,
) -> Option<twiml::Connect> {
    let params = webhooks::call_params(
        &shared.account_sid,
        &caller.call_sid,
        &caller.from,
        &shared.to,
        "ringing",
    );
    let token = format!("{}-voice-1", caller.call_sid);
    let (callback, answer) = webhooks::send_form(
        "voice",
        &shared.auth_token,
        "POST",
        &shared.voice_url,
        &params,
        &token,
    )
    .await;
    let Some(answer) = answer else {
        let why = callback.error.unwrap_or_else(|| "no answer".into());
        outcome.fail(
            Stage::Webhook,
            format!("{} could not be reached: {why}", shared.voice_url),
        );
        return None;
    };
    if !(200..300).contains(&answer.status) {
        outcome.fail(
            Stage::Webhook,
            format!(
                "{} answered {}: {}",
                shared.voice_url,
                answer.status,
                clip(&answer.body)
            ),
        );
        return None;
    }
    let document = match twiml::Response::parse(&answer.body) {
        Ok(document) => document,
        Err(e) => {
            outcome.fail(
                Stage::Twiml,
                format!("invalid TwiML ({}): {e}", e.twilio_error_code()),
            );
            return None;
        }
    };
    let connect = document.verbs.into_iter().find_map(|verb| match verb {
        Verb::Connect(connect) => Some(connect),
        _ => None,
    });
    if connect.is_none() {
        outcome.fail(
            Stage::Twiml,
            format!("the TwiML has no <Connect><Stream>: {}", clip(&answer.body)),
        );
    }
    connect
}

/// Frames a call sent and the echoes it matched, as microseconds since its stream started.
#[derive(Default)]
struct Echoes {
    sent_us: Vec<u32>,
    /// `u32::MAX` until the frame's echo arrives.
    echoed_us: Vec<u32>,
    echoed: u32,
    duplicates: u32,
    foreign: u32,
    unknown: u32,
}

impl Echoes {
    fn with_capacity(frames: u32) -> Self {
        Self {
            sent_us: Vec::with_capacity(frames as usize),
            echoed_us: Vec::with_capacity(frames as usize),
            ..Self::default()
        }
    }

    fn sent(&mut self, at_us: u32) {
        self.sent_us.push(at_us);
        self.echoed_us.push(u32::MAX);
    }

    fn heard(&mut self, stamp: Stamp, tag: u16, at_us: u32) {
        if stamp.tag != tag {
            self.foreign += 1;
            return;
        }
        match self.echoed_us.get_mut(stamp.frame as usize) {
            None => self.unknown += 1,
            Some(slot) if *slot != u32::MAX => self.duplicates += 1,
            Some(slot) => {
                *slot = at_us;
                self.echoed += 1;
            }
        }
    }

    fn all_echoed(&self, frames: u32) -> bool {
        self.echoed >= frames
    }
}

/// The server's audio "playing" to the caller, only as far as marks need: when the audio queued
/// so far will have played, and the marks waiting for it.
struct Playout {
    until: Instant,
    pending: VecDeque<(Instant, String)>,
}

impl Playout {
    fn queue_audio(&mut self, now: Instant, bytes: usize, bytes_per_ms: usize) {
        let ms = (bytes / bytes_per_ms) as u64;
        self.until = self.until.max(now) + Duration::from_millis(ms);
    }

    fn queue_mark(&mut self, now: Instant, name: String) {
        self.pending.push_back((self.until.max(now), name));
    }

    /// The next mark due by `now`.
    fn due(&mut self, now: Instant) -> Option<String> {
        if self.pending.front().is_some_and(|(due, _)| *due <= now) {
            return self.pending.pop_front().map(|(_, name)| name);
        }
        None
    }

    /// `clear`: the queued audio is dropped, so every pending mark is echoed now.
    fn clear(&mut self, now: Instant) -> Vec<String> {
        self.until = now;
        self.pending.drain(..).map(|(_, name)| name).collect()
    }
}

/// A frame from the server, borrowed from the message; unknown fields are rejected as Twilio
/// rejects them (31951).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServerFrame<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    stream_sid: Cow<'a, str>,
    #[serde(borrow, default)]
    media: Option<ServerMedia<'a>>,
    #[serde(borrow, default)]
    mark: Option<ServerMark<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerMedia<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerMark<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

/// The SIDs a call's stream messages carry, checked once.
struct Sids {
    stream: StreamSid,
    account: AccountSid,
    call: CallSid,
}

impl Sids {
    fn parse(shared: &Shared, caller: &Caller) -> Option<Self> {
        Some(Self {
            stream: caller.stream_sid.parse().ok()?,
            account: shared.account_sid.parse().ok()?,
            call: caller.call_sid.parse().ok()?,
        })
    }
}

/// A web-call page's message from the server.
#[derive(Deserialize)]
struct WebMessage<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

/// One call's Media Stream (or web call): what the pacer and the call's task both keep, under
/// the line's lock.
struct Stream {
    /// A web call's page rather than Twilio.
    web: bool,
    sids: Sids,
    tag: u16,
    frames: u32,
    drain: Duration,
    sequence: u64,
    /// Media chunks sent, stamped and silent.
    chunk: u64,
    /// Stamped frames sent.
    sent: u32,
    started: Instant,
    drain_until: Option<Instant>,
    /// When the caller hung up (the pacer's last frame); `None` while streaming, or when the
    /// server ended the stream first.
    ended: Option<Instant>,
    /// The next frame: µ-law (160 bytes) for Twilio, PCM16 (960) for a web call.
    frame: Vec<u8>,
    payload: String,
    playout: Playout,
    scanner: EchoScanner,
    outcome: CallOutcome,
}

impl Stream {
    fn new(shared: &Shared, caller: &Caller, sids: Sids, mut outcome: CallOutcome) -> Self {
        outcome.echoes = Echoes::with_capacity(shared.frames);
        let now = Instant::now();
        Self {
            web: false,
            sids,
            tag: caller.tag,
            frames: shared.frames,
            drain: shared.drain,
            sequence: 0,
            chunk: 0,
            sent: 0,
            started: now,
            drain_until: None,
            ended: None,
            frame: vec![SILENCE; FRAME_BYTES],
            payload: String::with_capacity(FRAME_BYTES.div_ceil(3) * 4),
            playout: Playout {
                until: now,
                pending: VecDeque::new(),
            },
            scanner: EchoScanner::default(),
            outcome,
        }
    }

    /// A seed for the line's masking keys: different for every call.
    fn mask_seed(&self) -> u32 {
        u32::from(self.tag).wrapping_mul(0x9E37_79B9) ^ 0x5BD1_E995
    }

    fn next_sequence(&mut self) -> Counter {
        self.sequence += 1;
        Counter(self.sequence)
    }

    fn queue(out: &mut Outbox, message: &InboundMessage<'_>) {
        if let Ok(text) = message.to_json() {
            out.text(|json| json.push_str(&text));
        }
    }

    /// `connected` and `start`, as Twilio opens a stream.
    fn open(&mut self, out: &mut Outbox, stream: &twiml::Stream) {
        let connected = InboundMessage::Connected(Connected {
            protocol: "Call".into(),
            version: "1.0.0".into(),
        });
        let start = InboundMessage::Start(StartMessage {
            sequence_number: self.next_sequence(),
            stream_sid: self.sids.stream.clone(),
            start: StreamStart {
                stream_sid: self.sids.stream.clone(),
                account_sid: self.sids.account.clone(),
                call_sid: self.sids.call.clone(),
                tracks: vec![MediaTrack::Inbound],
                custom_parameters: stream
                    .parameters
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect(),
                media_format: MediaFormat::default(),
            },
        });
        Self::queue(out, &connected);
        Self::queue(out, &start);
    }

    /// The stream is up: frame 0 is due now.
    fn begin(&mut self, now: Instant) {
        self.started = now;
        self.playout.until = now;
    }

    /// The pacer's turn, for the frame due at `deadline`: queue the marks whose audio has
    /// played (they go in the same write) and the frame. `None` when the caller hangs up
    /// instead: every stamped frame was sent and every echo is back, or the drain is over.
    /// `Some(true)` for a stamped frame, `Some(false)` for silence.
    fn frame_due(&mut self, deadline: Instant, out: &mut Outbox) -> Option<bool> {
        let now = Instant::now();
        let lag = now.saturating_duration_since(deadline);
        self.outcome.send_lag_max = self.outcome.send_lag_max.max(lag);
        if lag > LATE {
            self.outcome.late_frames += 1;
        }
        while let Some(name) = self.playout.due(now) {
            self.echo_mark(out, name);
        }
        let stamped = self.sent < self.frames;
        if stamped {
            write_stamp(&mut self.frame, self.tag, self.sent);
        } else {
            let until = *self.drain_until.get_or_insert(now + self.drain);
            if now >= until || self.outcome.echoes.all_echoed(self.frames) {
                self.ended = Some(now);
                return None;
            }
            self.frame.fill(if self.web { 0 } else { SILENCE });
        }
        if self.web {
            out.binary(&self.frame);
            return Some(stamped);
        }
        self.payload.clear();
        BASE64.encode_string(&self.frame, &mut self.payload);
        self.chunk += 1;
        let media = MediaMessage {
            sequence_number: self.next_sequence(),
            stream_sid: Cow::Borrowed(self.sids.stream.as_str()),
            media: MediaChunk {
                track: MediaTrack::Inbound,
                chunk: Counter(self.chunk),
                timestamp: Counter((self.chunk - 1) * FRAME.as_millis() as u64),
                payload: Cow::Borrowed(&self.payload),
            },
        };
        out.text(|json| media.write_json(json));
        Some(stamped)
    }

    /// The frame left (or is queued on the socket) at `at`.
    fn frame_sent(&mut self, stamped: bool, at: Instant) {
        if stamped {
            self.outcome.echoes.sent(micros_since(self.started, at));
            self.sent += 1;
        }
    }

    /// The server ended the stream: a failure unless every stamped frame was sent.
    fn server_closed(&mut self) {
        if self.sent < self.frames {
            let reason = format!(
                "the server closed the stream after {} of {} frames",
                self.sent, self.frames
            );
            self.outcome.fail(Stage::Stream, reason);
        }
    }

    fn echo_mark(&mut self, out: &mut Outbox, name: String) {
        self.outcome.marks_echoed += 1;
        if self.web {
            let echo = serde_json::json!({"type": "mark", "name": name}).to_string();
            out.text(|json| json.push_str(&echo));
            return;
        }
        let mark = InboundMessage::Mark(MarkMessage {
            sequence_number: self.next_sequence(),
            stream_sid: self.sids.stream.clone(),
            mark: Mark { name },
        });
        Self::queue(out, &mark);
    }

    /// `stop`, as Twilio ends a stream when the caller hangs up.
    fn stop(&mut self, out: &mut Outbox) {
        if self.web {
            out.text(|json| json.push_str(r#"{"type":"end"}"#));
            return;
        }
        let stop = InboundMessage::Stop(StopMessage {
            sequence_number: self.next_sequence(),
            stream_sid: self.sids.stream.clone(),
            stop: StreamStop {
                account_sid: self.sids.account.clone(),
                call_sid: self.sids.call.clone(),
            },
        });
        Self::queue(out, &stop);
    }

    /// The agent's audio on a web call (a binary message).
    fn receive_audio(&mut self, bytes: &[u8]) {
        let now = Instant::now();
        self.outcome.media_received += 1;
        if self.outcome.first_audio.is_none() {
            self.outcome.first_audio = Some(now - self.started);
        }
        let at = micros_since(self.started, now);
        let tag = self.tag;
        let echoes = &mut self.outcome.echoes;
        let bytes = self
            .scanner
            .scan_bytes(bytes, |stamp| echoes.heard(stamp, tag, at));
        self.outcome.audio_bytes_received += bytes as u64;
        self.playout.queue_audio(now, bytes, WEB_BYTES_PER_MS);
    }

    /// A web call's text message; returns the marks a `clear` released.
    fn receive_web(&mut self, text: &str) -> Vec<String> {
        let now = Instant::now();
        let message: WebMessage<'_> = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(e) => {
                self.outcome
                    .protocol_error(|| format!("invalid message ({e}): {}", clip(text)));
                return Vec::new();
            }
        };
        match (message.kind.as_ref(), message.name) {
            ("mark", Some(name)) => {
                self.outcome.marks_received += 1;
                self.playout.queue_mark(now, name.into_owned());
            }
            ("clear", _) => {
                self.outcome.clears_received += 1;
                return self.playout.clear(now);
            }
            ("started" | "transcript" | "end", _) => {}
            (kind, _) => self
                .outcome
                .protocol_error(|| format!("unexpected message (type {kind:?}): {}", clip(text))),
        }
        Vec::new()
    }

    /// One message from the server; returns the marks a `clear` released.
    fn receive(&mut self, text: &str) -> Vec<String> {
        if self.web {
            return self.receive_web(text);
        }
        let now = Instant::now();
        let started = self.started;
        let stream_sid = &self.sids.stream;
        let frame: ServerFrame<'_> = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.outcome
                    .protocol_error(|| format!("31951: invalid message ({e}): {}", clip(text)));
                return Vec::new();
            }
        };
        if frame.stream_sid != stream_sid.as_str() {
            self.outcome.protocol_error(|| {
                format!(
                    "31951: message for stream {}, but this stream is {stream_sid}",
                    frame.stream_sid
                )
            });
            return Vec::new();
        }
        match (frame.event.as_ref(), frame.media, frame.mark) {
            ("media", Some(media), None) => {
                self.outcome.media_received += 1;
                if self.outcome.first_audio.is_none() {
                    self.outcome.first_audio = Some(now - started);
                }
                let at = micros_since(started, now);
                let tag = self.tag;
                let echoes = &mut self.outcome.echoes;
                match self
                    .scanner
                    .scan(&media.payload, |stamp| echoes.heard(stamp, tag, at))
                {
                    Ok(bytes) => {
                        self.outcome.audio_bytes_received += bytes as u64;
                        self.playout
                            .queue_audio(now, bytes, loquent_ai::audio::MULAW_BYTES_PER_MS);
                    }
                    Err(e) => self
                        .outcome
                        .protocol_error(|| format!("31951: media payload is not base64: {e}")),
                }
            }
            ("mark", None, Some(mark)) => {
                self.outcome.marks_received += 1;
                self.playout.queue_mark(now, mark.name.into_owned());
            }
            ("clear", None, None) => {
                self.outcome.clears_received += 1;
                return self.playout.clear(now);
            }
            (event, _, _) => self.outcome.protocol_error(|| {
                format!(
                    "31951: unexpected message (event {event:?}): {}",
                    clip(text)
                )
            }),
        }
        Vec::new()
    }
}

/// A call's stream from `start` to hang-up: the pacer sends the audio, this task reads the
/// server and answers it. True when the caller hung up (`stop` sent), false when the server
/// closed first or the stream could not start.
async fn converse(
    line: &Arc<Line>,
    ws: &mut Socket,
    pacer: &Pacer,
    stream: Option<&twiml::Stream>,
) -> bool {
    if let Some(stream) = stream {
        let mut state = line.lock();
        let LineState {
            out, stream: call, ..
        } = &mut *state;
        call.open(out, stream);
    }
    if !matches!(
        tokio::time::timeout(CLOSE_WAIT, ws.flush()).await,
        Ok(Ok(()))
    ) {
        line.lock()
            .stream
            .outcome
            .fail(Stage::Stream, "the server closed the stream before `start`");
        return false;
    }
    let started = Instant::now();
    line.lock().stream.begin(started);
    pacer.add(started, line.clone());
    let hung_up = loop {
        tokio::select! {
            // The pacer's word first: once the caller hangs up, nothing more is read.
            biased;
            () = line.done.notified() => break line.lock().stream.ended.is_some(),
            received = ws.next() => match received {
                Some(Ok(Message::Text(text))) => {
                    let mut state = line.lock();
                    let LineState { out, stream: call, .. } = &mut *state;
                    let released = call.receive(text.as_str());
                    if released.is_empty() {
                        continue;
                    }
                    // A `clear` played nothing: its marks go back at once.
                    for name in released {
                        call.echo_mark(out, name);
                    }
                    if line.flush(&mut state).is_err() {
                        break false;
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let mut state = line.lock();
                    if state.stream.web {
                        state.stream.receive_audio(&bytes);
                    } else {
                        state.stream.outcome.protocol_error(|| {
                            "31950: the server sent a binary frame; Media Streams messages are JSON text".into()
                        });
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break false,
                Some(Ok(_)) => {}
            },
        }
    };
    {
        let mut state = line.lock();
        // The pacer drops a closed line at its next frame.
        state.closed = true;
        let LineState {
            out, stream: call, ..
        } = &mut *state;
        let ended = call.ended.unwrap_or_else(Instant::now);
        call.outcome.marks_unplayed = call.playout.pending.len() as u32;
        call.outcome.streaming = Some((started, ended));
        if !hung_up {
            call.server_closed();
            return false;
        }
        call.stop(out);
    }
    // Sends `stop`, then the close frame; a server that stopped reading is not waited for.
    let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
    // Read until the server's close reply, briefly, so it sees a clean close.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    true
}

fn micros_since(start: Instant, at: Instant) -> u32 {
    u32::try_from(at.saturating_duration_since(start).as_micros()).unwrap_or(u32::MAX - 1)
}

/// A frame's identity, read back from its echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The low 16 bits of the call's index: audio of another call is recognised as such.
    pub tag: u16,
    /// The frame's index in its call, from 0.
    pub frame: u32,
}

/// Write `tag` and `frame` over the start of `audio` (at least [`STAMP_LEN`] bytes), one nibble
/// per byte as `0xF0 | nibble` (quiet positive µ-law samples), after the marker and before a check
/// nibble (the XOR of the others). The rest of the frame is left as it is (silence).
pub fn write_stamp(audio: &mut [u8], tag: u16, frame: u32) {
    let value = (u64::from(tag) << 32) | u64::from(frame);
    audio[..2].copy_from_slice(&STAMP_MARKER);
    let mut check = 0u8;
    for (i, byte) in audio[2..STAMP_LEN - 1].iter_mut().enumerate() {
        let nibble = ((value >> (4 * (11 - i))) & 0xF) as u8;
        check ^= nibble;
        *byte = 0xF0 | nibble;
    }
    audio[STAMP_LEN - 1] = 0xF0 | check;
}

/// The stamp at the start of `bytes`, if there is a whole, valid one.
pub fn read_stamp(bytes: &[u8]) -> Option<Stamp> {
    let bytes = bytes.get(..STAMP_LEN)?;
    if bytes[..2] != STAMP_MARKER {
        return None;
    }
    let mut value = 0u64;
    let mut check = 0u8;
    for &byte in &bytes[2..STAMP_LEN - 1] {
        if byte & 0xF0 != 0xF0 {
            return None;
        }
        let nibble = byte & 0x0F;
        check ^= nibble;
        value = (value << 4) | u64::from(nibble);
    }
    if bytes[STAMP_LEN - 1] != 0xF0 | check {
        return None;
    }
    Some(Stamp {
        tag: (value >> 32) as u16,
        frame: value as u32,
    })
}

/// Finds stamps in a call's received audio, however the server chunked it: payloads are decoded
/// behind the tail of the previous one that could still start a stamp.
#[derive(Debug, Default)]
pub struct EchoScanner {
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` carried over from the previous payload.
    carried: usize,
}

impl EchoScanner {
    /// Decode one base64 payload, call `found` for every stamp it completes, and return how many
    /// audio bytes it carried.
    pub fn scan(
        &mut self,
        payload: &str,
        found: impl FnMut(Stamp),
    ) -> Result<usize, base64::DecodeError> {
        self.buffer.truncate(self.carried);
        if let Err(e) = BASE64.decode_vec(payload.as_bytes(), &mut self.buffer) {
            self.buffer.truncate(self.carried);
            return Err(e);
        }
        let decoded = self.buffer.len() - self.carried;
        self.scan_buffer(found);
        Ok(decoded)
    }

    /// [`EchoScanner::scan`] for raw audio bytes (a web call's binary messages).
    pub fn scan_bytes(&mut self, bytes: &[u8], found: impl FnMut(Stamp)) -> usize {
        self.buffer.truncate(self.carried);
        self.buffer.extend_from_slice(bytes);
        self.scan_buffer(found);
        bytes.len()
    }

    fn scan_buffer(&mut self, mut found: impl FnMut(Stamp)) {
        let mut at = 0;
        let mut consumed = 0;
        while at + 1 < self.buffer.len() {
            if self.buffer[at] == STAMP_MARKER[0] && self.buffer[at + 1] == STAMP_MARKER[1] {
                if at + STAMP_LEN > self.buffer.len() {
                    // Its end is in the next payload.
                    break;
                }
                if let Some(stamp) = read_stamp(&self.buffer[at..]) {
                    found(stamp);
                    at += STAMP_LEN;
                    consumed = at;
                    continue;
                }
            }
            at += 1;
        }
        // Only the last STAMP_LEN - 1 bytes can start a stamp that is not complete yet.
        let keep_from = consumed.max(self.buffer.len().saturating_sub(STAMP_LEN - 1));
        self.buffer.copy_within(keep_from.., 0);
        self.carried = self.buffer.len() - keep_from;
        self.buffer.truncate(self.carried);
    }
}

/// Latencies in fixed 0.1 ms buckets up to 10 s (larger values share one overflow bucket; the
/// maximum is kept exactly). One instance per run, so 100,000 counters cost nothing.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    overflow: u64,
    count: u64,
    sum_us: u128,
    max_us: u64,
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 100_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; BUCKETS],
            overflow: 0,
            count: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        self.record_us(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_us(&mut self, us: u64) {
        match self.buckets.get_mut((us / BUCKET_US) as usize) {
            Some(bucket) => *bucket += 1,
            None => self.overflow += 1,
        }
        self.count += 1;
        self.sum_us += u128::from(us);
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (0..=1), in milliseconds: the upper edge of its bucket, so
    /// never an underestimate by more than 0.1 ms and never above the maximum.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let edge = (i as u64 + 1) * BUCKET_US;
                return edge.min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }

    pub fn summary(&self) -> Percentiles {
        if self.count == 0 {
            return Percentiles::default();
        }
        Percentiles {
            count: self.count,
            mean_ms: self.sum_us as f64 / self.count as f64 / 1000.0,
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p99_ms: self.quantile_ms(0.99),
            max_ms: self.max_us as f64 / 1000.0,
        }
    }
}

/// A snapshot of a process from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSample {
    /// User + system time, in clock ticks ([`clock_ticks_per_second`]).
    pub cpu_ticks: u64,
    pub rss_kib: u64,
    /// Peak resident memory (`VmHWM`).
    pub peak_rss_kib: u64,
}

impl ProcessSample {
    /// The whole process `pid`.
    pub fn read(pid: u32) -> io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let (rss_kib, peak_rss_kib) = memory(pid)?;
        Ok(Self {
            cpu_ticks: cpu_ticks(&stat)?,
            rss_kib,
            peak_rss_kib,
        })
    }

    /// Only the threads of `pid` whose name starts with `prefix` (memory is the process's).
    pub fn read_threads(pid: u32, prefix: &str) -> io::Result<Self> {
        let mut cpu = 0;
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let path = entry?.path();
            // A thread may end between listing and reading: skip it.
            let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
                continue;
            };
            if !name.starts_with(prefix) {
                continue;
            }
            if let Ok(stat) = std::fs::read_to_string(path.join("stat")) {
                cpu += cpu_ticks(&stat)?;
            }
        }
        let (rss_kib, peak_rss_kib) = memory(pid)?;
        Ok(Self {
            cpu_ticks: cpu,
            rss_kib,
            peak_rss_kib,
        })
    }

    fn of(watch: &Watch) -> io::Result<Self> {
        match &watch.threads {
            Some(prefix) => Self::read_threads(watch.pid, prefix),
            None => Self::read(watch.pid),
        }
    }
}

/// utime + stime from a `stat` line. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`: utime and stime are fields 14 and 15.
fn cpu_ticks(stat: &str) -> io::Result<u64> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat format");
    let rest = stat.rsplit_once(')').ok_or_else(bad)?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let mut next =
        || -> io::Result<u64> { fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad) };
    Ok(next()? + next()?)
}

/// `VmRSS` and `VmHWM` from `/proc/{pid}/status`, in KiB.
fn memory(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` (this workspace forbids `unsafe`, so no libc call);
/// 100 on every Linux configuration in practice.
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// Samples of one watched process: idle, steady window start, steady window end.
type Samples = Result<[(Instant, ProcessSample); 3], String>;

async fn sample(watch: Vec<Watch>, (start, end): (Instant, Instant)) -> Vec<Samples> {
    if watch.is_empty() {
        return Vec::new();
    }
    // Read the tick rate now, not at the window's edge.
    clock_ticks_per_second();
    let take = |w: &Watch| ProcessSample::of(w).map(|s| (Instant::now(), s));
    let idle: Vec<_> = watch.iter().map(take).collect();
    tokio::time::sleep_until(start).await;
    let first: Vec<_> = watch.iter().map(take).collect();
    tokio::time::sleep_until(end).await;
    let last: Vec<_> = watch.iter().map(take).collect();
    idle.into_iter()
        .zip(first)
        .zip(last)
        .map(|((a, b), c)| match (a, b, c) {
            (Ok(a), Ok(b), Ok(c)) => Ok([a, b, c]),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.to_string()),
        })
        .collect()
}

fn usage(
    watch: &Watch,
    samples: &Samples,
    after: &io::Result<(Instant, ProcessSample)>,
    outcomes: &[CallOutcome],
) -> ProcessUsage {
    let mut usage = ProcessUsage {
        label: watch.label.clone(),
        pid: watch.pid,
        error: None,
        window_seconds: 0.0,
        cpu_seconds: 0.0,
        cpu_share: 0.0,
        call_seconds: 0.0,
        cpu_ms_per_call_second: None,
        idle_rss_kib: 0,
        load_rss_kib: 0,
        peak_rss_kib: 0,
        calls_at_load: 0,
        rss_kib_per_call: None,
        whole_seconds: 0.0,
        whole_cpu_seconds: 0.0,
        whole_call_seconds: 0.0,
        whole_cpu_ms_per_call_second: None,
    };
    let [(began, idle), (from, first), (to, last)] = match samples {
        Ok(samples) => *samples,
        Err(e) => {
            usage.error = Some(e.clone());
            return usage;
        }
    };
    let window = to.saturating_duration_since(from).as_secs_f64();
    let ticks = last.cpu_ticks.saturating_sub(first.cpu_ticks);
    usage.window_seconds = window;
    usage.cpu_seconds = ticks as f64 / clock_ticks_per_second() as f64;
    usage.cpu_share = if window > 0.0 {
        usage.cpu_seconds / window
    } else {
        0.0
    };
    usage.call_seconds = outcomes
        .iter()
        .filter_map(|o| o.streaming)
        .map(|(a, b)| {
            let (a, b) = (a.max(from), b.min(to));
            b.saturating_duration_since(a).as_secs_f64()
        })
        .sum();
    if usage.call_seconds > 0.0 {
        usage.cpu_ms_per_call_second = Some(usage.cpu_seconds * 1000.0 / usage.call_seconds);
    }
    usage.idle_rss_kib = idle.rss_kib;
    usage.load_rss_kib = last.rss_kib;
    usage.peak_rss_kib = last.peak_rss_kib;
    usage.calls_at_load = outcomes
        .iter()
        .filter_map(|o| o.streaming)
        .filter(|(a, b)| *a <= to && to <= *b)
        .count();
    if usage.calls_at_load > 0 {
        usage.rss_kib_per_call =
            Some(last.rss_kib.saturating_sub(idle.rss_kib) as f64 / usage.calls_at_load as f64);
    }
    if let Ok((ended, after)) = after {
        usage.whole_seconds = ended.saturating_duration_since(began).as_secs_f64();
        usage.whole_cpu_seconds =
            after.cpu_ticks.saturating_sub(idle.cpu_ticks) as f64 / clock_ticks_per_second() as f64;
        usage.whole_call_seconds = outcomes
            .iter()
            .filter_map(|o| o.streaming)
            .map(|(a, b)| b.saturating_duration_since(a).as_secs_f64())
            .sum();
        if usage.whole_call_seconds > 0.0 {
            usage.whole_cpu_ms_per_call_second =
                Some(usage.whole_cpu_seconds * 1000.0 / usage.whole_call_seconds);
        }
    }
    usage
}

fn summarize(
    plan: &LoadPlan,
    outcomes: Vec<CallOutcome>,
    samples: Vec<Samples>,
    after: &[io::Result<(Instant, ProcessSample)>],
    origin: Instant,
    window: (Instant, Instant),
) -> LoadReport {
    let mut report = LoadReport {
        calls_planned: plan.calls,
        calls_completed: 0,
        calls_failed: 0,
        failures: BTreeMap::new(),
        failure_samples: Vec::new(),
        frames_sent: 0,
        frames_echoed: 0,
        frames_lost: 0,
        duplicate_echoes: 0,
        foreign_echoes: 0,
        unknown_echoes: 0,
        media_received: 0,
        audio_bytes_received: 0,
        marks_received: 0,
        marks_echoed: 0,
        marks_unplayed: 0,
        clears_received: 0,
        protocol_errors: 0,
        protocol_error_samples: Vec::new(),
        action_callbacks_failed: 0,
        latency: Percentiles::default(),
        steady_latency: Percentiles::default(),
        timeline: Vec::new(),
        first_audio: Percentiles::default(),
        send_lag_max_ms: 0.0,
        late_frames: 0,
        wall_seconds: 0.0,
        call_seconds: 0.0,
        usage: plan
            .watch
            .iter()
            .zip(&samples)
            .zip(after)
            .map(|((w, s), a)| usage(w, s, a, &outcomes))
            .collect(),
        calls: Vec::with_capacity(outcomes.len()),
        latency_histogram: LatencyHistogram::default(),
    };
    let mut first_audio = LatencyHistogram::default();
    let mut steady = LatencyHistogram::default();
    // Per second of the run: its frames' latencies (µs) and their largest send lag (µs). Raw
    // values, not a histogram each: a long run has hundreds of seconds.
    let mut seconds: Vec<(Vec<u32>, u32)> = Vec::new();
    let mut send_lag_max = Duration::ZERO;
    for outcome in outcomes {
        let echoes = &outcome.echoes;
        let mut lost_frames = Vec::new();
        let mut lost = 0u64;
        let started = outcome.streaming.map(|(started, _)| started);
        for (i, (&sent, &echoed)) in echoes.sent_us.iter().zip(&echoes.echoed_us).enumerate() {
            if echoed == u32::MAX {
                lost += 1;
                if lost_frames.len() < LOST_LISTED {
                    lost_frames.push(i as u32);
                }
                continue;
            }
            let us = u64::from(echoed.saturating_sub(sent));
            report.latency_histogram.record_us(us);
            let Some(started) = started else { continue };
            let at = started + Duration::from_micros(u64::from(sent));
            if at >= window.0 && at < window.1 {
                steady.record_us(us);
            }
            let second = at.saturating_duration_since(origin).as_secs() as usize;
            if seconds.len() <= second {
                seconds.resize_with(second + 1, Default::default);
            }
            // Frame i was due i × 20 ms after the stream started.
            let due = i as u64 * FRAME.as_micros() as u64;
            let lag = u64::from(sent).saturating_sub(due) as u32;
            let (latencies, lag_max) = &mut seconds[second];
            latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
            *lag_max = (*lag_max).max(lag);
        }
        report.frames_sent += echoes.sent_us.len() as u64;
        report.frames_echoed += u64::from(echoes.echoed);
        report.frames_lost += lost;
        report.duplicate_echoes += u64::from(echoes.duplicates);
        report.foreign_echoes += u64::from(echoes.foreign);
        report.unknown_echoes += u64::from(echoes.unknown);
        report.media_received += outcome.media_received;
        report.audio_bytes_received += outcome.audio_bytes_received;
        report.marks_received += u64::from(outcome.marks_received);
        report.marks_echoed += u64::from(outcome.marks_echoed);
        report.marks_unplayed += u64::from(outcome.marks_unplayed);
        report.clears_received += u64::from(outcome.clears_received);
        report.protocol_errors += u64::from(outcome.protocol_errors);
        if let Some(sample) = &outcome.protocol_error_sample
            && report.protocol_error_samples.len() < SAMPLES
        {
            report
                .protocol_error_samples
                .push(format!("call {}: {sample}", outcome.index));
        }
        report.action_callbacks_failed += u64::from(outcome.action_failed);
        report.late_frames += u64::from(outcome.late_frames);
        send_lag_max = send_lag_max.max(outcome.send_lag_max);
        if let Some((a, b)) = outcome.streaming {
            report.call_seconds += (b - a).as_secs_f64();
        }
        if let Some(first) = outcome.first_audio {
            first_audio.record(first);
        }
        let failure = outcome.failure.as_ref().map(|(stage, reason)| {
            *report.failures.entry(stage.name().to_owned()).or_default() += 1;
            format!("{}: {reason}", stage.name())
        });
        match &failure {
            Some(failure) => {
                report.calls_failed += 1;
                if report.failure_samples.len() < SAMPLES {
                    report
                        .failure_samples
                        .push(format!("call {}: {failure}", outcome.index));
                }
            }
            None => report.calls_completed += 1,
        }
        if outcome.index != usize::MAX {
            report.calls.push(CallSummary {
                index: outcome.index,
                call_sid: outcome.call_sid,
                from: outcome.from,
                failure,
                frames_sent: echoes.sent_us.len() as u32,
                frames_echoed: echoes.echoed,
                lost_frames,
                first_audio_ms: outcome.first_audio.map(|d| d.as_secs_f64() * 1000.0),
                marks_received: outcome.marks_received,
                marks_echoed: outcome.marks_echoed,
                protocol_errors: outcome.protocol_errors,
            });
        }
    }
    report.latency = report.latency_histogram.summary();
    report.steady_latency = steady.summary();
    report.timeline = seconds
        .into_iter()
        .enumerate()
        .map(|(second, (mut latencies, lag_max))| {
            let ms = |us: u32| f64::from(us) / 1000.0;
            let count = latencies.len();
            // The p99 is the value of rank ⌈0.99 n⌉, as the histogram counts it.
            let p99 = match count {
                0 => 0,
                n => *latencies.select_nth_unstable((n * 99).div_ceil(100) - 1).1,
            };
            TimelineSecond {
                second: second as u32,
                frames: count as u64,
                p99_ms: ms(p99),
                max_ms: ms(latencies.iter().copied().max().unwrap_or(0)),
                send_lag_max_ms: ms(lag_max),
            }
        })
        .collect();
    report.first_audio = first_audio.summary();
    report.send_lag_max_ms = send_lag_max.as_secs_f64() * 1000.0;
    report
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_sound_quiet() {
        let mut frame = [SILENCE; FRAME_BYTES];
        for (tag, index) in [(0u16, 0u32), (7, 1), (0xFFFF, u32::MAX), (513, 999_999)] {
            write_stamp(&mut frame, tag, index);
            assert_eq!(read_stamp(&frame), Some(Stamp { tag, frame: index }));
        }
        // Plausible audio: every byte of a stamped frame is a quiet µ-law sample (< -40 dBFS).
        for &byte in &frame {
            let sample = loquent_ai::audio::mulaw::decode(byte);
            assert!(sample.unsigned_abs() < 400, "{byte:#x} decodes to {sample}");
        }
        frame[5] ^= 0x01;
        assert_eq!(
            read_stamp(&frame),
            None,
            "the check nibble catches a flipped bit"
        );
    }

    fn stamped(frames: std::ops::Range<u32>) -> Vec<u8> {
        let mut audio = Vec::new();
        for i in frames {
            let mut frame = [SILENCE; FRAME_BYTES];
            write_stamp(&mut frame, 3, i);
            audio.extend_from_slice(&frame);
        }
        audio
    }

    fn scan_in_chunks(audio: &[u8], chunk: usize) -> Vec<u32> {
        let mut scanner = EchoScanner::default();
        let mut found = Vec::new();
        let mut total = 0;
        for piece in audio.chunks(chunk) {
            total += scanner
                .scan(&BASE64.encode(piece), |s| {
                    assert_eq!(s.tag, 3);
                    found.push(s.frame);
                })
                .unwrap();
        }
        assert_eq!(total, audio.len());
        found
    }

    #[test]
    fn the_scanner_finds_stamps_however_the_audio_is_chunked() {
        let audio = stamped(0..20);
        let every: Vec<u32> = (0..20).collect();
        // As sent, batched, split mid-stamp, byte by byte, all at once.
        for chunk in [160, 320, 480, 100, 7, 1, audio.len()] {
            assert_eq!(scan_in_chunks(&audio, chunk), every, "chunks of {chunk}");
        }
    }

    #[test]
    fn the_scanner_finds_stamps_in_a_web_calls_pcm_however_it_is_chunked() {
        // A web call's frames: 960 bytes of PCM silence (zeros) with the stamp in front.
        let mut audio = Vec::new();
        for i in 0..20 {
            let mut frame = [0u8; WEB_FRAME_BYTES];
            write_stamp(&mut frame, 3, i);
            audio.extend_from_slice(&frame);
        }
        for chunk in [960, 1920, 100, 7, audio.len()] {
            let mut scanner = EchoScanner::default();
            let mut found = Vec::new();
            let total: usize = audio
                .chunks(chunk)
                .map(|piece| scanner.scan_bytes(piece, |s| found.push(s.frame)))
                .sum();
            assert_eq!(total, audio.len());
            assert_eq!(found, (0..20).collect::<Vec<u32>>(), "chunks of {chunk}");
        }
    }

    #[test]
    fn the_scanner_rejects_bad_base64_and_keeps_going() {
        let mut scanner = EchoScanner::default();
        assert!(scanner.scan("not base64!", |_| panic!()).is_err());
        let mut found = Vec::new();
        scanner
            .scan(&BASE64.encode(stamped(5..6)), |s| found.push(s.frame))
            .unwrap();
        assert_eq!(found, [5]);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.summary(), Percentiles::default());
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        h.record(Duration::from_secs(20));
        let s = h.summary();
        assert_eq!(s.count, 101);
        assert!((s.p50_ms - 51.0).abs() < 0.11, "{s:?}");
        assert!((s.p99_ms - 100.0).abs() < 0.11, "{s:?}");
        assert_eq!(s.max_ms, 20_000.0);
        let mut one = LatencyHistogram::default();
        one.record_us(1_234);
        assert_eq!(one.quantile_ms(0.5), 1.234, "never above the maximum");
    }

    #[test]
    fn callers_count_up_from_the_base() {
        assert_eq!(caller_number("+15550000000", 0), "+15550000000");
        assert_eq!(caller_number("+15550000000", 1234), "+15550001234");
        assert_eq!(caller_number("+15559999999", 1), "+15560000000");
        assert_eq!(caller_number("anonymous", 2), "anonymous2");
    }

    #[test]
    fn playout_releases_marks_when_their_audio_has_played() {
        let now = Instant::now();
        let mut playout = Playout {
            until: now,
            pending: VecDeque::new(),
        };
        let mulaw = loquent_ai::audio::MULAW_BYTES_PER_MS;
        playout.queue_audio(now, 160, mulaw);
        playout.queue_mark(now, "a".into());
        playout.queue_audio(now, 320, mulaw);
        playout.queue_mark(now, "b".into());
        assert_eq!(playout.due(now), None);
        assert_eq!(playout.due(now + FRAME), Some("a".into()));
        assert_eq!(playout.due(now + FRAME), None);
        assert_eq!(playout.due(now + FRAME * 3), Some("b".into()));
        // A web call's PCM at 24 kHz: 48 bytes a millisecond.
        playout.queue_audio(now, 1920, WEB_BYTES_PER_MS);
        playout.queue_mark(now, "c".into());
        assert_eq!(playout.due(now + FRAME * 3 + FRAME * 2), Some("c".into()));
        playout.queue_audio(now, 1600, mulaw);
        playout.queue_mark(now, "d".into());
        assert_eq!(playout.clear(now), vec!["d".to_owned()]);
    }

    #[test]
    fn proc_stat_fields_count_from_the_last_parenthesis() {
        let stat = "42 (tokio (worker) 1) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat).unwrap(), 300);
        let me = ProcessSample::read(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.peak_rss_kib >= me.rss_kib);
        assert!(clock_ticks_per_second() > 0);
    }
}
