//! The main dashboard pages as snapshots of their HTML, with CSRF tokens, ids, timestamps and
//! ports replaced (see `redact.rs`): a change to what a person sees shows up in review.

use chrono::{DateTime, TimeZone, Utc};
use loquent::entity::{analyzer, call, contact, todo};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::redact::Redactor;
use crate::support::{TestApp, TwilioOwner};

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 15, 0)
        .single()
        .expect("a valid date")
}

/// One row for each history list (calls, contacts, analyzers, to-dos). No API writes them
/// yet, so they go straight to the database, as the jobs that will write them would.
async fn seed_history(app: &TestApp, org_id: uuid::Uuid, phone_id: uuid::Uuid) {
    let db = &app.app.db;
    let contact = contact::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org_id),
        name: Set(Some("Rosa Diaz".into())),
        email: Set(Some("rosa@example.com".into())),
        notes: Set(None),
        company: Set(None),
        source: Set("call".into()),
        last_contacted_at: Set(Some(at(4, 10))),
        created_at: Set(at(4, 10)),
        updated_at: Set(at(4, 10)),
    }
    .insert(db)
    .await
    .expect("contact");
    let call = call::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org_id),
        phone_number_id: Set(Some(phone_id)),
        call_sid: Set(format!("CA{}", "5".repeat(32))),
        direction: Set("inbound".into()),
        from_number: Set("+15557654321".into()),
        to_number: Set("+12125551590".into()),
        from_to_number: Set("+15557654321".into()),
        contact_id: Set(Some(contact.id)),
        status: Set("completed".into()),
        started_at: Set(Some(at(4, 10))),
        duration_secs: Set(Some(127)),
        recording_sid: Set(None),
        recording_url: Set(None),
        transcription: Set(None),
        transcript_segments: Set(None),
        transcript_source: Set(None),
        source: Set(Some("phone".to_owned())),
        created_at: Set(at(4, 10)),
        updated_at: Set(at(4, 10)),
    }
    .insert(db)
    .await
    .expect("call");
    analyzer::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org_id),
        name: Set("Summary".into()),
        prompt: Set("Summarize the call.".into()),
        is_default: Set(true),
        active: Set(true),
        created_at: Set(at(1, 9)),
        updated_at: Set(at(1, 9)),
    }
    .insert(db)
    .await
    .expect("analyzer");
    todo::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org_id),
        call_id: Set(Some(call.id)),
        contact_id: Set(Some(contact.id)),
        title: Set("Call Rosa back about the leaking tap".into()),
        details: Set(None),
        done: Set(false),
        due_at: Set(Some(at(5, 9))),
        completed_at: Set(None),
        status: Set("pending_review".into()),
        job_id: Set(None),
        created_at: Set(at(4, 10)),
        updated_at: Set(at(4, 10)),
    }
    .insert(db)
    .await
    .expect("to-do");
}

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
    let TwilioOwner {
        owner,
        phones: numbers,
        ..
    } = app.owner_on_twilio("Acme Plumbing", 2, 9).await;
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
    let token = app
        .invite(&owner, "grace@acme.example.com", &[role["id"].clone()])
        .await;
    // The page the invitation's link opens, for a person without an account.
    let html = TestApp::client()
        .get(app.url(&format!("/invitation?token={token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    insta::assert_snapshot!("page_invitation", Redactor::new().html(&html));
    let res = TestApp::client()
        .post(app.url("/api/invitations/accept"))
        .json(&json!({"token": token, "password": "member password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // And one still pending.
    app.invite(&owner, "hopper@acme.example.com", &[role["id"].clone()])
        .await;
    seed_history(
        &app,
        owner.org_id().parse().unwrap(),
        numbers[0]["id"].as_str().unwrap().parse().unwrap(),
    )
    .await;

    // The dashboard's home is the calls list.
    let res = owner.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/calls");
    let agent_page = format!("/agents/{agent_id}");
    // The calls and contacts pages with their own redactors: the ids of their rows and filters
    // do not renumber the other pages.
    let html = owner.page(&app, "/calls").await;
    insta::assert_snapshot!("page_calls", Redactor::new().html(&html));
    let html = owner.page(&app, "/contacts").await;
    insta::assert_snapshot!("page_contacts", Redactor::new().html(&html));
    for (name, path) in [
        ("page_agents", "/agents"),
        ("page_agent_new", "/agents/new"),
        ("page_agent_edit", agent_page.as_str()),
        ("page_analyzers", "/analyzers"),
        ("page_settings", "/settings"),
        ("page_settings_members", "/settings/members"),
        ("page_settings_twilio", "/settings/twilio"),
    ] {
        let html = owner.page(&app, path).await;
        insta::assert_snapshot!(name, r.html(&html));
    }
    // With its own redactor: the ids in its review forms do not renumber the other pages.
    let html = owner.page(&app, "/todos").await;
    insta::assert_snapshot!("page_todos", Redactor::new().html(&html));
}

#[tokio::test]
async fn a_failed_sign_in_and_the_error_pages() {
    let app = TestApp::new().await;
    let mut r = Redactor::new();
    let owner = app.owner("Acme Plumbing").await;

    let visitor = TestApp::client();
    let html = visitor
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::support::csrf_in(&html);
    let token = token.as_str();
    let res = visitor
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token),
            ("email", owner.email.as_str()),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    insta::assert_snapshot!("page_login_failed", r.html(&res.text().await.unwrap()));

    let res = owner.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    insta::assert_snapshot!("page_error_404", r.html(&res.text().await.unwrap()));

    let nobody = app.member_with(&owner, &[]).await;
    let res = nobody.client.get(app.url("/calls")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    insta::assert_snapshot!("page_error_403", r.html(&res.text().await.unwrap()));
}

/// One call in full: player, transcript, an analysis run, a to-do to review, the contact and a
/// failed step with its Retry button.
#[tokio::test]
async fn a_call_in_full() {
    use crate::call_pages::{analysis_run, analyzer, failed_step, pending_todo};
    use crate::support::{CallSeed, insert_call, segments};
    let app = TestApp::new().await;
    let owner = app.owner("Acme Plumbing").await;
    let org: uuid::Uuid = owner.org_id().parse().unwrap();
    let contact = loquent::contacts::resolve::resolve_or_create(
        &app.app.db,
        org,
        "+15557654321",
        "inbound_call",
    )
    .await
    .unwrap();
    let call = insert_call(
        &app,
        org,
        CallSeed {
            contact_id: Some(contact.id),
            created_at: at(4, 10),
            duration_secs: Some(127),
            transcript: Some(segments(&[
                ("Agent", "Acme Plumbing, how can I help?"),
                ("Caller", "My boiler is leaking."),
            ])),
            recording: Some(b"ID3 call".to_vec()),
            ..CallSeed::default()
        },
    )
    .await;
    let summary = analyzer(&app, org, "Summary").await;
    analysis_run(
        &app,
        org,
        call.id,
        summary,
        "A leaking boiler; send someone today.",
    )
    .await;
    pending_todo(&app, org, call.id, "Send a plumber").await;
    failed_step(&app, org, call.id, "the SMTP server refused the message").await;
    let html = owner.page(&app, &format!("/calls/{}", call.id)).await;
    // The SID is random and not a word of its own hex digits, so the redactor leaves it.
    let html = html.replace(&call.call_sid, "CA[sid]");
    insta::assert_snapshot!("page_call", Redactor::new().html(&html));
}
