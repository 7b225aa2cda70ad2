use std::time::Duration;

use loquent_sandbox::{Sandbox, SandboxHandle, SeededAccount};
use loquent_twilio::{AccountSid, Credentials, RetryPolicy, TwilioClient};
use serde_json::{Value, json};

pub async fn start() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

/// Retries fast enough for tests, many enough to ride out 30% injected faults.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        retry_after_ceiling: Duration::from_secs(2),
    }
}

pub fn client(sandbox: &SandboxHandle, account_sid: &str, auth_token: &str) -> TwilioClient {
    let sid: AccountSid = account_sid.parse().expect("account sid");
    TwilioClient::builder(Credentials::auth_token(sid, auth_token))
        .api_base(sandbox.twilio_api_base())
        .events_base(sandbox.twilio_events_base())
        .retry_policy(fast_retries())
        .build()
        .expect("client")
}

pub fn seeded_client(sandbox: &SandboxHandle, seeded: &SeededAccount) -> TwilioClient {
    client(sandbox, &seeded.account_sid, &seeded.auth_token)
}

pub async fn control(
    sandbox: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", sandbox.twilio_api_base());
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("control body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("control JSON")
    };
    (status, value)
}

pub async fn seed(sandbox: &SandboxHandle, body: Value) -> SeededAccount {
    let (status, value) = control(
        sandbox,
        reqwest::Method::POST,
        "/sandbox/accounts",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{value}");
    serde_json::from_value(value).expect("seeded account")
}

pub async fn seed_small(sandbox: &SandboxHandle, seed_value: u64) -> SeededAccount {
    seed(
        sandbox,
        json!({"numbers": 2, "calls_per_number": 5, "recording_share": 0.5, "seed": seed_value}),
    )
    .await
}

/// Requests the sandbox logged for `account`, only POST/DELETE if `mutating`.
pub async fn logged(sandbox: &SandboxHandle, account: &str, mutating: bool) -> Vec<Value> {
    let (status, value) = control(
        sandbox,
        reqwest::Method::GET,
        &format!("/sandbox/requests?account_sid={account}&mutating={mutating}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    value["requests"].as_array().cloned().unwrap_or_default()
}
