//! `X-Twilio-Signature` checks on every webhook: arbitrary URLs, bodies and signatures may
//! fail, never panic; what `sign` and `sign_json` produce always validates.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use loquent_twilio::signature::{sign, sign_json, validate_body, validate_form, validate_json};

#[derive(Arbitrary, Debug)]
struct Request {
    token: String,
    url: String,
    params: Vec<(String, String)>,
    body: Vec<u8>,
    signature: String,
}

fuzz_target!(|request: Request| {
    let Request {
        token,
        url,
        params,
        body,
        signature,
    } = request;
    let _ = validate_body(&token, &url, &body, &signature);
    let _ = validate_json(&token, &url, &body, &signature);

    let signed = sign(&token, &url, params.iter().map(|(k, v)| (k, v)));
    assert_eq!(
        validate_form(&token, &url, params.iter().map(|(k, v)| (k, v)), &signed),
        Ok(()),
        "a form signed by `sign` validates"
    );
    // A JSON post's URL carries its body's hash; one that already names a hash is not ours.
    if !url.contains("bodySHA256") {
        let (signed_url, signature) = sign_json(&token, &url, &body);
        assert_eq!(
            validate_json(&token, &signed_url, &body, &signature),
            Ok(()),
            "a JSON post signed by `sign_json` validates: {signed_url}"
        );
    }
});
