//! Tenant isolation: every route that takes an id answers 404 for another organization's id,
//! and leaves that organization's data alone. The table must name every such route: the last
//! test reads the route table and fails when a new id route is missing here.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Member, TestApp};

/// Ids of things that belong to the victim organization.
struct Victim {
    member_id: String,
    role_id: String,
    phone_id: String,
    agent_id: String,
    recipient_id: String,
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
    Victim {
        recipient_id: recipient["id"].as_str().unwrap().to_owned(),
        member_id: row["id"].as_str().unwrap().to_owned(),
        role_id: roles[0]["id"].as_str().unwrap().to_owned(),
        phone_id: phones[0]["id"].as_str().unwrap().to_owned(),
        agent_id: agent["id"].as_str().unwrap().to_owned(),
    }
}

/// A CSRF token for dashboard posts, as a browser would get from any page.
async fn csrf(app: &TestApp, member: &Member) -> String {
    let res = member
        .client
        .get(app.url("/settings/members"))
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    let start = html
        .find("name=\"csrf_token\" value=\"")
        .expect("form token")
        + 25;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn another_organizations_ids_are_not_found() {
    let app = TestApp::builder().with_sandbox().start().await;
    let victim_owner = app.owner("Victim").await;
    let ids = victim(&app, &victim_owner).await;
    let attacker = app.owner("Attacker").await;
    // A connected attacker: "not a BYO account" must not be what stops it.
    app.connect_and_import(&attacker, &app.twilio_account(1, 98).await)
        .await;
    let token = csrf(&app, &attacker).await;

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
    let recipients: Vec<Value> = victim_owner.get_json(&app, "/api/report-recipients").await;
    assert_eq!(recipients.len(), 1);
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
