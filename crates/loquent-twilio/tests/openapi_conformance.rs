//! Every operation in the client's `OPERATIONS` table exists in Twilio's OpenAPI specs with
//! that method and path template, and every parameter we send is declared there for it.
//!
//! The specs are vendored in `vendor/specs/twilio/`; a missing spec fails the test.

use std::path::{Path, PathBuf};

use loquent_twilio::client::{Host, HttpMethod, OPERATIONS, Operation};
use serde_json::Value;

fn spec_path(host: Host) -> PathBuf {
    let file = match host {
        Host::Api => "twilio_api_v2010.json",
        Host::Events => "twilio_events_v1.json",
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vendor/specs/twilio")
        .join(file)
}

fn load(host: Host) -> Value {
    let path = spec_path(host);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("the Twilio spec {} is missing: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("spec is JSON")
}

fn method_key(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Delete => "delete",
    }
}

/// Parameters declared for an operation: `(name, in)` from `parameters` (operation and
/// path level), plus `(name, "form")` for form body properties.
fn declared(path_item: &Value, operation: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for list in [&path_item["parameters"], &operation["parameters"]] {
        for p in list.as_array().into_iter().flatten() {
            if let (Some(name), Some(location)) = (p["name"].as_str(), p["in"].as_str()) {
                out.push((name.to_owned(), location.to_owned()));
            }
        }
    }
    let form = &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        ["properties"];
    for name in form.as_object().into_iter().flatten().map(|(k, _)| k) {
        out.push((name.clone(), "form".to_owned()));
    }
    out
}

fn placeholders(template: &str) -> Vec<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

fn check(spec: &Value, op: &Operation) -> Result<(), String> {
    // Recording media is served by Twilio but not described in OpenAPI: its path must be
    // the JSON resource's path with `.mp3`, and that resource must exist.
    let (path, params_checked) = if op.in_openapi {
        (op.path.to_owned(), true)
    } else {
        let json = op
            .path
            .strip_suffix(".mp3")
            .ok_or_else(|| format!("{}: only .mp3 media may be outside the spec", op.id))?;
        (format!("{json}.json"), false)
    };
    let path_item = &spec["paths"][&path];
    if path_item.is_null() {
        return Err(format!("{}: path {path} not in spec", op.id));
    }
    let operation = &path_item[method_key(op.method)];
    if operation.is_null() {
        return Err(format!(
            "{}: {} {path} not in spec",
            op.id,
            op.method.as_str()
        ));
    }
    if op.in_openapi && operation["operationId"].as_str() != Some(op.id) {
        return Err(format!(
            "{}: spec calls {} {path} {:?}",
            op.id,
            op.method.as_str(),
            operation["operationId"]
        ));
    }
    let declared = declared(path_item, operation);
    for name in placeholders(&path) {
        if !declared.iter().any(|(n, loc)| n == name && loc == "path") {
            return Err(format!("{}: path parameter {name} not declared", op.id));
        }
    }
    if params_checked {
        let location = match op.method {
            HttpMethod::Post => "form",
            HttpMethod::Get | HttpMethod::Delete => "query",
        };
        for name in op.params {
            if !declared.iter().any(|(n, loc)| n == name && loc == location) {
                return Err(format!(
                    "{}: {location} parameter {name:?} not declared in the spec",
                    op.id
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_client_operation_and_parameter_is_in_twilios_spec() {
    let (api, events) = (load(Host::Api), load(Host::Events));
    let mut problems = Vec::new();
    for op in OPERATIONS {
        let spec = match op.host {
            Host::Api => &api,
            Host::Events => &events,
        };
        if let Err(problem) = check(spec, op) {
            problems.push(problem);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(OPERATIONS.len() >= 20);
}

#[test]
fn operation_ids_are_unique() {
    let mut ids: Vec<_> = OPERATIONS.iter().map(|op| op.id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len());
}

#[test]
fn the_checker_catches_mistakes() {
    let api = load(Host::Api);
    let list_call = OPERATIONS.iter().find(|op| op.id == "ListCall").unwrap();
    let wrong_param = Operation {
        params: &["StartTime>=", "PageSize"],
        ..*list_call
    };
    assert!(
        check(&api, &wrong_param)
            .unwrap_err()
            .contains("StartTime>=")
    );
    let wrong_method = Operation {
        method: HttpMethod::Delete,
        ..*list_call
    };
    assert!(check(&api, &wrong_method).is_err());
    let wrong_path = Operation {
        path: "/2010-04-01/Accounts/{AccountSid}/Call.json",
        ..*list_call
    };
    assert!(check(&api, &wrong_path).is_err());
}
