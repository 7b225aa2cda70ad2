//! The JSON of every API response shape and every error body, as snapshots: a change to what a
//! client receives shows up in review as a diff. Each snapshot holds the status and the body,
//! with ids, timestamps and tokens replaced (see `redact.rs`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::redact::Redactor;
use crate::support::{Member, TestApp};

/// Snapshots a response under `name`: its status and its redacted JSON body (`null` when empty).
/// Returns the body as received, for the next request's ids.
async fn snap(redactor: &mut Redactor, name: &str, res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.expect("body");
    let body: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {text}"))
    };
    insta::assert_json_snapshot!(
        name,
        json!({"status": status.as_u16(), "body": redactor.json(&body)})
    );
    body
}

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

async fn put(app: &TestApp, member: &Member, path: &str, body: &Value) -> reqwest::Response {
    member
        .client
        .put(app.url(path))
        .json(body)
        .send()
        .await
        .expect("PUT")
}

async fn get(app: &TestApp, member: &Member, path: &str) -> reqwest::Response {
    member.client.get(app.url(path)).send().await.expect("GET")
}

async fn delete(app: &TestApp, member: &Member, path: &str) -> reqwest::Response {
    member
        .client
        .delete(app.url(path))
        .send()
        .await
        .expect("DELETE")
}

#[tokio::test]
async fn accounts_members_roles_and_settings() {
    let app = TestApp::new().await;
    let mut r = Redactor::new();
    let client = TestApp::client();
    let signup = json!({"email": "ada@acme.example.com", "password": "correct horse battery", "organization_name": "Acme Plumbing"});
    let res = client
        .post(app.url("/api/auth/signup"))
        .json(&signup)
        .send()
        .await
        .unwrap();
    snap(&mut r, "auth_signup", res).await;
    let res = client.get(app.url("/api/auth/me")).send().await.unwrap();
    snap(&mut r, "auth_me", res).await;
    let res = client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    snap(&mut r, "auth_logout", res).await;
    let res = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "ada@acme.example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    snap(&mut r, "auth_login", res).await;
    let me: Value = client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let owner = Member {
        client,
        email: "ada@acme.example.com".into(),
        me,
    };

    snap(
        &mut r,
        "permissions",
        get(&app, &owner, "/api/permissions").await,
    )
    .await;
    snap(&mut r, "roles_list", get(&app, &owner, "/api/roles").await).await;
    let res = owner
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Dispatcher", "permissions": ["Agent:Collection:List", "Phone:Collection:List"]}),
        )
        .await;
    let role = snap(&mut r, "roles_create", res).await;
    let role_path = format!("/api/roles/{}", id(&role));
    snap(&mut r, "roles_read", get(&app, &owner, &role_path).await).await;
    let res = put(
        &app,
        &owner,
        &role_path,
        &json!({"name": "Dispatch", "permissions": ["Agent:Collection:List"]}),
    )
    .await;
    snap(&mut r, "roles_update", res).await;

    snap(
        &mut r,
        "members_list_owner_only",
        get(&app, &owner, "/api/members").await,
    )
    .await;
    let res = owner
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "grace@acme.example.com", "role_ids": [role["id"]]}),
        )
        .await;
    let sent = snap(&mut r, "invitations_create", res).await;
    snap(
        &mut r,
        "invitations_list",
        get(&app, &owner, "/api/invitations").await,
    )
    .await;
    let token = crate::support::token_of_link(sent["link"].as_str().unwrap());
    let res = owner
        .post_json(&app, "/api/invitations/preview", &json!({"token": token}))
        .await;
    snap(&mut r, "invitations_preview", res).await;
    let res = TestApp::client()
        .post(app.url("/api/invitations/accept"))
        .json(&json!({"token": token, "password": "member password 1"}))
        .send()
        .await
        .unwrap();
    snap(&mut r, "invitations_accept", res).await;
    let res = owner
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "hopper@acme.example.com"}),
        )
        .await;
    let other = res.json::<Value>().await.unwrap()["invitation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .post_json(
            &app,
            &format!("/api/invitations/{other}/resend"),
            &json!({}),
        )
        .await;
    snap(&mut r, "invitations_resend", res).await;
    let res = delete(&app, &owner, &format!("/api/invitations/{other}")).await;
    snap(&mut r, "invitations_revoke", res).await;
    let members: Vec<Value> = owner.get_json(&app, "/api/members").await;
    let member = members
        .into_iter()
        .find(|m| m["email"] == "grace@acme.example.com")
        .unwrap();
    let member_path = format!("/api/members/{}", id(&member));
    let res = put(&app, &owner, &member_path, &json!({"role_ids": []})).await;
    snap(&mut r, "members_update", res).await;
    snap(
        &mut r,
        "members_list",
        get(&app, &owner, "/api/members").await,
    )
    .await;
    snap(
        &mut r,
        "members_remove",
        delete(&app, &owner, &member_path).await,
    )
    .await;
    snap(
        &mut r,
        "roles_delete",
        delete(&app, &owner, &role_path).await,
    )
    .await;

    snap(&mut r, "settings", get(&app, &owner, "/api/settings").await).await;
}

#[tokio::test]
async fn twilio_numbers_phones_and_agents() {
    let app = TestApp::builder().with_sandbox().start().await;
    let mut r = Redactor::new();
    let account = app.twilio_account(2, 5).await;
    let owner = app.owner("Acme Plumbing").await;

    let res = owner
        .post_json(
            &app,
            "/api/twilio/connect",
            &json!({"account_sid": account.account_sid, "auth_token": account.auth_token}),
        )
        .await;
    snap(&mut r, "twilio_connect", res).await;
    snap(
        &mut r,
        "settings_connected",
        get(&app, &owner, "/api/settings").await,
    )
    .await;
    let res = owner
        .post_json(&app, "/api/twilio/get-unsynced-numbers", &json!({}))
        .await;
    snap(&mut r, "twilio_unsynced_numbers", res).await;
    let res = owner
        .post_json(
            &app,
            "/api/twilio/sync-numbers",
            &json!({"numbers": [account.numbers[0].phone_number]}),
        )
        .await;
    snap(&mut r, "twilio_sync_numbers", res).await;
    let res = get(&app, &owner, "/api/twilio/imported-numbers").await;
    let imported = snap(&mut r, "twilio_imported_numbers", res).await;
    let phone_id = id(&imported[0]).to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/search-available-numbers",
            &json!({"area_code": "415"}),
        )
        .await;
    let offers = snap(&mut r, "twilio_search_available_numbers", res).await;
    let res = owner
        .post_json(
            &app,
            "/api/twilio/buy-phone-number",
            &json!({"phone_number": offers[0]["phone_number"]}),
        )
        .await;
    snap(&mut r, "twilio_buy_phone_number", res).await;
    let res = owner
        .post_json(
            &app,
            "/api/twilio/configure-phone-voice",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    snap(&mut r, "twilio_configure_phone_voice", res).await;
    let res = owner
        .post_json(
            &app,
            "/api/twilio/restore-phone-voice",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    snap(&mut r, "twilio_restore_phone_voice", res).await;

    snap(
        &mut r,
        "agents_list_empty",
        get(&app, &owner, "/api/agents").await,
    )
    .await;
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
                    "tools": {"end_call": true, "transfer_call": true, "lookup_caller": true},
                    "transfer_numbers": ["+14155550100"],
                    "lookup": {"url": "https://crm.example.com/lookup", "token": "crm-secret-token"},
                    "caller_context": true
                }
            }),
        )
        .await;
    let agent = snap(&mut r, "agents_create", res).await;
    let agent_path = format!("/api/agents/{}", id(&agent));
    snap(&mut r, "agents_read", get(&app, &owner, &agent_path).await).await;
    let res = put(
        &app,
        &owner,
        &agent_path,
        &json!({"name": "After hours", "prompt": "Take a message.", "config": {"provider": "gemini"}}),
    )
    .await;
    snap(&mut r, "agents_update", res).await;
    snap(
        &mut r,
        "agents_list",
        get(&app, &owner, "/api/agents").await,
    )
    .await;

    let phone_path = format!("/api/phones/{phone_id}");
    snap(
        &mut r,
        "phones_list",
        get(&app, &owner, "/api/phones").await,
    )
    .await;
    let res = put(
        &app,
        &owner,
        &phone_path,
        &json!({"friendly_name": "Main line", "agent_id": agent["id"]}),
    )
    .await;
    snap(&mut r, "phones_update", res).await;
    snap(&mut r, "phones_read", get(&app, &owner, &phone_path).await).await;
    let res = delete(&app, &owner, &format!("{phone_path}/agent")).await;
    snap(&mut r, "phones_remove_agent", res).await;
    snap(
        &mut r,
        "agents_delete",
        delete(&app, &owner, &agent_path).await,
    )
    .await;

    let res = owner
        .post_json(&app, "/api/twilio/disconnect", &json!({}))
        .await;
    snap(&mut r, "twilio_disconnect", res).await;
}

#[tokio::test]
async fn a_platform_subaccount() {
    let sandbox = crate::support::start_sandbox().await;
    let platform = crate::support::sandbox_account(&sandbox, 0, 6).await;
    let app = TestApp::builder()
        .with_existing_sandbox(sandbox)
        .with_setting("LOQUENT_TWILIO_ACCOUNT_SID", &platform.account_sid)
        .with_setting("LOQUENT_TWILIO_AUTH_TOKEN", &platform.auth_token)
        .start()
        .await;
    let mut r = Redactor::new();
    let owner = app.owner("Tenant").await;
    let res = owner
        .post_json(&app, "/api/twilio/subaccount", &json!({}))
        .await;
    snap(&mut r, "twilio_subaccount", res).await;
}

#[tokio::test]
async fn every_error_body() {
    let app = TestApp::builder().with_sandbox().start().await;
    let mut r = Redactor::new();
    let owner = app.owner("Acme").await;
    let anonymous = TestApp::client();

    // 400: malformed JSON, a malformed id in the URL.
    let res = owner
        .client
        .post(app.url("/api/agents"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    snap(&mut r, "error_400_malformed_json", res).await;
    snap(
        &mut r,
        "error_400_bad_id",
        get(&app, &owner, "/api/agents/not-an-id").await,
    )
    .await;

    // 401: not signed in; wrong password.
    let res = anonymous.get(app.url("/api/auth/me")).send().await.unwrap();
    snap(&mut r, "error_401_unauthorized", res).await;
    let res = anonymous
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": owner.email, "password": "not the password"}))
        .send()
        .await
        .unwrap();
    snap(&mut r, "error_401_invalid_credentials", res).await;

    // 403: a member without the permission.
    let viewer = app.member_with(&owner, &[]).await;
    snap(
        &mut r,
        "error_403_forbidden",
        get(&app, &viewer, "/api/agents").await,
    )
    .await;

    // 404: a missing resource; an unknown API route.
    let missing = format!("/api/agents/{}", uuid::Uuid::nil());
    snap(
        &mut r,
        "error_404_not_found",
        get(&app, &owner, &missing).await,
    )
    .await;
    snap(
        &mut r,
        "error_404_route",
        get(&app, &owner, "/api/nothing-here").await,
    )
    .await;

    // 409: an e-mail already signed up.
    let res = anonymous
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": owner.email, "password": "correct horse battery", "organization_name": "Again"}))
        .send()
        .await
        .unwrap();
    snap(&mut r, "error_409_conflict", res).await;

    // 413: a body over the limit.
    let res = owner
        .client
        .post(app.url("/api/agents"))
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    snap(&mut r, "error_413_payload_too_large", res).await;

    // 415: not JSON.
    let res = owner
        .client
        .post(app.url("/api/agents"))
        .body("name=Front+desk")
        .send()
        .await
        .unwrap();
    snap(&mut r, "error_415_unsupported_media_type", res).await;

    // 422: a body of the wrong shape; fields, each reported.
    let res = owner
        .post_json(&app, "/api/agents", &json!({"name": 7}))
        .await;
    snap(&mut r, "error_422_invalid_request", res).await;
    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({"name": "", "prompt": "Hi.", "config": {"provider": "openai", "voice": "nobody", "vad": {"threshold": 2.0}}}),
        )
        .await;
    snap(&mut r, "error_422_invalid_fields", res).await;

    // 502: Twilio answers 500 every time.
    let account = app.twilio_account(0, 8).await;
    let res = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/faults",
            app.sandbox().twilio_api_base()
        ))
        .json(&json!({"rate": 1.0, "statuses": [500]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16() / 100, 2);
    let res = owner
        .post_json(
            &app,
            "/api/twilio/connect",
            &json!({"account_sid": account.account_sid, "auth_token": account.auth_token}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    snap(&mut r, "error_502_upstream", res).await;
}
