//! Live inbound calls end to end: the sandbox's call simulator dials a number whose voice URL is
//! this server, the server bridges the media stream to the AI emulators, and the test checks
//! what the caller heard and what the database recorded.

use loquent_sandbox::{CallReport, SandboxHandle, SeededAccount};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::support::{Member, TestApp, connect_and_import, sandbox_account, voice_url_on_twilio};

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
    let sandbox = loquent_sandbox::Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let (api, openai, gemini) = (
        sandbox.twilio_api_base(),
        sandbox.openai_base_url(),
        sandbox.gemini_base_url(),
    );
    let app = TestApp::spawn_with(&[
        ("LOQUENT_TWILIO_API_BASE", api.as_str()),
        ("LOQUENT_TWILIO_EVENTS_BASE", api.as_str()),
        ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
        ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ("LOQUENT_GEMINI_BASE_URL", gemini.as_str()),
        ("LOQUENT_GEMINI_API_KEY", "gm-sandbox"),
    ])
    .await;
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
    let agent_id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    loquent::entity::agent::ActiveModel {
        id: Set(agent_id),
        organization_id: Set(org_id),
        name: Set("Front desk".into()),
        prompt: Set("You answer the phone for Acme Plumbing.".into()),
        realtime_config: Set(agent_config),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
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

/// Seed 001's switch, as the settings page would set it.
pub async fn set_recording(app: &TestApp, org_id: uuid::Uuid, on: bool) {
    use loquent::entity::organization_twilio_settings as settings;
    let updated = settings::Entity::update_many()
        .col_expr(
            settings::Column::CallRecordingEnabled,
            sea_orm::sea_query::Expr::value(on),
        )
        .filter(settings::Column::OrganizationId.eq(org_id))
        .exec(&app.app.db)
        .await
        .unwrap();
    if updated.rows_affected == 0 {
        let now = chrono::Utc::now();
        settings::ActiveModel {
            organization_id: Set(org_id),
            call_recording_enabled: Set(on),
            event_sink_sid: Set(None),
            sms_subscription_sid: Set(None),
            call_subscription_sid: Set(None),
            sms_events_active: Set(false),
            call_events_active: Set(false),
            caller_lookup_url: Set(None),
            caller_lookup_auth: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.app.db)
        .await
        .unwrap();
    }
}

pub fn openai_agent() -> Value {
    json!({
        "provider": "openai",
        "tools": {"end_call": true, "transfer_call": true, "lookup_caller": true},
        "transfer_numbers": [TRANSFER_TO],
    })
}

fn gemini_agent() -> Value {
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

    /// Client messages the realtime emulator received, over all its connections.
    async fn provider_received(&self) -> Vec<Value> {
        let log: Value = reqwest::Client::new()
            .get(format!(
                "{}/sandbox/realtime/connections",
                self.sandbox.twilio_api_base()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log["connections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["received"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

#[tokio::test]
async fn an_openai_call_greets_handles_barge_in_and_ends_after_the_goodbye() {
    let line = line(openai_agent(), false).await;
    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"say": "question", "ms": 800},
            {"wait_for_speech": 5000},
            {"silence": 600},
            {"say": "hello", "ms": 700},
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
    assert!(!stream.marks_cleared.is_empty(), "{stream:?}");
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
    // end_call: the goodbye played out, then the call was hung up through the REST API.
    assert_eq!(stream.ended_by, "hangup", "{stream:?}");
    let last_mark = stream.marks_received.last().unwrap();
    assert!(
        stream.marks_played.contains(last_mark),
        "the goodbye's mark was not played before the hang-up: {stream:?}"
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
