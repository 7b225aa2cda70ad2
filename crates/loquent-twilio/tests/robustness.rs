//! Property tests: everything that reads network input returns `Err` on garbage and never
//! panics, and the TwiML writer/parser round-trip arbitrary text.

use loquent_twilio::event_stream::parse_delivery;
use loquent_twilio::media_stream::{InboundMessage, MediaMessage, OutboundMessage, media_frame};
use loquent_twilio::signature::{url_candidates, validate_body, validate_form};
use loquent_twilio::twiml::{Connect, Response, Say, Stream};
use loquent_twilio::{AccountSid, CallSid, E164};
use proptest::prelude::*;

/// Strings that look a bit like Media Streams frames, so the parser gets past `{`.
fn frame_like() -> impl Strategy<Value = String> {
    let event = prop_oneof![
        Just("media"),
        Just("start"),
        Just("stop"),
        Just("mark"),
        Just("dtmf"),
        Just("connected"),
        Just("x")
    ];
    let value = prop_oneof![
        Just("\"1\"".to_owned()),
        Just("-1".to_owned()),
        Just("1e99".to_owned()),
        Just("null".to_owned()),
        Just("{}".to_owned()),
        "\"[a-zA-Z0-9+/=\\\\]{0,12}\"",
        "[0-9]{1,25}",
    ];
    let field = prop_oneof![
        Just("sequenceNumber"),
        Just("streamSid"),
        Just("media"),
        Just("payload"),
        Just("chunk"),
        Just("timestamp"),
        Just("track"),
        Just("start"),
        Just("stop"),
        Just("mark"),
        Just("dtmf")
    ];
    (
        event,
        proptest::collection::vec((field, value), 0..6),
        any::<bool>(),
    )
        .prop_map(|(event, fields, nest)| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            if nest {
                format!("{{\"event\":\"{event}\",\"media\":{{{}}}}}", body.join(","))
            } else {
                format!("{{\"event\":\"{event}\",{}}}", body.join(","))
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn media_stream_parsers_never_panic(s in any::<String>(), f in frame_like()) {
        for input in [&s, &f] {
            let _ = InboundMessage::parse(input);
            let _ = MediaMessage::parse(input);
            let _ = OutboundMessage::parse(input);
        }
    }

    #[test]
    fn media_frame_writer_is_always_valid_json(sid in any::<String>(), payload in any::<String>()) {
        let frame = media_frame(&sid, &payload);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        prop_assert_eq!(v["streamSid"].as_str(), Some(sid.as_str()));
        prop_assert_eq!(v["media"]["payload"].as_str(), Some(payload.as_str()));
    }

    #[test]
    fn event_stream_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), s in any::<String>()) {
        let _ = parse_delivery(&bytes);
        if let Ok(events) = parse_delivery(s.as_bytes()) {
            for e in events {
                let _ = e.into_typed();
            }
        }
    }

    #[test]
    fn twiml_parser_never_panics(s in any::<String>(), t in "<[A-Za-z]{1,8}( [a-z]{1,5}=\"[^\"]{0,5}\")?>[^<]{0,10}(</[A-Za-z]{1,8}>)?") {
        let _ = Response::parse(&s);
        let _ = Response::parse(&format!("<Response>{t}</Response>"));
    }

    #[test]
    fn ids_and_signatures_never_panic(s in any::<String>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = s.parse::<E164>();
        let _ = s.parse::<CallSid>();
        let _ = s.parse::<AccountSid>();
        let _ = url_candidates(&s);
        let _ = validate_form("token", &s, [(&s, &s)], &s);
        let _ = validate_body("token", &s, &body, &s);
    }

    #[test]
    fn twiml_round_trips_arbitrary_text(
        // Say text is trimmed on parse (Twilio ignores indentation), so generate it trimmed.
        text in "[^\\s\u{0}-\u{1f}\u{fffe}\u{ffff}]([^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,30}[^\\s\u{0}-\u{1f}\u{fffe}\u{ffff}])?",
        name in "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{1,20}",
        value in "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,20}",
    ) {
        let doc = Response::new()
            .say(Say::new(text))
            .connect(Connect::new(Stream::new("wss://e.example/ws").parameter(name, value)));
        let xml = doc.to_xml();
        prop_assert_eq!(Response::parse(&xml), Ok(doc), "{}", xml);
    }
}
