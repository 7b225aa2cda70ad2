//! Twilio connection, numbers (import, search, buy) and voice URL configure / restore, against
//! the Twilio sandbox: what the user sees through the API, and what changed on "Twilio".

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Member, TestApp, TwilioOwner, sandbox_account, start_sandbox};

const OUR_VOICE_URL: &str = "https://loquent.example.com/twilio/voice";

/// Mutating requests the sandbox logged for `account`.
async fn twilio_mutations(
    sandbox: &loquent_sandbox::SandboxHandle,
    account: &loquent_sandbox::SeededAccount,
) -> Vec<Value> {
    let log: Value = reqwest::Client::new()
        .get(format!(
            "{}/sandbox/requests?account_sid={}&mutating=true",
            sandbox.twilio_api_base(),
            account.account_sid
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["requests"].as_array().unwrap().clone()
}

async fn error_of(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn configure(app: &TestApp, member: &Member, id: &str) -> reqwest::Response {
    member
        .post_json(
            app,
            "/api/twilio/configure-phone-voice",
            &json!({"phone_number_id": id}),
        )
        .await
}

async fn restore(app: &TestApp, member: &Member, id: &str) -> reqwest::Response {
    member
        .post_json(
            app,
            "/api/twilio/restore-phone-voice",
            &json!({"phone_number_id": id}),
        )
        .await
}

#[tokio::test]
async fn connecting_checks_the_credentials_and_never_shows_the_token() {
    let app = TestApp::builder().with_sandbox().start().await;
    let account = app.twilio_account(1, 11).await;
    let owner = app.owner("Acme").await;

    for (body, status, message) in [
        (
            json!({"account_sid": "AC123", "auth_token": "x"}),
            400,
            "the Account SID (account_sid) does not look right",
        ),
        (
            json!({"account_sid": account.account_sid, "auth_token": "wrong"}),
            400,
            "Twilio rejected these credentials",
        ),
        (
            json!({"account_sid": account.account_sid, "auth_token": ""}),
            400,
            "auth_token",
        ),
    ] {
        let (got, text) = error_of(owner.post_json(&app, "/api/twilio/connect", &body).await).await;
        assert_eq!(got.as_u16(), status, "{body}: {text}");
        assert!(text.contains(message), "{text}");
    }
    let settings: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(
        settings["twilio"]["connected"], false,
        "a failed connect stores nothing"
    );

    let res = owner
        .post_json(
            &app,
            "/api/twilio/connect",
            &json!({"account_sid": account.account_sid, "auth_token": account.auth_token}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let settings: Value = owner.get_json(&app, "/api/settings").await;
    let masked = format!("AC••••••••{}", &account.account_sid[30..]);
    assert_eq!(settings["twilio"]["account_sid"], masked.as_str());
    assert_eq!(settings["twilio"]["byo_twilio"], true);
    let text = settings.to_string();
    assert!(!text.contains(&account.auth_token) && !text.contains(&account.account_sid));

    // Stored sealed, not in clear.
    let stored = sea_orm::ConnectionTrait::query_one_raw(
        &app.app.db,
        sea_orm::Statement::from_string(
            app.app.db.get_database_backend(),
            "SELECT twilio_auth_token FROM organization WHERE twilio_auth_token IS NOT NULL",
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let sealed: String = stored.try_get("", "twilio_auth_token").unwrap();
    assert!(!sealed.contains(&account.auth_token));

    let res = owner
        .post_json(&app, "/api/twilio/disconnect", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let settings: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(settings["twilio"]["connected"], false);
    assert!(settings["twilio"]["account_sid"].is_null());
}

#[tokio::test]
async fn an_unreachable_twilio_is_a_502() {
    let app = TestApp::builder()
        .with_sandbox()
        .with_setting("LOQUENT_TWILIO_API_BASE", "http://127.0.0.1:9")
        .start()
        .await;
    let owner = app.owner("Acme").await;
    let (status, message) = error_of(
        owner
            .post_json(
                &app,
                "/api/twilio/connect",
                &json!({"account_sid": format!("AC{}", "a".repeat(32)), "auth_token": "token"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message.contains("could not be reached"), "{message}");
}

#[tokio::test]
async fn importing_numbers_is_read_only_on_twilio() {
    let app = TestApp::builder().with_sandbox().start().await;
    let account = app.twilio_account(3, 12).await;
    let owner = app.owner("Acme").await;
    owner
        .post_json(
            &app,
            "/api/twilio/connect",
            &json!({"account_sid": account.account_sid, "auth_token": account.auth_token}),
        )
        .await;

    let res = owner
        .post_json(&app, "/api/twilio/get-unsynced-numbers", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let unsynced: Vec<Value> = res.json().await.unwrap();
    assert_eq!(unsynced.len(), 3);

    let first = account.numbers[0].phone_number.clone();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/sync-numbers",
            &json!({"numbers": [first.clone()]}),
        )
        .await;
    let result: Value = res.json().await.unwrap();
    assert_eq!(result["imported"], 1);
    let all: Vec<String> = account
        .numbers
        .iter()
        .map(|n| n.phone_number.clone())
        .collect();
    let res = owner
        .post_json(&app, "/api/twilio/sync-numbers", &json!({"numbers": all}))
        .await;
    let result: Value = res.json().await.unwrap();
    assert_eq!(
        (
            result["imported"].as_u64(),
            result["already_existing"].as_u64()
        ),
        (Some(2), Some(1))
    );

    let imported: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    assert_eq!(imported.len(), 3);
    assert!(imported.iter().all(|n| n["previous_voice_url"].is_null()));
    let res = owner
        .post_json(&app, "/api/twilio/get-unsynced-numbers", &json!({}))
        .await;
    assert_eq!(res.json::<Vec<Value>>().await.unwrap().len(), 0);
    assert!(
        twilio_mutations(app.sandbox(), &account).await.is_empty(),
        "import changed nothing on Twilio"
    );

    let (status, message) = error_of(
        owner
            .post_json(
                &app,
                "/api/twilio/sync-numbers",
                &json!({"numbers": ["555-1234"]}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("E.164"), "{message}");
}

#[tokio::test]
async fn configure_and_restore_round_trip_the_voice_url_exactly() {
    let app = TestApp::builder().with_sandbox().start().await;
    let account = app.twilio_account(2, 13).await;
    let owner = app.owner("Acme").await;
    let old = "https://old-platform.example.com/voice?x=1";
    app.set_voice_url_on_twilio(&account, &account.numbers[0].sid, old)
        .await;
    let imported = app.connect_and_import(&owner, &account).await;
    let id_of = |number: &str| {
        imported.iter().find(|n| n["number"] == number).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let with_url = id_of(&account.numbers[0].phone_number);
    let without_url = id_of(&account.numbers[1].phone_number);

    // A number that had a URL: it is saved and returned, and Twilio now calls us.
    let res = configure(&app, &owner, &with_url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"previous_voice_url": old})
    );
    assert_eq!(
        app.voice_url_on_twilio(&account, &account.numbers[0].sid)
            .await
            .as_deref(),
        Some(OUR_VOICE_URL)
    );
    let (status, message) = error_of(configure(&app, &owner, &with_url).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("already configured"), "{message}");

    // A number without a URL: null, stored as "" (configured), shown as configured.
    let res = configure(&app, &owner, &without_url).await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"previous_voice_url": null})
    );
    let summaries: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    let summary = summaries
        .iter()
        .find(|n| n["id"] == without_url.as_str())
        .unwrap();
    assert_eq!(summary["previous_voice_url"], Value::Null);
    assert_eq!(summary["voice_configured"], true);

    // Restore puts back exactly what was there, including "nothing".
    let res = restore(&app, &owner, &with_url).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.voice_url_on_twilio(&account, &account.numbers[0].sid)
            .await
            .as_deref(),
        Some(old)
    );
    let res = restore(&app, &owner, &without_url).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.voice_url_on_twilio(&account, &account.numbers[1].sid)
            .await,
        None
    );
    let (status, message) = error_of(restore(&app, &owner, &with_url).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("not configured"), "{message}");
    let summaries: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    assert!(summaries.iter().all(|n| n["voice_configured"] == false));
}

#[tokio::test]
async fn voice_configuration_errors_follow_the_spec() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner {
        owner,
        phones: imported,
        ..
    } = app.owner_on_twilio("Acme", 1, 14).await;
    let id = imported[0]["id"].as_str().unwrap().to_owned();

    // 404: unknown id, and another organization's number.
    let (status, _) =
        error_of(configure(&app, &owner, &uuid::Uuid::new_v4().to_string()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let intruder = app.owner("Intruder").await;
    let other_account = app.twilio_account(1, 15).await;
    app.connect_and_import(&intruder, &other_account).await;
    assert_eq!(
        configure(&app, &intruder, &id).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        restore(&app, &intruder, &id).await.status(),
        StatusCode::NOT_FOUND
    );

    // 403 without Twilio:Instance:Update.
    let viewer = app.member_with(&owner, &["Twilio:Collection:List"]).await;
    assert_eq!(
        configure(&app, &viewer, &id).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        restore(&app, &viewer, &id).await.status(),
        StatusCode::FORBIDDEN
    );
    let listed: Vec<Value> = viewer.get_json(&app, "/api/twilio/imported-numbers").await;
    assert_eq!(listed.len(), 1);

    // 502 when Twilio fails setting the URL, and nothing is half-saved.
    let faults = format!("{}/sandbox/faults", app.sandbox().twilio_api_base());
    let http = reqwest::Client::new();
    http.post(&faults)
        .json(&json!({"method": "POST", "path_contains": "/IncomingPhoneNumbers/", "rate": 1.0, "statuses": [500]}))
        .send()
        .await
        .unwrap();
    let (status, message) = error_of(configure(&app, &owner, &id).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message.contains("Twilio"), "{message}");
    http.delete(&faults).send().await.unwrap();
    let summaries: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    assert_eq!(
        summaries[0]["voice_configured"], false,
        "previous_voice_url stayed NULL"
    );
    assert_eq!(configure(&app, &owner, &id).await.status(), StatusCode::OK);

    // 502 on restore keeps the saved URL.
    http.post(&faults)
        .json(&json!({"method": "POST", "path_contains": "/IncomingPhoneNumbers/", "rate": 1.0, "statuses": [503]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        restore(&app, &owner, &id).await.status(),
        StatusCode::BAD_GATEWAY
    );
    http.delete(&faults).send().await.unwrap();
    let summaries: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    assert_eq!(summaries[0]["voice_configured"], true);
    assert_eq!(
        restore(&app, &owner, &id).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_platform_subaccount_is_not_byo_and_cannot_configure_voice() {
    let sandbox = start_sandbox().await;
    let platform = sandbox_account(&sandbox, 0, 16).await;
    let app = TestApp::builder()
        .with_existing_sandbox(sandbox)
        .with_setting("LOQUENT_TWILIO_ACCOUNT_SID", &platform.account_sid)
        .with_setting("LOQUENT_TWILIO_AUTH_TOKEN", &platform.auth_token)
        .start()
        .await;
    let owner = app.owner("Tenant").await;
    let settings: Value = owner.get_json(&app, "/api/settings").await;
    assert_eq!(settings["twilio"]["platform_subaccounts"], true);
    let res = owner
        .post_json(&app, "/api/twilio/subaccount", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["connected"], true);
    assert_eq!(view["byo_twilio"], false);
    let res = owner
        .post_json(&app, "/api/twilio/subaccount", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // The subaccount can buy; the bought number points at us from the start.
    let res = owner
        .post_json(
            &app,
            "/api/twilio/search-available-numbers",
            &json!({"area_code": "415"}),
        )
        .await;
    let offers: Vec<Value> = res.json().await.unwrap();
    let pick = offers[0]["phone_number"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/buy-phone-number",
            &json!({"phone_number": pick}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bought: Value = res.json().await.unwrap();
    let (status, message) =
        error_of(configure(&app, &owner, bought["id"].as_str().unwrap()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("BYO"), "{message}");
}

#[tokio::test]
async fn buying_a_number_sets_our_voice_url_and_default_analyzers() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, account, .. } = app.owner_on_twilio("Acme", 0, 17).await;
    // Two default analyzers (one inactive) and one that is not a default. There is no analyzer
    // API yet, so they are written straight to the database.
    let org_id: uuid::Uuid = owner.me["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for (name, is_default, active) in [
        ("Summary", true, true),
        ("Old", true, false),
        ("Extra", false, true),
    ] {
        use sea_orm::{ActiveModelTrait, Set};
        loquent::entity::analyzer::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            organization_id: Set(org_id),
            name: Set(name.into()),
            prompt: Set("Summarize the call.".into()),
            is_default: Set(is_default),
            active: Set(active),
            created_at: Set(chrono::Utc::now()),
            updated_at: Set(chrono::Utc::now()),
        }
        .insert(&app.app.db)
        .await
        .unwrap();
    }

    for (area, status) in [("41", 400), ("4155", 400), ("abc", 400)] {
        let res = owner
            .post_json(
                &app,
                "/api/twilio/search-available-numbers",
                &json!({"area_code": area}),
            )
            .await;
        assert_eq!(res.status().as_u16(), status, "{area}");
    }
    let res = owner
        .post_json(
            &app,
            "/api/twilio/search-available-numbers",
            &json!({"area_code": "212"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let offers: Vec<Value> = res.json().await.unwrap();
    assert!(!offers.is_empty());
    assert!(
        offers
            .iter()
            .all(|o| o["phone_number"].as_str().unwrap().starts_with("+1212"))
    );
    assert_eq!(offers[0]["voice"], true);

    let (status, _) = error_of(
        owner
            .post_json(
                &app,
                "/api/twilio/buy-phone-number",
                &json!({"phone_number": "2125550100"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not E.164");
    let (status, _) = error_of(
        owner
            .post_json(
                &app,
                "/api/twilio/buy-phone-number",
                &json!({"phone_number": "+19995550000"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not for sale");

    let pick = offers[0]["phone_number"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/buy-phone-number",
            &json!({"phone_number": pick}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bought: Value = res.json().await.unwrap();
    assert!(bought["twilio_sid"].as_str().unwrap().starts_with("PN"));
    let sid = bought["twilio_sid"].as_str().unwrap().to_owned();
    assert_eq!(
        app.voice_url_on_twilio(&account, &sid).await.as_deref(),
        Some(OUR_VOICE_URL)
    );
    let phones: Vec<Value> = owner.get_json(&app, "/api/phones").await;
    assert_eq!(phones.len(), 1);
    // Configured by the purchase, with no earlier URL: Restore would clear it.
    let summaries: Vec<Value> = owner.get_json(&app, "/api/twilio/imported-numbers").await;
    assert_eq!(summaries[0]["voice_configured"], true);
    assert_eq!(summaries[0]["previous_voice_url"], Value::Null);
    let (status, _) = error_of(configure(&app, &owner, bought["id"].as_str().unwrap()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "already configured");
    let attached = sea_orm::ConnectionTrait::query_one_raw(
        &app.app.db,
        sea_orm::Statement::from_string(
            app.app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM phone_number_analyzer pa JOIN analyzer a ON a.id = pa.analyzer_id \
             WHERE a.name = 'Summary'"
                .to_owned(),
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap();
    let all_attached = sea_orm::ConnectionTrait::query_one_raw(
        &app.app.db,
        sea_orm::Statement::from_string(
            app.app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM phone_number_analyzer".to_owned(),
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap();
    assert_eq!(
        (attached, all_attached),
        (1, 1),
        "only the active default analyzer"
    );
    let (status, _) = error_of(
        owner
            .post_json(
                &app,
                "/api/twilio/buy-phone-number",
                &json!({"phone_number": pick}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "already ours");
}

#[tokio::test]
async fn phones_can_be_renamed_and_their_agent_unassigned() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner {
        owner,
        phones: imported,
        ..
    } = app.owner_on_twilio("Acme", 1, 18).await;
    let id = imported[0]["id"].as_str().unwrap();
    let path = format!("/api/phones/{id}");

    let res = owner
        .client
        .put(app.url(&path))
        .json(&json!({"friendly_name": "Support line"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let phone: Value = owner.get_json(&app, &path).await;
    assert_eq!(phone["friendly_name"], "Support line");
    assert!(phone["agent_id"].is_null());

    let res = owner
        .client
        .put(app.url(&path))
        .json(&json!({"agent_id": uuid::Uuid::new_v4()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "unknown agent");
    let res = owner
        .client
        .put(app.url(&path))
        .json(&json!({"friendly_name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .client
        .delete(app.url(&format!("{path}/agent")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let reader = app.member_with(&owner, &["Phone:Collection:List"]).await;
    let res = reader
        .client
        .put(app.url(&path))
        .json(&json!({"friendly_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
