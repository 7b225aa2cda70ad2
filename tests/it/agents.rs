//! Agents through the API and the dashboard: create, read, replace, delete; every bad field
//! reported at once; the caller-lookup token never shown; permissions; numbers left without an
//! agent when theirs is deleted.

use loquent::agents::RealtimeConfig;
use loquent::entity::agent;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::support::{Member, TestApp};

const TOKEN: &str = "crm-token-7f3a9c1e-never-shown";

fn full_agent() -> Value {
    json!({
        "name": "Front desk",
        "prompt": "You answer for Acme Plumbing. Book visits; never quote prices.",
        "config": {
            "provider": "openai",
            "voice": "coral",
            "vad": {"threshold": 0.6, "prefix_padding_ms": 200, "silence_duration_ms": 700},
            "greeting": "Acme Plumbing, how can I help?",
            "tools": {"end_call": true, "transfer_call": true, "lookup_caller": true},
            "transfer_numbers": ["+14155550100", "+44 7700 900123"],
            "lookup": {"url": "https://crm.example.com/lookup", "token": TOKEN},
            "caller_context": true
        }
    })
}

async fn create(app: &TestApp, member: &Member, body: &Value) -> Value {
    let res = member.post_json(app, "/api/agents", body).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap_or_default()
    );
    res.json().await.unwrap()
}

async fn put(app: &TestApp, member: &Member, id: &str, body: &Value) -> reqwest::Response {
    member
        .client
        .put(app.url(&format!("/api/agents/{id}")))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The 422 body's `error.fields` as (field, message) pairs.
async fn field_errors(res: reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_input");
    let message = body["error"]["message"].as_str().unwrap();
    let fields: Vec<(String, String)> = body["error"]["fields"]
        .as_array()
        .expect("error.fields")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (field, _) in &fields {
        assert!(message.contains(field.as_str()), "{message} names {field}");
    }
    fields
}

fn names(fields: &[(String, String)]) -> Vec<&str> {
    fields.iter().map(|(f, _)| f.as_str()).collect()
}

/// The stored lookup token in clear, as the live-call path will read it.
async fn stored_token(app: &TestApp, id: &str) -> Option<String> {
    let row = agent::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
        .one(&app.app.db)
        .await
        .unwrap()
        .expect("agent row");
    assert!(
        !row.realtime_config.to_string().contains(TOKEN),
        "the token is stored sealed"
    );
    RealtimeConfig::from_json(&row.realtime_config).lookup_token(&app.app.secrets)
}

#[tokio::test]
async fn an_agent_is_created_read_replaced_and_deleted() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert!(list.is_empty());

    let created = create(&app, &owner, &full_agent()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Front desk");
    let config = &created["config"];
    assert_eq!(config["provider"], "openai");
    assert_eq!(
        config["model"], "gpt-realtime",
        "the provider's default model"
    );
    assert_eq!(config["voice"], "coral");
    assert_eq!(
        config["vad"],
        json!({"threshold": 0.6, "prefix_padding_ms": 200, "silence_duration_ms": 700})
    );
    assert_eq!(
        config["transfer_numbers"],
        json!(["+14155550100", "+447700900123"]),
        "numbers are normalized"
    );
    assert_eq!(
        config["lookup"],
        json!({"url": "https://crm.example.com/lookup", "has_token": true})
    );
    assert_eq!(config["caller_context"], true);

    let read: Value = owner.get_json(&app, &format!("/api/agents/{id}")).await;
    assert_eq!(read, created);
    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert_eq!(list, vec![created.clone()]);

    // A minimal agent takes every default.
    let minimal = create(
        &app,
        &owner,
        &json!({"name": "After hours", "prompt": "Take a message.", "config": {"provider": "gemini"}}),
    )
    .await;
    assert_eq!(
        minimal["config"]["model"],
        loquent_ai::realtime::config::GEMINI_DEFAULT_MODEL
    );
    assert_eq!(
        minimal["config"]["voice"],
        loquent_ai::realtime::config::GEMINI_DEFAULT_VOICE
    );
    assert_eq!(
        minimal["config"]["tools"],
        json!({"end_call": true, "transfer_call": false, "lookup_caller": false})
    );
    assert_eq!(minimal["config"]["greeting"], Value::Null);
    assert_eq!(minimal["config"]["lookup"], Value::Null);

    // PUT replaces name, prompt and config.
    let res = put(
        &app,
        &owner,
        &id,
        &json!({"name": "Reception", "prompt": "Be brief.", "config": {"provider": "gemini", "voice": "Charon"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(replaced["name"], "Reception");
    assert_eq!(replaced["prompt"], "Be brief.");
    assert_eq!(replaced["config"]["voice"], "Charon");
    assert_eq!(replaced["config"]["transfer_numbers"], json!([]));
    assert_eq!(replaced["config"]["lookup"], Value::Null);
    assert_eq!(replaced["created_at"], created["created_at"]);
    let read: Value = owner.get_json(&app, &format!("/api/agents/{id}")).await;
    assert_eq!(read, replaced);

    let res = owner
        .client
        .delete(app.url(&format!("/api/agents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = owner
        .client
        .get(app.url(&format!("/api/agents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert_eq!(list, vec![minimal]);
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;

    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({
                "name": "",
                "prompt": "Hello",
                "config": {
                    "provider": "openai",
                    "voice": "Puck",
                    "vad": {"threshold": 1.5, "prefix_padding_ms": 2500, "silence_duration_ms": 50},
                    "tools": {"transfer_call": true},
                    "transfer_numbers": ["+14155550100", "555-0100"]
                }
            }),
        )
        .await;
    let fields = field_errors(res).await;
    assert_eq!(
        names(&fields),
        [
            "name",
            "config.voice",
            "config.vad.threshold",
            "config.vad.prefix_padding_ms",
            "config.vad.silence_duration_ms",
            "config.transfer_numbers",
        ]
    );
    let message = |field: &str| &fields.iter().find(|(f, _)| f == field).unwrap().1;
    assert!(
        message("config.voice").contains("marin"),
        "lists the voices"
    );
    assert!(message("config.transfer_numbers").contains("`555-0100`"));

    // Transfer on without numbers; caller lookup on without a URL.
    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({"name": "A", "prompt": "B", "config": {"tools": {"transfer_call": true, "lookup_caller": true}}}),
        )
        .await;
    assert_eq!(
        names(&field_errors(res).await),
        ["config.transfer_numbers", "config.lookup.url"]
    );

    // Missing name and prompt are field errors too, not a parse failure.
    let res = owner.post_json(&app, "/api/agents", &json!({})).await;
    assert_eq!(names(&field_errors(res).await), ["name", "prompt"]);

    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert!(list.is_empty(), "nothing was saved: {list:?}");

    // A bad replacement leaves the agent as it was.
    let agent = create(&app, &owner, &full_agent()).await;
    let id = agent["id"].as_str().unwrap();
    let mut bad = full_agent();
    bad["name"] = json!("Renamed");
    bad["config"]["vad"]["threshold"] = json!(-0.1);
    let res = put(&app, &owner, id, &bad).await;
    assert_eq!(names(&field_errors(res).await), ["config.vad.threshold"]);
    let read: Value = owner.get_json(&app, &format!("/api/agents/{id}")).await;
    assert_eq!(read, agent);
}

#[tokio::test]
async fn the_lookup_token_is_never_shown_and_is_kept_when_not_resent() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;

    let res = owner.post_json(&app, "/api/agents", &full_agent()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = res.text().await.unwrap();
    assert!(!body.contains(TOKEN), "POST answer: {body}");
    let agent: Value = serde_json::from_str(&body).unwrap();
    let id = agent["id"].as_str().unwrap().to_owned();
    assert_eq!(stored_token(&app, &id).await.as_deref(), Some(TOKEN));

    // Everything a member can read: API and pages.
    for path in [
        "/api/agents".to_owned(),
        format!("/api/agents/{id}"),
        "/agents".to_owned(),
        format!("/agents/{id}"),
    ] {
        let res = owner.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(TOKEN), "{path} shows the token");
        assert!(
            !text.contains("token_sealed"),
            "{path} shows the sealed token"
        );
    }
    let page = owner.page(&app, &format!("/agents/{id}")).await;
    assert!(
        page.contains("placeholder=\"unchanged\""),
        "the page says a token is stored"
    );

    // Sending the config back as read (no token) keeps the token.
    let mut again = agent.clone();
    again["name"] = json!("Front desk (renamed)");
    let res = put(&app, &owner, &id, &again).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(!body.contains(TOKEN), "PUT answer: {body}");
    let updated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(updated["config"]["lookup"]["has_token"], true);
    assert_eq!(stored_token(&app, &id).await.as_deref(), Some(TOKEN));

    // Pointing the lookup at another server needs the token again: it is not sent elsewhere.
    let mut elsewhere = agent.clone();
    elsewhere["config"]["lookup"] = json!({"url": "https://attacker.example.net/collect"});
    let res = put(&app, &owner, &id, &elsewhere).await;
    assert_eq!(names(&field_errors(res).await), ["config.lookup.token"]);
    assert_eq!(stored_token(&app, &id).await.as_deref(), Some(TOKEN));

    // A new token replaces it; removing the lookup forgets it.
    let mut replaced = agent.clone();
    replaced["config"]["lookup"]["token"] = json!("second-token");
    assert_eq!(
        put(&app, &owner, &id, &replaced).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_token(&app, &id).await.as_deref(),
        Some("second-token")
    );
    let mut without = agent.clone();
    without["config"]["tools"]["lookup_caller"] = json!(false);
    without["config"]["lookup"] = Value::Null;
    let res = put(&app, &owner, &id, &without).await;
    assert_eq!(res.status(), StatusCode::OK);
    let read: Value = res.json().await.unwrap();
    assert_eq!(read["config"]["lookup"], Value::Null);
    assert_eq!(stored_token(&app, &id).await, None);
}

#[tokio::test]
async fn each_action_needs_its_permission() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let agent = create(&app, &owner, &full_agent()).await;
    let path = format!("/api/agents/{}", agent["id"].as_str().unwrap());

    let nobody = app.member_with(&owner, &[]).await;
    let res = nobody
        .client
        .get(app.url("/api/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = nobody.client.get(app.url("/agents")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let lister = app.member_with(&owner, &["Agent:Collection:List"]).await;
    let list: Vec<Value> = lister.get_json(&app, "/api/agents").await;
    assert_eq!(list.len(), 1);
    let html = lister.page(&app, "/agents").await;
    assert!(html.contains("Front desk"));
    assert!(
        !html.contains("/agents/new"),
        "no New agent link without Create"
    );
    let res = lister.post_json(&app, "/api/agents", &full_agent()).await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Agent:Collection:Create"),
        "{body}"
    );
    for (method, needs) in [
        (reqwest::Method::GET, "Agent:Instance:Read"),
        (reqwest::Method::PUT, "Agent:Instance:Update"),
        (reqwest::Method::DELETE, "Agent:Instance:Delete"),
    ] {
        let res = lister
            .client
            .request(method.clone(), app.url(&path))
            .json(&full_agent())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(needs));
    }
    for page in ["/agents/new".to_owned(), path.replace("/api", "")] {
        let res = lister.client.get(app.url(&page)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{page}");
    }

    // Read without Update: the form is shown, but cannot be saved or deleted.
    let reader = app
        .member_with(&owner, &["Agent:Collection:List", "Agent:Instance:Read"])
        .await;
    let html = reader.page(&app, &path.replace("/api", "")).await;
    assert!(html.contains("Front desk"));
    assert!(html.contains(" disabled"));
    assert!(!html.contains("id=\"save\""));
    assert!(!html.contains("/delete"));
    let token = reader.csrf(&app).await;
    let res = reader
        .client
        .post(app.url(&path.replace("/api", "")))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Hijacked"),
            ("prompt", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let unchanged: Value = owner.get_json(&app, &path).await;
    assert_eq!(unchanged, agent);
}

#[tokio::test]
async fn deleting_an_agent_leaves_its_numbers_without_an_agent() {
    let app = TestApp::builder().with_sandbox().start().await;
    let owner = app.owner("Acme").await;
    let account = app.twilio_account(2, 7).await;
    let phones = app.connect_and_import(&owner, &account).await;
    assert_eq!(phones.len(), 2);
    let doomed = create(&app, &owner, &full_agent()).await;
    let kept = create(
        &app,
        &owner,
        &json!({"name": "Other", "prompt": "Take a message."}),
    )
    .await;
    for (phone, agent) in phones.iter().zip([&doomed, &kept]) {
        let res = owner
            .client
            .put(app.url(&format!("/api/phones/{}", phone["id"].as_str().unwrap())))
            .json(&json!({"agent_id": agent["id"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    let res = owner
        .client
        .delete(app.url(&format!("/api/agents/{}", doomed["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let first: Value = owner
        .get_json(
            &app,
            &format!("/api/phones/{}", phones[0]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        first["agent_id"],
        Value::Null,
        "the number is kept, without agent"
    );
    let second: Value = owner
        .get_json(
            &app,
            &format!("/api/phones/{}", phones[1]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        second["agent_id"], kept["id"],
        "other numbers keep their agent"
    );
}

#[tokio::test]
async fn the_agent_form_shows_each_problem_beside_its_field_and_keeps_what_was_typed() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let new = owner.page(&app, "/agents/new").await;
    assert!(new.contains("action=\"/agents\""));
    let token = owner.csrf(&app).await;
    let form = |numbers: &'static str, voice: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("name", "Night <line>".to_owned()),
            ("prompt", "Take messages after hours.".to_owned()),
            ("provider", "openai".to_owned()),
            ("model", "gpt-realtime".to_owned()),
            ("voice", voice.to_owned()),
            ("vad_threshold", "0.55".to_owned()),
            ("vad_prefix_padding_ms", "abc".to_owned()),
            ("vad_silence_duration_ms", "600".to_owned()),
            ("tools_end_call", "on".to_owned()),
            ("tools_transfer_call", "on".to_owned()),
            ("transfer_numbers", numbers.to_owned()),
            ("lookup_url", "https://crm.example.com/lookup".to_owned()),
            ("lookup_token", TOKEN.to_owned()),
        ]
    };

    let res = owner
        .client
        .post(app.url("/agents"))
        .form(&form("+14155550100\n12345", "sage"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"error-transfer_numbers\""), "{html}");
    assert!(html.contains("`12345` is not in international format"));
    assert!(html.contains("aria-describedby=\"error-transfer_numbers\""));
    assert!(html.contains("id=\"error-vad_prefix_padding_ms\""));
    assert!(
        !html.contains("id=\"error-name\""),
        "only bad fields are marked"
    );
    // What was typed is still there, escaped; the token is not.
    assert!(html.contains("Night &#60;line&#62;") || html.contains("Night &lt;line&gt;"));
    assert!(html.contains("+14155550100\n12345"));
    assert!(html.contains("value=\"0.55\""));
    assert!(html.contains("<option value=\"sage\" selected>"));
    assert!(!html.contains(TOKEN));
    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert!(list.is_empty());

    let res = owner
        .client
        .post(app.url("/agents"))
        .form(&form("+14155550100\n+1 415 555 0101", "sage"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "padding is still bad"
    );
    let mut fixed = form("+14155550100\n+1 415 555 0101", "sage");
    fixed.retain(|(k, _)| *k != "vad_prefix_padding_ms");
    let res = owner
        .client
        .post(app.url("/agents"))
        .form(&fixed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/agents?done=created");

    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert_eq!(list.len(), 1);
    let agent = &list[0];
    assert_eq!(agent["name"], "Night <line>");
    assert_eq!(agent["config"]["voice"], "sage");
    assert_eq!(
        agent["config"]["vad"]["prefix_padding_ms"], 300,
        "empty: the default"
    );
    assert_eq!(
        agent["config"]["transfer_numbers"],
        json!(["+14155550100", "+14155550101"])
    );
    assert_eq!(
        agent["config"]["tools"]["lookup_caller"], false,
        "unchecked box"
    );
    let id = agent["id"].as_str().unwrap();
    assert_eq!(stored_token(&app, id).await.as_deref(), Some(TOKEN));
    let listing = owner.page(&app, "/agents").await;
    assert!(listing.contains(&format!("href=\"/agents/{id}\"")));
    assert!(listing.contains("href=\"/agents/new\""));

    // Saving the edit form without typing a token keeps it.
    let mut edit = fixed.clone();
    edit.retain(|(k, _)| *k != "lookup_token");
    edit.push(("lookup_token", String::new()));
    let res = owner
        .client
        .post(app.url(&format!("/agents/{id}")))
        .form(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored_token(&app, id).await.as_deref(), Some(TOKEN));

    // Delete, from the page's own form.
    let res = owner
        .client
        .post(app.url(&format!("/agents/{id}/delete")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list: Vec<Value> = owner.get_json(&app, "/api/agents").await;
    assert!(list.is_empty());
}

#[tokio::test]
async fn a_lookup_url_on_a_private_address_is_refused_unless_the_operator_allows_it() {
    let mut body = full_agent();
    body["config"]["lookup"]["url"] = json!("http://169.254.169.254/latest/meta-data");

    // By default the form says why, beside the field, and nothing is saved.
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let res = owner.post_json(&app, "/api/agents", &body).await;
    let fields = field_errors(res).await;
    assert_eq!(names(&fields), ["config.lookup.url"]);
    assert!(
        fields[0].1.contains("LOQUENT_ALLOW_PRIVATE_LOOKUPS"),
        "{fields:?}"
    );
    assert!(
        agent::Entity::find()
            .all(&app.app.db)
            .await
            .unwrap()
            .is_empty()
    );
    // A replace is checked the same way.
    let created = create(&app, &owner, &full_agent()).await;
    let id = created["id"].as_str().unwrap();
    body["config"]["lookup"]["url"] = json!("http://localhost:8080/crm");
    let fields = field_errors(put(&app, &owner, id, &body).await).await;
    assert_eq!(names(&fields), ["config.lookup.url"]);

    // An operator whose CRM is on the LAN allows it.
    let lan = TestApp::builder()
        .with_setting("LOQUENT_ALLOW_PRIVATE_LOOKUPS", "true")
        .start()
        .await;
    let owner = lan.owner("Acme").await;
    body["config"]["lookup"]["url"] = json!("http://192.168.1.20/crm");
    let created = create(&lan, &owner, &body).await;
    assert_eq!(
        created["config"]["lookup"]["url"],
        "http://192.168.1.20/crm"
    );
}
