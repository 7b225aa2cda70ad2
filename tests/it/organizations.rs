//! A person in several organizations, on SQLite and PostgreSQL: the session acts for one of
//! them, switched through the API or the dashboard's header; every list shows the current one
//! only, with the person's roles there, and the other's ids stay 404.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{CallSeed, Member, TestApp, api_error, insert_call};

async fn calls(app: &TestApp, member: &Member) -> Vec<String> {
    let page: Value = member.get_json(app, "/api/calls").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn switch(app: &TestApp, member: &Member, org: &str) -> reqwest::Response {
    member
        .post_json(
            app,
            "/api/auth/switch-organization",
            &json!({"organization_id": org}),
        )
        .await
}

#[tokio::test]
async fn a_person_in_two_organizations_switches_between_them() {
    let app = TestApp::new().await;
    let ann = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    let stranger = app.owner("Initech").await;
    let acme_org = ann.org_id();
    let globex_org = globex.org_id();
    let acme_call = insert_call(&app, acme_org.parse().unwrap(), CallSeed::default())
        .await
        .id
        .to_string();
    let globex_call = insert_call(&app, globex_org.parse().unwrap(), CallSeed::default())
        .await
        .id
        .to_string();

    // Globex invites Ann, who joins with her existing account (no new password) and a role
    // that lists calls and nothing else.
    let role: Value = globex
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Listener", "permissions": ["Call:Collection:List", "Call:Instance:Read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = app.invite(&globex, &ann.email, &[role["id"].clone()]).await;
    app.accept_signed_in(&ann, &token).await;

    // Ann's first session still acts for Acme; she sees both organizations.
    let orgs: Value = ann.get_json(&app, "/api/auth/organizations").await;
    assert_eq!(
        orgs,
        json!([
            {"id": acme_org, "name": "Acme", "is_owner": true, "current": true},
            {"id": globex_org, "name": "Globex", "is_owner": false, "current": false},
        ])
    );
    assert_eq!(calls(&app, &ann).await, vec![acme_call.clone()]);

    // Switched to Globex: her lists, her permissions and her ids are Globex's.
    let res = switch(&app, &ann, &globex_org).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["organization"]["name"], "Globex");
    assert_eq!(me["is_owner"], false);
    let me: Value = ann.get_json(&app, "/api/auth/me").await;
    assert_eq!(me["organization"]["id"], globex_org.as_str());
    assert_eq!(calls(&app, &ann).await, vec![globex_call.clone()]);
    let res = ann
        .client
        .get(app.url(&format!("/api/calls/{acme_call}")))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::NOT_FOUND).await;
    let res = ann.client.get(app.url("/api/agents")).send().await.unwrap();
    api_error(res, StatusCode::FORBIDDEN).await;

    // An organization she is not in is not found, existing or not; nothing changes.
    for org in [stranger.org_id(), Uuid::new_v4().to_string()] {
        let res = switch(&app, &ann, &org).await;
        api_error(res, StatusCode::NOT_FOUND).await;
    }
    let res = switch(&app, &ann, "not-an-id").await;
    assert!(res.status().is_client_error());
    assert_eq!(calls(&app, &ann).await, vec![globex_call.clone()]);

    // Her other sessions keep their own organization.
    let other = TestApp::client();
    let res = other
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": ann.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["organization"]["name"], "Acme");

    // Removed from Globex, the session that acted for it ends at once.
    let members: Value = globex.get_json(&app, "/api/members").await;
    let ann_member = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == ann.email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = globex
        .client
        .delete(app.url(&format!("/api/members/{ann_member}")))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let res = ann
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::UNAUTHORIZED).await;
    let res = other.get(app.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the Acme session goes on");
}

#[tokio::test]
async fn the_dashboard_header_switches_the_organization() {
    let app = TestApp::new().await;
    let ann = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    // With one organization there is no switcher.
    let html = ann.page(&app, "/calls").await;
    assert!(!html.contains("org-switcher"));

    let role: Value = globex
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Reviewer", "permissions": ["Call:Collection:List", "Todo:Collection:List"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = app.invite(&globex, &ann.email, &[role["id"].clone()]).await;
    app.accept_signed_in(&ann, &token).await;
    let html = ann.page(&app, "/calls").await;
    assert!(html.contains("data-testid=\"org-switcher\""));
    assert!(html.contains(&format!(
        "<option value=\"{}\" selected>Acme</option>",
        ann.org_id()
    )));
    assert!(html.contains(&format!(
        "<option value=\"{}\">Globex</option>",
        globex.org_id()
    )));

    let res = ann
        .post_form(
            &app,
            "/switch-organization",
            &[("organization_id", globex.org_id().as_str())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/calls");
    let html = ann.page(&app, "/todos").await;
    assert!(html.contains(&format!(
        "<option value=\"{}\" selected>Globex</option>",
        globex.org_id()
    )));

    // Without the form's token, refused.
    let res = ann
        .client
        .post(app.url("/switch-organization"))
        .form(&[("organization_id", ann.org_id().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
