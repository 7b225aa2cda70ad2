//! TwiML documents we generate, pinned with snapshots, and the parser's round trips and
//! rejections (the sandbox relies on it to read our answers like Twilio would).

use loquent_twilio::E164;
use loquent_twilio::twiml::{
    Connect, Dial, Method, Pause, Recording, RecordingChannels, RecordingEvent, RecordingTrack,
    Redirect, Response, Say, Start, Stream, StreamTrack, Trim, TwimlError, Verb,
};

fn num(s: &str) -> E164 {
    s.parse().unwrap()
}

/// What the voice webhook answers when recording is on (design.md §2): record both sides
/// on two channels, then bridge the caller to our media-stream WebSocket.
fn inbound_call_with_recording() -> Response {
    Response::new()
        .start(
            Start::new().recording(
                Recording::new()
                    .status_callback("https://app.example.com/twilio/recording?org=1&x=2")
                    .status_callback_method(Method::Post)
                    .status_callback_events([
                        RecordingEvent::InProgress,
                        RecordingEvent::Completed,
                        RecordingEvent::Absent,
                    ])
                    .channels(RecordingChannels::Dual)
                    .track(RecordingTrack::Both)
                    .trim(Trim::DoNotTrim),
            ),
        )
        .connect(
            Connect::new(
                Stream::new("wss://app.example.com/twilio/stream")
                    .name("agent")
                    .status_callback("https://app.example.com/twilio/stream-status")
                    .status_callback_method(Method::Post)
                    .parameter("from", "+14155550100")
                    .parameter("to", "+14155550199")
                    .parameter("caller_name", "O'Brien & Sons <Ltd>"),
            )
            .action("https://app.example.com/twilio/call-status")
            .method(Method::Post),
        )
}

fn typical_documents() -> Vec<(&'static str, Response)> {
    vec![
        ("inbound_call_with_recording", inbound_call_with_recording()),
        (
            "inbound_call_without_recording",
            Response::new().connect(
                Connect::new(
                    Stream::new("wss://app.example.com/twilio/stream")
                        .parameter("from", "+14155550100"),
                )
                .action("https://app.example.com/twilio/call-status"),
            ),
        ),
        (
            "listen_only_stream_then_say",
            Response::new()
                .start(Start::new().stream_with_track(
                    Stream::new("wss://listen.example.com/s"),
                    StreamTrack::BothTracks,
                ))
                .say(
                    Say::new("This call may be monitored.")
                        .voice("Polly.Joanna")
                        .language("en-US")
                        .loop_count(2),
                )
                .pause(Pause::seconds(3))
                .hangup(),
        ),
        (
            "transfer",
            Response::new().say(Say::new("Transferring you now.")).dial(
                Dial::number(num("+14155550123"))
                    .and_number(num("+442079460958"))
                    .caller_id(num("+14155550100"))
                    .timeout(25)
                    .action("https://app.example.com/twilio/dial-done")
                    .method(Method::Post),
            ),
        ),
        (
            "busy_redirect",
            Response::new()
                .say(Say::new("All agents are busy."))
                .pause(Pause::default())
                .redirect(
                    Redirect::new("https://app.example.com/twilio/voice?retry=1&n=2")
                        .method(Method::Get),
                ),
        ),
    ]
}

#[test]
fn typical_documents_render_as_snapshotted() {
    for (name, doc) in typical_documents() {
        insta::assert_snapshot!(name, doc.to_xml());
    }
}

#[test]
fn typical_documents_round_trip() {
    for (name, doc) in typical_documents() {
        let xml = doc.to_xml();
        assert_eq!(Response::parse(&xml).as_ref(), Ok(&doc), "{name}: {xml}");
        assert_eq!(xml.parse::<Response>().unwrap().to_xml(), xml, "{name}");
    }
}

#[test]
fn parses_pretty_printed_twilio_style_documents() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- answered by loquent -->
<Response>
    <Start>
        <Recording channels="dual" recordingStatusCallback="https://e.com/cb" />
    </Start>
    <Say voice="alice">
        Hello &amp; welcome
    </Say>
    <Connect action="https://e.com/next">
        <Stream url="wss://e.com/ws" track="inbound_track">
            <Parameter name="a" value="1"/>
            <Parameter name="b" />
        </Stream>
    </Connect>
</Response>
"#;
    let doc = Response::parse(xml).unwrap();
    assert_eq!(doc.verbs.len(), 3);
    assert_eq!(
        doc.verbs[1],
        Verb::Say(Say::new("Hello & welcome").voice("alice"))
    );
    let Verb::Connect(connect) = &doc.verbs[2] else {
        panic!("{doc:?}")
    };
    assert_eq!(connect.stream.parameters[1].value, "");
    assert_eq!(connect.action.as_deref(), Some("https://e.com/next"));
}

#[test]
fn cdata_is_text() {
    let doc = Response::parse("<Response><Say><![CDATA[Q&A <now>]]></Say></Response>").unwrap();
    assert_eq!(doc, Response::new().say(Say::new("Q&A <now>")));
}

fn rejects(xml: &str) -> TwimlError {
    match Response::parse(xml) {
        Ok(doc) => panic!("accepted invalid TwiML {xml}: {doc:?}"),
        Err(e) => e,
    }
}

#[test]
fn rejects_invalid_twiml() {
    let cases: &[(&str, &str)] = &[
        ("", "document has no root element"),
        ("not xml", "malformed XML: text outside the root element"),
        ("<Response><Say>hi</Response>", "malformed XML"),
        // Found by the `twiml` fuzz target: characters XML does not allow, which no writer can
        // give back, are refused rather than read.
        (
            "<Response><Say>a\u{0}b</Say></Response>",
            "character U+0000 is not allowed in XML",
        ),
        (
            "<Response><Say voice=\"a\u{1}\">hi</Say></Response>",
            "character U+0001 is not allowed in XML",
        ),
        (
            "<Response><Say><![CDATA[\u{FFFF}]]></Say></Response>",
            "character U+FFFF is not allowed in XML",
        ),
        (
            "<Response></Response><Response/>",
            "content after the root element",
        ),
        (
            "<Respons/>",
            "root element must be <Response>, found <Respons>",
        ),
        (
            "<Response><Play>x.mp3</Play></Response>",
            "unknown verb <Play>",
        ),
        (
            "<Response><Say/></Response>",
            "<Say> must contain text to speak",
        ),
        (
            "<Response><Say>hi<Pause/></Say></Response>",
            "<Pause> is not allowed inside <Say>",
        ),
        (
            "<Response>hello</Response>",
            "<Response> must not contain text",
        ),
        (
            "<Response><Pause length=\"x\"/></Response>",
            "invalid value \"x\" for attribute \"length\" of <Pause>",
        ),
        (
            "<Response><Pause lenght=\"2\"/></Response>",
            "<Pause> does not take attribute \"lenght\"",
        ),
        (
            "<Response><Hangup>now</Hangup></Response>",
            "<Hangup> must not contain text",
        ),
        (
            "<Response><Redirect/></Response>",
            "<Redirect> must contain a URL",
        ),
        (
            "<Response><Dial/></Response>",
            "<Dial> must contain a number to dial",
        ),
        (
            "<Response><Dial>4155550100</Dial></Response>",
            "invalid value",
        ),
        (
            "<Response><Dial><Client>bob</Client></Dial></Response>",
            "<Client> is not allowed inside <Dial>",
        ),
        (
            "<Response><Start/></Response>",
            "<Start> must contain <Recording> or <Stream>",
        ),
        (
            "<Response><Start><Say>x</Say></Start></Response>",
            "<Say> is not allowed inside <Start>",
        ),
        (
            "<Response><Start><Recording recordingChannels=\"dual\"/></Start></Response>",
            "<Recording> does not take attribute \"recordingChannels\"",
        ),
        (
            "<Response><Start><Recording channels=\"stereo\"/></Start></Response>",
            "invalid value \"stereo\"",
        ),
        (
            "<Response><Start><Recording recordingStatusCallbackEvent=\"completed done\"/></Start></Response>",
            "invalid value",
        ),
        (
            "<Response><Connect/></Response>",
            "<Connect> must contain a <Stream>",
        ),
        (
            "<Response><Connect><Stream/></Connect></Response>",
            "<Stream> requires attribute \"url\"",
        ),
        (
            "<Response><Connect><Stream url=\"https://e.com/ws\"/></Connect></Response>",
            "invalid value \"https://e.com/ws\" for attribute \"url\"",
        ),
        (
            "<Response><Connect><Stream url=\"wss://e.com/ws?x=1\"/></Connect></Response>",
            "for attribute \"url\"",
        ),
        (
            "<Response><Connect><Stream url=\"wss://e.com/ws\" track=\"both_tracks\"/></Connect></Response>",
            "invalid value \"both_tracks\" for attribute \"track\" of <Stream>",
        ),
        (
            "<Response><Connect><Stream url=\"wss://a/\"/><Stream url=\"wss://b/\"/></Connect></Response>",
            "<Stream> is not allowed inside <Connect>",
        ),
        (
            "<Response><Connect><Room>r</Room></Connect></Response>",
            "<Room> is not allowed inside <Connect>",
        ),
        (
            "<Response><Connect><Stream url=\"wss://a/\"><Parameter value=\"1\"/></Stream></Connect></Response>",
            "<Parameter> requires attribute \"name\"",
        ),
        (
            "<!DOCTYPE x [<!ENTITY a \"b\">]><Response/>",
            "DOCTYPE is not allowed",
        ),
        ("<Response><Say>&unknown;</Say></Response>", "malformed XML"),
        ("<Response a=\"1\" a=\"2\"/>", "malformed XML"),
    ];
    for (xml, want) in cases {
        let err = rejects(xml).to_string();
        assert!(err.contains(want), "{xml}\n  got:  {err}\n  want: {want}");
    }
}

#[test]
fn deep_nesting_is_bounded() {
    let xml = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    assert_eq!(rejects(&xml), TwimlError::TooDeep);
}
