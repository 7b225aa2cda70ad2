//! Every JSON response the sandbox gives for the client's operations carries the properties
//! Twilio's OpenAPI response schema declares, with the declared types, and at least the fields
//! of the real response bodies in `vendor/specs/twilio/fixtures`. A missing spec or fixture fails
//! the test.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use loquent_twilio::client::{Host, OPERATIONS};
use serde_json::{Value, json};

use crate::common::*;

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vendor/specs/twilio")
}

/// The v2010 and Events specs.
fn load_specs() -> (Value, Value) {
    let dir = specs_dir();
    let read = |name: &str| {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the Twilio spec {} is missing: {e}", path.display()));
        serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    };
    (read("twilio_api_v2010.json"), read("twilio_events_v1.json"))
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(spec, spec.pointer(pointer).expect("$ref resolves"))
        }
        None => schema,
    }
}

/// Check `value` against `schema`: declared properties present, declared types (numbers may be
/// numeric strings, which is how Twilio sends prices and coordinates), enums respected.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let nullable = schema
        .get("nullable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if value.is_null() {
        // Enum $refs carry no `nullable`; Twilio sends null for unset enums too.
        if !nullable && schema.get("type").is_some() && schema.get("enum").is_none() {
            errors.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} not in enum {allowed:?}"));
    }
    let ok = match schema.get("type").and_then(Value::as_str) {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => {
            value.is_number() || value.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
        }
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{at}: {value} is not {}", schema["type"]));
        return;
    }
    if let (Some(props), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        let required: HashSet<&str> = match schema.get("required").and_then(Value::as_array) {
            Some(list) => list.iter().filter_map(Value::as_str).collect(),
            // Twilio's specs declare no `required`: hold every declared property to it.
            None => props.keys().map(String::as_str).collect(),
        };
        for (name, prop) in props {
            match object.get(name) {
                Some(v) => check(spec, prop, v, &format!("{at}.{name}"), errors),
                None if required.contains(name.as_str()) => {
                    errors.push(format!("{at}.{name}: missing"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate().take(3) {
            check(spec, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn response_schema<'a>(spec: &'a Value, operation_id: &str, status: u16) -> &'a Value {
    for methods in spec["paths"].as_object().unwrap().values() {
        for op in methods.as_object().unwrap().values() {
            if op.get("operationId").and_then(Value::as_str) == Some(operation_id) {
                return &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
            }
        }
    }
    panic!("{operation_id} not in spec");
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

/// Top-level keys of `fixture` (and of its first list item, and of nested objects) are all in
/// `ours`.
fn covers(fixture: &Value, ours: &Value, at: &str, errors: &mut Vec<String>) {
    for missing in keys(fixture).difference(&keys(ours)) {
        errors.push(format!("{at}: missing fixture field {missing}"));
    }
    if let (Some(f), Some(o)) = (fixture.as_object(), ours.as_object()) {
        for (k, fv) in f {
            let Some(ov) = o.get(k) else { continue };
            if k == "subresource_uris" || k == "encryption_details" {
                continue; // Twilio's own set changes over time; see fixtures/ORIGIN.md.
            }
            match (fv, ov) {
                (Value::Object(_), Value::Object(_)) => {
                    covers(fv, ov, &format!("{at}.{k}"), errors);
                }
                (Value::Array(fa), Value::Array(oa)) => {
                    if let (Some(fi), Some(oi)) = (fa.first(), oa.first()) {
                        covers(fi, oi, &format!("{at}.{k}[0]"), errors);
                    }
                }
                _ => {}
            }
        }
    }
}

struct Exchange {
    op: &'static str,
    status: u16,
    body: Value,
}

#[tokio::test]
async fn responses_match_the_openapi_schemas_and_fixtures() {
    let (api_spec, events_spec) = load_specs();
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 2, "calls_per_number": 5, "recording_share": 1.0, "seed": 77}),
    )
    .await;
    let base = sandbox.twilio_api_base();
    let account = seeded.account_sid.clone();
    let http = reqwest::Client::new();
    let (_, live) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/live-calls",
        Some(json!({"account_sid": account, "from": "+13035550000", "to": seeded.numbers[0].phone_number})),
    )
    .await;
    let live_call = live["sid"].as_str().unwrap().to_owned();

    let mut exchanges: Vec<Exchange> = Vec::new();
    let send = |method: reqwest::Method, path: String, form: Vec<(&'static str, String)>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .basic_auth(&account, Some(&seeded.auth_token));
        if !form.is_empty() {
            request = request.form(&form);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = response.bytes().await.unwrap();
            (status, content_type, bytes)
        }
    };
    macro_rules! json_call {
        ($op:expr, $method:ident, $path:expr, $form:expr) => {{
            let (status, _, bytes) = send(reqwest::Method::$method, $path, $form).await;
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("JSON body")
            };
            exchanges.push(Exchange {
                op: $op,
                status,
                body: body.clone(),
            });
            body
        }};
    }
    let acct = format!("/2010-04-01/Accounts/{account}");

    json_call!("FetchAccount", GET, format!("{acct}.json"), vec![]);
    json_call!(
        "CreateAccount",
        POST,
        "/2010-04-01/Accounts.json".to_owned(),
        vec![("FriendlyName", "sub".to_owned())]
    );
    let calls = json_call!(
        "ListCall",
        GET,
        format!("{acct}/Calls.json?Status=completed&PageSize=2"),
        vec![]
    );
    let call = calls["calls"][0]["sid"].as_str().unwrap().to_owned();
    json_call!(
        "FetchCall",
        GET,
        format!("{acct}/Calls/{call}.json"),
        vec![]
    );
    let recordings = json_call!(
        "ListCallRecording",
        GET,
        format!("{acct}/Calls/{call}/Recordings.json"),
        vec![]
    );
    let recording = recordings["recordings"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    json_call!(
        "CreateCallRecording",
        POST,
        format!("{acct}/Calls/{live_call}/Recordings.json"),
        vec![("RecordingChannels", "dual".to_owned())]
    );
    json_call!(
        "UpdateCall",
        POST,
        format!("{acct}/Calls/{live_call}.json"),
        vec![("Status", "completed".to_owned())]
    );
    json_call!(
        "FetchRecording",
        GET,
        format!("{acct}/Recordings/{recording}.json"),
        vec![]
    );
    let media_checked = {
        let (status, content_type, bytes) = send(
            reqwest::Method::GET,
            format!("{acct}/Recordings/{recording}.mp3?RequestedChannels=1"),
            vec![],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some("audio/mpeg"));
        assert_eq!(&bytes[..2], &[0xFF, 0xE3], "an MP3 frame");
        true
    };
    json_call!(
        "DeleteRecording",
        DELETE,
        format!("{acct}/Recordings/{recording}.json"),
        vec![]
    );
    let numbers = json_call!(
        "ListIncomingPhoneNumber",
        GET,
        format!("{acct}/IncomingPhoneNumbers.json"),
        vec![]
    );
    let number = numbers["incoming_phone_numbers"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    json_call!(
        "FetchIncomingPhoneNumber",
        GET,
        format!("{acct}/IncomingPhoneNumbers/{number}.json"),
        vec![]
    );
    json_call!(
        "UpdateIncomingPhoneNumber",
        POST,
        format!("{acct}/IncomingPhoneNumbers/{number}.json"),
        vec![("VoiceUrl", "https://example.org/v".to_owned())]
    );
    let offer = json_call!(
        "ListAvailablePhoneNumberLocal",
        GET,
        format!("{acct}/AvailablePhoneNumbers/US/Local.json?AreaCode=305"),
        vec![]
    );
    let to_buy = offer["available_phone_numbers"][0]["phone_number"]
        .as_str()
        .unwrap()
        .to_owned();
    json_call!(
        "CreateIncomingPhoneNumber",
        POST,
        format!("{acct}/IncomingPhoneNumbers.json"),
        vec![("PhoneNumber", to_buy)]
    );
    let sink = json_call!(
        "CreateSink",
        POST,
        "/v1/Sinks".to_owned(),
        vec![
            ("Description", "d".to_owned()),
            (
                "SinkConfiguration",
                r#"{"destination":"https://example.org/e","method":"POST","batch_events":false}"#
                    .to_owned()
            ),
            ("SinkType", "webhook".to_owned()),
        ]
    );
    let sink = sink["sid"].as_str().unwrap().to_owned();
    json_call!("ListSink", GET, "/v1/Sinks".to_owned(), vec![]);
    let subscription = json_call!(
        "CreateSubscription",
        POST,
        "/v1/Subscriptions".to_owned(),
        vec![
            ("Description", "d".to_owned()),
            ("SinkSid", sink.clone()),
            (
                "Types",
                r#"{"type":"com.twilio.voice.status-callback.call.completed","schema_version":1}"#
                    .to_owned()
            ),
        ]
    );
    let subscription = subscription["sid"].as_str().unwrap().to_owned();
    json_call!(
        "ListSubscription",
        GET,
        format!("/v1/Subscriptions?SinkSid={sink}"),
        vec![]
    );
    json_call!(
        "CreateSubscribedEvent",
        POST,
        format!("/v1/Subscriptions/{subscription}/SubscribedEvents"),
        vec![
            (
                "Type",
                "com.twilio.voice.status-callback.call.ringing".to_owned()
            ),
            ("SchemaVersion", "1".to_owned())
        ]
    );
    json_call!(
        "ListSubscribedEvent",
        GET,
        format!("/v1/Subscriptions/{subscription}/SubscribedEvents"),
        vec![]
    );
    json_call!(
        "DeleteSubscription",
        DELETE,
        format!("/v1/Subscriptions/{subscription}"),
        vec![]
    );
    json_call!("DeleteSink", DELETE, format!("/v1/Sinks/{sink}"), vec![]);

    // Every operation of the client was exercised, with its spec's success status.
    let mut errors = Vec::new();
    for op in OPERATIONS {
        if !op.in_openapi {
            assert!(media_checked);
            continue;
        }
        let Some(exchange) = exchanges.iter().find(|e| e.op == op.id) else {
            errors.push(format!("{}: not exercised", op.id));
            continue;
        };
        let spec = match op.host {
            Host::Api => &api_spec,
            Host::Events => &events_spec,
        };
        let responses =
            spec["paths"][op.path][op.method.as_str().to_ascii_lowercase()]["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{} not in spec", op.id));
        if !responses.contains_key(&exchange.status.to_string()) {
            errors.push(format!(
                "{}: status {} not among {:?} ({})",
                op.id,
                exchange.status,
                responses.keys().collect::<Vec<_>>(),
                exchange.body
            ));
            continue;
        }
        if exchange.status == 204 {
            assert!(exchange.body.is_null(), "{}: 204 with a body", op.id);
            continue;
        }
        let schema = response_schema(spec, op.id, exchange.status);
        check(spec, schema, &exchange.body, op.id, &mut errors);
    }

    // Fixtures: our bodies have at least their fields.
    let fixtures = specs_dir().join("fixtures");
    for (file, op) in [
        ("account_create.json", "CreateAccount"),
        ("calls_list_page1.json", "ListCall"),
        ("call_fetch.json", "FetchCall"),
        ("call_recordings_list.json", "ListCallRecording"),
        ("call_recording_create.json", "CreateCallRecording"),
        ("recording_fetch.json", "FetchRecording"),
        (
            "incoming_phone_numbers_list.json",
            "ListIncomingPhoneNumber",
        ),
        (
            "incoming_phone_number_fetch.json",
            "FetchIncomingPhoneNumber",
        ),
        (
            "incoming_phone_number_update.json",
            "UpdateIncomingPhoneNumber",
        ),
        (
            "available_phone_numbers_local.json",
            "ListAvailablePhoneNumberLocal",
        ),
    ] {
        let raw = std::fs::read_to_string(fixtures.join(file))
            .unwrap_or_else(|e| panic!("fixture {file}: {e}"));
        let fixture: Value = serde_json::from_str(&raw).unwrap();
        let ours = &exchanges.iter().find(|e| e.op == op).unwrap().body;
        covers(&fixture, ours, file, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "conformance problems:\n{}",
        errors.join("\n")
    );
}
