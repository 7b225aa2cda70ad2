//! A fresh install with no configuration at all, as a newcomer meets it: the built-in sandbox is
//! on (`LOQUENT_SANDBOX=auto` without Twilio credentials or AI keys), an organization takes its
//! own emulated Twilio account, imports a number, gives it an agent and an analyzer, places a
//! test call and sees the call with its recording, transcript and analysis. With the sandbox
//! off, none of its routes exist.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, api_error};

async fn fresh_install() -> TestApp {
    TestApp::builder()
        .with_setting("LOQUENT_SANDBOX", "auto")
        .start()
        .await
}

#[tokio::test]
async fn a_newcomer_places_a_test_call_and_sees_it_through() {
    let app = fresh_install().await;
    assert!(app.app.sandbox.is_some(), "auto: on without keys");
    assert!(app.app.emulated.openai && app.app.emulated.gemini);
    let owner = app.owner("Acme Plumbing").await;
    let checklist: Value = owner.get_json(&app, "/api/getting-started").await;
    insta::assert_json_snapshot!("getting_started_fresh", checklist);

    let settings: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(settings["twilio"]["sandbox_available"], true);
    assert_eq!(settings["ai_providers"][0]["status"], "emulated");
    assert_eq!(settings["ai_providers"][1]["status"], "emulated");
    assert_eq!(settings["twilio"]["connected"], false);
    let res = owner
        .post_json(&app, "/api/twilio/connect-sandbox", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let connection: Value = res.json().await.unwrap();
    assert_eq!(connection["connected"], true);
    assert_eq!(connection["sandbox"], true);
    assert_eq!(connection["byo_twilio"], false);
    let res = owner
        .post_json(&app, "/api/twilio/connect-sandbox", &json!({}))
        .await;
    api_error(res, StatusCode::CONFLICT).await;

    // Its numbers, imported and pointed at us as on a real account.
    let res = owner
        .post_json(&app, "/api/twilio/get-unsynced-numbers", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let found: Vec<Value> = res.json().await.unwrap();
    assert_eq!(found.len(), 2);
    let number = found[0]["number"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/sync-numbers",
            &json!({"numbers": [number]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let phones: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    let phone_id = phones[0]["id"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/configure-phone-voice",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );

    // An agent (OpenAI, whose emulator answers for want of a key) and an analyzer.
    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({
                "name": "Front desk",
                "prompt": "You answer the phone for Acme Plumbing.",
                "config": {"provider": "openai", "tools": {"end_call": true}},
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let agent: Value = res.json().await.unwrap();
    let html = owner
        .page(&app, &format!("/agents/{}", agent["id"].as_str().unwrap()))
        .await;
    assert!(
        html.contains(
            r#"data-provider-note="openai">This server has no OpenAI Realtime API key, so agents on OpenAI Realtime talk to the built-in sandbox"#
        ),
        "the editor says the agent's provider is emulated: {html}"
    );
    let settings: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(
        settings["ai_providers"][0]["agents"][0]["name"],
        agent["name"]
    );
    let res = owner
        .client
        .put(app.url(&format!("/api/phones/{phone_id}")))
        .json(&json!({"agent_id": agent["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        done_steps(&owner.get_json(&app, "/api/getting-started").await),
        ["twilio", "agent", "number"],
        "a number with our voice URL and an agent"
    );
    let res = owner
        .post_json(
            &app,
            "/api/analyzers",
            &json!({"name": "Summary", "prompt": "Summarize the call.", "phone_number_ids": [phone_id]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // The test call, and everything after it.
    let res = owner
        .post_json(
            &app,
            &format!("/api/phones/{phone_id}/test-call"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let call_sid = res.json::<Value>().await.unwrap()["call_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    let details = loop {
        let page: Value = owner.get_json(&app, "/api/calls").await;
        let found = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["call_sid"] == call_sid.as_str())
            .cloned();
        if let Some(call) = found {
            let id = call["id"].as_str().unwrap();
            let details: Value = owner.get_json(&app, &format!("/api/calls/{id}")).await;
            let steps = details["steps"].as_array().unwrap();
            let settled = !steps.is_empty()
                && steps.iter().all(|s| {
                    ["done", "failed", "skipped"].contains(&s["status"].as_str().unwrap())
                });
            if details["has_analysis"] == true && settled {
                break details;
            }
            last = details;
        }
        assert!(
            Instant::now() < deadline,
            "the test call did not go through: {last:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(details["status"], "completed");
    assert_eq!(details["has_recording"], true);
    for step in details["steps"].as_array().unwrap() {
        // Without SMTP the report is skipped, and says why; everything else is done.
        if step["kind"] == "report.send" {
            assert_eq!(step["status"], "skipped", "{step}");
        } else {
            assert_eq!(step["status"], "done", "{step}");
        }
    }
    let transcript = details["transcription"].as_str().unwrap();
    assert!(
        transcript.contains("Caller") && transcript.contains("Agent"),
        "{transcript}"
    );
    assert_eq!(
        details["analysis_groups"][0]["analyzer_name"], "Summary",
        "{details:#}"
    );
    assert_eq!(details["source"], "phone");

    let checklist: Value = owner.get_json(&app, "/api/getting-started").await;
    assert_eq!(checklist["complete"], true, "{checklist:#}");
    assert_eq!(
        checklist["steps"][4]["href"],
        format!("/calls/{}", details["id"].as_str().unwrap())
    );
}

/// The keys of the checklist's steps that are done.
fn done_steps(checklist: &Value) -> Vec<&str> {
    checklist["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["done"] == true)
        .map(|s| s["key"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn test_calls_ring_sandbox_numbers_only() {
    let app = fresh_install().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Globex").await;
    let res = owner
        .post_json(&app, "/api/twilio/connect-sandbox", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post_json(&app, "/api/twilio/get-unsynced-numbers", &json!({}))
        .await;
    let found: Vec<Value> = res.json().await.unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/sync-numbers",
            &json!({"numbers": [found[0]["number"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let phones: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    let path = format!(
        "/api/phones/{}/test-call",
        phones[0]["id"].as_str().unwrap()
    );

    // Another organization's number is not found; a bad script is refused with the reason.
    let res = other.post_json(&app, &path, &json!({})).await;
    api_error(res, StatusCode::NOT_FOUND).await;
    let res = owner
        .post_json(&app, &path, &json!({"script": [{"say": "abracadabra"}]}))
        .await;
    api_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = owner
        .client
        .post(app.url(&path))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::BAD_REQUEST).await;

    // Disconnected, then connected again: the same account, with the same numbers.
    let before: Value = owner.get_json(&app, "/api/settings").await;
    let res = owner
        .post_json(&app, "/api/twilio/disconnect", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner.post_json(&app, &path, &json!({})).await;
    api_error(res, StatusCode::BAD_REQUEST).await;
    let res = owner
        .post_json(&app, "/api/twilio/connect-sandbox", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(
        before["twilio"]["account_sid"],
        after["twilio"]["account_sid"]
    );
}

#[tokio::test]
async fn with_the_sandbox_off_none_of_it_exists() {
    let app = TestApp::builder()
        .with_setting("LOQUENT_SANDBOX", "off")
        .start()
        .await;
    assert!(app.app.sandbox.is_none());
    let owner = app.owner("Acme").await;
    let settings: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(settings["twilio"]["sandbox_available"], false);
    // Without keys and without the sandbox, Settings says so rather than letting calls fail.
    assert_eq!(
        settings["ai_providers"][0]["status"], "missing",
        "{settings:#}"
    );
    let html = owner.page(&app, "/settings").await;
    assert!(html.contains("No API key"), "{html}");
    let res = owner
        .post_json(&app, "/api/twilio/connect-sandbox", &json!({}))
        .await;
    api_error(res, StatusCode::NOT_FOUND).await;
    let res = owner
        .post_json(
            &app,
            &format!("/api/phones/{}/test-call", uuid::Uuid::new_v4()),
            &json!({}),
        )
        .await;
    api_error(res, StatusCode::NOT_FOUND).await;
    let html = owner.page(&app, "/settings/twilio").await;
    assert!(!html.contains("connect-sandbox"));
    let res = owner
        .post_form(&app, "/settings/twilio/connect-sandbox", &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A key or platform credentials turn `auto` off too.
    let keyed = TestApp::builder()
        .with_settings(&[
            ("LOQUENT_SANDBOX", "auto"),
            ("LOQUENT_OPENAI_API_KEY", "sk-real"),
        ])
        .start()
        .await;
    assert!(keyed.app.sandbox.is_none());
    let owner = keyed.owner("Acme").await;
    let settings: Value = owner.get_json(&keyed, "/api/settings").await;
    let statuses: Vec<(&str, &str)> = settings["ai_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["provider"].as_str().unwrap(),
                p["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses, [("openai", "configured"), ("gemini", "missing")]);
    let body = serde_json::to_string(&settings).unwrap();
    assert!(!body.contains("sk-real"), "never the key: {body}");

    // Which agents use a provider is told only to members who may list agents.
    let res = owner
        .post_json(
            &keyed,
            "/api/agents",
            &json!({"name": "Front desk", "prompt": "Answer the phone."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let admin = keyed
        .member_with(&owner, &["Settings:Instance:Read", "Agent:Collection:List"])
        .await;
    let settings: Value = admin.get_json(&keyed, "/api/settings").await;
    assert_eq!(
        settings["ai_providers"][0]["agents"][0]["name"],
        "Front desk"
    );
    let reader = keyed.member_with(&owner, &["Settings:Instance:Read"]).await;
    let settings: Value = reader.get_json(&keyed, "/api/settings").await;
    assert_eq!(
        settings["ai_providers"][0]["agents"],
        json!([]),
        "{settings:#}"
    );
    let html = reader.page(&keyed, "/settings").await;
    assert!(!html.contains("Front desk"), "{html}");
}

/// The sandbox lives in memory: after a restart each organization's account comes back (the
/// same SID and token), with its configured numbers pointed at the restarted server, so a test
/// call rings through again.
#[tokio::test]
async fn a_restart_brings_the_sandbox_accounts_back() {
    let app = fresh_install().await;
    let owner = app.owner("Acme").await;
    let res = owner
        .post_json(&app, "/api/twilio/connect-sandbox", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let found: Vec<Value> = owner
        .post_json(&app, "/api/twilio/get-unsynced-numbers", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/sync-numbers",
            &json!({"numbers": [found[0]["number"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let phones: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    let phone_id = phones[0]["id"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/configure-phone-voice",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let restarted = app.sibling_with(&[("LOQUENT_SANDBOX", "on")]).await;
    let client = TestApp::client();
    let res = client
        .post(restarted.url("/api/auth/login"))
        .json(&json!({"email": owner.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The account answers (the numbers on it list again) and the number rings the new server.
    let res = client
        .post(restarted.url("/api/twilio/get-unsynced-numbers"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = client
        .post(restarted.url(&format!("/api/phones/{phone_id}/test-call")))
        .json(&json!({"script": [{"say": "hello", "ms": 600}, "hangup"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let call_sid = res.json::<Value>().await.unwrap()["call_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The number has no agent: the restarted server declines the call politely, which shows
    // it was the one that answered.
    let base = restarted.app.sandbox.as_ref().unwrap().twilio_base();
    let deadline = Instant::now() + Duration::from_secs(30);
    let report: Value = loop {
        let res = reqwest::get(format!("{base}sandbox/calls/{call_sid}"))
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            break res.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the call did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["errors"], json!([]), "{report:#}");
    assert_eq!(
        report["callbacks"][0]["url"],
        restarted.url("/twilio/voice")
    );
    assert_eq!(report["callbacks"][0]["status"], 200);
    assert!(
        report["said"][0]
            .as_str()
            .unwrap()
            .contains("cannot take calls"),
        "{report:#}"
    );
}
