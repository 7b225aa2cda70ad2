//! The front door of the emulated Twilio REST APIs: parse the request, check HTTP Basic
//! credentials, maybe inject a fault, route to the resource, log it.
//!
//! Routing is by hand over path segments because Twilio's paths put an extension right after
//! an id (`/Calls/{Sid}.json`, `/Recordings/{Sid}.mp3`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use url::form_urlencoded;

use super::error::ApiError;
use super::store::{LoggedRequest, Store};
use super::{Shared, accounts, calls, events, keys, phone_numbers, recordings};

/// One parsed API request.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    /// Percent-decoded path.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    /// `http://host:port`, from the `Host` header: how absolute URLs in responses start.
    pub(crate) origin: String,
    /// Whose credentials were presented.
    pub(crate) caller: String,
}

impl ApiRequest {
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated form key, in order.
    pub(crate) fn form_all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What a resource handler answers.
#[derive(Debug)]
pub(crate) enum Reply {
    Json(u16, Value),
    NoContent,
    Mp3(Vec<u8>),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Self::Json(status, body) => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                axum::Json(body),
            )
                .into_response(),
            Self::NoContent => StatusCode::NO_CONTENT.into_response(),
            Self::Mp3(bytes) => ([(header::CONTENT_TYPE, "audio/mpeg")], bytes).into_response(),
        }
    }
}

pub(crate) type Outcome = Result<Reply, ApiError>;

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// The account the Basic credentials belong to.
fn authenticate(store: &Store, headers: &HeaderMap) -> Result<String, ApiError> {
    let encoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(ApiError::authenticate)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::authenticate())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::authenticate())?;
    let (user, password) = decoded.split_once(':').ok_or_else(ApiError::authenticate)?;
    if user.starts_with("SK") {
        // An API key acts for the account that owns it.
        return store
            .accounts
            .values()
            .find(|a| a.keys.iter().any(|k| k.sid == user && k.secret == password))
            .map(|a| a.sid.clone())
            .ok_or_else(ApiError::authenticate);
    }
    match store.accounts.get(user) {
        Some(account) if account.auth_token == password => Ok(account.sid.clone()),
        _ => Err(ApiError::authenticate()),
    }
}

/// The account a request acts on: the `{AccountSid}` of a v2010 path, else the caller.
fn acting_account(path: &str, caller: Option<&str>) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    if segments.next() == Some("2010-04-01")
        && segments.next() == Some("Accounts")
        && let Some(account) = segments.next()
    {
        return Some(account.trim_end_matches(".json").to_owned());
    }
    caller.map(str::to_owned)
}

/// What an injected fault does to one request.
struct Fault {
    latency: std::time::Duration,
    effect: Effect,
}

enum Effect {
    /// Run the request normally (after the latency).
    Proceed,
    Fail(ApiError),
    Drop,
}

fn injected_fault(
    store: &mut Store,
    account: Option<&str>,
    method: &Method,
    path: &str,
) -> Option<Fault> {
    store.faults.iter_mut().find_map(|plan| {
        let applies = plan
            .account_sid
            .as_deref()
            .is_none_or(|only| account == Some(only))
            && plan
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && plan
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p));
        if !applies || plan.rng.unit() >= plan.rate {
            return None;
        }
        let effect = if plan.drop_connection {
            Effect::Drop
        } else if plan.statuses.is_empty() {
            Effect::Proceed
        } else {
            let status = plan.statuses[plan.rng.below(plan.statuses.len() as u64) as usize];
            Effect::Fail(match status {
                429 => ApiError {
                    retry_after: Some(plan.retry_after_secs),
                    ..ApiError::new(429, 20429, "Too Many Requests")
                },
                503 => ApiError::new(503, 20503, "Service Unavailable"),
                other if other >= 500 => ApiError::new(other, 20500, "Internal Server Error"),
                other => ApiError::new(other, 20001, "Injected fault"),
            })
        };
        Some(Fault {
            latency: plan.latency,
            effect,
        })
    })
}

/// A response whose body fails before a byte is sent: hyper aborts the connection, which the
/// client sees as a reset, as when a proxy or Twilio's edge drops it.
fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected: connection dropped",
        ))
    });
    axum::body::Body::from_stream(failing).into_response()
}

/// Axum fallback serving every Twilio API path.
pub(crate) async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = percent_decode(uri.path());
    let query = pairs(uri.query().unwrap_or("").as_bytes());
    let form = if method == Method::POST {
        pairs(&body)
    } else {
        Vec::new()
    };
    let origin = format!(
        "http://{}",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
    );
    let lock = || {
        shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    // Authenticate and decide on a fault under the lock, then wait (if the fault says so)
    // without it, then run the request under the lock again.
    let (caller, account, fault) = {
        let mut store = lock();
        let caller = authenticate(&store, &headers);
        let account = acting_account(&path, caller.as_ref().ok().map(String::as_str));
        let fault = match caller {
            Ok(_) => injected_fault(&mut store, account.as_deref(), &method, &path),
            Err(_) => None,
        };
        (caller, account, fault)
    };
    let mut effect = Effect::Proceed;
    if let Some(fault) = fault {
        if !fault.latency.is_zero() {
            tokio::time::sleep(fault.latency).await;
        }
        effect = fault.effect;
    }
    let mut store = lock();
    let (response, status) = match (caller, effect) {
        (Err(e), _) | (Ok(_), Effect::Fail(e)) => {
            let response = e.into_response();
            let status = response.status().as_u16();
            (response, status)
        }
        // Logged as 499, nginx's "client closed request": no status ever went out.
        (Ok(_), Effect::Drop) => (dropped_connection(), 499),
        (Ok(caller), Effect::Proceed) => {
            let request = ApiRequest {
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                form: form.clone(),
                origin,
                caller,
            };
            let response = match route(&mut store, &request) {
                Ok(reply) => reply.into_response(),
                Err(error) => error.into_response(),
            };
            let status = response.status().as_u16();
            (response, status)
        }
    };
    store.requests.push(LoggedRequest {
        method: method.to_string(),
        path,
        query,
        form,
        account_sid: account,
        status,
        at: chrono::Utc::now().to_rfc3339(),
    });
    response
}

fn percent_decode(path: &str) -> String {
    // Paths only carry SIDs, country codes and event type names; decode %XX anyway.
    form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| path.to_owned())
}

/// `name` without `suffix`, if it has it.
pub(crate) fn strip<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    name.strip_suffix(suffix)
}

/// May `caller` act on `account`? Its own, or a subaccount it owns.
fn may_act_on(store: &Store, caller: &str, account: &str) -> bool {
    match store.accounts.get(account) {
        Some(a) => a.sid == caller || a.parent.as_deref() == Some(caller),
        None => false,
    }
}

fn route(store: &mut Store, request: &ApiRequest) -> Outcome {
    let path = request.path.clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method.as_str();
    let not_allowed = || Err(ApiError::method_not_allowed(method));
    match segments.as_slice() {
        ["2010-04-01", "Accounts.json"] => match method {
            "POST" => accounts::create(store, request),
            _ => not_allowed(),
        },
        ["2010-04-01", "Accounts", account_json] if account_json.ends_with(".json") => {
            let sid = account_json.trim_end_matches(".json");
            if !may_act_on(store, &request.caller, sid) {
                return Err(ApiError::not_found(&request.path));
            }
            match method {
                "GET" => accounts::fetch(store, request, sid),
                _ => not_allowed(),
            }
        }
        ["2010-04-01", "Accounts", account, rest @ ..] => {
            if !store.accounts.contains_key(*account) {
                return Err(ApiError::not_found(&request.path));
            }
            if !may_act_on(store, &request.caller, account) {
                return Err(ApiError::authenticate());
            }
            match (rest, method) {
                (["IncomingPhoneNumbers.json"], "POST") => {
                    return phone_numbers::buy(store, request, account);
                }
                (["AvailablePhoneNumbers", country, "Local.json"], "GET") => {
                    return phone_numbers::search(store, request, country);
                }
                _ => {}
            }
            let Store { accounts, rng, .. } = store;
            let Some(acct) = accounts.get_mut(*account) else {
                return Err(ApiError::not_found(&request.path));
            };
            v2010(acct, rng, request, rest)
        }
        ["v1", rest @ ..] => events::route(store, request, rest),
        _ => Err(ApiError::not_found(&request.path)),
    }
}

fn v2010(
    account: &mut super::store::Account,
    rng: &mut super::rng::Rng,
    request: &ApiRequest,
    rest: &[&str],
) -> Outcome {
    let method = request.method.as_str();
    let not_found = || Err(ApiError::not_found(&request.path));
    let not_allowed = || Err(ApiError::method_not_allowed(method));
    match rest {
        ["Calls.json"] => match method {
            "GET" => calls::list(account, request),
            _ => not_allowed(),
        },
        ["Calls", call_json] => {
            let Some(sid) = strip(call_json, ".json") else {
                return not_found();
            };
            match method {
                "GET" => calls::fetch(account, request, sid),
                "POST" => calls::update(account, request, sid),
                _ => not_allowed(),
            }
        }
        ["Calls", call, "Recordings.json"] => match method {
            "GET" => recordings::list_for_call(account, request, call),
            "POST" => recordings::create_for_call(account, rng, request, call),
            _ => not_allowed(),
        },
        ["Recordings", file] => {
            if let Some(sid) = strip(file, ".json") {
                match method {
                    "GET" => recordings::fetch(account, request, sid),
                    "DELETE" => recordings::delete(account, request, sid),
                    _ => not_allowed(),
                }
            } else if let Some(sid) = strip(file, ".mp3") {
                match method {
                    "GET" => recordings::media(account, request, sid),
                    _ => not_allowed(),
                }
            } else {
                not_found()
            }
        }
        ["IncomingPhoneNumbers.json"] => match method {
            "GET" => phone_numbers::list(account, request),
            _ => not_allowed(),
        },
        ["IncomingPhoneNumbers", number_json] => {
            let Some(sid) = strip(number_json, ".json") else {
                return not_found();
            };
            match method {
                "GET" => phone_numbers::fetch(account, request, sid),
                "POST" => phone_numbers::update(account, request, sid),
                _ => not_allowed(),
            }
        }
        ["AvailablePhoneNumbers", _, "Local.json"] => not_allowed(),
        ["Keys.json"] => match method {
            "GET" => keys::list(account, request),
            "POST" => keys::create(account, rng, request),
            _ => not_allowed(),
        },
        ["Keys", key_json] => {
            let Some(sid) = strip(key_json, ".json") else {
                return not_found();
            };
            match method {
                "GET" => keys::fetch(account, request, sid),
                "DELETE" => keys::delete(account, request, sid),
                _ => not_allowed(),
            }
        }
        _ => not_found(),
    }
}
