//! The sandbox's own control API under `/sandbox` (no authentication): seed accounts, add
//! numbers and live calls, read the request log, inject faults. Documented in the crate docs.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::error::ApiError;
use super::rng::Rng;
use super::seed::{SeedRequest, seed};
use super::store::{Call, FaultPlan, Number, Store};

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Store> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn reply(result: Result<(StatusCode, serde_json::Value), ApiError>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn create_account(
    State(shared): State<Shared>,
    Json(request): Json<SeedRequest>,
) -> Response {
    let mut store = lock(&shared);
    reply(seed(&mut store, &request).map(|seeded| (StatusCode::CREATED, json!(seeded))))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AddNumber {
    account_sid: String,
    phone_number: Option<String>,
    voice_url: Option<String>,
    voice_method: Option<String>,
    status_callback: Option<String>,
    friendly_name: Option<String>,
}

pub(crate) async fn add_number(
    State(shared): State<Shared>,
    Json(request): Json<AddNumber>,
) -> Response {
    let mut store = lock(&shared);
    let store = &mut *store;
    if !store.accounts.contains_key(&request.account_sid) {
        return ApiError::not_found(&request.account_sid).into_response();
    }
    let phone_number = match request.phone_number {
        Some(n) if store.number_is_owned(&n) => {
            return ApiError::new(400, 21422, format!("{n} is already owned")).into_response();
        }
        Some(n) => n,
        None => loop {
            let candidate = format!("+1415555{:04}", 2000 + store.rng.below(8000));
            if !store.number_is_owned(&candidate) {
                break candidate;
            }
        },
    };
    let sid = store.new_sid("PN");
    let mut number = Number::new(sid, phone_number, Utc::now());
    number.voice_url = request.voice_url;
    if let Some(method) = request.voice_method {
        number.voice_method = method.to_ascii_uppercase();
    }
    if let Some(callback) = request.status_callback {
        number.status_callback = callback;
    }
    if let Some(name) = request.friendly_name {
        number.friendly_name = name;
    }
    let body = number.to_json(&request.account_sid);
    if let Some(account) = store.accounts.get_mut(&request.account_sid) {
        account.numbers.push(number);
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct AddCall {
    account_sid: String,
    from: String,
    to: String,
    /// Default `in-progress`.
    status: Option<String>,
    /// `inbound` (default) or `outbound-api`.
    direction: Option<String>,
}

pub(crate) async fn add_call(
    State(shared): State<Shared>,
    Json(request): Json<AddCall>,
) -> Response {
    let mut store = lock(&shared);
    let sid = store.new_sid("CA");
    let Some(account) = store.accounts.get_mut(&request.account_sid) else {
        return ApiError::not_found(&request.account_sid).into_response();
    };
    let direction = request.direction.unwrap_or_else(|| "inbound".to_owned());
    let own = if direction == "inbound" {
        &request.to
    } else {
        &request.from
    };
    let now = Utc::now();
    let status = request.status.unwrap_or_else(|| "in-progress".to_owned());
    let call = Call {
        sid: sid.clone(),
        phone_number_sid: account
            .numbers
            .iter()
            .find(|n| &n.phone_number == own)
            .map(|n| n.sid.clone()),
        from: request.from,
        to: request.to,
        end_time: (!matches!(status.as_str(), "queued" | "ringing" | "in-progress")).then_some(now),
        status,
        direction,
        created: now,
        updated: now,
        start_time: now,
        instructions: None,
    };
    let body = call.to_json(&account.sid);
    account.calls.push(call);
    account.sort_calls();
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct RequestFilter {
    account_sid: Option<String>,
    /// Only POST and DELETE requests.
    #[serde(default)]
    mutating: bool,
}

pub(crate) async fn list_requests(
    State(shared): State<Shared>,
    Query(filter): Query<RequestFilter>,
) -> Response {
    let store = lock(&shared);
    let requests: Vec<_> = store
        .requests
        .iter()
        .filter(|r| {
            filter
                .account_sid
                .as_ref()
                .is_none_or(|a| r.account_sid.as_ref() == Some(a))
        })
        .filter(|r| !filter.mutating || r.method == "POST" || r.method == "DELETE")
        .collect();
    Json(json!({ "requests": requests })).into_response()
}

pub(crate) async fn clear_requests(State(shared): State<Shared>) -> StatusCode {
    lock(&shared).requests.clear();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Faults {
    account_sid: Option<String>,
    method: Option<String>,
    path_contains: Option<String>,
    rate: f64,
    #[serde(default = "default_statuses")]
    statuses: Vec<u16>,
    #[serde(default)]
    seed: u64,
    /// `Retry-After` seconds on injected 429s; default 0.
    #[serde(default)]
    retry_after: u64,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    drop_connection: bool,
}

fn default_statuses() -> Vec<u16> {
    vec![429, 500]
}

/// Adds a fault rule; rules accumulate until `DELETE /sandbox/faults`.
pub(crate) async fn set_faults(
    State(shared): State<Shared>,
    Json(faults): Json<Faults>,
) -> Response {
    if !(0.0..=1.0).contains(&faults.rate) {
        return ApiError::invalid("rate must be within 0..=1").into_response();
    }
    if faults.statuses.iter().any(|s| !(400..600).contains(s)) {
        return ApiError::invalid("statuses must be 4xx or 5xx").into_response();
    }
    if faults.latency_ms > 60_000 {
        return ApiError::invalid("latency_ms must be at most 60000").into_response();
    }
    if let Some(method) = &faults.method
        && !["GET", "POST", "DELETE"].contains(&method.to_ascii_uppercase().as_str())
    {
        return ApiError::invalid("method must be GET, POST or DELETE").into_response();
    }
    lock(&shared).faults.push(FaultPlan {
        account_sid: faults.account_sid,
        method: faults.method,
        path_contains: faults.path_contains,
        rate: faults.rate,
        statuses: faults.statuses,
        retry_after_secs: faults.retry_after,
        latency: std::time::Duration::from_millis(faults.latency_ms),
        drop_connection: faults.drop_connection,
        rng: Rng::new(faults.seed),
    });
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn clear_faults(State(shared): State<Shared>) -> StatusCode {
    lock(&shared).faults.clear();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewKey {
    account_sid: String,
    friendly_name: Option<String>,
}

/// `POST /sandbox/api-keys {account_sid, friendly_name?}` → 201 `{sid, secret, ...}`.
pub(crate) async fn create_api_key(
    State(shared): State<Shared>,
    Json(request): Json<NewKey>,
) -> Response {
    let mut store = lock(&shared);
    let store = &mut *store;
    let sid = store.rng.sid("SK");
    let secret = store.rng.sid("XX")[2..].to_owned();
    let Some(account) = store.accounts.get_mut(&request.account_sid) else {
        return ApiError::not_found(&request.account_sid).into_response();
    };
    let key = super::store::ApiKey {
        sid,
        secret,
        friendly_name: request.friendly_name.unwrap_or_default(),
        created: Utc::now(),
    };
    let body = key.to_json(true);
    account.keys.push(key);
    (StatusCode::CREATED, Json(body)).into_response()
}
