//! The REST client against an in-process fake Twilio (axum) that serves the fixture bodies
//! and records what the client sent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use futures_util::{StreamExt, TryStreamExt};
use loquent_twilio::calls::{Call, CallFilter, CallStatus, CallUpdate};
use loquent_twilio::events_api::{
    EventType, Sink, SinkStatus, SinkType, SubscribedEvent, Subscription, WebhookSink,
};
use loquent_twilio::phone_numbers::{
    AvailablePhoneNumber, BuyNumber, IncomingPhoneNumber, NumberSearch, VoiceConfig,
};
use loquent_twilio::recordings::{
    CallRecording, Recording, RecordingStatus, RequestedChannels, StartRecording,
};
use loquent_twilio::twiml::{Method, RecordingChannels, RecordingEvent, RecordingTrack};
use loquent_twilio::{
    AccountSid, ApiKeySid, CallSid, Credentials, E164, PhoneNumberSid, RetryPolicy, SinkSid,
    SubscriptionSid, TwilioClient, TwilioError,
};

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "test-auth-token";
const CA: &str = "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const RE: &str = "REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const PN: &str = "PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

// ---------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------

/// One request as the fake received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Seen {
    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    fn query_value(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
        }
    }

    fn fixture(status: u16, name: &str) -> Self {
        Self::json(status, fixture(name))
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    fn twilio_error(status: u16, code: u32, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status,
            })
            .to_string(),
        )
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct FakeState {
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Arc<Handler>,
}

async fn handle(State(state): State<FakeState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body,
    };
    let index = {
        let mut all = state.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    let reply = (state.handler)(&seen, index);
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

struct FakeTwilio {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeTwilio {
    /// Serve `handler(request, index_of_request)` on a random local port.
    async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(handler))
    }

    fn serve(listener: tokio::net::TcpListener, handler: Arc<Handler>) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(handle).with_state(FakeState {
            seen: seen.clone(),
            handler,
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn only_request(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "expected exactly one request: {seen:#?}");
        seen.into_iter().next().unwrap()
    }

    fn client(&self) -> TwilioClient {
        client_for(&self.base, credentials())
    }
}

fn credentials() -> Credentials {
    Credentials::auth_token(AC.parse().unwrap(), TOKEN)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        retry_after_ceiling: Duration::from_secs(5),
    }
}

fn client_for(base: &str, credentials: Credentials) -> TwilioClient {
    TwilioClient::builder(credentials)
        .api_base(base)
        .events_base(base)
        .timeout(Duration::from_secs(5))
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn calls_path() -> String {
    format!("/2010-04-01/Accounts/{AC}/Calls.json")
}

/// A ListCall page of `sids`, built from the fixture's first call, linking to `next`.
fn calls_page(page: usize, sids: &[String], next: Option<String>) -> String {
    let template: serde_json::Value =
        serde_json::from_str(&fixture("calls_list_page1.json")).unwrap();
    let call = template["calls"][0].clone();
    let calls: Vec<_> = sids
        .iter()
        .map(|sid| {
            let mut c = call.clone();
            c["sid"] = sid.clone().into();
            c
        })
        .collect();
    serde_json::json!({
        "calls": calls,
        "page": page,
        "page_size": sids.len(),
        "start": 0,
        "end": 0,
        "uri": format!("{}?PageSize=3&Page={page}", calls_path()),
        "first_page_uri": format!("{}?PageSize=3&Page=0", calls_path()),
        "next_page_uri": next,
        "previous_page_uri": null,
    })
    .to_string()
}

fn call_sid(n: usize) -> String {
    format!("CA{n:032x}")
}

// ---------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn list_calls_follows_next_page_uri_and_yields_every_call_once() {
    // 4 pages: 3 + 3 + 3 + 1 calls. The cursor is PageToken, as with Twilio.
    let sizes = [3usize, 3, 3, 1];
    let fake = FakeTwilio::start(move |seen, _| {
        assert_eq!(seen.method, "GET");
        assert_eq!(seen.path, calls_path());
        let page: usize = seen.query_value("Page").map_or(0, |p| p.parse().unwrap());
        if page > 0 {
            assert_eq!(seen.query_value("PageToken"), Some(format!("PA{page}")));
        }
        let first: usize = sizes[..page].iter().sum();
        let sids: Vec<String> = (first..first + sizes[page]).map(call_sid).collect();
        let next = (page + 1 < sizes.len()).then(|| {
            format!(
                "{}?To=%2B14155550100&Status=completed&StartTime%3E=2024-01-02&PageSize=3&Page={}&PageToken=PA{}",
                calls_path(),
                page + 1,
                page + 1
            )
        });
        Reply::json(200, calls_page(page, &sids, next))
    })
    .await;

    let filter = CallFilter::new()
        .to("+14155550100")
        .status(CallStatus::Completed)
        .started_on_or_after(chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap())
        .page_size(3);
    let calls: Vec<Call> = fake
        .client()
        .list_calls(&filter)
        .try_collect()
        .await
        .unwrap();

    let sids: Vec<String> = calls
        .iter()
        .map(|c| c.sid.clone().unwrap().into_string())
        .collect();
    let expected: Vec<String> = (0..10).map(call_sid).collect();
    assert_eq!(sids, expected, "every call exactly once, in order");

    let seen = fake.seen();
    assert_eq!(seen.len(), 4, "one request per page");
    // First request: the filters, `StartTime>` spelled as Twilio wants it on the wire.
    assert_eq!(
        seen[0].query.as_deref(),
        Some("To=%2B14155550100&Status=completed&StartTime%3E=2024-01-02&PageSize=3")
    );
    assert_eq!(
        seen[0].query_pairs(),
        pairs(&[
            ("To", "+14155550100"),
            ("Status", "completed"),
            ("StartTime>", "2024-01-02"),
            ("PageSize", "3"),
        ])
    );
    for s in &seen {
        assert_eq!(s.authorization.as_deref(), Some(basic(AC, TOKEN).as_str()));
    }
}

#[tokio::test]
async fn list_calls_fetches_pages_lazily() {
    let fake = FakeTwilio::start(|seen, _| {
        let page: usize = seen.query_value("Page").map_or(0, |p| p.parse().unwrap());
        let sids: Vec<String> = (page * 3..page * 3 + 3).map(call_sid).collect();
        let next = format!(
            "{}?Page={}&PageToken=PA{}",
            calls_path(),
            page + 1,
            page + 1
        );
        Reply::json(200, calls_page(page, &sids, Some(next)))
    })
    .await;
    let first_four: Vec<Call> = fake
        .client()
        .list_calls(&CallFilter::new())
        .take(4)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first_four.len(), 4);
    assert_eq!(fake.seen().len(), 2, "only the pages needed were fetched");
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_the_error() {
    let fake = FakeTwilio::start(|seen, _| {
        if seen.query_value("Page").is_some() {
            return Reply::twilio_error(403, 20403, "Forbidden");
        }
        let next = format!("{}?Page=1&PageToken=PA1", calls_path());
        Reply::json(200, calls_page(0, &[call_sid(0), call_sid(1)], Some(next)))
    })
    .await;
    let items: Vec<Result<Call, TwilioError>> =
        fake.client().list_calls(&CallFilter::new()).collect().await;
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[1].is_ok());
    let err = items[2].as_ref().unwrap_err();
    assert!(matches!(err, TwilioError::Api(_)), "{err:?}");
    assert_eq!(err.code(), Some(20403));
}

#[tokio::test]
async fn the_fixture_pages_chain_through_next_page_uri() {
    // calls_list_page1.json says next_page_uri is null; serve page 2 as its successor by
    // rewriting only the link, the rest verbatim.
    let mut page1: serde_json::Value =
        serde_json::from_str(&fixture("calls_list_page1.json")).unwrap();
    page1["next_page_uri"] = format!("{}?PageSize=2&Page=1&PageToken=PAnext", calls_path()).into();
    let page1 = page1.to_string();
    let fake = FakeTwilio::start(
        move |seen, _| match seen.query_value("PageToken").as_deref() {
            None => Reply::json(200, page1.clone()),
            Some("PAnext") => Reply::fixture(200, "calls_list_page2.json"),
            Some(other) => panic!("unexpected token {other}"),
        },
    )
    .await;
    let calls: Vec<Call> = fake
        .client()
        .list_calls(&CallFilter::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(calls.len(), 4);
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn events_lists_follow_absolute_next_page_url_on_our_own_host() {
    let fake = FakeTwilio::start(|seen, _| {
        assert_eq!(seen.path, "/v1/Sinks");
        let mut body: serde_json::Value =
            serde_json::from_str(&fixture("events_sinks_list.json")).unwrap();
        if seen.query_value("PageToken").is_none() {
            // Twilio's absolute URL: the client must re-root it onto the configured base.
            body["meta"]["next_page_url"] =
                "https://events.twilio.com/v1/Sinks?PageSize=20&Page=1&PageToken=PT1".into();
        }
        Reply::json(200, body.to_string())
    })
    .await;
    let sinks: Vec<Sink> = fake.client().list_sinks().try_collect().await.unwrap();
    assert_eq!(sinks.len(), 6);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].query.as_deref(),
        Some("PageSize=20&Page=1&PageToken=PT1")
    );
    assert_eq!(sinks[2].sink_type, Some(SinkType::Webhook));
}

// ---------------------------------------------------------------------------------------
// Retries and errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn rate_limit_with_retry_after_and_server_errors_are_retried() {
    let fake = FakeTwilio::start(|_, index| match index {
        0 => Reply::twilio_error(429, 20429, "Too Many Requests").header("retry-after", "1"),
        1 => Reply::twilio_error(500, 20500, "Internal Server Error"),
        2 => Reply::json(503, "<html>unavailable</html>"),
        _ => Reply::fixture(200, "call_fetch.json"),
    })
    .await;
    let started = Instant::now();
    let call = fake
        .client()
        .fetch_call(&CA.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(call.sid.unwrap().as_str(), CA);
    assert_eq!(fake.seen().len(), 4);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let fake =
        FakeTwilio::start(|_, _| Reply::twilio_error(500, 20500, "Internal Server Error")).await;
    let err = fake
        .client()
        .fetch_call(&CA.parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.code(), Some(20500));
    assert_eq!(fake.seen().len(), 4, "max_attempts");
}

#[tokio::test]
async fn rate_limit_longer_than_we_wait_is_returned_not_slept() {
    let fake = FakeTwilio::start(|_, _| {
        Reply::twilio_error(429, 20429, "Too Many Requests").header("retry-after", "3600")
    })
    .await;
    let err = fake
        .client()
        .fetch_call(&CA.parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.is_rate_limited(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn creates_are_not_retried_on_server_errors_but_are_on_rate_limits() {
    let fake =
        FakeTwilio::start(|_, _| Reply::twilio_error(500, 20500, "Internal Server Error")).await;
    let err = fake
        .client()
        .start_call_recording(&CA.parse().unwrap(), &StartRecording::default())
        .await
        .unwrap_err();
    assert!(err.is_unavailable());
    assert_eq!(
        fake.seen().len(),
        1,
        "a create that may have run is not repeated"
    );

    let fake = FakeTwilio::start(|_, index| match index {
        0 => Reply::twilio_error(429, 20429, "Too Many Requests").header("retry-after", "0"),
        _ => Reply::fixture(201, "call_recording_create.json"),
    })
    .await;
    let recording = fake
        .client()
        .start_call_recording(&CA.parse().unwrap(), &StartRecording::default())
        .await
        .unwrap();
    assert_eq!(recording.status, Some(RecordingStatus::InProgress));
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_until_twilio_is_back() {
    // Reserve a port, close it, and only start listening after the first attempt failed.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let base = format!("http://{addr}");
    let client = TwilioClient::builder(credentials())
        .api_base(&base)
        // Full jitter may make every wait short: enough attempts to outlast the 120 ms outage.
        .retry_policy(RetryPolicy {
            max_attempts: 12,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(200),
            retry_after_ceiling: Duration::from_secs(1),
        })
        .build()
        .unwrap();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        FakeTwilio::serve(
            listener,
            Arc::new(|_: &Seen, _: usize| Reply::fixture(200, "call_fetch.json")),
        )
    });
    let call = client.fetch_call(&CA.parse().unwrap()).await.unwrap();
    assert_eq!(call.status, Some(CallStatus::Completed));
    let fake = server.await.unwrap();
    assert_eq!(fake.seen().len(), 1);

    // Nobody listening at all: a connection error, reported as unavailable.
    let nobody = TwilioClient::builder(credentials())
        .api_base(format!("http://{}", {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        }))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = nobody.fetch_call(&CA.parse().unwrap()).await.unwrap_err();
    assert!(
        matches!(err, TwilioError::Connection(_)) && err.is_unavailable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_credentials_carry_twilios_code_and_message() {
    let fake = FakeTwilio::start(|_, _| Reply::twilio_error(401, 20003, "Authenticate")).await;
    let err = fake.client().fetch_account().await.unwrap_err();
    assert!(err.is_bad_credentials(), "{err:?}");
    let api = err.api_error().unwrap();
    assert_eq!(api.status, 401);
    assert_eq!(api.code, Some(20003));
    assert_eq!(api.message, "Authenticate");
    assert_eq!(
        api.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/20003")
    );
    assert_eq!(fake.seen().len(), 1, "401 is not retried");
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn not_found_is_its_own_error() {
    let fake = FakeTwilio::start(|_, _| {
        Reply::twilio_error(404, 20404, "The requested resource was not found")
    })
    .await;
    let err = fake
        .client()
        .fetch_recording(&RE.parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some(20404));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_an_invalid_response() {
    for body in [
        r#"{"sid": "CAaaaa"#,
        "not json at all",
        r#"{"sid": "not-a-call-sid"}"#,
        r#"{"calls": "nope"}"#,
    ] {
        let fake = FakeTwilio::start(move |_, _| Reply::json(200, body)).await;
        let client = fake.client();
        if !body.contains("calls") {
            let err = client.fetch_call(&CA.parse().unwrap()).await.unwrap_err();
            assert!(err.is_invalid_response(), "{body}: {err:?}");
        }
        let listed: Vec<_> = client.list_calls(&CallFilter::new()).collect().await;
        assert_eq!(listed.len(), 1, "{body}");
        assert!(
            listed[0].as_ref().unwrap_err().is_invalid_response(),
            "{body}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Operations: what goes on the wire
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn api_key_credentials_authenticate_as_the_key_and_act_on_the_account() {
    let fake = FakeTwilio::start(|_, _| Reply::fixture(200, "call_fetch.json")).await;
    let key: ApiKeySid = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".parse().unwrap();
    let client = client_for(
        &fake.base,
        Credentials::api_key(AC.parse().unwrap(), key.clone(), "key-secret"),
    );
    client.fetch_call(&CA.parse().unwrap()).await.unwrap();
    let seen = fake.only_request();
    assert_eq!(seen.authorization, Some(basic(key.as_str(), "key-secret")));
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{AC}/Calls/{CA}.json")
    );
}

#[tokio::test]
async fn hang_up_redirect_and_twiml_update_the_call() {
    let fake = FakeTwilio::start(|_, _| Reply::fixture(200, "call_fetch.json")).await;
    let client = fake.client();
    let sid: CallSid = CA.parse().unwrap();
    client.hang_up_call(&sid).await.unwrap();
    client
        .update_call(
            &sid,
            CallUpdate::Redirect {
                url: "https://example.org/next".into(),
                method: Some(Method::Post),
            },
        )
        .await
        .unwrap();
    let twiml = loquent_twilio::twiml::Response::new().hangup();
    client
        .update_call(&sid, CallUpdate::twiml(&twiml))
        .await
        .unwrap();

    let seen = fake.seen();
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, format!("/2010-04-01/Accounts/{AC}/Calls/{CA}.json"));
        assert_eq!(
            s.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }
    assert_eq!(seen[0].form(), pairs(&[("Status", "completed")]));
    assert_eq!(
        seen[1].form(),
        pairs(&[("Url", "https://example.org/next"), ("Method", "POST")])
    );
    assert_eq!(seen[2].form(), pairs(&[("Twiml", &twiml.to_xml())]));
}

#[tokio::test]
async fn start_recording_repeats_the_callback_event_key() {
    let fake = FakeTwilio::start(|_, _| Reply::fixture(201, "call_recording_create.json")).await;
    let options = StartRecording {
        channels: Some(RecordingChannels::Dual),
        track: Some(RecordingTrack::Both),
        status_callback: Some("https://example.org/rec".into()),
        status_callback_events: vec![RecordingEvent::InProgress, RecordingEvent::Completed],
        ..StartRecording::default()
    };
    let recording = fake
        .client()
        .start_call_recording(&CA.parse().unwrap(), &options)
        .await
        .unwrap();
    assert_eq!(recording.channels, Some(2));
    let seen = fake.only_request();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{AC}/Calls/{CA}/Recordings.json")
    );
    assert_eq!(
        seen.form(),
        pairs(&[
            ("RecordingChannels", "dual"),
            ("RecordingTrack", "both"),
            ("RecordingStatusCallback", "https://example.org/rec"),
            ("RecordingStatusCallbackEvent", "in-progress"),
            ("RecordingStatusCallbackEvent", "completed"),
        ])
    );
}

#[tokio::test]
async fn list_call_recordings_and_fetch_recording() {
    let fake = FakeTwilio::start(|seen, _| {
        if seen.path.ends_with("/Recordings.json") {
            Reply::fixture(200, "call_recordings_list.json")
        } else {
            Reply::fixture(200, "recording_fetch.json")
        }
    })
    .await;
    let client = fake.client();
    let recordings: Vec<CallRecording> = client
        .list_call_recordings(&CA.parse().unwrap())
        .try_collect()
        .await
        .unwrap();
    assert!(!recordings.is_empty());
    let recording = client.fetch_recording(&RE.parse().unwrap()).await.unwrap();
    assert_eq!(recording.status, Some(RecordingStatus::Completed));
    let seen = fake.seen();
    assert_eq!(
        seen[0].path,
        format!("/2010-04-01/Accounts/{AC}/Calls/{CA}/Recordings.json")
    );
    assert_eq!(
        seen[1].path,
        format!("/2010-04-01/Accounts/{AC}/Recordings/{RE}.json")
    );
}

#[tokio::test]
async fn delete_recording_accepts_204() {
    let fake = FakeTwilio::start(|_, _| Reply::empty(204)).await;
    fake.client()
        .delete_recording(&RE.parse().unwrap())
        .await
        .unwrap();
    let seen = fake.only_request();
    assert_eq!(seen.method, "DELETE");
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{AC}/Recordings/{RE}.json")
    );
    assert_eq!(seen.authorization, Some(basic(AC, TOKEN)));
}

#[tokio::test]
async fn download_recording_streams_the_mp3() {
    let audio: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let served = audio.clone();
    let fake = FakeTwilio::start(move |_, _| Reply {
        status: 200,
        headers: vec![("content-type", "audio/mpeg".into())],
        body: served.clone(),
    })
    .await;
    let media = fake
        .client()
        .download_recording(&RE.parse().unwrap(), RequestedChannels::Dual)
        .await
        .unwrap();
    assert_eq!(media.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(media.content_length, Some(audio.len() as u64));
    let mut chunks = 0;
    let mut received = Vec::new();
    let mut body = media.body;
    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert_eq!(received, audio);
    assert!(chunks >= 1);
    let seen = fake.only_request();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{AC}/Recordings/{RE}.mp3")
    );
    assert_eq!(seen.query.as_deref(), Some("RequestedChannels=2"));
    assert_eq!(seen.authorization, Some(basic(AC, TOKEN)));
}

#[tokio::test]
async fn a_missing_recording_download_is_not_found() {
    let fake = FakeTwilio::start(|_, _| Reply::twilio_error(404, 20404, "Not found")).await;
    let err = fake
        .client()
        .download_recording(&RE.parse().unwrap(), RequestedChannels::AsRecorded)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(fake.only_request().query, None);
}

#[tokio::test]
async fn phone_numbers_list_fetch_update_buy_and_search() {
    let fake = FakeTwilio::start(|seen, _| match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", p) if p.ends_with("/IncomingPhoneNumbers.json") => {
            Reply::fixture(200, "incoming_phone_numbers_list.json")
        }
        ("GET", p) if p.ends_with("/Local.json") => {
            Reply::fixture(200, "available_phone_numbers_local.json")
        }
        ("GET", _) => Reply::fixture(200, "incoming_phone_number_fetch.json"),
        ("POST", p) if p.ends_with("/IncomingPhoneNumbers.json") => {
            Reply::fixture(201, "incoming_phone_number_fetch.json")
        }
        _ => Reply::fixture(200, "incoming_phone_number_update.json"),
    })
    .await;
    let client = fake.client();
    let number: E164 = "+18089255327".parse().unwrap();
    let sid: PhoneNumberSid = PN.parse().unwrap();

    let owned: Vec<IncomingPhoneNumber> = client
        .list_incoming_phone_numbers(Some(&number))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(owned[0].phone_number.as_ref(), Some(&number));
    client.fetch_incoming_phone_number(&sid).await.unwrap();
    client
        .update_incoming_phone_number(
            &sid,
            &VoiceConfig {
                status_callback: Some("https://example.org/status".into()),
                status_callback_method: Some(Method::Post),
                ..VoiceConfig::webhook("https://example.org/voice")
            },
        )
        .await
        .unwrap();
    client
        .update_incoming_phone_number(&sid, &VoiceConfig::cleared())
        .await
        .unwrap();
    client
        .buy_phone_number(&BuyNumber {
            phone_number: number.clone(),
            voice: VoiceConfig::webhook("https://example.org/voice"),
        })
        .await
        .unwrap();
    let available = client
        .search_local_numbers(
            "US",
            &NumberSearch {
                area_code: Some(808),
                voice_enabled: Some(true),
                page_size: Some(5000),
                ..NumberSearch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(available.len(), 1);
    assert_eq!(available[0].latitude, Some(19.72));
    assert!(
        client
            .search_local_numbers("usa", &NumberSearch::default())
            .await
            .is_err()
    );

    let seen = fake.seen();
    assert_eq!(
        seen.len(),
        6,
        "the invalid country code never left the client"
    );
    let numbers = format!("/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers");
    assert_eq!(seen[0].path, format!("{numbers}.json"));
    assert_eq!(
        seen[0].query_pairs(),
        pairs(&[("PhoneNumber", "+18089255327")])
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.clone()),
        ("GET", format!("{numbers}/{PN}.json"))
    );
    assert_eq!(seen[2].path, format!("{numbers}/{PN}.json"));
    assert_eq!(
        seen[2].form(),
        pairs(&[
            ("VoiceUrl", "https://example.org/voice"),
            ("VoiceMethod", "POST"),
            ("StatusCallback", "https://example.org/status"),
            ("StatusCallbackMethod", "POST"),
        ])
    );
    // An empty VoiceUrl is sent (it clears the webhook), not dropped.
    assert_eq!(seen[3].form(), pairs(&[("VoiceUrl", "")]));
    assert_eq!(seen[4].method, "POST");
    assert_eq!(seen[4].path, format!("{numbers}.json"));
    assert_eq!(
        seen[4].form(),
        pairs(&[
            ("PhoneNumber", "+18089255327"),
            ("VoiceUrl", "https://example.org/voice"),
            ("VoiceMethod", "POST"),
        ])
    );
    assert_eq!(
        seen[5].path,
        format!("/2010-04-01/Accounts/{AC}/AvailablePhoneNumbers/US/Local.json")
    );
    assert_eq!(
        seen[5].query_pairs(),
        pairs(&[
            ("AreaCode", "808"),
            ("VoiceEnabled", "true"),
            ("PageSize", "1000")
        ])
    );
}

#[tokio::test]
async fn accounts_fetch_and_create_subaccount() {
    let fake = FakeTwilio::start(|_, _| Reply::fixture(201, "account_create.json")).await;
    let client = fake.client();
    let sub = client.create_subaccount("Acme Dental").await.unwrap();
    assert_eq!(
        sub.auth_token
            .as_ref()
            .map(loquent_twilio::client::AuthToken::expose),
        Some("auth_token")
    );
    assert!(
        !format!("{sub:?}").contains("\"auth_token\""),
        "Debug redacts the token"
    );
    client.fetch_account().await.unwrap();
    let other: AccountSid = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".parse().unwrap();
    client.fetch_account_by_sid(&other).await.unwrap();

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/2010-04-01/Accounts.json")
    );
    assert_eq!(seen[0].form(), pairs(&[("FriendlyName", "Acme Dental")]));
    assert_eq!(seen[1].path, format!("/2010-04-01/Accounts/{AC}.json"));
    assert_eq!(seen[2].path, format!("/2010-04-01/Accounts/{other}.json"));
}

#[tokio::test]
async fn event_streams_sinks_subscriptions_and_subscribed_events() {
    let fake = FakeTwilio::start(|seen, _| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/v1/Sinks") => Reply::fixture(201, "events_sink_create.json"),
        ("POST", "/v1/Subscriptions") => Reply::fixture(201, "events_subscription_create.json"),
        ("GET", "/v1/Subscriptions") => Reply::fixture(200, "events_subscriptions_list.json"),
        ("DELETE", _) => Reply::empty(204),
        ("GET", p) if p.ends_with("/SubscribedEvents") => {
            Reply::fixture(200, "events_subscribed_events_list.json")
        }
        ("POST", p) if p.ends_with("/SubscribedEvents") => {
            Reply::fixture(201, "events_subscribed_event_create.json")
        }
        other => panic!("unexpected {other:?}"),
    })
    .await;
    let client = fake.client();
    let sink = client
        .create_webhook_sink(
            "Loquent",
            &WebhookSink::new("https://example.org/events", Method::Post, true),
        )
        .await
        .unwrap();
    let sink_sid: SinkSid = sink.sid.unwrap();
    let types = [
        EventType::new("com.twilio.voice.status-callback.call.completed", 1),
        EventType::new("com.twilio.voice.insights.call-summary.complete", 1),
    ];
    let subscription = client
        .create_subscription("Loquent calls", &sink_sid, &types)
        .await
        .unwrap();
    let subscription_sid: SubscriptionSid = subscription.sid.unwrap();
    let listed: Vec<Subscription> = client
        .list_subscriptions(Some(&sink_sid))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let events: Vec<SubscribedEvent> = client
        .list_subscribed_events(&subscription_sid)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events[1].schema_version, Some(15));
    client
        .add_subscribed_event(
            &subscription_sid,
            &EventType::new("com.twilio.voice.status-callback.call.answered", 1),
        )
        .await
        .unwrap();
    client.delete_subscription(&subscription_sid).await.unwrap();
    client.delete_sink(&sink_sid).await.unwrap();

    let seen = fake.seen();
    let form = seen[0].form();
    assert_eq!(form[0], ("Description".into(), "Loquent".into()));
    assert_eq!(form[1].0, "SinkConfiguration");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&form[1].1).unwrap(),
        serde_json::json!({"destination": "https://example.org/events", "method": "POST", "batch_events": true})
    );
    assert_eq!(form[2], ("SinkType".into(), "webhook".into()));

    let form = seen[1].form();
    assert_eq!(form[0], ("Description".into(), "Loquent calls".into()));
    assert_eq!(form[1], ("SinkSid".into(), sink_sid.to_string()));
    let type_values: Vec<serde_json::Value> = form[2..]
        .iter()
        .map(|(k, v)| {
            assert_eq!(k, "Types", "one Types key per event type");
            serde_json::from_str(v).unwrap()
        })
        .collect();
    assert_eq!(
        type_values,
        vec![
            serde_json::json!({"type": "com.twilio.voice.status-callback.call.completed", "schema_version": 1}),
            serde_json::json!({"type": "com.twilio.voice.insights.call-summary.complete", "schema_version": 1}),
        ]
    );
    assert_eq!(
        seen[2].query.as_deref(),
        Some(format!("SinkSid={sink_sid}").as_str())
    );
    assert_eq!(
        seen[3].path,
        format!("/v1/Subscriptions/{subscription_sid}/SubscribedEvents")
    );
    assert_eq!(
        seen[4].form(),
        pairs(&[
            ("Type", "com.twilio.voice.status-callback.call.answered"),
            ("SchemaVersion", "1"),
        ])
    );
    assert_eq!(
        (seen[5].method.as_str(), seen[5].path.clone()),
        ("DELETE", format!("/v1/Subscriptions/{subscription_sid}"))
    );
    assert_eq!(
        (seen[6].method.as_str(), seen[6].path.clone()),
        ("DELETE", format!("/v1/Sinks/{sink_sid}"))
    );
}

// ---------------------------------------------------------------------------------------
// Fixtures against the response types
// ---------------------------------------------------------------------------------------

fn list_of<T: serde::de::DeserializeOwned>(file: &str, key: &str) -> Vec<T> {
    let page: serde_json::Value = serde_json::from_str(&fixture(file)).unwrap();
    serde_json::from_value(page[key].clone()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn one<T: serde::de::DeserializeOwned>(file: &str) -> T {
    serde_json::from_str(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_fixture_deserializes_into_its_response_type() {
    let calls: Vec<Call> = list_of("calls_list_page1.json", "calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, Some(CallStatus::Completed));
    assert_eq!(calls[0].duration.as_deref(), Some("4"));
    assert_eq!(calls[0].from.as_deref(), Some("+13051416799"));
    assert_eq!(list_of::<Call>("calls_list_page2.json", "calls").len(), 2);
    assert!(list_of::<Call>("calls_list_empty_starttime_gt.json", "calls").is_empty());
    let call: Call = one("call_fetch.json");
    assert_eq!(call.sid.unwrap().as_str(), CA);

    let recording: Recording = one("recording_fetch.json");
    assert_eq!(recording.channels, Some(1));
    assert_eq!(recording.price.as_deref(), Some("-0.00250"));
    assert!(recording.media_url.unwrap().ends_with(RE));
    let created: CallRecording = one("call_recording_create.json");
    assert_eq!(created.track.as_deref(), Some("both"));
    assert!(created.price.is_none());
    assert!(!list_of::<CallRecording>("call_recordings_list.json", "recordings").is_empty());

    let number: IncomingPhoneNumber = one("incoming_phone_number_fetch.json");
    assert_eq!(number.voice_url, None);
    assert!(number.capabilities.unwrap().voice);
    let updated: IncomingPhoneNumber = one("incoming_phone_number_update.json");
    assert_eq!(updated.sid.unwrap().as_str(), PN);
    assert!(
        !list_of::<IncomingPhoneNumber>(
            "incoming_phone_numbers_list.json",
            "incoming_phone_numbers"
        )
        .is_empty()
    );
    let available: Vec<AvailablePhoneNumber> = list_of(
        "available_phone_numbers_local.json",
        "available_phone_numbers",
    );
    assert_eq!(available[0].longitude, Some(-155.09));
    assert!(available[0].capabilities.unwrap().mms);

    let account: loquent_twilio::accounts::Account = one("account_create.json");
    assert_eq!(
        account.status,
        Some(loquent_twilio::accounts::AccountStatus::Active)
    );
    assert_eq!(
        account.account_type,
        Some(loquent_twilio::accounts::AccountType::Full)
    );

    let sink: Sink = one("events_sink_create.json");
    assert_eq!(sink.status, Some(SinkStatus::Initialized));
    let sinks: Vec<Sink> = list_of("events_sinks_list.json", "sinks");
    assert_eq!(
        sinks[2].sink_configuration.as_ref().unwrap()["batch_events"],
        true
    );
    let _: Subscription = one("events_subscription_create.json");
    assert_eq!(
        list_of::<Subscription>("events_subscriptions_list.json", "subscriptions").len(),
        2
    );
    assert_eq!(
        list_of::<SubscribedEvent>("events_subscribed_events_list.json", "types").len(),
        2
    );
    let _: SubscribedEvent = one("events_subscribed_event_create.json");
}

#[test]
fn unknown_fields_and_enum_values_are_tolerated() {
    let call: Call = serde_json::from_str(
        r#"{"sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "status": "teleporting", "brand_new_field": [1, 2]}"#,
    )
    .unwrap();
    assert_eq!(call.status, Some(CallStatus::Unknown));
}

#[test]
fn debug_output_never_shows_secrets() {
    let creds = Credentials::auth_token(AC.parse().unwrap(), TOKEN);
    assert!(!format!("{creds:?}").contains(TOKEN));
    let client = TwilioClient::new(creds).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(TOKEN) && !shown.contains(AC), "{shown}");
}

/// Throughput of `list_calls` against the local fake: 20 pages of 1000 fixture-shaped calls
/// (~2.4 MB of JSON per page). Run with `cargo test -p loquent-twilio --release --test
/// rest_client -- --ignored --nocapture paging_throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement, not a check"]
async fn paging_throughput() {
    const PAGES: usize = 20;
    const PER_PAGE: usize = 1000;
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..PAGES)
            .map(|page| {
                let sids: Vec<String> = (page * PER_PAGE..(page + 1) * PER_PAGE)
                    .map(call_sid)
                    .collect();
                let next = (page + 1 < PAGES).then(|| {
                    format!(
                        "{}?PageSize=1000&Page={}&PageToken=PA{}",
                        calls_path(),
                        page + 1,
                        page + 1
                    )
                });
                calls_page(page, &sids, next)
            })
            .collect(),
    );
    let bytes: usize = bodies.iter().map(String::len).sum();
    let fake = FakeTwilio::start(move |seen, _| {
        let page: usize = seen.query_value("Page").map_or(0, |p| p.parse().unwrap());
        Reply::json(200, bodies[page].clone())
    })
    .await;
    let started = Instant::now();
    let count = fake
        .client()
        .list_calls(&CallFilter::new().page_size(1000))
        .try_fold(0usize, |n, _| async move { Ok(n + 1) })
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(count, PAGES * PER_PAGE);
    println!(
        "{count} calls in {PAGES} pages ({:.1} MB) in {elapsed:?}: {:.0} calls/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        count as f64 / elapsed.as_secs_f64(),
        bytes as f64 / 1e6 / elapsed.as_secs_f64()
    );
}
