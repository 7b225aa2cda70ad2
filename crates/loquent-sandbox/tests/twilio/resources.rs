use futures_util::TryStreamExt;
use loquent_twilio::calls::{CallFilter, CallStatus, CallUpdate};
use loquent_twilio::events_api::{EventType, SinkStatus, WebhookSink};
use loquent_twilio::phone_numbers::{NumberSearch, VoiceConfig};
use loquent_twilio::recordings::RequestedChannels;
use loquent_twilio::twiml::Method;
use loquent_twilio::{CallSid, TwilioError};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn wrong_credentials_are_refused_with_20003() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 1).await;
    let bad = client(&sandbox, &seeded.account_sid, "not-the-token");
    let err = bad.fetch_account().await.unwrap_err();
    assert!(err.is_bad_credentials(), "{err}");
    assert_eq!(err.code(), Some(20003));
    assert_eq!(err.status(), Some(401));
    let err = bad
        .list_calls(&CallFilter::new())
        .try_next()
        .await
        .unwrap_err();
    assert!(matches!(err, TwilioError::BadCredentials(_)));
    let unknown = client(
        &sandbox,
        &format!("AC{}", "0".repeat(32)),
        &seeded.auth_token,
    );
    assert!(
        unknown
            .fetch_account()
            .await
            .unwrap_err()
            .is_bad_credentials()
    );
    let good = seeded_client(&sandbox, &seeded);
    let account = good.fetch_account().await.unwrap();
    assert_eq!(account.sid.unwrap().as_str(), seeded.account_sid);
}

#[tokio::test]
async fn subaccounts_see_only_their_own_resources() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 2).await;
    let main = seeded_client(&sandbox, &seeded);
    let sub = main.create_subaccount("Org 1").await.unwrap();
    let sub_sid = sub.sid.clone().unwrap();
    assert_eq!(sub.owner_account_sid.unwrap().as_str(), seeded.account_sid);
    let token = sub.auth_token.unwrap();
    let sub_client = client(&sandbox, sub_sid.as_str(), token.expose());

    assert_eq!(
        sub_client.fetch_account().await.unwrap().sid.unwrap(),
        sub_sid
    );
    // The parent may look at its subaccount; the subaccount may not look at its parent.
    assert!(main.fetch_account_by_sid(&sub_sid).await.is_ok());
    let parent = seeded.account_sid.parse().unwrap();
    assert!(
        sub_client
            .fetch_account_by_sid(&parent)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let sub_calls: Vec<_> = sub_client
        .list_calls(&CallFilter::new())
        .try_collect()
        .await
        .unwrap();
    assert!(sub_calls.is_empty());
    let main_calls: Vec<_> = main
        .list_calls(&CallFilter::new())
        .try_collect()
        .await
        .unwrap();
    let main_call: &CallSid = main_calls[0].sid.as_ref().unwrap();
    assert!(
        sub_client
            .fetch_call(main_call)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let main_number = seeded.numbers[0].sid.parse().unwrap();
    assert!(
        sub_client
            .fetch_incoming_phone_number(&main_number)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // A number bought by the subaccount is listed there, not in the parent.
    let offer = sub_client
        .search_local_numbers("US", &NumberSearch::default())
        .await
        .unwrap();
    let bought = sub_client
        .buy_phone_number(&loquent_twilio::phone_numbers::BuyNumber {
            phone_number: offer[0].phone_number.clone().unwrap(),
            voice: VoiceConfig::default(),
        })
        .await
        .unwrap();
    let sub_numbers: Vec<_> = sub_client
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sub_numbers.len(), 1);
    let main_numbers: Vec<_> = main
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(main_numbers.len(), 2);
    assert!(main_numbers.iter().all(|n| n.sid != bought.sid));

    // Raw: the subaccount's credentials on the parent's path are refused.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            sandbox.twilio_api_base(),
            seeded.account_sid
        ))
        .basic_auth(sub_sid.as_str(), Some(token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20003);
}

#[tokio::test]
async fn list_only_work_leaves_no_mutating_request_in_the_log() {
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 2, "calls_per_number": 10, "recording_share": 1.0, "seed": 3}),
    )
    .await;
    let c = seeded_client(&sandbox, &seeded);
    let calls: Vec<_> = c
        .list_calls(&CallFilter::new())
        .try_collect()
        .await
        .unwrap();
    let call = calls[0].sid.clone().unwrap();
    c.fetch_call(&call).await.unwrap();
    let recordings: Vec<_> = c.list_call_recordings(&call).try_collect().await.unwrap();
    let recording = recordings[0].sid.clone().unwrap();
    c.fetch_recording(&recording).await.unwrap();
    c.download_recording(&recording, RequestedChannels::AsRecorded)
        .await
        .unwrap();
    let numbers: Vec<_> = c
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .unwrap();
    c.fetch_incoming_phone_number(numbers[0].sid.as_ref().unwrap())
        .await
        .unwrap();
    c.search_local_numbers("US", &NumberSearch::default())
        .await
        .unwrap();
    c.fetch_account().await.unwrap();
    let sinks: Vec<_> = c.list_sinks().try_collect().await.unwrap();
    assert!(sinks.is_empty());

    assert!(logged(&sandbox, &seeded.account_sid, true).await.is_empty());
    assert_eq!(logged(&sandbox, &seeded.account_sid, false).await.len(), 10);

    c.update_incoming_phone_number(
        numbers[0].sid.as_ref().unwrap(),
        &VoiceConfig::webhook("https://example.org/voice"),
    )
    .await
    .unwrap();
    let mutating = logged(&sandbox, &seeded.account_sid, true).await;
    assert_eq!(mutating.len(), 1);
    assert_eq!(mutating[0]["method"], "POST");
    assert_eq!(
        mutating[0]["form"],
        json!([
            ["VoiceUrl", "https://example.org/voice"],
            ["VoiceMethod", "POST"]
        ])
    );
}

#[tokio::test]
async fn live_calls_can_be_redirected_recorded_and_hung_up() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 4).await;
    let c = seeded_client(&sandbox, &seeded);
    let (status, call) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/live-calls",
        Some(json!({"account_sid": seeded.account_sid, "from": "+14155550000", "to": seeded.numbers[0].phone_number})),
    )
    .await;
    assert_eq!(status, 201);
    let sid: CallSid = call["sid"].as_str().unwrap().parse().unwrap();
    let fetched = c.fetch_call(&sid).await.unwrap();
    assert_eq!(fetched.status, Some(CallStatus::InProgress));
    assert_eq!(
        fetched.phone_number_sid.unwrap().as_str(),
        seeded.numbers[0].sid
    );
    c.update_call(
        &sid,
        CallUpdate::Twiml("<Response><Hangup/></Response>".into()),
    )
    .await
    .unwrap();
    let started = c
        .start_call_recording(&sid, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        started.status,
        Some(loquent_twilio::recordings::RecordingStatus::InProgress)
    );
    let ended = c.hang_up_call(&sid).await.unwrap();
    assert_eq!(ended.status, Some(CallStatus::Completed));
    assert!(ended.end_time.is_some() && ended.duration.is_some());
    let recording = c
        .fetch_recording(started.sid.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        recording.status,
        Some(loquent_twilio::recordings::RecordingStatus::Completed)
    );
    // Over: no more redirects or recordings.
    let err = c
        .update_call(&sid, CallUpdate::redirect("https://example.org/next"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(21220));
    let err = c
        .start_call_recording(&sid, &Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    // A seeded (completed) call cannot be recorded either, and unknown calls are 404.
    let unknown: CallSid = format!("CA{}", "1".repeat(32)).parse().unwrap();
    assert!(c.fetch_call(&unknown).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn event_streams_sinks_and_subscriptions() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 5).await;
    let c = seeded_client(&sandbox, &seeded);
    let sink = c
        .create_webhook_sink(
            "Loquent",
            &WebhookSink::new("https://example.org/events", Method::Post, true),
        )
        .await
        .unwrap();
    assert_eq!(sink.status, Some(SinkStatus::Active));
    let sink_sid = sink.sid.clone().unwrap();
    assert!(sink_sid.as_str().starts_with("DG"));
    let sinks: Vec<_> = c.list_sinks().try_collect().await.unwrap();
    assert_eq!(sinks.len(), 1);
    assert_eq!(
        sinks[0].sink_configuration.as_ref().unwrap()["destination"],
        "https://example.org/events"
    );

    let types = [
        EventType::new("com.twilio.voice.status-callback.call.completed", 1),
        EventType::new("com.twilio.voice.insights.call-summary.complete", 1),
    ];
    let subscription = c
        .create_subscription("calls", &sink_sid, &types)
        .await
        .unwrap();
    let sub_sid = subscription.sid.clone().unwrap();
    assert!(sub_sid.as_str().starts_with("DF"));
    let listed: Vec<_> = c
        .list_subscriptions(Some(&sink_sid))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let added = c
        .add_subscribed_event(
            &sub_sid,
            &EventType::new("com.twilio.voice.status-callback.call.ringing", 1),
        )
        .await
        .unwrap();
    assert_eq!(added.schema_version, Some(1));
    let events: Vec<_> = c
        .list_subscribed_events(&sub_sid)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 3);

    // Another account sees none of it.
    let other = seed_small(&sandbox, 6).await;
    let oc = seeded_client(&sandbox, &other);
    let theirs: Vec<_> = oc.list_sinks().try_collect().await.unwrap();
    assert!(theirs.is_empty());
    assert!(oc.delete_sink(&sink_sid).await.unwrap_err().is_not_found());

    c.delete_subscription(&sub_sid).await.unwrap();
    c.delete_sink(&sink_sid).await.unwrap();
    let left: Vec<_> = c.list_sinks().try_collect().await.unwrap();
    assert!(left.is_empty());
    assert!(c.delete_sink(&sink_sid).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn api_keys_authenticate_for_their_account() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 77).await;
    let other = seed_small(&sandbox, 78).await;

    // Created through the REST API with the auth token; the secret is shown once.
    let http = reqwest::Client::new();
    let base = sandbox.twilio_api_base();
    let created: Value = http
        .post(format!(
            "{base}/2010-04-01/Accounts/{}/Keys.json",
            seeded.account_sid
        ))
        .basic_auth(&seeded.account_sid, Some(&seeded.auth_token))
        .form(&[("FriendlyName", "loquent")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_sid = created["sid"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(key_sid.starts_with("SK"));
    assert_eq!(created["friendly_name"], "loquent");
    let fetched: Value = http
        .get(format!(
            "{base}/2010-04-01/Accounts/{}/Keys/{key_sid}.json",
            seeded.account_sid
        ))
        .basic_auth(&seeded.account_sid, Some(&seeded.auth_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(fetched.get("secret").is_none(), "{fetched}");

    let with_key = |secret: &str| {
        loquent_twilio::TwilioClient::builder(loquent_twilio::Credentials::api_key(
            seeded.account_sid.parse().unwrap(),
            key_sid.parse().unwrap(),
            secret.to_owned(),
        ))
        .api_base(sandbox.twilio_api_base())
        .retry_policy(loquent_twilio::RetryPolicy::none())
        .build()
        .unwrap()
    };
    let account = with_key(&secret).fetch_account().await.unwrap();
    assert_eq!(account.sid.unwrap().as_str(), seeded.account_sid);
    let err = with_key("wrong").fetch_account().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");

    // The key is no credential for another account.
    let status = http
        .get(format!(
            "{base}/2010-04-01/Accounts/{}.json",
            other.account_sid
        ))
        .basic_auth(&key_sid, Some(&secret))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);

    // A key made through the control API works too; deleting a key revokes it.
    let (status, control_key) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/api-keys",
        Some(json!({"account_sid": seeded.account_sid})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(control_key["secret"].as_str().unwrap().len() >= 32);
    let deleted = http
        .delete(format!(
            "{base}/2010-04-01/Accounts/{}/Keys/{key_sid}.json",
            seeded.account_sid
        ))
        .basic_auth(&seeded.account_sid, Some(&seeded.auth_token))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(deleted, 204);
    assert_eq!(
        with_key(&secret)
            .fetch_account()
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
}
