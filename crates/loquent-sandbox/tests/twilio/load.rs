//! The load generator (`loquent_sandbox::load`) against a minimal bridge written here: it checks
//! every signature, answers `<Connect><Stream>` TwiML and echoes the caller's audio back on the
//! stream with a mark after each echo, either itself or, as the live-call bridge will, through
//! the OpenAI Realtime emulator in echo mode. Faults in the bridge (dropped frames, re-chunked
//! audio) must show in the report exactly.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::serve::ListenerExt as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use loquent_sandbox::Sandbox;
use loquent_sandbox::load::{self, LoadPlan, LoadReport, Watch};
use loquent_twilio::media_stream::{
    InboundMessage, MediaFormat, MediaTrack, StartMessage, media_frame,
};
use loquent_twilio::signature;
use loquent_twilio::twiml::{self, Connect, Stream};

use crate::common::control;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as ModelMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Whose number the calls ring.
#[derive(Debug, Clone)]
struct Line {
    account_sid: String,
    auth_token: String,
    number: String,
}

impl Default for Line {
    fn default() -> Self {
        Self {
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: "load-test-token".into(),
            number: "+14155550100".into(),
        }
    }
}

/// How the bridge echoes (and mistreats) the audio.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Drop the caller's frames whose `chunk` is a multiple of this (chunks count from 1).
    drop_every: Option<u64>,
    /// Forward the audio in pieces of this many bytes instead of frame by frame.
    rechunk: Option<usize>,
    /// Echo through the OpenAI Realtime emulator at this base URL (model `sandbox-echo`): caller
    /// frames become `input_audio_buffer.append`s, its deltas become media, as in the real bridge.
    via_emulator: Option<String>,
}

#[derive(Debug, Default)]
struct Seen {
    bad_signatures: u64,
    voice_requests: u64,
    /// `CallStatus` and `CallDuration` of each `<Connect action>` request.
    actions: Vec<(String, String)>,
    starts: u64,
    bad_starts: Vec<String>,
    stops: u64,
    custom_parameters: Vec<BTreeMap<String, String>>,
}

struct Bridge {
    origin: String,
    line: Line,
    faults: Faults,
    seen: Mutex<Seen>,
    marks_back: AtomicU64,
    media_in: AtomicU64,
}

type Shared = Arc<Bridge>;

impl Bridge {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }

    fn voice_url(&self) -> String {
        format!("{}/twilio/voice", self.origin)
    }

    fn stream_url(&self) -> String {
        format!("{}/twilio/stream", self.origin.replacen("http", "wss", 1))
    }
}

async fn start_bridge(faults: Faults) -> Shared {
    start_bridge_for(faults, Line::default()).await
}

async fn start_bridge_for(faults: Faults, line: Line) -> Shared {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bridge = Arc::new(Bridge {
        origin: format!("http://{}", listener.local_addr().unwrap()),
        line,
        faults,
        seen: Mutex::new(Seen::default()),
        marks_back: AtomicU64::new(0),
        media_in: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/twilio/voice", post(voice))
        .route("/twilio/call-status", post(action))
        .route("/twilio/stream", any(stream))
        .with_state(bridge.clone());
    // Nagle off, as a bridge must: small frames must not wait for the previous one's ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    bridge
}

fn signed_form(
    bridge: &Bridge,
    url: &str,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> bool {
    headers
        .get("x-twilio-signature")
        .and_then(|s| s.to_str().ok())
        .is_some_and(|s| signature::validate_form(&bridge.line.auth_token, url, form, s).is_ok())
}

async fn voice(State(bridge): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    let signed = signed_form(&bridge, &bridge.voice_url(), &headers, &form);
    let ringing = form.get("CallStatus").map(String::as_str) == Some("ringing")
        && form.get("Direction").map(String::as_str) == Some("inbound")
        && form.get("AccountSid") == Some(&bridge.line.account_sid)
        && form.get("To") == Some(&bridge.line.number);
    {
        let mut seen = bridge.seen();
        seen.voice_requests += 1;
        if !signed || !ringing {
            seen.bad_signatures += 1;
            return StatusCode::FORBIDDEN.into_response();
        }
    }
    let from = form.get("From").cloned().unwrap_or_default();
    let document = twiml::Response::new()
        .connect(
            Connect::new(
                Stream::new(bridge.stream_url())
                    .parameter("from", from)
                    .parameter("to", &bridge.line.number),
            )
            .action(format!("{}/twilio/call-status", bridge.origin)),
        )
        .to_xml();
    ([("content-type", twiml::CONTENT_TYPE)], document).into_response()
}

async fn action(State(bridge): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let url = format!("{}/twilio/call-status", bridge.origin);
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    let mut seen = bridge.seen();
    if !signed_form(&bridge, &url, &headers, &form) {
        seen.bad_signatures += 1;
        return StatusCode::FORBIDDEN.into_response();
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    seen.actions
        .push((field("CallStatus"), field("CallDuration")));
    ([("content-type", twiml::CONTENT_TYPE)], "<Response/>").into_response()
}

async fn stream(
    State(bridge): State<Shared>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !signed_form(&bridge, &bridge.stream_url(), &headers, &BTreeMap::new()) {
        bridge.seen().bad_signatures += 1;
        return StatusCode::FORBIDDEN.into_response();
    }
    // A small read buffer, as a bridge should have: tungstenite zero-fills the whole buffer
    // (128 KiB by default) before every read of a 20 ms frame.
    ws.read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| echo(bridge, socket))
}

/// Check a `start` the way the real bridge relies on it; its stream SID.
fn note_start(bridge: &Bridge, text: &str, start: &StartMessage) -> String {
    let mut seen = bridge.seen();
    seen.starts += 1;
    let s = &start.start;
    if s.media_format != MediaFormat::default()
        || s.tracks != [MediaTrack::Inbound]
        || s.account_sid.as_str() != bridge.line.account_sid
        || start.stream_sid != s.stream_sid
    {
        seen.bad_starts.push(text.to_owned());
    }
    seen.custom_parameters.push(s.custom_parameters.clone());
    start.stream_sid.as_str().to_owned()
}

/// Send `payload` to the caller followed by a mark, in one write.
async fn play(socket: &mut WebSocket, stream_sid: &str, payload: &str, mark: u64) -> bool {
    let mark =
        format!(r#"{{"event":"mark","streamSid":"{stream_sid}","mark":{{"name":"m{mark}"}}}}"#);
    socket
        .feed(Message::text(media_frame(stream_sid, payload)))
        .await
        .is_ok()
        && socket.send(Message::text(mark)).await.is_ok()
}

/// Echo every caller frame back (subject to the faults), each followed by a mark.
async fn echo(bridge: Shared, mut socket: WebSocket) {
    if let Some(base) = bridge.faults.via_emulator.clone() {
        return relay(bridge, socket, &base).await;
    }
    let mut stream_sid = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut marks = 0u64;
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let message = InboundMessage::parse(text.as_str()).expect("Twilio frames parse");
        match message {
            InboundMessage::Start(start) => stream_sid = note_start(&bridge, &text, &start),
            InboundMessage::Media(media) => {
                bridge.media_in.fetch_add(1, Ordering::Relaxed);
                if bridge
                    .faults
                    .drop_every
                    .is_some_and(|n| media.media.chunk.0 % n == 0)
                {
                    continue;
                }
                let payloads = match bridge.faults.rechunk {
                    None => vec![media.payload().to_owned()],
                    Some(size) => {
                        pending.extend(BASE64.decode(media.payload()).unwrap());
                        let whole = pending.len() / size * size;
                        let out = pending[..whole]
                            .chunks(size)
                            .map(|c| BASE64.encode(c))
                            .collect();
                        pending.drain(..whole);
                        out
                    }
                };
                for payload in payloads {
                    marks += 1;
                    if !play(&mut socket, &stream_sid, &payload, marks).await {
                        return;
                    }
                }
            }
            InboundMessage::Mark(_) => {
                bridge.marks_back.fetch_add(1, Ordering::Relaxed);
            }
            InboundMessage::Stop(_) => {
                bridge.seen().stops += 1;
                break;
            }
            _ => {}
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// A realtime server event, only as far as the relay needs it.
#[derive(Deserialize)]
struct ModelEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
}

/// The bridge's path with the OpenAI provider: caller µ-law appended as it comes, the model's
/// µ-law deltas played back as they come, base64 passed through untouched both ways.
async fn relay(bridge: Shared, mut socket: WebSocket, base: &str) {
    let url = format!(
        "{}/realtime?model=sandbox-echo",
        base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer sk-load-test".parse().unwrap());
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut model, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .expect("the emulator accepts the connection");
    let mut stream_sid = String::new();
    let mut marks = 0u64;
    loop {
        tokio::select! {
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => break,
                };
                match InboundMessage::parse(text.as_str()).expect("Twilio frames parse") {
                    InboundMessage::Start(start) => stream_sid = note_start(&bridge, &text, &start),
                    InboundMessage::Media(media) => {
                        bridge.media_in.fetch_add(1, Ordering::Relaxed);
                        let append = format!(
                            r#"{{"type":"input_audio_buffer.append","audio":"{}"}}"#,
                            media.payload()
                        );
                        if model.send(ModelMessage::text(append)).await.is_err() {
                            break;
                        }
                    }
                    InboundMessage::Mark(_) => {
                        bridge.marks_back.fetch_add(1, Ordering::Relaxed);
                    }
                    InboundMessage::Stop(_) => {
                        bridge.seen().stops += 1;
                        break;
                    }
                    _ => {}
                }
            }
            event = model.next() => {
                let text = match event {
                    Some(Ok(ModelMessage::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => break,
                };
                let event: ModelEvent<'_> = serde_json::from_str(text.as_str()).unwrap();
                if let ("response.output_audio.delta", Some(delta)) = (event.kind.as_ref(), event.delta) {
                    marks += 1;
                    if !play(&mut socket, &stream_sid, &delta, marks).await {
                        break;
                    }
                }
            }
        }
    }
    let _ = model.close(None).await;
    let _ = socket.send(Message::Close(None)).await;
}

fn plan(bridge: &Bridge, calls: usize, hold: Duration) -> LoadPlan {
    let line = &bridge.line;
    let mut plan = LoadPlan::new(
        bridge.voice_url(),
        &line.account_sid,
        &line.auth_token,
        &line.number,
    );
    plan.calls = calls;
    plan.hold = hold;
    plan.ramp = Duration::from_millis(500);
    plan.drain = Duration::from_millis(500);
    plan
}

/// What every run must show whatever the faults: all calls placed, signed, streamed, hung up.
fn assert_calls_completed(report: &LoadReport, bridge: &Bridge, calls: usize, frames: u32) {
    assert_eq!(
        report.calls_completed, calls,
        "{:#?}",
        report.failure_samples
    );
    assert_eq!(report.calls_failed, 0);
    assert_eq!(
        report.protocol_errors, 0,
        "{:?}",
        report.protocol_error_samples
    );
    assert_eq!(report.frames_sent, calls as u64 * u64::from(frames));
    assert_eq!(report.calls.len(), calls);
    assert!(report.calls.iter().all(|c| c.frames_sent == frames));
    assert_eq!(
        report.foreign_echoes + report.unknown_echoes + report.duplicate_echoes,
        0
    );
    assert_eq!(report.action_callbacks_failed, 0);
    let seen = bridge.seen();
    assert_eq!(
        seen.bad_signatures, 0,
        "every webhook and upgrade is signed"
    );
    assert_eq!(seen.voice_requests, calls as u64);
    assert_eq!(seen.starts, calls as u64);
    assert!(seen.bad_starts.is_empty(), "{:?}", seen.bad_starts);
    assert_eq!(
        seen.stops, calls as u64,
        "every caller hangs up with `stop`"
    );
    assert_eq!(seen.actions.len(), calls);
    assert!(
        seen.actions
            .iter()
            .all(|(status, duration)| status == "completed" && duration.parse::<u64>().is_ok())
    );
    // Each call came from its own number, and `<Parameter>`s arrive in `start`.
    let mut froms: Vec<&str> = seen
        .custom_parameters
        .iter()
        .map(|p| {
            assert_eq!(p["to"], bridge.line.number);
            p["from"].as_str()
        })
        .collect();
    froms.sort_unstable();
    froms.dedup();
    assert_eq!(froms.len(), calls);
    // Marks come back (those still queued when the caller hung up do not, as on Twilio).
    assert_eq!(
        bridge.marks_back.load(Ordering::Relaxed),
        report.marks_echoed
    );
    assert!(report.marks_received > 0);
    assert_eq!(
        report.marks_echoed + report.marks_unplayed,
        report.marks_received
    );
    assert_eq!(report.first_audio.count, calls as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_echoed_is_matched_and_timed() {
    let bridge = start_bridge(Faults::default()).await;
    // 3 s: long enough for a steady window after the 0.5 s ramp.
    let mut plan = plan(&bridge, 20, Duration::from_secs(3));
    plan.watch = vec![Watch::process("test", std::process::id())];
    let frames = plan.frames_per_call();
    assert_eq!(frames, 150);
    let report = load::run(plan).await;
    assert_calls_completed(&report, &bridge, 20, frames);
    assert_eq!(report.frames_lost, 0);
    assert_eq!(report.frames_echoed, report.frames_sent);
    assert!(report.calls.iter().all(|c| c.lost_frames.is_empty()));
    // One latency per frame, loopback-fast even in a debug build on a busy machine.
    let latency = report.latency;
    assert_eq!(latency.count, report.frames_echoed);
    assert_eq!(report.latency_histogram.count(), latency.count);
    assert!(latency.p50_ms > 0.0 && latency.p50_ms <= latency.p99_ms);
    assert!(latency.p99_ms <= latency.max_ms);
    assert!(latency.p50_ms < 100.0, "{latency:?}");
    // The steady window's frames are some of them; every frame is in one second of the
    // timeline, whose figures stay within the whole run's.
    let steady = report.steady_latency;
    assert!(
        steady.count > 0 && steady.count < latency.count,
        "{steady:?}"
    );
    assert!(steady.p99_ms <= steady.max_ms && steady.max_ms <= latency.max_ms);
    let timeline = &report.timeline;
    assert_eq!(
        timeline.iter().map(|s| s.frames).sum::<u64>(),
        latency.count
    );
    assert!(timeline.len() >= 3 && timeline.len() <= 6, "{timeline:?}");
    for second in timeline.iter().filter(|s| s.frames > 0) {
        assert!(
            second.p99_ms > 0.0 && second.p99_ms <= second.max_ms,
            "{second:?}"
        );
        assert!(second.max_ms <= latency.max_ms, "{second:?}");
    }
    assert!(
        report.first_audio.max_ms < 1_000.0,
        "{:?}",
        report.first_audio
    );
    // Each call streamed for about its hold (3 s, then its echoes in well under the drain).
    assert!(
        report.call_seconds > 20.0 * 2.9 && report.call_seconds < 20.0 * 4.0,
        "{}",
        report.call_seconds
    );
    assert!(report.audio_bytes_received >= report.frames_sent * 160);
    // The process was watched over a window, even if a 2 s hold barely has a steady one.
    let usage = &report.usage[0];
    assert!(usage.error.is_none(), "{usage:?}");
    assert!(
        usage.window_seconds >= 0.9 && usage.idle_rss_kib > 0,
        "{usage:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_the_bridge_drops_are_reported_lost_exactly() {
    let bridge = start_bridge(Faults {
        drop_every: Some(10),
        ..Faults::default()
    })
    .await;
    let plan = plan(&bridge, 20, Duration::from_secs(2));
    let frames = plan.frames_per_call();
    let report = load::run(plan).await;
    assert_calls_completed(&report, &bridge, 20, frames);
    // Chunks 10, 20, … 100 are the stamped frames 9, 19, … 99.
    let expected: Vec<u32> = (1..=frames / 10).map(|k| k * 10 - 1).collect();
    for call in &report.calls {
        assert_eq!(call.lost_frames, expected, "call {}", call.index);
        assert_eq!(call.frames_echoed, frames - expected.len() as u32);
    }
    assert_eq!(report.frames_lost, 20 * expected.len() as u64);
    assert_eq!(
        report.frames_echoed + report.frames_lost,
        report.frames_sent
    );
    assert_eq!(report.latency.count, report.frames_echoed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rechunked_audio_is_still_matched_frame_by_frame() {
    // 330-byte pieces: frames are batched, split, and some stamps straddle two messages.
    let bridge = start_bridge(Faults {
        rechunk: Some(330),
        ..Faults::default()
    })
    .await;
    let plan = plan(&bridge, 5, Duration::from_secs(1));
    let frames = plan.frames_per_call();
    let report = load::run(plan).await;
    assert_calls_completed(&report, &bridge, 5, frames);
    // The bridge holds back a tail shorter than a piece; the silence a caller keeps sending
    // while the last echoes drain flushes it.
    assert_eq!(report.frames_lost, 0, "{:?}", report.calls[0].lost_frames);
    assert!(report.media_received < bridge.media_in.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_survive_the_openai_emulator_in_echo_mode() {
    // The benchmark's set-up in small: a sandbox account's number, each call registered on the
    // sandbox's Twilio, audio echoed through its OpenAI Realtime emulator.
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (_, account) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/accounts",
        Some(json!({"numbers": 1, "calls_per_number": 0, "recording_share": 0.0, "seed": 77})),
    )
    .await;
    let line = Line {
        account_sid: account["account_sid"].as_str().unwrap().into(),
        auth_token: account["auth_token"].as_str().unwrap().into(),
        number: account["numbers"][0]["phone_number"]
            .as_str()
            .unwrap()
            .into(),
    };
    let bridge = start_bridge_for(
        Faults {
            via_emulator: Some(sandbox.openai_base_url()),
            ..Faults::default()
        },
        line.clone(),
    )
    .await;
    let mut plan = plan(&bridge, 10, Duration::from_secs(2));
    plan.twilio_api_base = Some(sandbox.twilio_api_base());
    let frames = plan.frames_per_call();
    let report = load::run(plan).await;
    assert_calls_completed(&report, &bridge, 10, frames);
    assert_eq!(report.frames_lost, 0);
    assert_eq!(report.latency.count, report.frames_sent);
    assert!(report.latency.p50_ms < 100.0, "{:?}", report.latency);
    // Twilio knows every call, by the SID the server saw, and each is over.
    let calls: Value = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{}/Calls.json?PageSize=100",
            sandbox.twilio_api_base(),
            line.account_sid
        ))
        .basic_auth(&line.account_sid, Some(&line.auth_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let calls = calls["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 10);
    for summary in &report.calls {
        let call = calls
            .iter()
            .find(|c| c["sid"] == summary.call_sid.as_str())
            .expect("the call is on Twilio");
        assert_eq!(call["status"], "completed");
        assert_eq!(call["from"], summary.from.as_str());
    }
}

/// The generator's own cost: a bridge that only echoes, on its own runtime thread, and the
/// generator on another, CPU read per thread from `/proc`. Run in release:
///
/// ```text
/// cargo test --release -p loquent-sandbox --test twilio -- --ignored --nocapture load_generator_overhead
/// ```
///
/// `LOAD_CALLS` (200) and `LOAD_HOLD_SECS` (10) change the size; `LOAD_VIA_EMULATOR=1` echoes
/// through the OpenAI Realtime emulator (on its own runtime thread, `emulator`), as the live-call
/// benchmark does, so the whole load side of that benchmark is measured.
#[test]
#[ignore = "a measurement; prints figures"]
fn load_generator_overhead() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let calls = env("LOAD_CALLS", 200) as usize;
    let hold = Duration::from_secs(env("LOAD_HOLD_SECS", 10));
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .unwrap()
    };
    let bridge_runtime = runtime("bridge");
    let load_runtime = runtime("loadgen");
    let emulator_runtime = runtime("emulator");
    let emulator = (env("LOAD_VIA_EMULATOR", 0) == 1).then(|| {
        emulator_runtime.block_on(async {
            tokio::spawn(Sandbox::start("127.0.0.1:0".parse().unwrap()))
                .await
                .unwrap()
                .unwrap()
        })
    });
    let faults = Faults {
        via_emulator: emulator
            .as_ref()
            .map(loquent_sandbox::SandboxHandle::openai_base_url),
        ..Faults::default()
    };
    let bridge = bridge_runtime.block_on(async {
        // `block_on` runs on this thread; serve from the runtime's own worker.
        tokio::spawn(start_bridge(faults)).await.unwrap()
    });
    let mut plan = plan(&bridge, calls, hold);
    plan.ramp = Duration::from_secs(2);
    plan.drain = Duration::from_secs(1);
    let pid = std::process::id();
    plan.watch = vec![
        Watch::threads("generator", pid, "loadgen"),
        Watch::threads("bridge", pid, "bridge"),
    ];
    if emulator.is_some() {
        plan.watch.push(Watch::threads("emulator", pid, "emulator"));
    }
    let report = load_runtime.block_on(async { tokio::spawn(load::run(plan)).await.unwrap() });
    println!(
        "{calls} calls × {} s: {} completed, {} failed, frames sent {}, lost {}",
        hold.as_secs(),
        report.calls_completed,
        report.calls_failed,
        report.frames_sent,
        report.frames_lost
    );
    println!(
        "latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; first audio p50 {:.2} ms, p99 {:.2} ms",
        report.latency.p50_ms,
        report.latency.p90_ms,
        report.latency.p99_ms,
        report.latency.max_ms,
        report.first_audio.p50_ms,
        report.first_audio.p99_ms
    );
    println!(
        "send lag max {:.2} ms, late frames {}, marks {} / {} echoed",
        report.send_lag_max_ms, report.late_frames, report.marks_echoed, report.marks_received
    );
    for usage in &report.usage {
        println!(
            "{}: {:.3} CPU-ms per call-second ({:.1} % of a core over {:.1} s, {:.0} call-s); \
             process RSS {} → {} KiB ({:.1} KiB per call)",
            usage.label,
            usage.cpu_ms_per_call_second.unwrap_or(f64::NAN),
            usage.cpu_share * 100.0,
            usage.window_seconds,
            usage.call_seconds,
            usage.idle_rss_kib,
            usage.load_rss_kib,
            usage.rss_kib_per_call.unwrap_or(f64::NAN)
        );
    }
    assert_eq!(report.calls_failed, 0, "{:#?}", report.failure_samples);
}
