//! Requests the sandbox makes to the application, signed as Twilio signs them: form-encoded
//! webhooks (voice URL, `action`s, status and recording callbacks) and Event Streams deliveries.

use std::sync::OnceLock;
use std::time::Duration;

use loquent_twilio::signature::{self, SIGNATURE_HEADER};
use serde::{Deserialize, Serialize};

use super::store::API_VERSION;

/// Twilio gives up on a TwiML fetch after about 15 s.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// Event Streams sinks must answer within 5 s.
const SINK_TIMEOUT: Duration = Duration::from_secs(5);

/// The client every simulated Twilio request goes out on (one connection pool).
pub(crate) fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent("TwilioProxy/1.1")
            .build()
            .unwrap_or_default()
    })
}

/// One request the sandbox made, as the call report lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Callback {
    /// `voice`, `redirect`, `action`, `dial_action`, `recording` or `status`.
    pub kind: String,
    pub method: String,
    pub url: String,
    /// The HTTP status the application answered with; absent when it could not be reached.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// The form parameters Twilio sends about an inbound call on every call webhook (voice URL,
/// `action`s, status callback), in the order Twilio lists them. Location fields are sent empty:
/// the sandbox has no carrier lookup, and Twilio sends them empty when it has none either.
pub(crate) fn call_params(
    account_sid: &str,
    call_sid: &str,
    from: &str,
    to: &str,
    status: &str,
) -> Vec<(String, String)> {
    let country = |n: &str| if n.starts_with("+1") { "US" } else { "" }.to_owned();
    let mut params: Vec<(String, String)> = vec![
        ("AccountSid".into(), account_sid.to_owned()),
        ("ApiVersion".into(), API_VERSION.into()),
        ("CallSid".into(), call_sid.to_owned()),
        ("CallStatus".into(), status.into()),
        ("Called".into(), to.to_owned()),
        ("Caller".into(), from.to_owned()),
        ("Direction".into(), "inbound".into()),
        ("From".into(), from.to_owned()),
        ("To".into(), to.to_owned()),
        ("FromCountry".into(), country(from)),
        ("ToCountry".into(), country(to)),
        ("CallerCountry".into(), country(from)),
        ("CalledCountry".into(), country(to)),
    ];
    for side in ["From", "To", "Caller", "Called"] {
        for field in ["City", "State", "Zip"] {
            params.push((format!("{side}{field}"), String::new()));
        }
    }
    params
}

/// Twilio only opens `wss://` streams. An application whose voice URL is plain `http://` (on a
/// developer's machine, in a test, in a benchmark) has no TLS either, so the sandbox connects to
/// the same `wss://` URL without it, and still signs the URL as written.
pub(crate) fn stream_without_tls(voice_url: &str) -> bool {
    voice_url.starts_with("http://")
}

/// What came back from a webhook.
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Send a Twilio-style form webhook: POST with a form body, or GET with the parameters in the
/// query string; `X-Twilio-Signature` over the URL (and, for a POST, the sorted parameters).
pub(crate) async fn send_form(
    kind: &'static str,
    auth_token: &str,
    method: &str,
    url: &str,
    params: &[(String, String)],
    idempotency_token: &str,
) -> (Callback, Option<Answer>) {
    let get = method.eq_ignore_ascii_case("GET");
    let (request, signed_url) = if get {
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        let sep = if url.contains('?') { '&' } else { '?' };
        let full = format!("{url}{sep}{query}");
        (http().get(&full), full)
    } else {
        (http().post(url).form(params), url.to_owned())
    };
    let signature = if get {
        signature::sign(auth_token, &signed_url, std::iter::empty::<(&str, &str)>())
    } else {
        signature::sign(
            auth_token,
            url,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    };
    let sent = request
        .header(SIGNATURE_HEADER, signature)
        .header("I-Twilio-Idempotency-Token", idempotency_token)
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await;
    let mut callback = Callback {
        kind: kind.to_owned(),
        method: if get { "GET" } else { "POST" }.to_owned(),
        url: url.to_owned(),
        status: None,
        error: None,
    };
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            callback.status = Some(status);
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            match response.text().await {
                Ok(body) => (
                    callback,
                    Some(Answer {
                        status,
                        content_type,
                        body,
                    }),
                ),
                Err(e) => {
                    callback.error = Some(format!("reading the response failed: {e}"));
                    (callback, None)
                }
            }
        }
        Err(e) => {
            callback.error = Some(describe(&e));
            (callback, None)
        }
    }
}

/// An Event Streams delivery to one webhook sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDelivery {
    pub sink_sid: String,
    pub url: String,
    pub types: Vec<String>,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// POST (or GET) a JSON array of CloudEvents to a sink, signed with `bodySHA256` in the URL.
/// `user:pass@` in the destination becomes pre-emptive HTTP Basic auth, as Twilio does.
pub(crate) async fn deliver_events(
    auth_token: &str,
    sink_sid: &str,
    destination: &str,
    method: &str,
    events: &[serde_json::Value],
) -> EventDelivery {
    let body = serde_json::to_vec(events).unwrap_or_default();
    let (signed_url, signature) = signature::sign_json(auth_token, destination, &body);
    let request = if method.eq_ignore_ascii_case("GET") {
        http().get(&signed_url)
    } else {
        http().post(&signed_url)
    };
    let sent = request
        .header(SIGNATURE_HEADER, signature)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(SINK_TIMEOUT)
        .send()
        .await;
    let types = events
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    let (status, error) = match sent {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(e) => (None, Some(describe(&e))),
    };
    EventDelivery {
        sink_sid: sink_sid.to_owned(),
        url: strip_userinfo(destination),
        types,
        status,
        error,
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        error.to_string()
    }
}

/// A URL without its `user:pass@`, fit for a report.
fn strip_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}
