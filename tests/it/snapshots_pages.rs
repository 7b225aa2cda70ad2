//! The main dashboard pages as snapshots of their HTML, with CSRF tokens, ids, timestamps and
//! ports replaced (see `redact.rs`): a change to what a person sees shows up in review.

use reqwest::StatusCode;
use serde_json::json;

use crate::redact::Redactor;
use crate::support::TestApp;

#[tokio::test]
async fn sign_in_and_sign_up() {
    let app = TestApp::new().await;
    let mut r = Redactor::new();
    let client = TestApp::client();
    for (name, path) in [("page_login", "/login"), ("page_signup", "/signup")] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        insta::assert_snapshot!(name, r.html(&res.text().await.unwrap()));
    }
}

#[tokio::test]
async fn the_dashboard_of_an_organization_with_an_agent_and_numbers() {
    let app = TestApp::builder().with_sandbox().start().await;
    let mut r = Redactor::new();
    let account = app.twilio_account(2, 9).await;
    let owner = app.owner("Acme Plumbing").await;
    let numbers = app.connect_and_import(&owner, &account).await;
    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({
                "name": "Front desk",
                "prompt": "You answer for Acme Plumbing. Book visits; never quote prices.",
                "config": {
                    "provider": "openai",
                    "voice": "coral",
                    "greeting": "Acme Plumbing, how can I help?",
                    "tools": {"end_call": true, "transfer_call": true, "lookup_caller": false},
                    "transfer_numbers": ["+14155550100"]
                }
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let agent: serde_json::Value = res.json().await.unwrap();
    let agent_id = agent["id"].as_str().unwrap();
    let res = owner
        .client
        .put(app.url(&format!(
            "/api/phones/{}",
            numbers[0]["id"].as_str().unwrap()
        )))
        .json(&json!({"agent_id": agent_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post_json(
            &app,
            "/api/twilio/configure-phone-voice",
            &json!({"phone_number_id": numbers[0]["id"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Dispatcher", "permissions": ["Agent:Collection:List"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let role: serde_json::Value = res.json().await.unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/members",
            &json!({"email": "grace@acme.example.com", "password": "member password 1", "role_ids": [role["id"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // The dashboard's home is the calls list.
    let res = owner.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/calls");
    let agent_page = format!("/agents/{agent_id}");
    for (name, path) in [
        ("page_calls", "/calls"),
        ("page_contacts", "/contacts"),
        ("page_agents", "/agents"),
        ("page_agent_new", "/agents/new"),
        ("page_agent_edit", agent_page.as_str()),
        ("page_analyzers", "/analyzers"),
        ("page_todos", "/todos"),
        ("page_settings", "/settings"),
        ("page_settings_members", "/settings/members"),
        ("page_settings_twilio", "/settings/twilio"),
    ] {
        let html = owner.page(&app, path).await;
        insta::assert_snapshot!(name, r.html(&html));
    }
}
