//! Every case of Twilio's official `X-Twilio-Signature` vectors (copied from the helper
//! libraries' test suites, see `fixtures/README.md`) must hold, optional ones included.

use loquent_twilio::signature::{
    SignatureError, body_sha256_hex, sign, validate_body, validate_form, validate_json,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    id: String,
    kind: String,
    auth_token: Option<String>,
    url: Option<String>,
    signed_url: Option<String>,
    params: Option<Vec<(String, String)>>,
    body: Option<String>,
    expected_signature: Option<String>,
    expected_valid: Option<bool>,
    expected_body_sha256_hex: Option<String>,
}

fn vectors() -> Vec<Vector> {
    let file: Vectors =
        serde_json::from_str(include_str!("fixtures/signature-vectors.json")).expect("valid JSON");
    assert!(file.vectors.len() >= 20, "fixture looks truncated");
    file.vectors
}

#[test]
fn every_signature_vector_passes() {
    let mut checked = 0;
    for v in vectors() {
        let id = &v.id;
        let token = v.auth_token.as_deref().unwrap_or_default();
        let url = v.url.as_deref().unwrap_or_default();
        let params = v.params.clone().unwrap_or_default();
        let sig = v.expected_signature.as_deref().unwrap_or_default();
        let valid = v.expected_valid.unwrap_or(true);
        match v.kind.as_str() {
            "compute" => {
                assert_eq!(sign(token, url, params.clone()), sig, "{id}");
            }
            "compute_and_validate" => {
                assert_eq!(sign(token, url, params.clone()), sig, "{id}");
                assert_eq!(
                    validate_form(token, url, params.clone(), sig).is_ok(),
                    valid,
                    "{id}"
                );
            }
            "validate" => {
                assert_eq!(
                    validate_form(token, url, params.clone(), sig).is_ok(),
                    valid,
                    "{id}"
                );
                // A raw form body given to the body-aware validator must agree.
                if let Some(body) = &v.body {
                    assert_eq!(
                        validate_body(token, url, body.as_bytes(), sig).is_ok(),
                        valid,
                        "{id} (raw body)"
                    );
                }
            }
            "validate_body" => {
                let body = v
                    .body
                    .as_deref()
                    .expect("validate_body has a body")
                    .as_bytes();
                assert_eq!(validate_json(token, url, body, sig).is_ok(), valid, "{id}");
                assert_eq!(
                    validate_body(token, url, body, sig).is_ok(),
                    valid,
                    "{id} (dispatch)"
                );
            }
            "body_hash" => {
                let body = v.body.as_deref().expect("body_hash has a body");
                assert_eq!(
                    Some(body_sha256_hex(body.as_bytes())),
                    v.expected_body_sha256_hex,
                    "{id}"
                );
            }
            "roundtrip" => {
                let signed_url = v.signed_url.as_deref().expect("roundtrip has signed_url");
                let computed = sign(token, signed_url, params.clone());
                assert_eq!(computed, sig, "{id}: signature over signed_url");
                assert_eq!(
                    validate_form(token, url, params.clone(), &computed).is_ok(),
                    valid,
                    "{id}"
                );
            }
            other => panic!("{id}: unknown vector kind {other:?}"),
        }
        checked += 1;
    }
    assert!(checked >= 20);
}

#[test]
fn json_failures_say_why() {
    let by_id = |id: &str| vectors().into_iter().find(|v| v.id == id).expect(id);
    let missing = by_id("json-body-missing-bodysha-param");
    assert_eq!(
        validate_json(
            "12345",
            missing.url.as_deref().unwrap(),
            missing.body.as_deref().unwrap().as_bytes(),
            missing.expected_signature.as_deref().unwrap()
        ),
        Err(SignatureError::MissingBodyHash)
    );
    let tampered = by_id("json-body-tampered");
    assert_eq!(
        validate_json(
            "12345",
            tampered.url.as_deref().unwrap(),
            tampered.body.as_deref().unwrap().as_bytes(),
            tampered.expected_signature.as_deref().unwrap()
        ),
        Err(SignatureError::BodyHashMismatch)
    );
}
