//! OpenAI Realtime server events, read as the session reads them: the provider (or anything
//! between it and us) may send anything, and reading it may report an error event, never panic.
//! The audio shortcut that skips the JSON tree must agree with the general path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loquent_ai::realtime::openai::{read_server_text, read_server_text_slowly};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fast = Vec::new();
    read_server_text(text, &mut fast);
    let mut slow = Vec::new();
    read_server_text_slowly(text, &mut slow);
    assert_eq!(fast, slow, "the audio shortcut read {text:?} differently");
});
