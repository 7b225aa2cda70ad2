//! The call simulator (`POST /sandbox/calls`) against a small application written here the way
//! a real one would be: it checks every signature, answers TwiML, speaks on the media stream,
//! interrupts itself on barge-in and hangs up or transfers through the REST API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::TryStreamExt as _;
use loquent_ai::audio::mulaw;
use loquent_sandbox::speech::{self, AGENT_VOICE_HZ, Phrase, SAMPLE_RATE, Tone};
use loquent_sandbox::{CallReport, SandboxHandle, SeededAccount};
use loquent_twilio::calls::CallUpdate;
use loquent_twilio::event_stream::{TwilioEvent, parse_delivery};
use loquent_twilio::events_api::{EventType, WebhookSink};
use loquent_twilio::media_stream::{InboundMessage, OutboundMedia, OutboundMessage};
use loquent_twilio::phone_numbers::VoiceConfig;
use loquent_twilio::recordings::RecordingStatus;
use loquent_twilio::sid::StreamSid;
use loquent_twilio::signature;
use loquent_twilio::twiml::Method;
use loquent_twilio::{CallSid, TwilioClient};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::{client, control, seed};

/// How the application's agent behaves on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    /// Greets (200 ms + mark), then answers every caller utterance (200 ms + mark).
    Greet,
    /// Talks for 3 s and sends `clear` as soon as the caller speaks over it.
    Interruptible,
    /// Greets, and closes the socket once the greeting has played.
    CloseAfterGreeting,
    /// Hangs up through the REST API when the caller says `end_call`.
    HangUpOnRequest,
    /// Redirects the call to a `<Dial>` through the REST API when the caller says `transfer`.
    TransferOnRequest,
}

#[derive(Debug, Default)]
struct Seen {
    /// Path and form of every webhook, with whether its signature was valid.
    requests: Vec<(String, BTreeMap<String, String>, bool)>,
    upgrade_signed: Option<bool>,
    /// Event names in arrival order, `media` collapsed into one entry per run.
    stream_events: Vec<String>,
    custom_parameters: BTreeMap<String, String>,
    caller_phrases: Vec<Phrase>,
    dtmf: String,
    marks_back: Vec<String>,
    media_frames: u64,
    events: Vec<(bool, Vec<String>)>,
}

struct AppState {
    origin: String,
    auth_token: String,
    agent: Agent,
    voice_twiml: Box<dyn Fn(&str) -> String + Send + Sync>,
    action_twiml: String,
    twilio: TwilioClient,
    seen: Mutex<Seen>,
}

type Shared = Arc<AppState>;

struct App {
    origin: String,
    state: Shared,
}

impl App {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state.seen.lock().unwrap()
    }
}

/// TwiML like the platform's: record, then a bidirectional stream with parameters.
fn standard_twiml(origin: &str) -> String {
    // Twilio only accepts wss://; the sandbox connects without TLS because the app's voice URL
    // is plain http, and the signature still covers the wss:// URL written here.
    let ws = origin.replacen("http", "wss", 1);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Start><Recording channels="dual" recordingStatusCallback="{origin}/recording"/></Start><Connect action="{origin}/call-status"><Stream url="{ws}/stream"><Parameter name="from" value="+15551230000"/><Parameter name="tag" value="a &amp; b"/></Stream></Connect></Response>"#
    )
}

async fn start_app(
    sandbox: &SandboxHandle,
    account: &SeededAccount,
    agent: Agent,
    voice_twiml: impl Fn(&str) -> String + Send + Sync + 'static,
) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(AppState {
        origin: origin.clone(),
        auth_token: account.auth_token.clone(),
        agent,
        voice_twiml: Box::new(voice_twiml),
        action_twiml: r#"<Response><Say>Thanks for calling.</Say><Hangup/></Response>"#.into(),
        twilio: client(sandbox, &account.account_sid, &account.auth_token),
        seen: Mutex::new(Seen::default()),
    });
    let router = Router::new()
        .route("/voice", post(webhook))
        .route("/call-status", post(webhook))
        .route("/recording", post(webhook))
        .route("/status", post(webhook))
        .route("/events", post(events))
        .route("/stream", any(stream))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    App { origin, state }
}

async fn webhook(
    State(app): State<Shared>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    let url = format!("{}{}", app.origin, uri);
    let signed = headers
        .get("x-twilio-signature")
        .and_then(|s| s.to_str().ok())
        .is_some_and(|s| signature::validate_form(&app.auth_token, &url, &form, s).is_ok());
    let path = uri.path().to_owned();
    app.seen
        .lock()
        .unwrap()
        .requests
        .push((path.clone(), form, signed));
    let twiml = match path.as_str() {
        "/voice" => (app.voice_twiml)(&app.origin),
        "/call-status" => app.action_twiml.clone(),
        _ => return StatusCode::NO_CONTENT.into_response(),
    };
    ([("content-type", "text/xml")], twiml).into_response()
}

async fn events(
    State(app): State<Shared>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let url = format!("{}{}", app.origin, uri);
    let signed = headers
        .get("x-twilio-signature")
        .and_then(|s| s.to_str().ok())
        .is_some_and(|s| signature::validate_json(&app.auth_token, &url, &body, s).is_ok());
    let types = parse_delivery(&body)
        .unwrap()
        .into_iter()
        .map(|e| {
            let name = e.event_type.clone();
            let typed = e.into_typed().unwrap();
            assert!(
                !matches!(typed, TwilioEvent::Unknown { .. }),
                "{name} parses into a known event"
            );
            name
        })
        .collect();
    app.seen.lock().unwrap().events.push((signed, types));
    StatusCode::OK
}

async fn stream(State(app): State<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let url = format!("{}/stream", app.origin.replacen("http", "wss", 1));
    let signed = headers
        .get("x-twilio-signature")
        .and_then(|s| s.to_str().ok())
        .is_some_and(|s| {
            signature::validate_form(&app.auth_token, &url, std::iter::empty::<(&str, &str)>(), s)
                .is_ok()
        });
    app.seen.lock().unwrap().upgrade_signed = Some(signed);
    ws.on_upgrade(move |socket| converse(app, socket))
}

fn agent_frames(stream_sid: &StreamSid, frames: usize) -> Vec<String> {
    let mut tone = Tone::new(AGENT_VOICE_HZ, SAMPLE_RATE);
    (0..frames)
        .map(|_| {
            OutboundMessage::Media {
                stream_sid: stream_sid.clone(),
                media: OutboundMedia {
                    payload: BASE64.encode(tone.mulaw_frame()),
                },
            }
            .to_json()
        })
        .collect()
}

async fn say(socket: &mut WebSocket, stream_sid: &StreamSid, frames: usize, mark: &str) {
    for frame in agent_frames(stream_sid, frames) {
        socket.send(Message::text(frame)).await.unwrap();
    }
    let mark = OutboundMessage::mark(stream_sid.clone(), mark).to_json();
    socket.send(Message::text(mark)).await.unwrap();
}

/// The agent: greets, listens for caller utterances (speech then 100 ms of silence), answers.
async fn converse(app: Shared, mut socket: WebSocket) {
    let mut stream_sid: Option<StreamSid> = None;
    let mut call_sid: Option<CallSid> = None;
    let mut utterance: Vec<i16> = Vec::new();
    let mut quiet_frames = 0;
    let mut replies = 0;
    let mut cleared = false;
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let message = InboundMessage::parse(text.as_str()).expect("Twilio frames parse");
        let name = match &message {
            InboundMessage::Connected(_) => "connected",
            InboundMessage::Start(_) => "start",
            InboundMessage::Media(_) => "media",
            InboundMessage::Mark(_) => "mark",
            InboundMessage::Dtmf(_) => "dtmf",
            InboundMessage::Stop(_) => "stop",
            InboundMessage::Unknown(_) => "unknown",
        };
        {
            let mut seen = app.seen.lock().unwrap();
            if seen.stream_events.last().map(String::as_str) != Some("media") || name != "media" {
                seen.stream_events.push(name.to_owned());
            }
        }
        match message {
            InboundMessage::Start(start) => {
                app.seen.lock().unwrap().custom_parameters = start.start.custom_parameters.clone();
                let sid = start.stream_sid.clone();
                call_sid = Some(start.start.call_sid.clone());
                match app.agent {
                    Agent::Interruptible => say(&mut socket, &sid, 150, "long").await,
                    _ => say(&mut socket, &sid, 10, "greeting").await,
                }
                stream_sid = Some(sid);
            }
            InboundMessage::Media(media) => {
                let sid = stream_sid.clone().unwrap();
                let bytes = BASE64.decode(media.payload()).unwrap();
                let pcm: Vec<i16> = bytes.iter().map(|&c| mulaw::decode(c)).collect();
                app.seen.lock().unwrap().media_frames += 1;
                if speech::is_speech(&pcm) {
                    if app.agent == Agent::Interruptible && !cleared {
                        cleared = true;
                        let clear = OutboundMessage::clear(sid.clone()).to_json();
                        socket.send(Message::text(clear)).await.unwrap();
                    }
                    utterance.extend(pcm);
                    quiet_frames = 0;
                    continue;
                }
                quiet_frames += 1;
                if utterance.is_empty() || quiet_frames < 5 {
                    continue;
                }
                let phrase = speech::recognise(&utterance, SAMPLE_RATE);
                utterance.clear();
                let Some(phrase) = phrase else { continue };
                app.seen.lock().unwrap().caller_phrases.push(phrase);
                let call = call_sid.clone().unwrap();
                match (app.agent, phrase) {
                    (Agent::HangUpOnRequest, Phrase::EndCall) => {
                        app.twilio
                            .update_call(&call, CallUpdate::Complete)
                            .await
                            .unwrap();
                    }
                    (Agent::TransferOnRequest, Phrase::Transfer) => {
                        let dial = "<Response><Dial>+15557654321</Dial></Response>".to_owned();
                        app.twilio
                            .update_call(&call, CallUpdate::Twiml(dial))
                            .await
                            .unwrap();
                    }
                    (Agent::Greet, _) => {
                        replies += 1;
                        say(&mut socket, &sid, 10, &format!("reply-{replies}")).await;
                    }
                    _ => {}
                }
            }
            InboundMessage::Mark(mark) => {
                let name = mark.mark.name;
                app.seen.lock().unwrap().marks_back.push(name.clone());
                if app.agent == Agent::CloseAfterGreeting && name == "greeting" {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
            InboundMessage::Dtmf(dtmf) => app.seen.lock().unwrap().dtmf.push_str(&dtmf.dtmf.digit),
            InboundMessage::Stop(_) => break,
            _ => {}
        }
    }
}

async fn new_account(sandbox: &SandboxHandle, seed_value: u64) -> SeededAccount {
    seed(
        sandbox,
        json!({"numbers": 1, "calls_per_number": 0, "recording_share": 0.0, "seed": seed_value}),
    )
    .await
}

/// Point the account's number at the app.
async fn set_voice_url(account: &SeededAccount, sandbox: &SandboxHandle, app: &App, status: bool) {
    let c = client(sandbox, &account.account_sid, &account.auth_token);
    let sid = account.numbers[0].sid.parse().unwrap();
    let mut config = VoiceConfig::webhook(format!("{}/voice", app.origin));
    if status {
        config.status_callback = Some(format!("{}/status", app.origin));
    }
    c.update_incoming_phone_number(&sid, &config).await.unwrap();
}

async fn place(sandbox: &SandboxHandle, account: &SeededAccount, script: Value) -> CallReport {
    let (status, report) = control(
        sandbox,
        reqwest::Method::POST,
        "/sandbox/calls",
        Some(json!({
            "account_sid": account.account_sid,
            "from": "+15551230000",
            "to": account.numbers[0].phone_number,
            "script": script,
        })),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    serde_json::from_value(report).unwrap()
}

fn kinds(report: &CallReport) -> Vec<(&str, Option<u16>)> {
    report
        .callbacks
        .iter()
        .map(|c| (c.kind.as_str(), c.status))
        .collect()
}

#[tokio::test]
async fn a_call_streams_audio_both_ways_and_posts_signed_callbacks() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 501).await;
    let app = start_app(&sandbox, &account, Agent::Greet, standard_twiml).await;
    set_voice_url(&account, &sandbox, &app, false).await;

    let report = place(
        &sandbox,
        &account,
        json!([
            {"wait_for_reply": 3000},
            {"say": "hello", "ms": 400},
            {"dtmf": "1#"},
            {"wait_for_reply": 3000},
            "hangup",
        ]),
    )
    .await;

    assert_eq!(report.status, "completed");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.twiml[0].contains("<Connect"));
    let stream = &report.streams[0];
    assert!(stream.connected);
    assert!(stream.stream_sid.starts_with("MZ"));
    assert_eq!(stream.ended_by, "caller");
    assert_eq!(
        stream.custom_parameters,
        BTreeMap::from([
            ("from".into(), "+15551230000".into()),
            ("tag".into(), "a & b".into())
        ])
    );
    assert_eq!(stream.dtmf_sent, "1#");
    // Greeting and one reply, 10 frames each, all heard as the agent's voice and played out.
    assert_eq!(stream.media_frames_received, 20);
    assert_eq!(stream.agent_voice_frames, 20);
    assert_eq!(stream.audio_ms_played, 400);
    assert_eq!(stream.marks_received, ["greeting", "reply-1"]);
    assert_eq!(stream.marks_played, ["greeting", "reply-1"]);
    assert_eq!(stream.reply_latencies_ms.len(), 1);
    assert!(stream.first_audio_ms.is_some());
    // 400 ms of speech, 200 ms of keys and at least 2 × 300 ms of waiting: 60 frames or more.
    assert!(
        stream.media_frames_sent >= 60,
        "{}",
        stream.media_frames_sent
    );
    assert_eq!(report.media_frames_sent, stream.media_frames_sent);

    // What the application saw.
    {
        let seen = app.seen();
        assert_eq!(seen.upgrade_signed, Some(true));
        assert_eq!(
            seen.stream_events.first().map(String::as_str),
            Some("connected")
        );
        assert_eq!(seen.stream_events.get(1).map(String::as_str), Some("start"));
        assert_eq!(seen.stream_events.get(2).map(String::as_str), Some("media"));
        assert_eq!(seen.stream_events.last().map(String::as_str), Some("stop"));
        assert!(seen.stream_events.contains(&"dtmf".to_owned()));
        assert_eq!(seen.custom_parameters["tag"], "a & b");
        assert_eq!(seen.dtmf, "1#");
        assert_eq!(seen.caller_phrases, [Phrase::Hello]);
        assert_eq!(seen.marks_back, ["greeting", "reply-1"]);
        assert_eq!(seen.media_frames, stream.media_frames_sent);

        // Voice webhook, the Connect action once the caller hung up, the recording callback: all
        // signed, all with Twilio's parameters.
        assert_eq!(
            kinds(&report),
            [
                ("voice", Some(200)),
                ("action", Some(200)),
                ("recording", Some(204))
            ]
        );
        assert!(
            seen.requests.iter().all(|(_, _, signed)| *signed),
            "{:?}",
            seen.requests
        );
        let (_, voice, _) = &seen.requests[0];
        assert_eq!(voice["CallStatus"], "ringing");
        assert_eq!(voice["Direction"], "inbound");
        assert_eq!(voice["To"], account.numbers[0].phone_number);
        assert_eq!(voice["CallSid"], report.call_sid);
        let (path, action, _) = &seen.requests[1];
        assert_eq!(path, "/call-status");
        assert_eq!(action["CallStatus"], "completed");
        assert!(action["CallDuration"].parse::<u64>().is_ok());
        let (_, recording, _) = &seen.requests[2];
        assert_eq!(recording["RecordingStatus"], "completed");
        assert_eq!(recording["RecordingChannels"], "2");
        assert_eq!(recording["RecordingSid"], report.recordings[0].sid);
        assert!(!recording["RecordingUrl"].ends_with(".mp3"));
    }

    // The recording is real: completed, and its media downloads through the REST API.
    let twilio = client(&sandbox, &account.account_sid, &account.auth_token);
    let call: CallSid = report.call_sid.parse().unwrap();
    let fetched = twilio.fetch_call(&call).await.unwrap();
    assert_eq!(
        fetched.status,
        Some(loquent_twilio::calls::CallStatus::Completed)
    );
    let recordings: Vec<_> = twilio
        .list_call_recordings(&call)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(recordings.len(), 1);
    assert_eq!(recordings[0].status, Some(RecordingStatus::Completed));
    assert_eq!(recordings[0].channels, Some(2));
}

#[tokio::test]
async fn barge_in_clears_queued_audio_and_returns_its_marks() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 502).await;
    let app = start_app(&sandbox, &account, Agent::Interruptible, standard_twiml).await;
    set_voice_url(&account, &sandbox, &app, false).await;

    let report = place(
        &sandbox,
        &account,
        json!([{"wait_for_speech": 3000}, {"silence": 200}, {"say": "question", "ms": 300}, {"silence": 200}]),
    )
    .await;

    let stream = &report.streams[0];
    assert_eq!(stream.media_frames_received, 150);
    assert_eq!(stream.clears_received, 1);
    assert_eq!(stream.marks_cleared, ["long"]);
    assert!(stream.marks_played.is_empty());
    // Only what played before the caller spoke was heard, not the 3 s queued.
    assert!(stream.audio_ms_played < 1_000, "{}", stream.audio_ms_played);
    assert_eq!(stream.barge_in_clear_ms.len(), 1);
    assert_eq!(app.seen().marks_back, ["long"]);
}

#[tokio::test]
async fn when_the_server_closes_the_stream_the_action_twiml_runs() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 503).await;
    let app = start_app(
        &sandbox,
        &account,
        Agent::CloseAfterGreeting,
        standard_twiml,
    )
    .await;
    set_voice_url(&account, &sandbox, &app, false).await;

    let report = place(&sandbox, &account, json!([{"wait_for_hangup": 5000}])).await;

    assert_eq!(report.streams[0].ended_by, "server");
    assert_eq!(report.streams[0].marks_played, ["greeting"]);
    assert_eq!(report.said, ["Thanks for calling."]);
    assert_eq!(report.twiml.len(), 2);
    assert_eq!(
        kinds(&report),
        [
            ("voice", Some(200)),
            ("action", Some(200)),
            ("recording", Some(204))
        ]
    );
    let seen = app.seen();
    assert_eq!(seen.requests[1].1["CallStatus"], "in-progress");
    assert!(!seen.stream_events.contains(&"stop".to_owned()));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[tokio::test]
async fn hanging_up_through_the_rest_api_stops_the_stream() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 504).await;
    let app = start_app(&sandbox, &account, Agent::HangUpOnRequest, standard_twiml).await;
    set_voice_url(&account, &sandbox, &app, true).await;

    let report = place(
        &sandbox,
        &account,
        json!([{"say": "end_call", "ms": 300}, {"wait_for_hangup": 5000}]),
    )
    .await;

    assert_eq!(report.streams[0].ended_by, "hangup");
    assert_eq!(report.status, "completed");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let seen = app.seen();
    assert_eq!(seen.caller_phrases, [Phrase::EndCall]);
    assert_eq!(seen.stream_events.last().map(String::as_str), Some("stop"));
    // The number's status callback hears the final state.
    let (_, status, signed) = seen
        .requests
        .iter()
        .find(|(p, _, _)| p == "/status")
        .unwrap();
    assert!(signed);
    assert_eq!(status["CallStatus"], "completed");
    assert_eq!(status["CallbackSource"], "call-progress-events");
}

#[tokio::test]
async fn a_transfer_redirects_the_call_to_a_dial() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 505).await;
    let app = start_app(&sandbox, &account, Agent::TransferOnRequest, standard_twiml).await;
    set_voice_url(&account, &sandbox, &app, false).await;

    let report = place(
        &sandbox,
        &account,
        json!([{"say": "transfer", "ms": 300}, {"wait_for_hangup": 5000}]),
    )
    .await;

    assert_eq!(report.streams[0].ended_by, "redirect");
    assert_eq!(report.dialed, ["+15557654321"]);
    assert_eq!(report.status, "completed");
    assert!(report.twiml.last().unwrap().contains("<Dial>"));
    drop(app);
}

#[tokio::test]
async fn event_streams_deliver_signed_events_to_subscribed_sinks() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 506).await;
    let app = start_app(&sandbox, &account, Agent::Greet, standard_twiml).await;
    set_voice_url(&account, &sandbox, &app, true).await;
    let twilio = client(&sandbox, &account.account_sid, &account.auth_token);
    let sink = twilio
        .create_webhook_sink(
            "app",
            &WebhookSink::new(format!("{}/events", app.origin), Method::Post, true),
        )
        .await
        .unwrap();
    twilio
        .create_subscription(
            "calls",
            sink.sid.as_ref().unwrap(),
            &[
                EventType::new("com.twilio.voice.status-callback.call.completed", 2),
                EventType::new("com.twilio.voice.insights.call-summary.complete", 1),
            ],
        )
        .await
        .unwrap();

    let report = place(&sandbox, &account, json!(["hangup"])).await;

    assert_eq!(report.events.len(), 1);
    assert_eq!(report.events[0].status, Some(200));
    let seen = app.seen();
    assert_eq!(seen.events.len(), 1);
    let (signed, types) = &seen.events[0];
    assert!(signed, "bodySHA256 and URL signature are valid");
    assert_eq!(
        types,
        &[
            "com.twilio.voice.insights.call-summary.complete",
            "com.twilio.voice.status-callback.call.completed",
        ]
    );
}

#[tokio::test]
async fn bad_twiml_and_unreachable_apps_fail_the_call_like_twilio() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 507).await;
    let app = start_app(&sandbox, &account, Agent::Greet, |_| {
        "<Response><Connect><Stream/></Connect>".to_owned()
    })
    .await;
    set_voice_url(&account, &sandbox, &app, false).await;
    let report = place(&sandbox, &account, json!([])).await;
    assert_eq!(report.status, "failed");
    assert_eq!(report.errors[0].code, 12100, "{:?}", report.errors);
    assert!(report.streams.is_empty());

    // Nothing listening on the voice URL: 11200.
    let twilio = client(&sandbox, &account.account_sid, &account.auth_token);
    let sid = account.numbers[0].sid.parse().unwrap();
    let config = VoiceConfig::webhook("http://127.0.0.1:9/voice");
    twilio
        .update_incoming_phone_number(&sid, &config)
        .await
        .unwrap();
    let report = place(&sandbox, &account, json!([])).await;
    assert_eq!(report.status, "failed");
    assert_eq!(report.errors[0].code, 11200);
    assert_eq!(report.callbacks[0].status, None);
}

#[tokio::test]
async fn calls_run_in_the_background_on_request_and_bad_requests_are_explained() {
    let sandbox = crate::common::start().await;
    let account = new_account(&sandbox, 508).await;
    let app = start_app(&sandbox, &account, Agent::Greet, standard_twiml).await;
    set_voice_url(&account, &sandbox, &app, false).await;

    let (status, started) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/calls",
        Some(json!({
            "account_sid": account.account_sid, "from": "+15551230000",
            "to": account.numbers[0].phone_number, "script": [{"silence": 300}], "wait": false,
        })),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let path = started["report"].as_str().unwrap().to_owned();
    let report = loop {
        let (status, body) = control(&sandbox, reqwest::Method::GET, &path, None).await;
        if status == 200 {
            break body;
        }
        assert_eq!(status, 202);
        assert_eq!(body["status"], "in-progress");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(report["status"], "completed");
    assert_eq!(report["call_sid"], started["call_sid"]);

    for (body, expected, message) in [
        (
            json!({"account_sid": "AC00000000000000000000000000000000", "from": "+1", "to": "+1"}),
            404,
            "",
        ),
        (
            json!({"account_sid": account.account_sid, "from": "+15551230000", "to": "+15550000000"}),
            400,
            "is not a number of account",
        ),
        (
            json!({"account_sid": account.account_sid, "from": "+1", "to": account.numbers[0].phone_number, "script": [{"sing": 1}]}),
            400,
            "unknown step",
        ),
    ] {
        let (status, error) = control(
            &sandbox,
            reqwest::Method::POST,
            "/sandbox/calls",
            Some(body),
        )
        .await;
        assert_eq!(status, expected, "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{error}"
        );
    }
    let (status, _) = control(&sandbox, reqwest::Method::GET, "/sandbox/calls/CA0", None).await;
    assert_eq!(status, 404);
}
