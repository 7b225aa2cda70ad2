//! Twilio Event Streams deliveries (seed 001) end to end: the sandbox sends real signed batches
//! to `POST /twilio/events` for calls that bypass our TwiML (SIP trunk, Studio), for SMS, and for
//! events a test hands it; the server stores each event once and its jobs write calls, start
//! REST recordings, run the recordings pipeline and keep SMS against their contacts.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use loquent::calls::after::kind as after;
use loquent::entity::{call, job, message, twilio_event};
use loquent::event_streams::handle::kind;
use loquent_sandbox::{CallReport, SandboxHandle, SeededAccount};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Member, TestApp, api_error, connect_and_import, set_recording};

const CALLER: &str = "+15557654321";

/// A server and its organization on a sandbox account whose events it receives.
struct Streamed {
    app: TestApp,
    sandbox: SandboxHandle,
    account: SeededAccount,
    owner: Member,
    org_id: Uuid,
}

/// A server with its own address as its public URL (the sandbox delivers there), an
/// organization on a fresh account with `numbers` numbers (and a recorded call history when
/// `history` says how many calls per number), every number imported but none pointed at our
/// voice URL: calls to them bypass our TwiML, as SIP trunk and Studio calls do.
async fn streamed(numbers: u32, seed: u64, history: u32, call: bool, sms: bool) -> Streamed {
    let sandbox = loquent_sandbox::Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let (api, openai) = (sandbox.twilio_api_base(), sandbox.openai_base_url());
    let app = TestApp::builder()
        .with_settings(&[
            ("LOQUENT_TWILIO_API_BASE", api.as_str()),
            ("LOQUENT_TWILIO_EVENTS_BASE", api.as_str()),
            ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
            ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ])
        .start()
        .await;
    let res = reqwest::Client::new()
        .post(format!("{api}/sandbox/accounts"))
        .json(&json!({"numbers": numbers, "calls_per_number": history,
                      "recording_share": 1.0, "seed": seed}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let account: SeededAccount = res.json().await.unwrap();
    let owner = app.owner("Acme Plumbing").await;
    connect_and_import(&app, &owner, &account).await;
    let org_id = owner.org_id().parse().unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/setup-event-sink",
            &json!({"call_events": call, "sms_events": sms}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    Streamed {
        app,
        sandbox,
        account,
        owner,
        org_id,
    }
}

impl Streamed {
    fn number(&self, i: usize) -> &str {
        &self.account.numbers[i].phone_number
    }

    /// A call to number `i` that Twilio connects without our TwiML, as the sandbox reports it
    /// once it has ended.
    async fn trunk_call(&self, i: usize, hold_ms: u64, status_events: &[&str]) -> CallReport {
        let res = reqwest::Client::new()
            .post(format!("{}/sandbox/calls", self.sandbox.twilio_api_base()))
            .json(&json!({
                "account_sid": self.account.account_sid,
                "from": CALLER,
                "to": self.number(i),
                "bypass": true,
                "hold_ms": hold_ms,
                "status_callback_events": status_events,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// `GET /2010-04-01/Accounts/{account}/{path}` with the account's credentials.
    async fn on_twilio(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!(
                "{}/2010-04-01/Accounts/{}/{path}",
                self.sandbox.twilio_api_base(),
                self.account.account_sid
            ))
            .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The SID of a call of the account's seeded history.
    async fn history_call(&self) -> String {
        let calls = self.on_twilio("Calls.json").await;
        calls["calls"][0]["sid"].as_str().unwrap().to_owned()
    }

    async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.sandbox.twilio_api_base()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        res.json().await.unwrap()
    }

    /// An SMS on the account (`inbound` or `outbound`); the sandbox's deliveries.
    async fn sms(&self, from: &str, to: &str, direction: &str, body: &str) -> Value {
        self.sandbox_post(
            "/sandbox/messages",
            json!({"account_sid": self.account.account_sid, "from": from, "to": to,
                   "direction": direction, "body": body}),
        )
        .await
    }

    /// Waits until every job of `kinds` has ended, and returns them.
    async fn settled(&self, kinds: &[&str]) -> Vec<job::Model> {
        for _ in 0..300 {
            let jobs = job::Entity::find()
                .filter(job::Column::Kind.is_in(kinds.iter().copied()))
                .all(&self.app.app.db)
                .await
                .unwrap();
            if jobs
                .iter()
                .all(|j| ["done", "skipped", "failed"].contains(&j.status.as_str()))
            {
                return jobs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("jobs of {kinds:?} did not end");
    }

    async fn call_row(&self, call_sid: &str) -> Option<call::Model> {
        call::Entity::find()
            .filter(call::Column::CallSid.eq(call_sid))
            .one(&self.app.app.db)
            .await
            .unwrap()
    }

    /// Each stored event's type and what became of it, in the order received.
    async fn outcomes(&self) -> Vec<(String, Option<String>)> {
        use sea_orm::QueryOrder;
        twilio_event::Entity::find()
            .order_by_asc(twilio_event::Column::Id)
            .all(&self.app.app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.event_type, e.outcome))
            .collect()
    }

    async fn events_stored(&self) -> u64 {
        twilio_event::Entity::find()
            .count(&self.app.app.db)
            .await
            .unwrap()
    }
}

fn delivered(report: &CallReport) -> Vec<String> {
    for delivery in &report.events {
        assert_eq!(delivery.status, Some(204), "{delivery:?}");
    }
    report
        .events
        .iter()
        .flat_map(|d| d.types.iter().cloned())
        .collect()
}

#[tokio::test]
async fn a_trunk_call_known_only_by_its_call_summary_gets_a_row_in_the_calls_list() {
    let s = streamed(2, 71, 0, true, false).await;
    let cookie = crate::realtime::session_cookie(&s.app, &s.owner).await;
    let mut socket = crate::realtime::connect(&s.app, &cookie).await;
    let report = s.trunk_call(1, 200, &[]).await;
    // No status callbacks asked for: only Voice Insights knows of the call.
    assert_eq!(
        delivered(&report),
        ["com.twilio.voice.insights.call-summary.complete"]
    );
    let jobs = s.settled(&[kind::EVENTS]).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, "done", "{:?}", jobs[0].last_error);

    // An open calls page hears of it.
    let event = loop {
        let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a call.updated event");
        let Some(Ok(Message::Text(text))) = next else {
            panic!("the socket ended: {next:?}");
        };
        let event: Value = serde_json::from_str(&text).unwrap();
        if event["type"] == "call.updated" {
            break event;
        }
    };
    assert_eq!(event["payload"]["call_sid"], report.call_sid.as_str());
    assert_eq!(event["payload"]["status"], "completed");

    let page: Value = s.owner.get_json(&s.app, "/api/calls").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let item = &items[0];
    assert_eq!(item["call_sid"], report.call_sid.as_str());
    assert_eq!(item["direction"], "inbound");
    assert_eq!(item["from_number"], CALLER);
    assert_eq!(item["to_number"], s.number(1));
    assert_eq!(
        item["from_to_number"],
        format!("{CALLER} -> {}", s.number(1))
    );
    assert_eq!(item["status"], "completed");
    assert_eq!(item["duration_secs"], report.duration_secs);
    assert_eq!(item["phone_number"]["number"], s.number(1));
    let contact_id = item["contact"]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let contact: Value = s
        .owner
        .get_json(&s.app, &format!("/api/contacts/{contact_id}"))
        .await;
    assert_eq!(contact["source"], "event_stream");
    assert_eq!(contact["numbers"], json!([CALLER]));
    assert!(contact["last_contacted_at"].is_string(), "{contact}");

    // Another organization sees neither the call nor the contact.
    let stranger = s.app.owner("Someone Else").await;
    let theirs: Value = stranger.get_json(&s.app, "/api/calls").await;
    assert_eq!(theirs["items"], json!([]));
    let id = item["id"].as_str().unwrap();
    let res = stranger
        .client
        .get(s.app.url(&format!("/api/calls/{id}")))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::NOT_FOUND).await;
    let res = stranger
        .client
        .get(s.app.url(&format!("/api/contacts/{contact_id}")))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn an_answered_call_is_recorded_once_through_the_rest_api_when_recording_is_on() {
    let s = streamed(1, 72, 0, true, false).await;
    set_recording(&s.app, s.org_id, true).await;
    let report = s.trunk_call(0, 2_500, &["answered", "completed"]).await;
    let types = delivered(&report);
    assert!(
        types.contains(&"com.twilio.voice.status-callback.call.answered".to_owned()),
        "{types:?}"
    );
    // Exactly one recording, started through the REST API with our callback, which Twilio
    // called when the call ended.
    assert_eq!(report.recordings.len(), 1, "{:?}", report.recordings);
    assert_eq!(report.recordings[0].channels, 2);
    let callbacks: Vec<_> = report
        .callbacks
        .iter()
        .filter(|c| c.kind == "recording")
        .collect();
    assert_eq!(callbacks.len(), 1, "{:?}", report.callbacks);
    assert_eq!(callbacks[0].url, s.app.url("/twilio/recording"));
    assert_eq!(callbacks[0].status, Some(200));

    // The recording is stored and transcribed by the same pipeline as a live call's.
    let jobs = s.settled(&[kind::EVENTS, after::PROCESS_RECORDING]).await;
    for j in &jobs {
        assert_ne!(j.status, "failed", "{:?}", j.last_error);
    }
    let row = s.call_row(&report.call_sid).await.expect("the call's row");
    assert_eq!(row.status, "completed");
    assert_eq!(
        row.duration_secs,
        Some(i32::try_from(report.duration_secs).unwrap())
    );
    assert_eq!(
        row.recording_sid.as_deref(),
        Some(report.recordings[0].sid.as_str())
    );
    assert!(row.recording_url.is_some());
    assert_eq!(row.transcript_source.as_deref(), Some("recording"));
}

#[tokio::test]
async fn an_answered_call_is_not_recorded_when_recording_is_off() {
    let s = streamed(1, 73, 0, true, false).await;
    let report = s.trunk_call(0, 1_500, &["answered", "completed"]).await;
    assert_eq!(delivered(&report).len(), 3, "{:?}", report.events);
    assert!(report.recordings.is_empty(), "{:?}", report.recordings);
    // The answer at once, the completion and the call summary when it ended.
    let jobs = s.settled(&[kind::EVENTS]).await;
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.status == "done"), "{jobs:?}");
    let outcomes = s.outcomes().await;
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(
        outcomes[0],
        (
            "com.twilio.voice.status-callback.call.answered".to_owned(),
            Some("skipped: call recording is off".to_owned())
        )
    );
    assert!(
        outcomes[1..]
            .iter()
            .all(|(_, o)| o.as_deref() == Some("done")),
        "{outcomes:?}"
    );
    let row = s.call_row(&report.call_sid).await.expect("the call's row");
    assert_eq!(row.status, "completed");
    assert_eq!(row.recording_url, None);
}

#[tokio::test]
async fn a_recording_event_for_an_unknown_call_fetches_it_and_runs_the_pipeline_once() {
    // A call from the account's history, with a recording, that no event ever named.
    let s = streamed(1, 74, 1, false, true).await;
    let call_sid = s.history_call().await;
    let recordings = s
        .on_twilio(&format!("Calls/{call_sid}/Recordings.json"))
        .await;
    let recording_sid = recordings["recordings"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (call_sid, recording_sid) = (call_sid.as_str(), recording_sid.as_str());
    assert!(s.call_row(call_sid).await.is_none());
    // The seed's name for the recording event, carrying the recording callback's parameters.
    let event = json!({
        "specversion": "1.0",
        "type": "com.twilio.voice.status.recording.processed",
        "source": format!("/2010-04-01/Accounts/{}/Recordings/{recording_sid}", s.account.account_sid),
        "id": format!("EV{}", &recording_sid[2..]),
        "datacontenttype": "application/json",
        "data": {
            "sid": call_sid,
            "request": {"method": "POST", "parameters": {
                "AccountSid": s.account.account_sid,
                "CallSid": call_sid,
                "RecordingSid": recording_sid,
                "RecordingStatus": "completed",
                "RecordingChannels": "2",
            }},
        },
    });
    // Twilio retries: the same event three times.
    for _ in 0..3 {
        let answer = s
            .sandbox_post(
                "/sandbox/events",
                json!({"account_sid": s.account.account_sid, "events": [event]}),
            )
            .await;
        assert_eq!(answer["deliveries"][0]["status"], 204, "{answer}");
    }
    assert_eq!(s.events_stored().await, 1);
    let jobs = s.settled(&[kind::EVENTS, after::PROCESS_RECORDING]).await;
    let events: Vec<_> = jobs.iter().filter(|j| j.kind == kind::EVENTS).collect();
    let processing: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == after::PROCESS_RECORDING)
        .collect();
    assert_eq!(events.len(), 1, "{jobs:?}");
    assert_eq!(processing.len(), 1, "{jobs:?}");
    assert_eq!(events[0].status, "done", "{:?}", events[0].last_error);
    assert_eq!(
        processing[0].status, "done",
        "{:?}",
        processing[0].last_error
    );
    let row = s
        .call_row(call_sid)
        .await
        .expect("the call, fetched from Twilio");
    assert_eq!(row.organization_id, s.org_id);
    assert_eq!(row.recording_sid.as_deref(), Some(recording_sid));
    assert!(row.recording_url.is_some());
    assert!(row.transcription.is_some());
    assert!(row.phone_number_id.is_some());

    // Delivered once more after processing: skipped, nothing processed again.
    s.sandbox_post(
        "/sandbox/events",
        json!({"account_sid": s.account.account_sid,
               "events": [{"id": "EVanother", "type": event["type"], "data": event["data"]}]}),
    )
    .await;
    let jobs = s.settled(&[kind::EVENTS, after::PROCESS_RECORDING]).await;
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    assert!(jobs.iter().all(|j| j.status == "done"), "{jobs:?}");
    let outcomes = s.outcomes().await;
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].1.as_deref(), Some("done"));
    assert_eq!(
        outcomes[1].1.as_deref(),
        Some("skipped: the call's recording is stored already")
    );
}

#[tokio::test]
async fn sms_land_on_their_contact_and_keep_flowing_when_call_events_are_removed() {
    let s = streamed(1, 75, 0, true, true).await;
    let res = s
        .owner
        .post_json(
            &s.app,
            "/api/twilio/remove-event-sink",
            &json!({"event_type": "call"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Calls are no longer delivered...
    let report = s.trunk_call(0, 100, &["answered", "completed"]).await;
    assert!(report.events.is_empty(), "{:?}", report.events);

    // ...SMS still are.
    let ours = s.number(0).to_owned();
    let inbound = s
        .sms(CALLER, &ours, "inbound", "Is Tuesday still fine?")
        .await;
    assert_eq!(inbound["deliveries"][0]["status"], 204, "{inbound}");
    let outbound = s
        .sms(&ours, CALLER, "outbound", "Yes, see you at 10.")
        .await;
    assert_eq!(
        outbound["deliveries"].as_array().unwrap().len(),
        2,
        "{outbound}"
    );
    let jobs = s.settled(&[kind::EVENTS]).await;
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.status == "done"), "{jobs:?}");
    assert!(s.call_row(&report.call_sid).await.is_none());

    let rows = message::Entity::find().all(&s.app.app.db).await.unwrap();
    assert_eq!(rows.len(), 2);
    let contacts: Value = s.owner.get_json(&s.app, "/api/contacts").await;
    let contact = &contacts["items"][0];
    assert_eq!(contact["numbers"], json!([CALLER]));
    let id = contact["id"].as_str().unwrap();
    let details: Value = s
        .owner
        .get_json(&s.app, &format!("/api/contacts/{id}"))
        .await;
    let messages = details["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{details}");
    let sent = messages
        .iter()
        .find(|m| m["direction"] == "outbound")
        .unwrap();
    assert_eq!(sent["status"], "delivered");
    assert_eq!(sent["body"], "Yes, see you at 10.");
    assert_eq!(sent["message_sid"], outbound["message_sid"]);
    let received = messages
        .iter()
        .find(|m| m["direction"] == "inbound")
        .unwrap();
    assert_eq!(received["status"], "received");
    assert_eq!(received["body"], "Is Tuesday still fine?");
    let page = s.owner.page(&s.app, &format!("/contacts/{id}")).await;
    assert!(page.contains("Is Tuesday still fine?"), "{page}");
    assert!(page.contains("Yes, see you at 10."), "{page}");

    // A status that arrives late never moves a message back.
    s.sandbox_post(
        "/sandbox/events",
        json!({"account_sid": s.account.account_sid, "events": [{
            "specversion": "1.0", "id": "EZlate", "type": "com.twilio.messaging.message.sent",
            "data": {"messageSid": outbound["message_sid"], "accountSid": s.account.account_sid,
                     "from": ours, "to": CALLER, "messageStatus": "SENT"}}]}),
    )
    .await;
    s.settled(&[kind::EVENTS]).await;
    let details: Value = s
        .owner
        .get_json(&s.app, &format!("/api/contacts/{id}"))
        .await;
    let sent = details["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["direction"] == "outbound")
        .cloned()
        .unwrap();
    assert_eq!(sent["status"], "delivered");
}

/// `POST /twilio/events` signed as Twilio signs it, with `body` as sent.
async fn post_events(
    s: &Streamed,
    token: &str,
    signed_body: &[u8],
    body: Vec<u8>,
    signature: Option<&str>,
) -> reqwest::Response {
    let (url, computed) =
        loquent_twilio::signature::sign_json(token, &s.app.url("/twilio/events"), signed_body);
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    match signature {
        Some(given) => req = req.header("x-twilio-signature", given),
        None => req = req.header("x-twilio-signature", computed),
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn forged_or_tampered_deliveries_are_refused_with_nothing_written() {
    let s = streamed(1, 76, 0, false, true).await;
    let body = |text: &str, account: &str| {
        serde_json::to_vec(&json!([{
            "specversion": "1.0", "id": "EZforged", "type": "com.twilio.messaging.inbound-message.received",
            "data": {"messageSid": "SM0123456789abcdef0123456789abcdef", "accountSid": account,
                     "from": CALLER, "to": s.number(0), "body": text}}]))
        .unwrap()
    };
    let ours = s.account.account_sid.clone();
    let token = s.account.auth_token.clone();
    let genuine = body("hello", &ours);

    // Signed with another token.
    let res = post_events(&s, "not-the-token", &genuine, genuine.clone(), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // No signature at all.
    let res = reqwest::Client::new()
        .post(s.app.url("/twilio/events"))
        .body(genuine.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A genuine signature over a body that was changed on the way.
    let res = post_events(&s, &token, &genuine, body("send money", &ours), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A signature that does not match the URL.
    let res = post_events(&s, &token, &genuine, genuine.clone(), Some("AAAA")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // An account nobody here uses.
    let stranger = body("hello", "AC0123456789abcdef0123456789abcdef");
    let res = post_events(&s, &token, &stranger, stranger.clone(), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Not JSON.
    let res = post_events(&s, &token, b"nope", b"nope".to_vec(), None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.events_stored().await, 0);
    assert!(s.settled(&[kind::EVENTS]).await.is_empty());

    // The genuine one, twice: stored once.
    for _ in 0..2 {
        let res = post_events(&s, &token, &genuine, genuine.clone(), None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(s.events_stored().await, 1);
    let jobs = s.settled(&[kind::EVENTS]).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, "done", "{:?}", jobs[0].last_error);
}

#[tokio::test]
async fn a_failed_event_is_tried_again_alone_and_a_bare_event_is_accepted() {
    // A call from the account's history that no event ever named, and Twilio failing to
    // describe it for now.
    let s = streamed(1, 77, 1, false, true).await;
    let api = s.sandbox.twilio_api_base();
    let call_sid = s.history_call().await;
    let faults = format!("{api}/sandbox/faults");
    let res = reqwest::Client::new()
        .post(&faults)
        .json(&json!({"rate": 1.0, "statuses": [400], "method": "GET",
                      "path_contains": format!("/Calls/{call_sid}.json")}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    let account = s.account.account_sid.clone();
    let sms = json!({"specversion": "1.0", "id": "EZfirst",
        "type": "com.twilio.messaging.inbound-message.received",
        "data": {"messageSid": "SM0123456789abcdef0123456789abcdef", "accountSid": account,
                 "from": CALLER, "to": s.number(0), "body": "Hello"}});
    let recording = json!({"specversion": "1.0", "id": "EVsecond",
        "type": "com.twilio.voice.status.recording.processed",
        "data": {"sid": call_sid, "request": {"parameters": {
            "AccountSid": account, "CallSid": call_sid,
            "RecordingSid": "RE0123456789abcdef0123456789abcdef",
            "RecordingStatus": "completed"}}}});
    s.sandbox_post(
        "/sandbox/events",
        json!({"account_sid": account, "events": [sms, recording]}),
    )
    .await;

    // The first attempt does the SMS and fails on the call, saying so.
    let mut first = None;
    for _ in 0..200 {
        let jobs = job::Entity::find()
            .filter(job::Column::Kind.eq(kind::EVENTS))
            .all(&s.app.app.db)
            .await
            .unwrap();
        if let Some(j) = jobs
            .into_iter()
            .find(|j| j.attempts >= 1 && j.last_error.is_some())
        {
            first = Some(j);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = first.expect("a failed first attempt");
    let error = first.last_error.unwrap();
    assert!(
        error.starts_with("1 of 2 events failed (the others are done); first: EVsecond: "),
        "{error}"
    );
    let rows = twilio_event::Entity::find()
        .all(&s.app.app.db)
        .await
        .unwrap();
    let done_at = |id: &str| {
        rows.iter()
            .find(|r| r.event_id == id)
            .map(|r| (r.handled_at, r.outcome.clone()))
            .unwrap()
    };
    let (sms_at, sms_outcome) = done_at("EZfirst");
    assert_eq!(sms_outcome.as_deref(), Some("done"));
    assert_eq!(done_at("EVsecond"), (None, None));

    // Twilio answers again: the next attempt acts on the failed event only.
    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let jobs = s.settled(&[kind::EVENTS]).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, "done", "{:?}", jobs[0].last_error);
    assert!(jobs[0].attempts >= 2);
    let rows = twilio_event::Entity::find()
        .all(&s.app.app.db)
        .await
        .unwrap();
    let sms_row = rows.iter().find(|r| r.event_id == "EZfirst").unwrap();
    assert_eq!(sms_row.handled_at, sms_at, "the SMS was not handled twice");
    let recording_row = rows.iter().find(|r| r.event_id == "EVsecond").unwrap();
    assert_eq!(recording_row.outcome.as_deref(), Some("done"));
    assert!(s.call_row(&call_sid).await.is_some());

    // One event alone, not in an array, as Twilio sends when batching is off.
    let bare = serde_json::to_vec(&json!({"specversion": "1.0", "id": "EZbare",
        "type": "com.twilio.messaging.message.delivered",
        "data": {"messageSid": "SM0123456789abcdef0123456789abcdef", "accountSid": account,
                 "from": s.number(0), "to": CALLER, "messageStatus": "DELIVERED"}}))
    .unwrap();
    let token = s.account.auth_token.clone();
    let res = post_events(&s, &token, &bare, bare.clone(), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    s.settled(&[kind::EVENTS]).await;
    assert_eq!(s.events_stored().await, 3);
}
