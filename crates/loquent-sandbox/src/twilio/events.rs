//! Event Streams v1: sinks, subscriptions and their subscribed event types, per account.
//! Sinks are active as soon as they are created (what Twilio's current docs describe).

use chrono::Utc;
use serde_json::Value;

use super::api::{ApiRequest, Outcome, Reply};
use super::error::ApiError;
use super::paging::events_page;
use super::store::{Account, Store, Subscription};

const SINK_TYPES: [&str; 4] = ["webhook", "kinesis", "segment", "email"];

fn required<'a>(request: &'a ApiRequest, name: &str) -> Result<&'a str, ApiError> {
    request.form(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::invalid(format!(
            "Missing required parameter {name} in the post body"
        ))
    })
}

pub(crate) fn route(store: &mut Store, request: &ApiRequest, rest: &[&str]) -> Outcome {
    let sid = store.new_sid("XX");
    let Store { accounts, .. } = store;
    let account = accounts
        .get_mut(&request.caller)
        .ok_or_else(ApiError::authenticate)?;
    let method = request.method.as_str();
    let not_allowed = || Err(ApiError::method_not_allowed(method));
    // Fresh SID material for whatever this request creates.
    let new_sid = |prefix: &str| format!("{prefix}{}", &sid[2..]);
    match rest {
        ["Sinks"] => match method {
            "GET" => {
                let body = events_page(request, "sinks", &account.sinks, |s| {
                    s.to_json(&request.origin)
                })?;
                Ok(Reply::Json(200, body))
            }
            "POST" => create_sink(account, request, new_sid("DG")),
            _ => not_allowed(),
        },
        ["Sinks", sink] => match method {
            "GET" => {
                let found = account
                    .sinks
                    .iter()
                    .find(|s| s.sid == *sink)
                    .ok_or_else(|| ApiError::not_found(&request.path))?;
                Ok(Reply::Json(200, found.to_json(&request.origin)))
            }
            "DELETE" => {
                let before = account.sinks.len();
                account.sinks.retain(|s| s.sid != *sink);
                if account.sinks.len() == before {
                    return Err(ApiError::not_found(&request.path));
                }
                Ok(Reply::NoContent)
            }
            _ => not_allowed(),
        },
        ["Subscriptions"] => match method {
            "GET" => {
                let sink = request.query("SinkSid");
                let matching: Vec<&Subscription> = account
                    .subscriptions
                    .iter()
                    .filter(|s| sink.is_none_or(|k| s.sink_sid == k))
                    .collect();
                let body = events_page(request, "subscriptions", &matching, |s| {
                    s.to_json(&account.sid, &request.origin)
                })?;
                Ok(Reply::Json(200, body))
            }
            "POST" => create_subscription(account, request, new_sid("DF")),
            _ => not_allowed(),
        },
        ["Subscriptions", sub] => match method {
            "GET" => {
                let found = find_subscription(account, request, sub)?;
                Ok(Reply::Json(
                    200,
                    found.to_json(&account.sid, &request.origin),
                ))
            }
            "DELETE" => {
                let before = account.subscriptions.len();
                account.subscriptions.retain(|s| s.sid != *sub);
                if account.subscriptions.len() == before {
                    return Err(ApiError::not_found(&request.path));
                }
                Ok(Reply::NoContent)
            }
            _ => not_allowed(),
        },
        ["Subscriptions", sub, "SubscribedEvents"] => match method {
            "GET" => {
                let found = find_subscription(account, request, sub)?;
                let body = events_page(request, "types", &found.types, |t| {
                    found.event_json(&account.sid, &request.origin, t)
                })?;
                Ok(Reply::Json(200, body))
            }
            "POST" => {
                let event_type = required(request, "Type")?.to_owned();
                let version = match request.form("SchemaVersion") {
                    None => 1,
                    Some(raw) => raw.parse::<u32>().map_err(|_| {
                        ApiError::invalid(format!("SchemaVersion must be an integer, got {raw:?}"))
                    })?,
                };
                let account_sid = account.sid.clone();
                let found = account
                    .subscriptions
                    .iter_mut()
                    .find(|s| s.sid == *sub)
                    .ok_or_else(|| ApiError::not_found(&request.path))?;
                if found.types.iter().any(|(t, _)| *t == event_type) {
                    return Err(ApiError::new(
                        409,
                        20409,
                        format!("{event_type} is already subscribed"),
                    ));
                }
                found.types.push((event_type, version));
                found.updated = Utc::now();
                let added = found.types.last().cloned().unwrap_or_default();
                Ok(Reply::Json(
                    201,
                    found.event_json(&account_sid, &request.origin, &added),
                ))
            }
            _ => not_allowed(),
        },
        _ => Err(ApiError::not_found(&request.path)),
    }
}

fn find_subscription<'a>(
    account: &'a Account,
    request: &ApiRequest,
    sid: &str,
) -> Result<&'a Subscription, ApiError> {
    account
        .subscriptions
        .iter()
        .find(|s| s.sid == sid)
        .ok_or_else(|| ApiError::not_found(&request.path))
}

fn create_sink(account: &mut Account, request: &ApiRequest, sid: String) -> Outcome {
    let description = required(request, "Description")?.to_owned();
    let sink_type = required(request, "SinkType")?;
    if !SINK_TYPES.contains(&sink_type) {
        return Err(ApiError::invalid(format!(
            "SinkType must be one of {SINK_TYPES:?}, got {sink_type:?}"
        )));
    }
    let configuration: Value = serde_json::from_str(required(request, "SinkConfiguration")?)
        .map_err(|e| ApiError::invalid(format!("SinkConfiguration is not JSON: {e}")))?;
    if sink_type == "webhook"
        && configuration
            .get("destination")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(ApiError::invalid(
            "A webhook SinkConfiguration needs a destination",
        ));
    }
    let sink = super::store::Sink {
        sid,
        description,
        sink_type: sink_type.to_owned(),
        configuration,
        created: Utc::now(),
    };
    let body = sink.to_json(&request.origin);
    account.sinks.push(sink);
    Ok(Reply::Json(201, body))
}

fn create_subscription(account: &mut Account, request: &ApiRequest, sid: String) -> Outcome {
    let description = required(request, "Description")?.to_owned();
    let sink_sid = required(request, "SinkSid")?.to_owned();
    if !account.sinks.iter().any(|s| s.sid == sink_sid) {
        return Err(ApiError::new(
            400,
            20001,
            format!("Sink {sink_sid} does not exist"),
        ));
    }
    let raw_types = request.form_all("Types");
    if raw_types.is_empty() {
        return Err(ApiError::invalid(
            "Missing required parameter Types in the post body",
        ));
    }
    let mut types = Vec::new();
    for raw in raw_types {
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::invalid(format!("Types entry is not JSON: {e}")))?;
        let event_type = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("Types entry needs a \"type\""))?;
        let version = value
            .get("schema_version")
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32;
        types.push((event_type.to_owned(), version));
    }
    let now = Utc::now();
    let subscription = Subscription {
        sid,
        description,
        sink_sid,
        types,
        created: now,
        updated: now,
    };
    let body = subscription.to_json(&account.sid, &request.origin);
    account.subscriptions.push(subscription);
    Ok(Reply::Json(201, body))
}
