use std::collections::HashSet;
use std::time::Instant;

use futures_util::TryStreamExt;
use loquent_twilio::TwilioClient;
use loquent_twilio::calls::{Call, CallFilter, CallStatus};
use serde_json::json;

use crate::common::*;

async fn all_calls(client: &TwilioClient, filter: &CallFilter) -> Vec<Call> {
    client
        .list_calls(filter)
        .try_collect()
        .await
        .expect("list calls")
}

fn sids(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c.sid.as_ref().expect("sid").as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn ten_thousand_calls_page_through_once_each() {
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 20, "calls_per_number": 500, "recording_share": 0.1, "seed": 42}),
    )
    .await;
    assert_eq!(seeded.calls, 10_000);
    let client = seeded_client(&sandbox, &seeded);

    let calls = all_calls(&client, &CallFilter::new().page_size(250)).await;
    let sids = sids(&calls);
    assert_eq!(sids.len(), 10_000);
    assert_eq!(
        sids.iter().collect::<HashSet<_>>().len(),
        10_000,
        "no repeats"
    );
    assert!(
        calls
            .iter()
            .all(|c| c.status == Some(CallStatus::Completed)),
        "seeded history is completed calls"
    );
    let directions: HashSet<_> = calls.iter().filter_map(|c| c.direction.clone()).collect();
    assert_eq!(
        directions,
        HashSet::from(["inbound".to_owned(), "outbound-api".to_owned()])
    );
    // Newest first.
    let starts: Vec<_> = calls
        .iter()
        .map(|c| chrono::DateTime::parse_from_rfc2822(c.start_time.as_deref().unwrap()).unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));

    // 40 pages, each a GET, none mutating.
    let log = logged(&sandbox, &seeded.account_sid, false).await;
    assert_eq!(log.len(), 40);
    assert!(logged(&sandbox, &seeded.account_sid, true).await.is_empty());

    // Filters: each number's inbound calls, and the on-or-after day.
    let number = &seeded.numbers[0].phone_number;
    let inbound = all_calls(&client, &CallFilter::new().to(number.clone())).await;
    let outbound = all_calls(&client, &CallFilter::new().from(number.clone())).await;
    assert_eq!(inbound.len() + outbound.len(), 500);
    assert!(
        inbound
            .iter()
            .all(|c| c.direction.as_deref() == Some("inbound"))
    );
    let day = chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let recent = all_calls(
        &client,
        &CallFilter::new().started_on_or_after(day).page_size(1000),
    )
    .await;
    let expected = starts.iter().filter(|t| t.date_naive() >= day).count();
    assert_eq!(recent.len(), expected);
    assert!(expected > 0 && expected < 10_000);
    let none = all_calls(&client, &CallFilter::new().status(CallStatus::Ringing)).await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_same_seed_gives_the_same_account() {
    let one = start().await;
    let two = start().await;
    let body = json!({"numbers": 3, "calls_per_number": 40, "recording_share": 0.3, "seed": 9});
    let a = seed(&one, body.clone()).await;
    let b = seed(&two, body.clone()).await;
    assert_eq!(a.account_sid, b.account_sid);
    assert_eq!(a.auth_token, b.auth_token);
    assert_eq!(
        serde_json::to_value(&a.numbers).unwrap(),
        serde_json::to_value(&b.numbers).unwrap()
    );
    let calls_a = all_calls(&seeded_client(&one, &a), &CallFilter::new()).await;
    let calls_b = all_calls(&seeded_client(&two, &b), &CallFilter::new()).await;
    assert_eq!(sids(&calls_a), sids(&calls_b));
    assert_eq!(calls_a.len(), 120);
    // Seeding again resets the account to the same data.
    let again = seed(&one, body).await;
    assert_eq!(again.account_sid, a.account_sid);
    let calls_again = all_calls(&seeded_client(&one, &again), &CallFilter::new()).await;
    assert_eq!(sids(&calls_again), sids(&calls_a));
    // Another seed, another account.
    let other = seed(
        &one,
        json!({"numbers": 1, "calls_per_number": 1, "seed": 10}),
    )
    .await;
    assert_ne!(other.account_sid, a.account_sid);
}

#[tokio::test]
async fn injected_faults_do_not_change_what_the_client_lists() {
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 4, "calls_per_number": 500, "recording_share": 0.0, "seed": 5}),
    )
    .await;
    let client = seeded_client(&sandbox, &seeded);
    let filter = CallFilter::new().page_size(50);
    let clean = sids(&all_calls(&client, &filter).await);
    assert_eq!(clean.len(), 2000);

    let (status, _) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/faults",
        Some(json!({"account_sid": seeded.account_sid, "rate": 0.3, "statuses": [429, 500], "seed": 1})),
    )
    .await;
    assert_eq!(status, 204);
    let faulty = sids(&all_calls(&client, &filter).await);
    assert_eq!(faulty, clean);

    let log = logged(&sandbox, &seeded.account_sid, false).await;
    let count = |code: u64| log.iter().filter(|r| r["status"] == code).count();
    assert!(count(429) > 0 && count(500) > 0, "faults were injected");
    assert_eq!(count(200), 80, "each of the 40 pages served twice");

    // Without retries the faults surface as typed errors.
    let (status, _) = control(&sandbox, reqwest::Method::DELETE, "/sandbox/faults", None).await;
    assert_eq!(status, 204);
    control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/faults",
        Some(json!({"rate": 1.0, "statuses": [429], "seed": 1})),
    )
    .await;
    let once = loquent_twilio::TwilioClient::builder(loquent_twilio::Credentials::auth_token(
        seeded.account_sid.parse().unwrap(),
        seeded.auth_token.clone(),
    ))
    .api_base(sandbox.twilio_api_base())
    .retry_policy(loquent_twilio::RetryPolicy::none())
    .build()
    .unwrap();
    let err = once.fetch_account().await.unwrap_err();
    assert!(err.is_rate_limited(), "{err}");
    assert_eq!(err.code(), Some(20429));
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(0)));
    control(&sandbox, reqwest::Method::DELETE, "/sandbox/faults", None).await;
    assert!(once.fetch_account().await.is_ok());
}

/// `cargo test -p loquent-sandbox --release -- --ignored --nocapture paging_throughput`
#[tokio::test]
#[ignore = "measurement, not a check"]
async fn paging_throughput() {
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 20, "calls_per_number": 500, "recording_share": 0.1, "seed": 1}),
    )
    .await;
    let client = seeded_client(&sandbox, &seeded);
    for page_size in [50, 250, 1000] {
        let filter = CallFilter::new().page_size(page_size);
        let started = Instant::now();
        let mut total = 0;
        for _ in 0..3 {
            total += all_calls(&client, &filter).await.len();
        }
        let elapsed = started.elapsed();
        println!(
            "page size {page_size}: {total} calls in {elapsed:?} = {:.0} calls/s",
            total as f64 / elapsed.as_secs_f64()
        );
    }
}

#[tokio::test]
async fn faults_can_target_one_route_add_latency_and_drop_connections() {
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 1, "calls_per_number": 120, "recording_share": 0.0, "seed": 6}),
    )
    .await;
    let client = seeded_client(&sandbox, &seeded);
    let filter = CallFilter::new().page_size(20);
    let clean = sids(&all_calls(&client, &filter).await);

    // Half of the call-list requests lose their connection; other routes are untouched.
    for rule in [
        json!({"path_contains": "/Calls.json", "method": "GET", "rate": 0.5, "drop_connection": true, "seed": 3}),
        json!({"path_contains": "/IncomingPhoneNumbers", "rate": 1.0, "statuses": [], "latency_ms": 300}),
    ] {
        let (status, body) = control(
            &sandbox,
            reqwest::Method::POST,
            "/sandbox/faults",
            Some(rule),
        )
        .await;
        assert_eq!(status, 204, "{body}");
    }
    control(&sandbox, reqwest::Method::DELETE, "/sandbox/requests", None).await;
    assert_eq!(sids(&all_calls(&client, &filter).await), clean);
    assert!(client.fetch_account().await.is_ok());
    let log = logged(&sandbox, &seeded.account_sid, false).await;
    let dropped = log.iter().filter(|r| r["status"] == 499).count();
    assert!(dropped > 0, "connections were dropped");
    assert!(
        log.iter()
            .filter(|r| r["status"] == 499)
            .all(|r| r["path"].as_str().unwrap().ends_with("/Calls.json"))
    );
    assert_eq!(
        log.iter().filter(|r| r["status"] == 200).count(),
        6 + 1,
        "6 pages and the account"
    );

    // Latency only: the request runs, late.
    let started = std::time::Instant::now();
    let numbers: Vec<_> = client
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(numbers.len(), 1);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    for (bad, message) in [
        (json!({"rate": 2.0}), "rate"),
        (json!({"rate": 0.5, "method": "PATCH"}), "method"),
        (json!({"rate": 0.5, "latency_ms": 120000}), "latency_ms"),
    ] {
        let (status, body) = control(
            &sandbox,
            reqwest::Method::POST,
            "/sandbox/faults",
            Some(bad),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }
}
