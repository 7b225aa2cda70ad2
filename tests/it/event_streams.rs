//! Twilio Event Streams setup (seed 001) through the front door: `POST /api/twilio/setup-event-sink`
//! and `/remove-event-sink` against the sandbox, with the sandbox's own sinks and subscriptions
//! (read with the account's credentials, as Twilio's console would show them) as the truth.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TwilioOwner, api_error};

const DESTINATION: &str = "https://loquent.example.com/twilio/events";

/// The account's sinks or subscriptions on the sandbox (`"Sinks"` / `"Subscriptions"`).
async fn on_twilio(
    app: &TestApp,
    account: &loquent_sandbox::SeededAccount,
    list: &str,
) -> Vec<Value> {
    let res = reqwest::Client::new()
        .get(format!("{}/v1/{list}", app.sandbox().twilio_events_base()))
        .basic_auth(&account.account_sid, Some(&account.auth_token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body[list.to_lowercase()]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn setup(app: &TestApp, who: &TwilioOwner, call: bool, sms: bool) -> reqwest::Response {
    who.owner
        .post_json(
            app,
            "/api/twilio/setup-event-sink",
            &json!({"call_events": call, "sms_events": sms}),
        )
        .await
}

async fn remove(app: &TestApp, who: &TwilioOwner, kind: &str) -> reqwest::Response {
    who.owner
        .post_json(
            app,
            "/api/twilio/remove-event-sink",
            &json!({"event_type": kind}),
        )
        .await
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn setup_twice_uses_one_sink_and_each_kind_is_removed_on_its_own() {
    let app = TestApp::builder().with_sandbox().start().await;
    let who = app.owner_on_twilio("Acme Plumbing", 1, 61).await;

    let calls = ok(setup(&app, &who, true, false).await).await;
    assert_eq!(calls["call_events_active"], true);
    assert_eq!(calls["sms_events_active"], false);
    let sink = calls["sink_sid"].as_str().unwrap().to_owned();
    assert!(sink.starts_with("DG"), "{sink}");

    // Again with SMS too: the same sink and call subscription, one new subscription.
    let both = ok(setup(&app, &who, true, true).await).await;
    assert_eq!(both["sink_sid"], sink.as_str());
    assert_eq!(
        both["call_subscription_sid"],
        calls["call_subscription_sid"]
    );
    assert_eq!(both["sms_events_active"], true);
    let sinks = on_twilio(&app, &who.account, "Sinks").await;
    assert_eq!(sinks.len(), 1, "{sinks:?}");
    assert_eq!(sinks[0]["sink_configuration"]["destination"], DESTINATION);
    let subscriptions = on_twilio(&app, &who.account, "Subscriptions").await;
    assert_eq!(subscriptions.len(), 2, "{subscriptions:?}");
    let shown: Value = who.owner.get_json(&app, "/api/twilio/event-streams").await;
    assert_eq!(shown, both);

    // Removing call events keeps SMS flowing through the same sink.
    let sms_only = ok(remove(&app, &who, "call").await).await;
    assert_eq!(sms_only["call_events_active"], false);
    assert_eq!(sms_only["call_subscription_sid"], Value::Null);
    assert_eq!(sms_only["sms_events_active"], true);
    assert_eq!(sms_only["sink_sid"], sink.as_str());
    let subscriptions = on_twilio(&app, &who.account, "Subscriptions").await;
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0]["sid"], both["sms_subscription_sid"]);
    assert_eq!(ok(remove(&app, &who, "call").await).await, sms_only);

    // The last subscription takes the sink with it.
    let none = ok(remove(&app, &who, "sms").await).await;
    assert_eq!(
        none,
        json!({"call_events_active": false, "sms_events_active": false, "sink_sid": null,
               "call_subscription_sid": null, "sms_subscription_sid": null})
    );
    assert!(on_twilio(&app, &who.account, "Sinks").await.is_empty());
    assert!(
        on_twilio(&app, &who.account, "Subscriptions")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_sink_already_delivering_here_is_reused() {
    let app = TestApp::builder().with_sandbox().start().await;
    let who = app.owner_on_twilio("Acme Plumbing", 1, 62).await;
    let res = reqwest::Client::new()
        .post(format!("{}/v1/Sinks", app.sandbox().twilio_events_base()))
        .basic_auth(&who.account.account_sid, Some(&who.account.auth_token))
        .form(&[
            ("Description", "made by hand"),
            ("SinkType", "webhook"),
            (
                "SinkConfiguration",
                &json!({"destination": DESTINATION, "method": "POST", "batch_events": true})
                    .to_string(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let existing: Value = res.json().await.unwrap();
    // And our SMS subscription on it, made before a database restore forgot its SID.
    let res = reqwest::Client::new()
        .post(format!(
            "{}/v1/Subscriptions",
            app.sandbox().twilio_events_base()
        ))
        .basic_auth(&who.account.account_sid, Some(&who.account.auth_token))
        .form(&[
            ("Description", "Loquent SMS events"),
            ("SinkSid", existing["sid"].as_str().unwrap()),
            (
                "Types",
                &json!({"type": "com.twilio.messaging.inbound-message.received",
                        "schema_version": 1})
                .to_string(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let subscription: Value = res.json().await.unwrap();

    let state = ok(setup(&app, &who, false, true).await).await;
    assert_eq!(state["sink_sid"], existing["sid"]);
    assert_eq!(state["sms_subscription_sid"], subscription["sid"]);
    assert_eq!(on_twilio(&app, &who.account, "Sinks").await.len(), 1);
    assert_eq!(
        on_twilio(&app, &who.account, "Subscriptions").await.len(),
        1
    );
}

#[tokio::test]
async fn a_twilio_failure_answers_502_and_leaves_nothing_half_made() {
    let app = TestApp::builder().with_sandbox().start().await;
    let who = app.owner_on_twilio("Acme Plumbing", 1, 63).await;
    let faults = app.sandbox().twilio_api_base();
    let res = reqwest::Client::new()
        .post(format!("{faults}/sandbox/faults"))
        .json(&json!({"rate": 1.0, "statuses": [500], "method": "POST",
                      "path_contains": "/Subscriptions"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    let message = api_error(setup(&app, &who, true, true).await, StatusCode::BAD_GATEWAY).await;
    assert!(message.contains("Twilio"), "{message}");
    // The sink made before the failure was deleted again, and nothing was stored.
    assert!(on_twilio(&app, &who.account, "Sinks").await.is_empty());
    let shown: Value = who.owner.get_json(&app, "/api/twilio/event-streams").await;
    assert_eq!(shown["sink_sid"], Value::Null);
    assert_eq!(shown["call_events_active"], false);

    reqwest::Client::new()
        .delete(format!("{faults}/sandbox/faults"))
        .send()
        .await
        .unwrap();
    let state = ok(setup(&app, &who, true, true).await).await;
    assert_eq!(state["call_events_active"], true);
}

#[tokio::test]
async fn setup_needs_permission_a_connected_account_and_a_choice() {
    let app = TestApp::builder().with_sandbox().start().await;
    let who = app.owner_on_twilio("Acme Plumbing", 1, 64).await;
    let viewer = app.member_with(&who.owner, &["Twilio:Instance:Read"]).await;
    let res = viewer
        .post_json(
            &app,
            "/api/twilio/setup-event-sink",
            &json!({"call_events": true}),
        )
        .await;
    api_error(res, StatusCode::FORBIDDEN).await;
    let res = viewer
        .post_json(
            &app,
            "/api/twilio/remove-event-sink",
            &json!({"event_type": "call"}),
        )
        .await;
    api_error(res, StatusCode::FORBIDDEN).await;

    let message = api_error(
        setup(&app, &who, false, false).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        message.contains("call events, SMS events or both"),
        "{message}"
    );
    let res = who
        .owner
        .post_json(
            &app,
            "/api/twilio/remove-event-sink",
            &json!({"event_type": "fax"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let unconnected = app.owner("Not Yet Connected").await;
    let res = unconnected
        .post_json(
            &app,
            "/api/twilio/setup-event-sink",
            &json!({"call_events": true}),
        )
        .await;
    let message = api_error(res, StatusCode::BAD_REQUEST).await;
    assert!(message.to_lowercase().contains("twilio"), "{message}");
    // Another organization's setup is not this one's.
    ok(setup(&app, &who, true, false).await).await;
    let theirs: Value = unconnected
        .get_json(&app, "/api/twilio/event-streams")
        .await;
    assert_eq!(theirs["call_events_active"], false);
}

#[tokio::test]
async fn the_twilio_page_sets_up_and_removes_each_kind_with_errors_in_place() {
    let app = TestApp::builder().with_sandbox().start().await;
    let who = app.owner_on_twilio("Acme Plumbing", 1, 65).await;
    let html = who.owner.page(&app, "/settings/twilio").await;
    assert!(html.contains("<h2>Event Streams</h2>"), "{html}");
    assert!(html.contains(DESTINATION), "{html}");
    assert!(html.contains("id=\"call-events-setup\""));
    assert!(html.contains("id=\"sms-events-setup\""));

    let res = who
        .owner
        .post_form(&app, "/settings/twilio/events/setup", &[("kind", "call")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let state: Value = who.owner.get_json(&app, "/api/twilio/event-streams").await;
    assert_eq!(state["call_events_active"], true);
    assert_eq!(state["sms_events_active"], false);
    let html = who
        .owner
        .page(&app, "/settings/twilio?done=call-events-on")
        .await;
    assert!(html.contains("Call events are set up"), "{html}");
    assert!(html.contains("id=\"call-events-remove\""));
    assert!(html.contains("id=\"sms-events-setup\""));

    // Twilio fails: the page says so in the section, with the upstream status.
    let faults = format!("{}/sandbox/faults", app.sandbox().twilio_api_base());
    reqwest::Client::new()
        .post(&faults)
        .json(&json!({"rate": 1.0, "statuses": [500], "method": "POST",
                      "path_contains": "/Subscriptions"}))
        .send()
        .await
        .unwrap();
    let res = who
        .owner
        .post_form(&app, "/settings/twilio/events/setup", &[("kind", "sms")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let html = res.text().await.unwrap();
    let error = &html[html
        .find("id=\"events-error\"")
        .expect("the error in place")..];
    assert!(error[..200].contains("Twilio"), "{error}");
    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let state: Value = who.owner.get_json(&app, "/api/twilio/event-streams").await;
    assert_eq!(state["sms_events_active"], false);

    // A reader sees the state, not the buttons, and cannot act.
    let reader = app.member_with(&who.owner, &["Twilio:Instance:Read"]).await;
    let html = reader.page(&app, "/settings/twilio").await;
    assert!(html.contains("<h2>Event Streams</h2>"));
    assert!(!html.contains("id=\"call-events-remove\""));
    let res = reader
        .post_form(&app, "/settings/twilio/events/remove", &[("kind", "call")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = who
        .owner
        .post_form(&app, "/settings/twilio/events/setup", &[("kind", "fax")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = who
        .owner
        .post_form(&app, "/settings/twilio/events/remove", &[("kind", "call")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let state: Value = who.owner.get_json(&app, "/api/twilio/event-streams").await;
    assert_eq!(state["call_events_active"], false);
    assert_eq!(state["sink_sid"], Value::Null);
    assert!(on_twilio(&app, &who.account, "Sinks").await.is_empty());
}
