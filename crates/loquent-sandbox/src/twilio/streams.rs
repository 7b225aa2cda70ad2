//! Event Streams deliveries: events sent to the account's webhook sinks, signed as Twilio signs
//! them. Calls ([`super::place_call`]) deliver theirs; this module also simulates SMS on the
//! account and lets a test deliver events of its own.
//!
//! - `POST /sandbox/messages {account_sid, from, to, body?, direction?, final_status?}`: an SMS
//!   on the account. `inbound` (default) delivers `inbound-message.received`; `outbound`
//!   delivers `message.sent`, then (in a second delivery) `message.delivered`, or `failed` /
//!   `undelivered` when `final_status` says so. Only sinks subscribed to a type receive it.
//! - `POST /sandbox/events {account_sid, events}`: these CloudEvents to every webhook sink of
//!   the account, subscribed or not (as a sink test does); a test's way to redeliver an event
//!   or to send one no subscription can ask for.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::error::ApiError;
use super::store::Store;
use super::webhooks::{self, EventDelivery};

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Store> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One sink and the events it is to receive.
struct Target {
    sid: String,
    destination: String,
    method: String,
    events: Vec<Value>,
}

/// Delivers `events` to the account's webhook sinks: to those subscribed to each event's type,
/// or to all of them when `all_sinks`. One delivery (one signed request) per sink.
pub(crate) async fn deliver(
    shared: &Shared,
    account_sid: &str,
    events: &[Value],
    all_sinks: bool,
) -> Vec<EventDelivery> {
    let (token, targets) = {
        let store = lock(shared);
        let Some(account) = store.accounts.get(account_sid) else {
            return Vec::new();
        };
        let targets: Vec<Target> = account
            .sinks
            .iter()
            .filter(|s| s.sink_type == "webhook")
            .filter_map(|sink| {
                let subscribed: Vec<&str> = account
                    .subscriptions
                    .iter()
                    .filter(|sub| sub.sink_sid == sink.sid)
                    .flat_map(|sub| sub.types.iter().map(|(t, _)| t.as_str()))
                    .collect();
                let events: Vec<Value> = events
                    .iter()
                    .filter(|e| {
                        all_sinks || subscribed.contains(&e["type"].as_str().unwrap_or_default())
                    })
                    .cloned()
                    .collect();
                let config = &sink.configuration;
                let destination = config["destination"].as_str()?.to_owned();
                let method = config["method"].as_str().unwrap_or("POST").to_owned();
                (!events.is_empty()).then(|| Target {
                    sid: sink.sid.clone(),
                    destination,
                    method,
                    events,
                })
            })
            .collect();
        (account.auth_token.clone(), targets)
    };
    let mut deliveries = Vec::with_capacity(targets.len());
    for target in targets {
        deliveries.push(
            webhooks::deliver_events(
                &token,
                &target.sid,
                &target.destination,
                &target.method,
                &target.events,
            )
            .await,
        );
    }
    deliveries
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliverEvents {
    account_sid: String,
    events: Vec<Value>,
}

pub(crate) async fn deliver_given(
    State(shared): State<Shared>,
    Json(request): Json<DeliverEvents>,
) -> Response {
    if !lock(&shared).accounts.contains_key(&request.account_sid) {
        return ApiError::not_found(&request.account_sid).into_response();
    }
    let deliveries = deliver(&shared, &request.account_sid, &request.events, true).await;
    (StatusCode::OK, Json(json!({ "deliveries": deliveries }))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendMessage {
    account_sid: String,
    from: String,
    to: String,
    #[serde(default)]
    body: Option<String>,
    /// `inbound` (default) or `outbound`.
    #[serde(default)]
    direction: Option<String>,
    /// An outbound message's last status: `delivered` (default), `undelivered` or `failed`.
    #[serde(default)]
    final_status: Option<String>,
}

fn message_event(
    kind: &str,
    sid: &str,
    account_sid: &str,
    request: &SendMessage,
    status: &str,
) -> Value {
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let inbound = kind == "inbound-message.received";
    let mut data = json!({
        "messageSid": sid,
        "accountSid": account_sid,
        "from": request.from,
        "to": request.to,
        "body": request.body,
        "timestamp": now,
        "eventName": format!("com.twilio.messaging.{kind}"),
        "apiVersion": "2010-04-01",
        "numberOfSegments": 1,
    });
    if inbound {
        data["numMedia"] = json!(0);
    } else {
        data["messageStatus"] = json!(status.to_ascii_uppercase());
        if matches!(status, "failed" | "undelivered") {
            data["errorCode"] = json!(30003);
        }
    }
    json!({
        "specversion": "1.0",
        "type": format!("com.twilio.messaging.{kind}"),
        "source": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"),
        "id": format!("EZ{}{}", &sid[2..], status.chars().take(2).collect::<String>()),
        "dataschema": if inbound {
            "https://events-schemas.twilio.com/Messaging.InboundMessageV1/1"
        } else {
            "https://events-schemas.twilio.com/Messaging.MessageStatus/1"
        },
        "datacontenttype": "application/json",
        "time": now,
        "data": data,
    })
}

pub(crate) async fn send_message(
    State(shared): State<Shared>,
    Json(request): Json<SendMessage>,
) -> Response {
    let (sid, account_sid) = {
        let mut store = lock(&shared);
        let sid = store.new_sid("SM");
        let Some(account) = store.accounts.get(&request.account_sid) else {
            return ApiError::not_found(&request.account_sid).into_response();
        };
        (sid, account.sid.clone())
    };
    let outbound = match request.direction.as_deref().unwrap_or("inbound") {
        "inbound" => false,
        "outbound" => true,
        other => {
            return ApiError::invalid(format!(
                "direction must be inbound or outbound, got {other:?}"
            ))
            .into_response();
        }
    };
    let final_status = request.final_status.as_deref().unwrap_or("delivered");
    if !["delivered", "undelivered", "failed"].contains(&final_status) {
        return ApiError::invalid(format!(
            "final_status must be delivered, undelivered or failed, got {final_status:?}"
        ))
        .into_response();
    }
    let mut deliveries = Vec::new();
    if outbound {
        for status in ["sent", final_status] {
            let event = message_event(
                &format!("message.{status}"),
                &sid,
                &account_sid,
                &request,
                status,
            );
            deliveries.extend(deliver(&shared, &account_sid, &[event], false).await);
        }
    } else {
        let event = message_event(
            "inbound-message.received",
            &sid,
            &account_sid,
            &request,
            "received",
        );
        deliveries.extend(deliver(&shared, &account_sid, &[event], false).await);
    }
    (
        StatusCode::CREATED,
        Json(json!({ "message_sid": sid, "deliveries": deliveries })),
    )
        .into_response()
}
