//! Live inbound calls end to end: the sandbox's call simulator dials a number whose voice URL is
//! this server, the server bridges the media stream to the AI emulators, and the test checks
//! what the caller heard and what the database recorded.

use loquent_sandbox::{CallReport, SandboxHandle, SeededAccount};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::support::{
    Member, TestApp, connect_and_import, sandbox_account, set_recording, voice_url_on_twilio,
};

const CALLER: &str = "+15557654321";
const TRANSFER_TO: &str = "+15550001111";

pub struct Line {
    pub app: TestApp,
    pub sandbox: SandboxHandle,
    pub account: SeededAccount,
    pub owner: Member,
    pub phone_id: String,
}

/// A server wired to the sandbox (Twilio and the AI emulators), with its public URL its own
/// address so the simulator can call it, one number configured to it and answered by an agent.
pub async fn line(agent_config: Value, recording: bool) -> Line {
    line_with(agent_config, recording, &[]).await
}

/// [`line`] with more server settings.
pub async fn line_with(agent_config: Value, recording: bool, settings: &[(&str, &str)]) -> Line {
    let sandbox = loquent_sandbox::Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let (api, openai, gemini) = (
        sandbox.twilio_api_base(),
        sandbox.openai_base_url(),
        sandbox.gemini_base_url(),
    );
    let mut all = vec![
        ("LOQUENT_TWILIO_API_BASE", api.as_str()),
        ("LOQUENT_TWILIO_EVENTS_BASE", api.as_str()),
        ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
        ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ("LOQUENT_GEMINI_BASE_URL", gemini.as_str()),
        ("LOQUENT_GEMINI_API_KEY", "gm-sandbox"),
    ];
    all.extend_from_slice(settings);
    let app = TestApp::builder().with_settings(&all).start().await;
    let account = sandbox_account(&sandbox, 1, 61).await;
    let owner = app.owner("Acme Plumbing").await;
    let phones = connect_and_import(&app, &owner, &account).await;
    let phone_id = phones[0]["id"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/configure-phone-voice",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        voice_url_on_twilio(&sandbox, &account, &account.numbers[0].sid).await,
        Some(app.url("/twilio/voice"))
    );
    let org_id: uuid::Uuid = owner.org_id().parse().unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({
                "name": "Front desk",
                "prompt": "You answer the phone for Acme Plumbing.",
                "config": agent_config,
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let agent: Value = res.json().await.unwrap();
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let res = owner
        .client
        .put(app.url(&format!("/api/phones/{phone_id}")))
        .json(&json!({"agent_id": agent_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    if recording {
        set_recording(&app, org_id, true).await;
    }
    Line {
        app,
        sandbox,
        account,
        owner,
        phone_id,
    }
}

pub fn openai_agent(lookup_url: &str) -> Value {
    json!({
        "provider": "openai",
        "tools": {"end_call": true, "transfer_call": true, "lookup_caller": true},
        "transfer_numbers": [TRANSFER_TO],
        "lookup": {"url": lookup_url, "token": CRM_TOKEN},
    })
}

const CRM_TOKEN: &str = "crm-secret-token";

/// A customer system answering caller look-ups: it knows the caller when asked with the token.
/// Returns its URL and the look-ups it answered (phone, authorized).
async fn crm() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>,
) {
    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>;
    async fn lookup(
        State(seen): State<Seen>,
        headers: HeaderMap,
        Query(query): Query<std::collections::HashMap<String, String>>,
    ) -> (StatusCode, axum::Json<Value>) {
        let phone = query.get("phone").cloned().unwrap_or_default();
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {CRM_TOKEN}"));
        seen.lock().unwrap().push((phone.clone(), authorized));
        if !authorized {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
        }
        if phone != CALLER {
            return (StatusCode::NOT_FOUND, axum::Json(json!({})));
        }
        (
            StatusCode::OK,
            axum::Json(json!({"name": "Ada Lovelace", "plan": "gold"})),
        )
    }
    let seen: Seen = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callers", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/callers", axum::routing::get(lookup))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

pub fn gemini_agent() -> Value {
    json!({
        "provider": "gemini",
        "tools": {"end_call": true, "transfer_call": true},
        "transfer_numbers": [TRANSFER_TO],
    })
}

impl Line {
    pub async fn call(&self, script: Value) -> CallReport {
        let res = reqwest::Client::new()
            .post(format!("{}/sandbox/calls", self.sandbox.twilio_api_base()))
            .json(&json!({
                "account_sid": self.account.account_sid,
                "from": CALLER,
                "to": self.account.numbers[0].phone_number,
                "script": script,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn call_row(&self, call_sid: &str) -> Option<loquent::entity::call::Model> {
        // The bridge writes the end of the call through its writer task: give it a moment.
        for _ in 0..50 {
            let row = loquent::entity::call::Entity::find()
                .filter(loquent::entity::call::Column::CallSid.eq(call_sid))
                .one(&self.app.app.db)
                .await
                .unwrap();
            if row.as_ref().is_none_or(|r| r.status != "in-progress") {
                return row;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the call {call_sid} stayed in progress");
    }

    /// The call's stored transcript came from the live session and holds the caller's lines as
    /// well as the agent's, timed and in time order.
    async fn assert_two_sided_transcript(&self, call_sid: &str) {
        let mut call = None;
        for _ in 0..50 {
            call = self.call_row(call_sid).await;
            if call.as_ref().is_some_and(|c| c.transcription.is_some()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let call = call.expect("call row");
        let text = call.transcription.clone().expect("a live transcript");
        assert_eq!(call.transcript_source.as_deref(), Some("live"));
        assert!(text.lines().any(|l| l.starts_with("Caller: ")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("Agent: ")), "{text}");
        let segments = call.transcript_segments.expect("segments");
        let segments = segments.as_array().expect("an array of segments");
        assert_eq!(segments.len(), text.lines().count(), "{segments:?}");
        let starts: Vec<f64> = segments
            .iter()
            .map(|s| s["start"].as_f64().expect("a start time"))
            .collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
        assert!(
            segments
                .iter()
                .all(|s| s["end"].as_f64() >= s["start"].as_f64()),
            "{segments:?}"
        );
    }

    /// The realtime emulator's log of its connections (`{"connections": [...]}`).
    async fn provider_log(&self) -> Value {
        reqwest::get(format!(
            "{}/sandbox/realtime/connections",
            self.sandbox.twilio_api_base()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    }

    /// Queues `faults` for the next connection to `provider`'s emulator.
    async fn fault_next_provider_connection(&self, provider: &str, faults: Value) {
        let res = reqwest::Client::new()
            .post(format!(
                "{}/sandbox/realtime/faults",
                self.sandbox.twilio_api_base()
            ))
            .json(&json!({"provider": provider, "connections": 1, "faults": faults}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    /// Client messages the realtime emulator received, over all its connections.
    async fn provider_received(&self) -> Vec<Value> {
        let log = self.provider_log().await;
        log["connections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["received"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

#[tokio::test]
async fn an_openai_call_greets_handles_barge_in_looks_up_and_ends_after_the_goodbye() {
    let (crm_url, crm_seen) = crm().await;
    // The test's customer system is on loopback, which only an operator's setting allows.
    // Batched as under load (no call counts as light), so the receive threshold is exercised.
    let line = line_with(
        openai_agent(&crm_url),
        false,
        &[
            ("LOQUENT_ALLOW_PRIVATE_LOOKUPS", "true"),
            ("LOQUENT_LIGHT_LOAD_CALLS_PER_CORE", "0"),
        ],
    )
    .await;
    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"say": "question", "ms": 800},
            {"wait_for_speech": 5000},
            {"silence": 600},
            {"say": "hello", "ms": 700},
            {"wait_for_reply": 5000},
            {"say": "lookup_caller", "ms": 800},
            {"wait_for_reply": 5000},
            {"say": "end_call", "ms": 800},
            {"wait_for_hangup": 20000}
        ]))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.status, "completed");

    // The TwiML connects a bidirectional stream with our parameters, and no recording.
    let twiml = &report.twiml[0];
    assert!(!twiml.contains("<Recording"), "{twiml}");
    assert!(twiml.contains(&format!(
        "<Connect action=\"{}\" method=\"POST\">",
        line.app.url("/twilio/call-status")
    )));
    let stream = &report.streams[0];
    assert_eq!(stream.custom_parameters["from"], CALLER);
    assert_eq!(
        stream.custom_parameters["to"],
        line.account.numbers[0].phone_number
    );
    assert_eq!(stream.custom_parameters["call_sid"], report.call_sid);

    // The agent spoke first and the caller heard it.
    assert!(stream.first_audio_ms.is_some(), "{stream:?}");
    assert!(stream.audio_ms_played >= 1_000, "{stream:?}");
    // Barge-in: the caller talked over the long answer, the server cleared Twilio's buffer…
    assert!(stream.clears_received >= 1, "{stream:?}");
    assert!(!stream.barge_in_clear_ms.is_empty());
    // …and truncated the model's reply at what had been played, not at what had been sent.
    let received = line.provider_received().await;
    let truncate = received
        .iter()
        .find(|m| m["type"] == "conversation.item.truncate")
        .unwrap_or_else(|| panic!("no truncate in {received:#?}"));
    let played = truncate["audio_end_ms"].as_u64().unwrap();
    assert!(
        (100..2_000).contains(&played),
        "truncated at {played} ms of a 2000 ms answer"
    );
    // lookup_caller: the customer system was asked with the token, and its answer reached the
    // model as the tool's result.
    assert_eq!(
        crm_seen.lock().unwrap().clone(),
        vec![(CALLER.to_owned(), true)]
    );
    let output = received
        .iter()
        .find(|m| m["item"]["type"] == "function_call_output")
        .unwrap_or_else(|| panic!("no tool result in {received:#?}"));
    assert!(
        output["item"]["output"]
            .as_str()
            .unwrap()
            .contains("Ada Lovelace")
    );
    // end_call: the goodbye played out, then the call was hung up through the REST API.
    assert_eq!(stream.ended_by, "hangup", "{stream:?}");
    let last_mark = stream.marks_received.last().unwrap();
    assert!(
        stream.marks_played.contains(last_mark),
        "the goodbye's mark was not played before the hang-up: {stream:?}"
    );

    // The call is visible in the metrics.
    let metrics = reqwest::get(line.app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "loquent_active_calls",
        "loquent_first_audio_seconds",
        "loquent_barge_in_clear_seconds",
        "loquent_media_frames_total{direction=\"caller_to_agent\"}",
        "loquent_media_frames_total{direction=\"agent_to_caller\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    // The stream's connection got its descriptor, and the caller's frames were batched.
    #[cfg(target_os = "linux")]
    assert!(
        metrics.contains("loquent_receive_threshold_raised_total"),
        "the receive threshold was never raised"
    );

    let call = line.call_row(&report.call_sid).await.expect("call row");
    assert_eq!(call.direction, "inbound");
    assert_eq!(call.status, "completed");
    assert_eq!(call.from_to_number, CALLER);
    assert_eq!(call.phone_number_id.unwrap().to_string(), line.phone_id);
    assert!(call.duration_secs.is_some());
    let contact = loquent::entity::contact::Entity::find_by_id(call.contact_id.unwrap())
        .one(&line.app.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.source, "inbound_call");
    assert_eq!(contact.organization_id.to_string(), line.owner.org_id());

    // Both sides are in the stored live transcript, in the order they spoke, with times.
    line.assert_two_sided_transcript(&report.call_sid).await;
}

#[tokio::test]
async fn a_gemini_call_is_bridged_both_ways_and_transfers() {
    let line = line(gemini_agent(), true).await;
    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"say": "transfer", "ms": 800},
            {"wait_for_hangup": 20000}
        ]))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Recording on: dual channels, with our callback.
    assert!(
        report.twiml[0].contains("<Start><Recording recordingStatusCallback=")
            && report.twiml[0].contains("channels=\"dual\""),
        "{}",
        report.twiml[0]
    );
    let stream = &report.streams[0];
    assert!(stream.audio_ms_played >= 500, "{stream:?}");
    assert_eq!(stream.ended_by, "redirect", "{stream:?}");
    assert_eq!(report.dialed, vec![TRANSFER_TO.to_owned()]);
    let call = line.call_row(&report.call_sid).await.expect("call row");
    assert_eq!(call.status, "completed");
}

/// Signs a form the way Twilio signs a webhook to `url`.
fn signed_form(token: &str, url: &str, form: &[(&str, &str)]) -> String {
    loquent_twilio::signature::sign(token, url, form.iter().copied())
}

async fn post_voice(
    line: &Line,
    form: &[(&str, &str)],
    signature: Option<&str>,
) -> reqwest::Response {
    let url = line.app.url("/twilio/voice");
    let mut req = reqwest::Client::new().post(&url).form(form);
    if let Some(signature) = signature {
        req = req.header("x-twilio-signature", signature);
    }
    req.send().await.unwrap()
}

async fn call_rows(line: &Line) -> usize {
    loquent::entity::call::Entity::find()
        .all(&line.app.app.db)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_voice_twiml_follows_the_recording_switch() {
    let line = line(gemini_agent(), false).await;
    let to = line.account.numbers[0].phone_number.clone();
    let form = [
        ("AccountSid", line.account.account_sid.as_str()),
        ("CallSid", "CA00000000000000000000000000000001"),
        ("From", CALLER),
        ("To", to.as_str()),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let url = line.app.url("/twilio/voice");
    let signature = signed_form(&line.account.auth_token, &url, &form);
    let origin = line.app.url("");
    let host = origin.trim_start_matches("http://");
    let twiml = |body: String| {
        body.replace(&origin, "http://APP")
            .replace(host, "APP")
            .replace(&to, "+1NUMBER")
    };

    let res = post_voice(&line, &form, Some(&signature)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/xml; charset=utf-8");
    insta::assert_snapshot!("voice_without_recording", twiml(res.text().await.unwrap()));

    set_recording(&line.app, line.owner.org_id().parse().unwrap(), true).await;
    // A retried webhook (same CallSid) gets the same answer and reuses the pre-warmed session.
    let res = post_voice(&line, &form, Some(&signature)).await;
    assert_eq!(res.status(), StatusCode::OK);
    insta::assert_snapshot!("voice_with_recording", twiml(res.text().await.unwrap()));
    assert_eq!(line.app.app.live.prewarmed.len(), 1);
}

#[tokio::test]
async fn forged_or_malformed_webhooks_are_refused_and_write_nothing() {
    let line = line(gemini_agent(), false).await;
    let to = line.account.numbers[0].phone_number.clone();
    let form = [
        ("AccountSid", line.account.account_sid.as_str()),
        ("CallSid", "CA00000000000000000000000000000002"),
        ("From", CALLER),
        ("To", to.as_str()),
    ];
    let url = line.app.url("/twilio/voice");
    let forged = signed_form("not-the-token", &url, &form);
    assert_eq!(
        post_voice(&line, &form, Some(&forged)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_voice(&line, &form, None).await.status(),
        StatusCode::FORBIDDEN
    );
    // Signed over other parameters than those sent (a tampered To).
    let tampered = [form[0], form[1], form[2], ("To", "+15550009999")];
    let res = post_voice(
        &line,
        &tampered,
        Some(&signed_form(&line.account.auth_token, &url, &form)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        line.app.app.live.prewarmed.is_empty(),
        "a forged call opened a session"
    );

    // Correctly signed but missing To: a clear 400.
    let partial = [form[0], form[1], form[2]];
    let res = post_voice(
        &line,
        &partial,
        Some(&signed_form(&line.account.auth_token, &url, &partial)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("To"));

    // The status callback is signed too.
    let status_url = line.app.url("/twilio/call-status");
    let res = reqwest::Client::new()
        .post(&status_url)
        .header("x-twilio-signature", signed_form("nope", &status_url, &[]))
        .form(&[
            ("AccountSid", line.account.account_sid.as_str()),
            ("CallSid", "CA1"),
            ("CallStatus", "completed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A media stream without a signature is refused at the upgrade…
    let ws = line.app.ws_url("/twilio/stream");
    let refused = tokio_tungstenite::connect_async(ws.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // …a plain request there is told it is a WebSocket…
    let res = reqwest::Client::new()
        .get(line.app.url("/twilio/stream"))
        .header("x-twilio-signature", "Zm9yZ2Vk")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(res.headers()["upgrade"], "websocket");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("this URL is a WebSocket")
    );
    // …a malformed handshake is refused with the reason…
    let handshake = |key: &'static str, version: &'static str| {
        reqwest::Client::new()
            .get(line.app.url("/twilio/stream"))
            .header("x-twilio-signature", "Zm9yZ2Vk")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-key", key)
            .header("sec-websocket-version", version)
            .send()
    };
    let res = handshake("dGhlIHNhbXBsZSBub25jZQ==", "8").await.unwrap();
    assert_eq!(res.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(res.headers()["sec-websocket-version"], "13");
    let res = handshake("c2hvcnQ=", "13").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("Sec-WebSocket-Key"));
    // …and one with a wrong signature is closed at `start` without touching anything.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = ws.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-twilio-signature", "Zm9yZ2Vk".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // The socket keeps the protocol while it waits for `start`: a ping is answered.
    socket
        .send(tokio_tungstenite::tungstenite::Message::Ping(
            b"still there?".to_vec().into(),
        ))
        .await
        .unwrap();
    let pong = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .expect("a pong before start")
        .unwrap()
        .unwrap();
    assert_eq!(
        pong,
        tokio_tungstenite::tungstenite::Message::Pong(b"still there?".to_vec().into())
    );
    let start = json!({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ00000000000000000000000000000001",
        "start": {
            "streamSid": "MZ00000000000000000000000000000001",
            "accountSid": line.account.account_sid,
            "callSid": "CA00000000000000000000000000000002",
            "tracks": ["inbound"],
            "customParameters": {"from": CALLER, "to": to},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    });
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
        ))
        .await
        .unwrap();
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            start.to_string(),
        ))
        .await
        .unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(message)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the server closes a forged stream");
    assert_eq!(closed, Some(1008));
    assert_eq!(call_rows(&line).await, 0);
    let contacts = loquent::entity::contact::Entity::find()
        .all(&line.app.app.db)
        .await
        .unwrap();
    assert!(contacts.is_empty(), "a forged stream created a contact");
}

#[tokio::test]
async fn a_number_without_an_agent_is_declined_politely() {
    let line = line(gemini_agent(), false).await;
    let res = line
        .owner
        .client
        .delete(
            line.app
                .url(&format!("/api/phones/{}/agent", line.phone_id)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let report = line.call(json!([{"wait_for_hangup": 5000}])).await;
    assert_eq!(
        report.said,
        vec![loquent::telephony::voice::UNAVAILABLE.to_owned()]
    );
    assert!(report.streams.is_empty());
    assert!(report.twiml[0].ends_with("<Hangup/></Response>"));
    assert_eq!(call_rows(&line).await, 0);
}

#[tokio::test]
async fn a_provider_that_drops_mid_call_ends_it_cleanly_with_its_status() {
    let mut agent = gemini_agent();
    agent["provider"] = json!("openai");
    agent["model"] = json!("gpt-realtime-drop");
    let line = line(agent, false).await;
    let started = std::time::Instant::now();
    let report = line.call(json!([{"wait_for_hangup": 15000}])).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let stream = &report.streams[0];
    assert_eq!(stream.ended_by, "redirect", "{stream:?}");
    assert!(
        report.said.iter().any(|s| s.contains("disconnected")),
        "{:?}",
        report.said
    );
    assert_eq!(report.status, "completed");
    let call = line.call_row(&report.call_sid).await.expect("call row");
    assert_eq!(call.status, "completed");
    assert!(call.duration_secs.is_some());
}

#[tokio::test]
async fn a_gemini_connection_that_drops_mid_call_is_resumed_and_the_call_goes_on() {
    let line = line(gemini_agent(), false).await;
    // The call's first Gemini connection loses its TCP connection a while after setup: no goAway,
    // no close frame.
    line.fault_next_provider_connection("gemini", json!({"drop_after_ms": 2500}))
        .await;
    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"silence": 3000},
            {"say": "hello", "ms": 800},
            {"wait_for_reply": 5000},
            "hangup"
        ]))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let stream = &report.streams[0];
    assert_eq!(stream.ended_by, "caller", "{stream:?}");
    assert!(
        !report.said.iter().any(|s| s.contains("disconnected")),
        "the caller heard the apology: {:?}",
        report.said
    );
    let log = line.provider_log().await;
    let connections = log["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 2, "one resumption: {log}");
    let resumed_with = &connections[1]["received"][0]["setup"]["sessionResumption"]["handle"];
    assert!(
        resumed_with
            .as_str()
            .is_some_and(|h| h.starts_with("sandbox-handle-")),
        "{log}"
    );
    // The caller was answered on the new connection.
    assert!(
        connections[1]["sent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.get("serverContent").is_some()),
        "{log}"
    );
    let call = line.call_row(&report.call_sid).await.expect("call row");
    assert_eq!(call.status, "completed");
}

#[tokio::test]
async fn an_openai_session_at_its_time_limit_is_replaced_and_the_call_goes_on() {
    let mut agent = gemini_agent();
    agent["provider"] = json!("openai");
    let line = line(agent, false).await;
    // The call's first session reaches OpenAI's 60-minute limit early: `session_expired`, then
    // the close.
    line.fault_next_provider_connection("openai", json!({"expire_after_ms": 2500}))
        .await;
    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"silence": 3000},
            {"say": "hello", "ms": 800},
            {"wait_for_reply": 5000},
            "hangup"
        ]))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let stream = &report.streams[0];
    assert_eq!(stream.ended_by, "caller", "{stream:?}");
    assert!(
        !report.said.iter().any(|s| s.contains("disconnected")),
        "the caller heard the apology: {:?}",
        report.said
    );
    let log = line.provider_log().await;
    let connections = log["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 2, "one replacement: {log}");
    let received = connections[1]["received"].as_array().unwrap();
    assert_eq!(received[0]["type"], "session.update", "{log}");
    // The replacement heard the conversation so far (the greeting), and answered the caller.
    assert!(
        received
            .iter()
            .any(|m| m["type"] == "conversation.item.create" && m["item"]["role"] == "assistant"),
        "{log}"
    );
    assert!(
        connections[1]["sent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "response.created"),
        "{log}"
    );
    let call = line.call_row(&report.call_sid).await.expect("call row");
    assert_eq!(call.status, "completed");
}

/// The audio of each caller message the provider received, as the emulator logs it
/// (`<N base64 characters>`).
fn caller_audio(received: &[Value]) -> Vec<String> {
    received
        .iter()
        .filter_map(|message| {
            let audio = if message["type"] == "input_audio_buffer.append" {
                &message["audio"]
            } else {
                &message["realtimeInput"]["audio"]["data"]
            };
            audio.as_str().map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn caller_audio_goes_frame_by_frame_while_lightly_loaded_and_in_batches_under_load() {
    // One 20 ms frame is 160 bytes of µ-law for OpenAI (216 base64 characters), 640 of PCM16 at
    // 16 kHz for Gemini (856); OpenAI's batch under load is two frames (428).
    let cases = [
        (json!({"provider": "openai"}), "100", 216),
        (json!({"provider": "openai"}), "0", 428),
        (gemini_agent(), "100", 856),
    ];
    for (agent, calls_per_core, chars) in cases {
        let provider = agent["provider"].clone();
        let line = line_with(
            agent,
            false,
            &[("LOQUENT_LIGHT_LOAD_CALLS_PER_CORE", calls_per_core)],
        )
        .await;
        let report = line
            .call(json!([{"wait_for_speech": 5000}, {"say": "hello", "ms": 1000}, "hangup"]))
            .await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let audio = caller_audio(&line.provider_received().await);
        let expected = format!("<{chars} base64 characters>");
        let sized = audio.iter().filter(|a| **a == expected).count();
        // The last message of a call may be a partial batch, and a frame may be sent early when
        // another message goes first.
        assert!(
            audio.len() >= 25 && sized * 10 >= audio.len() * 9,
            "{provider} at {calls_per_core} calls per core: {} of {} messages of {expected}: {audio:?}",
            sized,
            audio.len()
        );
    }
}

#[tokio::test]
async fn a_caller_hanging_up_ends_the_agent_session_within_a_second() {
    let line = line(gemini_agent(), false).await;
    let report = line
        .call(json!([{"wait_for_speech": 5000}, {"silence": 200}, "hangup"]))
        .await;
    assert_eq!(report.streams[0].ended_by, "caller");
    let hung_up = std::time::Instant::now();
    loop {
        let log = line.provider_log().await;
        let connections = log["connections"].as_array().unwrap();
        assert_eq!(connections.len(), 1, "one session per call: {log}");
        if !connections[0]["ended"].is_null() {
            break;
        }
        assert!(
            hung_up.elapsed() < std::time::Duration::from_secs(1),
            "the provider session outlived the call: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let call = line.call_row(&report.call_sid).await.expect("call row");
    assert_eq!(call.status, "completed");
    assert!(line.app.app.live.prewarmed.is_empty());
}

#[tokio::test]
async fn a_known_caller_is_introduced_to_the_agent_before_the_greeting() {
    let mut agent = gemini_agent();
    agent["provider"] = json!("openai");
    agent["caller_context"] = json!(true);
    let line = line(agent, false).await;
    // A returning caller: the business knows their name and something about them. (There is no
    // contacts API yet, so the contact is written as the call-history import will write it.)
    let org_id: uuid::Uuid = line.owner.org_id().parse().unwrap();
    let db = &line.app.app.db;
    let contact = loquent::contacts::resolve::resolve_or_create(db, org_id, CALLER, "manual")
        .await
        .unwrap();
    let mut known: loquent::entity::contact::ActiveModel = contact.into();
    known.name = Set(Some("Ada Lovelace".into()));
    known.notes = Set(Some("Boiler serviced in March.".into()));
    known.update(db).await.unwrap();

    let report = line.call(json!([{"wait_for_reply": 5000}, "hangup"])).await;
    assert!(report.streams[0].audio_ms_played > 0);
    let received = line.provider_received().await;
    let position = |wanted: &dyn Fn(&Value) -> bool| received.iter().position(wanted);
    let context = position(&|m| {
        m["type"] == "conversation.item.create"
            && m["item"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Ada Lovelace") && t.contains("Boiler serviced"))
    })
    .unwrap_or_else(|| panic!("no caller context in {received:#?}"));
    let greeting = position(&|m| m["type"] == "response.create").expect("a greeting");
    assert!(context < greeting, "the context came after the greeting");
    // The call reused the known contact rather than creating another.
    let call = line.call_row(&report.call_sid).await.unwrap();
    let contacts = loquent::entity::contact::Entity::find()
        .all(db)
        .await
        .unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(call.contact_id, Some(contacts[0].id));
}

#[tokio::test]
async fn a_lookup_url_on_a_private_network_is_refused_at_call_time() {
    // The agent was saved while the operator allowed private lookups (or with a name that
    // resolved publicly then); now the server runs with the default and the URL is on loopback.
    let (crm_url, crm_seen) = crm().await;
    let line = line(openai_agent("https://crm.example.com/callers"), false).await;
    {
        use loquent::entity::agent;
        use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
        let row = agent::Entity::find()
            .one(&line.app.app.db)
            .await
            .unwrap()
            .expect("the agent");
        let mut config = row.realtime_config.clone();
        config["lookup"]["url"] = json!(crm_url);
        let mut active = row.into_active_model();
        active.realtime_config = Set(config);
        active.update(&line.app.app.db).await.unwrap();
    }
    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"say": "lookup_caller", "ms": 800},
            {"wait_for_reply": 5000},
            "hangup"
        ]))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Nothing was sent there, and the model was told why (the call went on).
    assert!(crm_seen.lock().unwrap().is_empty());
    let received = line.provider_received().await;
    let output = received
        .iter()
        .find(|m| m["item"]["type"] == "function_call_output")
        .unwrap_or_else(|| panic!("no tool result in {received:#?}"));
    let output = output["item"]["output"].as_str().unwrap();
    assert!(output.contains("lookup refused"), "{output}");
    assert!(output.contains("LOQUENT_ALLOW_PRIVATE_LOOKUPS"), "{output}");
    assert!(!output.contains(CRM_TOKEN));
}
