//! Tenant isolation: every route that takes an id answers 404 for another organization's id,
//! and leaves that organization's data alone. The table must name every such route: the last
//! test reads the route table and fails when a new id route is missing here.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Member, TestApp};

/// Ids of things that belong to the victim organization.
struct Victim {
    member_id: String,
    invitation_id: String,
    /// The pending invitation's link: an attack that resent it would retire it.
    invitation_token: String,
    role_id: String,
    phone_id: String,
    agent_id: String,
    analyzer_id: String,
    todo_id: String,
    recipient_id: String,
    job_id: String,
    call_id: String,
    contact_id: String,
}

struct Case {
    /// The route exactly as written in `src/router.rs` (API routes without the `/api` prefix).
    route: &'static str,
    method: Method,
    /// The concrete path, given the victim's ids.
    path: fn(&Victim) -> String,
    body: Option<Value>,
    page: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            route: "/members/{id}",
            method: Method::PUT,
            path: |v| format!("/api/members/{}", v.member_id),
            body: Some(json!({"role_ids": []})),
            page: false,
        },
        Case {
            route: "/members/{id}",
            method: Method::DELETE,
            path: |v| format!("/api/members/{}", v.member_id),
            body: None,
            page: false,
        },
        Case {
            route: "/invitations/{id}/resend",
            method: Method::POST,
            path: |v| format!("/api/invitations/{}/resend", v.invitation_id),
            body: Some(json!({})),
            page: false,
        },
        Case {
            route: "/invitations/{id}",
            method: Method::DELETE,
            path: |v| format!("/api/invitations/{}", v.invitation_id),
            body: None,
            page: false,
        },
        Case {
            route: "/settings/invitations/{id}/resend",
            method: Method::POST,
            path: |v| format!("/settings/invitations/{}/resend", v.invitation_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/invitations/{id}/revoke",
            method: Method::POST,
            path: |v| format!("/settings/invitations/{}/revoke", v.invitation_id),
            body: None,
            page: true,
        },
        Case {
            route: "/roles/{id}",
            method: Method::GET,
            path: |v| format!("/api/roles/{}", v.role_id),
            body: None,
            page: false,
        },
        Case {
            route: "/roles/{id}",
            method: Method::PUT,
            path: |v| format!("/api/roles/{}", v.role_id),
            body: Some(json!({"name": "stolen"})),
            page: false,
        },
        Case {
            route: "/roles/{id}",
            method: Method::DELETE,
            path: |v| format!("/api/roles/{}", v.role_id),
            body: None,
            page: false,
        },
        Case {
            route: "/phones/{id}",
            method: Method::GET,
            path: |v| format!("/api/phones/{}", v.phone_id),
            body: None,
            page: false,
        },
        Case {
            route: "/phones/{id}",
            method: Method::PUT,
            path: |v| format!("/api/phones/{}", v.phone_id),
            body: Some(json!({"friendly_name": "stolen"})),
            page: false,
        },
        Case {
            route: "/phones/{id}/test-call",
            method: Method::POST,
            path: |v| format!("/api/phones/{}/test-call", v.phone_id),
            body: Some(json!({})),
            page: false,
        },
        Case {
            route: "/settings/twilio/numbers/{id}/test-call",
            method: Method::POST,
            path: |v| format!("/settings/twilio/numbers/{}/test-call", v.phone_id),
            body: None,
            page: true,
        },
        Case {
            route: "/phones/{id}/agent",
            method: Method::DELETE,
            path: |v| format!("/api/phones/{}/agent", v.phone_id),
            body: None,
            page: false,
        },
        Case {
            route: "/agents/{id}",
            method: Method::GET,
            path: |v| format!("/api/agents/{}", v.agent_id),
            body: None,
            page: false,
        },
        Case {
            route: "/agents/{id}",
            method: Method::PUT,
            path: |v| format!("/api/agents/{}", v.agent_id),
            body: Some(json!({"name": "stolen", "prompt": "stolen"})),
            page: false,
        },
        Case {
            route: "/agents/{id}",
            method: Method::DELETE,
            path: |v| format!("/api/agents/{}", v.agent_id),
            body: None,
            page: false,
        },
        // The dashboard's agent pages share the API's route string.
        Case {
            route: "/agents/{id}",
            method: Method::GET,
            path: |v| format!("/agents/{}", v.agent_id),
            body: None,
            page: true,
        },
        Case {
            route: "/agents/{id}/web-call",
            method: Method::GET,
            path: |v| format!("/api/agents/{}/web-call", v.agent_id),
            body: None,
            page: false,
        },
        Case {
            route: "/agents/{id}",
            method: Method::POST,
            path: |v| format!("/agents/{}", v.agent_id),
            body: None,
            page: true,
        },
        Case {
            route: "/agents/{id}/delete",
            method: Method::POST,
            path: |v| format!("/agents/{}/delete", v.agent_id),
            body: None,
            page: true,
        },
        Case {
            route: "/analyzers/{id}",
            method: Method::GET,
            path: |v| format!("/api/analyzers/{}", v.analyzer_id),
            body: None,
            page: false,
        },
        Case {
            route: "/analyzers/{id}",
            method: Method::PUT,
            path: |v| format!("/api/analyzers/{}", v.analyzer_id),
            body: Some(json!({"name": "stolen", "prompt": "stolen"})),
            page: false,
        },
        Case {
            route: "/analyzers/{id}",
            method: Method::DELETE,
            path: |v| format!("/api/analyzers/{}", v.analyzer_id),
            body: None,
            page: false,
        },
        // The dashboard's analyzer pages share the API's route string.
        Case {
            route: "/analyzers/{id}",
            method: Method::GET,
            path: |v| format!("/analyzers/{}", v.analyzer_id),
            body: None,
            page: true,
        },
        Case {
            route: "/analyzers/{id}",
            method: Method::POST,
            path: |v| format!("/analyzers/{}", v.analyzer_id),
            body: None,
            page: true,
        },
        Case {
            route: "/analyzers/{id}/delete",
            method: Method::POST,
            path: |v| format!("/analyzers/{}/delete", v.analyzer_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/members/{id}/roles",
            method: Method::POST,
            path: |v| format!("/settings/members/{}/roles", v.member_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/members/{id}/remove",
            method: Method::POST,
            path: |v| format!("/settings/members/{}/remove", v.member_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/roles/{id}/delete",
            method: Method::POST,
            path: |v| format!("/settings/roles/{}/delete", v.role_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/twilio/numbers/{id}/agent",
            method: Method::POST,
            path: |v| format!("/settings/twilio/numbers/{}/agent", v.phone_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/twilio/numbers/{id}/configure-voice",
            method: Method::POST,
            path: |v| format!("/settings/twilio/numbers/{}/configure-voice", v.phone_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/twilio/numbers/{id}/restore-voice",
            method: Method::POST,
            path: |v| format!("/settings/twilio/numbers/{}/restore-voice", v.phone_id),
            body: None,
            page: true,
        },
        Case {
            route: "/todos/{id}/approve",
            method: Method::POST,
            path: |v| format!("/api/todos/{}/approve", v.todo_id),
            body: None,
            page: false,
        },
        Case {
            route: "/todos/{id}/dismiss",
            method: Method::POST,
            path: |v| format!("/api/todos/{}/dismiss", v.todo_id),
            body: None,
            page: false,
        },
        Case {
            route: "/todos/{id}/approve",
            method: Method::POST,
            path: |v| format!("/todos/{}/approve", v.todo_id),
            body: None,
            page: true,
        },
        Case {
            route: "/todos/{id}/dismiss",
            method: Method::POST,
            path: |v| format!("/todos/{}/dismiss", v.todo_id),
            body: None,
            page: true,
        },
        Case {
            route: "/report-recipients/{id}",
            method: Method::DELETE,
            path: |v| format!("/api/report-recipients/{}", v.recipient_id),
            body: None,
            page: false,
        },
        Case {
            route: "/settings/reports/{id}/remove",
            method: Method::POST,
            path: |v| format!("/settings/reports/{}/remove", v.recipient_id),
            body: None,
            page: true,
        },
        Case {
            route: "/jobs/{id}/retry",
            method: Method::POST,
            path: |v| format!("/api/jobs/{}/retry", v.job_id),
            body: None,
            page: false,
        },
        Case {
            route: "/calls/{id}",
            method: Method::GET,
            path: |v| format!("/api/calls/{}", v.call_id),
            body: None,
            page: false,
        },
        Case {
            route: "/calls/{id}/rerun",
            method: Method::POST,
            path: |v| format!("/api/calls/{}/rerun", v.call_id),
            body: Some(json!({})),
            page: false,
        },
        Case {
            route: "/calls/{id}/recording",
            method: Method::GET,
            path: |v| format!("/api/calls/{}/recording", v.call_id),
            body: None,
            page: false,
        },
        Case {
            route: "/contacts/{id}",
            method: Method::GET,
            path: |v| format!("/api/contacts/{}", v.contact_id),
            body: None,
            page: false,
        },
        Case {
            route: "/contacts/{id}",
            method: Method::PUT,
            path: |v| format!("/api/contacts/{}", v.contact_id),
            body: Some(json!({"name": "stolen"})),
            page: false,
        },
        Case {
            route: "/calls/{id}",
            method: Method::GET,
            path: |v| format!("/calls/{}", v.call_id),
            body: None,
            page: true,
        },
        Case {
            route: "/calls/{id}/rerun",
            method: Method::POST,
            path: |v| format!("/calls/{}/rerun", v.call_id),
            body: None,
            page: true,
        },
        Case {
            route: "/contacts/{id}",
            method: Method::GET,
            path: |v| format!("/contacts/{}", v.contact_id),
            body: None,
            page: true,
        },
        Case {
            route: "/contacts/{id}",
            method: Method::POST,
            path: |v| format!("/contacts/{}", v.contact_id),
            body: None,
            page: true,
        },
        Case {
            route: "/settings/twilio/numbers/{id}/sync-history",
            method: Method::POST,
            path: |v| format!("/settings/twilio/numbers/{}/sync-history", v.phone_id),
            body: None,
            page: true,
        },
        Case {
            route: "/calls/failed-steps/{id}/retry",
            method: Method::POST,
            path: |v| format!("/calls/failed-steps/{}/retry", v.job_id),
            body: None,
            page: true,
        },
    ]
}

async fn victim(app: &TestApp, owner: &Member) -> Victim {
    let account = app.twilio_account(1, 99).await;
    let phones = app.connect_and_import(owner, &account).await;
    let member = app.member_with(owner, &["Member:Collection:List"]).await;
    let members: Vec<Value> = owner.get_json(app, "/api/members").await;
    let row = members
        .iter()
        .find(|m| m["email"] == member.email.as_str())
        .unwrap();
    let roles: Vec<Value> = owner.get_json(app, "/api/roles").await;
    let invitation_token = app.invite(owner, "victim-invitee@example.com", &[]).await;
    let invitations: Vec<Value> = owner.get_json(app, "/api/invitations").await;
    let agent: Value = owner
        .post_json(
            app,
            "/api/agents",
            &json!({"name": "Victim agent", "prompt": "Answer politely."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let analyzer: Value = owner
        .post_json(
            app,
            "/api/analyzers",
            &json!({"name": "Victim analyzer", "prompt": "Summarize.", "phone_number_ids": [phones[0]["id"]]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let todo_id = victim_todo(app, owner).await;
    let job_id = victim_failed_job(app, owner).await;
    let recipient: Value = owner
        .post_json(
            app,
            "/api/report-recipients",
            &json!({"email": "victim-reports@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    // A call that the victim could re-run and play: transcribed, recorded, on an analyzed number,
    // with its contact.
    let org_id: uuid::Uuid = owner.org_id().parse().unwrap();
    let contact = loquent::contacts::resolve::resolve_or_create(
        &app.app.db,
        org_id,
        "+15557654321",
        "inbound_call",
    )
    .await
    .unwrap();
    let call = crate::support::insert_call(
        app,
        org_id,
        crate::support::CallSeed {
            phone_number_id: Some(phones[0]["id"].as_str().unwrap().parse().unwrap()),
            contact_id: Some(contact.id),
            transcript: Some(crate::support::segments(&[("Caller", "Victim's secret.")])),
            recording: Some(b"ID3 victim".to_vec()),
            ..crate::support::CallSeed::default()
        },
    )
    .await;
    Victim {
        call_id: call.id.to_string(),
        contact_id: contact.id.to_string(),
        job_id,
        recipient_id: recipient["id"].as_str().unwrap().to_owned(),
        todo_id,
        member_id: row["id"].as_str().unwrap().to_owned(),
        invitation_id: invitations[0]["id"].as_str().unwrap().to_owned(),
        invitation_token,
        role_id: roles[0]["id"].as_str().unwrap().to_owned(),
        phone_id: phones[0]["id"].as_str().unwrap().to_owned(),
        agent_id: agent["id"].as_str().unwrap().to_owned(),
        analyzer_id: analyzer["id"].as_str().unwrap().to_owned(),
    }
}

/// A to-do of `owner`'s organization, as the extraction job writes it.
/// A post-call step of the victim's that failed (retrying it is the attack).
async fn victim_failed_job(app: &TestApp, owner: &Member) -> String {
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let db = &app.app.db;
    let id = loquent::jobs::enqueue(
        db,
        loquent::jobs::NewJob {
            kind: "report.send".into(),
            organization_id: Some(owner.org_id().parse().unwrap()),
            call_id: None,
            payload: json!({}),
            dedupe_key: None,
            // Never due: the failed state below is what the test needs.
            run_at: chrono::Utc::now() + chrono::Duration::days(1),
            max_attempts: 1,
        },
    )
    .await
    .unwrap()
    .id;
    let mut row = loquent::entity::job::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.status = Set("failed".into());
    row.update(db).await.unwrap();
    id.to_string()
}

async fn victim_todo(app: &TestApp, owner: &Member) -> String {
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7();
    loquent::entity::todo::ActiveModel {
        id: Set(id),
        organization_id: Set(owner.org_id().parse().unwrap()),
        call_id: Set(None),
        contact_id: Set(None),
        title: Set("Victim to-do".into()),
        details: Set(None),
        done: Set(false),
        due_at: Set(None),
        completed_at: Set(None),
        status: Set("pending_review".into()),
        job_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
    id.to_string()
}

#[tokio::test]
async fn another_organizations_ids_are_not_found() {
    // The built-in sandbox on too, so that its routes (test calls) are checked as well.
    let app = TestApp::builder()
        .with_sandbox()
        .with_setting("LOQUENT_SANDBOX", "on")
        .start()
        .await;
    let victim_owner = app.owner("Victim").await;
    let ids = victim(&app, &victim_owner).await;
    let attacker = app.owner("Attacker").await;
    // A connected attacker: "not a BYO account" must not be what stops it.
    app.connect_and_import(&attacker, &app.twilio_account(1, 98).await)
        .await;
    let token = attacker.csrf(&app).await;

    for case in cases() {
        let path = (case.path)(&ids);
        let mut req = attacker.client.request(case.method.clone(), app.url(&path));
        if case.page {
            req = req.form(&[("csrf_token", token.as_str())]);
        } else if let Some(body) = &case.body {
            req = req.json(body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{} {path} must be 404 for another organization",
            case.method
        );
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(&victim_owner.email),
            "{} {path} leaked data",
            case.method
        );
    }

    // And nothing of the victim's changed.
    let members: Vec<Value> = victim_owner.get_json(&app, "/api/members").await;
    assert_eq!(members.len(), 2);
    let invitations: Vec<Value> = victim_owner.get_json(&app, "/api/invitations").await;
    assert_eq!(invitations.len(), 1, "not revoked");
    let res = TestApp::client()
        .post(app.url("/api/invitations/preview"))
        .json(&json!({"token": ids.invitation_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "not resent");
    let role = victim_owner
        .client
        .get(app.url(&format!("/api/roles/{}", ids.role_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(role.status(), StatusCode::OK);
    let role: Value = role.json().await.unwrap();
    assert_ne!(role["name"], "stolen");
    let phone: Value = victim_owner
        .get_json(&app, &format!("/api/phones/{}", ids.phone_id))
        .await;
    assert_ne!(phone["friendly_name"], "stolen");
    assert_eq!(phone["voice_configured"], false);
    let agent: Value = victim_owner
        .get_json(&app, &format!("/api/agents/{}", ids.agent_id))
        .await;
    assert_eq!(agent["name"], "Victim agent");
    let failed: Vec<Value> = victim_owner.get_json(&app, "/api/jobs").await;
    assert_eq!(failed.len(), 1, "the victim's failed job was retried");
    let recipients: Vec<Value> = victim_owner.get_json(&app, "/api/report-recipients").await;
    assert_eq!(recipients.len(), 1);
    let analyzer: Value = victim_owner
        .get_json(&app, &format!("/api/analyzers/{}", ids.analyzer_id))
        .await;
    assert_eq!(analyzer["name"], "Victim analyzer");
    let todos: Value = victim_owner.get_json(&app, "/api/todos").await;
    assert_eq!(todos["items"][0]["status"], "pending_review");
    let contact: Value = victim_owner
        .get_json(&app, &format!("/api/contacts/{}", ids.contact_id))
        .await;
    assert_eq!(contact["name"], Value::Null);
    let call: Value = victim_owner
        .get_json(&app, &format!("/api/calls/{}", ids.call_id))
        .await;
    assert!(
        call["steps"].as_array().unwrap().is_empty(),
        "no re-run was queued"
    );
    // And the attacker's own lists never show the victim's calls or contacts.
    let calls: Value = attacker.get_json(&app, "/api/calls?q=secret").await;
    assert!(calls["items"].as_array().unwrap().is_empty());
    let calls: Value = attacker.get_json(&app, "/api/calls").await;
    assert!(calls["items"].as_array().unwrap().is_empty());
    let contacts: Value = attacker.get_json(&app, "/api/contacts?q=555").await;
    assert!(contacts["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_ids_are_400_not_500() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let res = owner
        .client
        .get(app.url("/api/roles/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn every_id_route_is_in_the_isolation_table() {
    let router = include_str!("../../src/router.rs");
    let covered: Vec<&str> = cases().iter().map(|c| c.route).collect();
    let mut missing = Vec::new();
    for piece in router.split('"').skip(1).step_by(2) {
        if piece.starts_with('/') && piece.contains('{') && !covered.contains(&piece) {
            missing.push(piece);
        }
    }
    assert!(
        missing.is_empty(),
        "add these routes to the tenant isolation table: {missing:?}"
    );
}
