//! Gemini Live server messages, through the same frame decoding and per-turn state machine as a
//! session: a run of frames (text or binary, each possibly not JSON, not UTF-8, or of any shape)
//! may report error events, never panic, and model audio converted for a phone call is base64.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use loquent_ai::realtime::gemini::FuzzDownlink;
use loquent_ai::realtime::{AudioFormat, RealtimeEvent};

#[derive(Arbitrary, Debug)]
struct Frames {
    phone: bool,
    frames: Vec<(bool, Vec<u8>)>,
}

fuzz_target!(|input: Frames| {
    let format = if input.phone {
        AudioFormat::Mulaw8k
    } else {
        AudioFormat::Pcm24k
    };
    let mut downlink = FuzzDownlink::new(format);
    let mut events = Vec::new();
    for (binary, payload) in &input.frames {
        downlink.read(payload, *binary, &mut events);
    }
    // Audio converted for a phone call is ours: base64 (a web call's passes through as sent, and
    // is decoded where it is used).
    for event in events.iter().filter(|_| input.phone) {
        if let RealtimeEvent::AudioDelta(chunk) = event {
            assert!(
                base64_is_valid(&chunk.payload),
                "audio delta is not base64: {:?}",
                chunk.payload
            );
        }
    }
    let _ = downlink.handle();
});

fn base64_is_valid(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}
