//! Twilio Media Streams frames: what arrives on `/twilio/stream`, before and after the
//! signature is checked. Neither parser may panic; the hot path's writer must give back what
//! its parser read; the outbound writer must escape whatever it is given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loquent_twilio::media_stream::{InboundMessage, MediaMessage, write_media_frame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = InboundMessage::parse(text);
    if let Ok(media) = MediaMessage::parse(text) {
        let mut written = String::new();
        media.write_json(&mut written);
        let again = MediaMessage::parse(&written).expect("write_json output parses");
        assert_eq!(again, media, "write_json round trip: {written}");
    }
    // Split the input into a stream SID and a payload: whatever they hold, the frame is JSON
    // with exactly those strings in it.
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let (sid, payload) = text.split_at(mid);
    let mut frame = String::new();
    write_media_frame(&mut frame, sid, payload);
    let value: serde_json::Value = serde_json::from_str(&frame).expect("a media frame is JSON");
    assert_eq!(value["streamSid"], sid);
    assert_eq!(value["media"]["payload"], payload);
});
