//! TwiML documents (the sandbox reads ours, and tests read what we answer): parsing may fail,
//! never panic, and what parses writes back to a document that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loquent_twilio::twiml::Response;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(response) = text.parse::<Response>() else {
        return;
    };
    let written = response.to_string();
    let again: Response = written
        .parse()
        .unwrap_or_else(|e| panic!("our own TwiML does not parse ({e}): {written}"));
    assert_eq!(again, response, "TwiML round trip: {written}");
});
