use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::*;
use crate::realtime::fake_server::{FakeConnection, FakeServer};
use crate::realtime::{Eagerness, ToolSpec};

fn config() -> RealtimeConfig {
    RealtimeConfig {
        instructions: "Answer for Acme Plumbing.".to_owned(),
        tools: vec![ToolSpec {
            name: "end_call".to_owned(),
            description: "Hang up.".to_owned(),
            parameters: json!({ "type": "object", "properties": { "reason": { "type": "string" } } }),
        }],
        ..RealtimeConfig::for_provider(Provider::Gemini)
    }
}

/// 20 ms of µ-law silence, as Twilio sends it.
fn silence_frame() -> String {
    STANDARD.encode([0xFFu8; 160])
}

fn model_audio(bytes: usize) -> Value {
    json!({
        "serverContent": {
            "modelTurn": {
                "parts": [{ "inlineData": { "mimeType": "audio/pcm;rate=24000", "data": STANDARD.encode(vec![0u8; bytes]) } }]
            }
        }
    })
}

async fn next(session: &mut GeminiSession) -> RealtimeEvent {
    tokio::time::timeout(Duration::from_secs(5), session.next_event())
        .await
        .expect("no event in time")
        .expect("session ended")
}

/// Accepts a connection, checks that `setup` comes first and alone, and completes it (in a
/// binary frame, as Gemini does).
async fn handshake(server: &mut FakeServer) -> (FakeConnection, Value) {
    let mut conn = server.accept().await;
    let setup = conn.recv().await;
    assert_eq!(
        setup.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["setup"]
    );
    conn.expect_quiet(Duration::from_millis(100)).await;
    conn.send_binary(json!({ "setupComplete": {} })).await;
    (conn, setup)
}

fn live(server: &FakeServer) -> GeminiLive {
    GeminiLive::new(server.http_url(""), "test-key")
}

async fn connect(server: &mut FakeServer) -> (GeminiSession, FakeConnection, Value) {
    let live = live(server);
    let config = config();
    let (session, (conn, setup)) = tokio::join!(live.connect(&config), handshake(server));
    (session.expect("connect"), conn, setup)
}

#[test]
fn live_url_from_base() {
    let live = GeminiLive::new(GeminiLive::DEFAULT_BASE_URL, "k/ey");
    let expected = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=k%2Fey";
    assert_eq!(live.live_url().unwrap(), expected);
    let rest_base = GeminiLive::new("https://generativelanguage.googleapis.com/v1beta/", "k/ey");
    assert_eq!(rest_base.live_url().unwrap(), expected);
    assert!(!format!("{live:?}").contains("k/ey"));
}

#[test]
fn setup_has_the_documented_shape() {
    let setup = GeminiLive::new("https://x", "k").setup_message(&config(), None);
    assert_eq!(
        setup,
        json!({
            "setup": {
                "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
                "generationConfig": {
                    "responseModalities": ["AUDIO"],
                    "speechConfig": { "voiceConfig": { "prebuiltVoiceConfig": { "voiceName": "Kore" } } }
                },
                "systemInstruction": { "parts": [{ "text": "Answer for Acme Plumbing." }] },
                "tools": [{ "functionDeclarations": [{
                    "name": "end_call",
                    "description": "Hang up.",
                    "parameters": { "type": "object", "properties": { "reason": { "type": "string" } } }
                }] }],
                "realtimeInputConfig": {
                    "automaticActivityDetection": {
                        "disabled": false,
                        "prefixPaddingMs": 300,
                        "silenceDurationMs": 500
                    },
                    "activityHandling": "START_OF_ACTIVITY_INTERRUPTS"
                },
                "inputAudioTranscription": {},
                "outputAudioTranscription": {},
                "sessionResumption": {},
                "contextWindowCompression": { "slidingWindow": {} }
            }
        })
    );
}

#[test]
fn setup_maps_sensitivities_and_resumes() {
    let live = GeminiLive::new("https://x", "k").with_transcription(false);
    let loud = RealtimeConfig {
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.8,
            prefix_padding_ms: 200,
            silence_duration_ms: 700,
        },
        tools: Vec::new(),
        model: "models/gemini-3.1-flash-live-preview".to_owned(),
        ..config()
    };
    let setup = live.setup_message(&loud, Some("handle-1"))["setup"].clone();
    assert_eq!(setup["model"], "models/gemini-3.1-flash-live-preview");
    assert_eq!(
        setup["realtimeInputConfig"]["automaticActivityDetection"],
        json!({
            "disabled": false,
            "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
            "prefixPaddingMs": 200,
            "silenceDurationMs": 700
        })
    );
    assert_eq!(setup["sessionResumption"], json!({ "handle": "handle-1" }));
    assert!(setup.get("tools").is_none());
    assert!(setup.get("inputAudioTranscription").is_none());

    let patient = RealtimeConfig {
        turn_detection: TurnDetection::SemanticVad {
            eagerness: Eagerness::Low,
        },
        ..config()
    };
    assert_eq!(
        live.setup_message(&patient, None)["setup"]["realtimeInputConfig"]["automaticActivityDetection"],
        json!({ "disabled": false, "endOfSpeechSensitivity": "END_SENSITIVITY_LOW" })
    );
}

#[tokio::test]
async fn a_whole_session_against_a_fake_server() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, setup) = connect(&mut server).await;
    assert!(conn.uri.starts_with(&format!("{BIDI_PATH}?key=test-key")));
    assert_eq!(
        setup,
        GeminiLive::new("https://x", "k").setup_message(&config(), None)
    );

    // Caller audio: µ-law 8 kHz → PCM16 16 kHz, four bytes out per byte in.
    session.send_audio(&silence_frame()).await.unwrap();
    let input = conn.recv().await;
    let audio = &input["realtimeInput"]["audio"];
    assert_eq!(audio["mimeType"], "audio/pcm;rate=16000");
    assert_eq!(
        STANDARD.decode(audio["data"].as_str().unwrap()).unwrap(),
        vec![0u8; 640]
    );
    assert!(matches!(
        session.send_audio("not base64!").await,
        Err(RealtimeError::InvalidAudio(_))
    ));

    // Model audio: PCM16 24 kHz → µ-law 8 kHz; JSON in binary frames too.
    conn.send_binary(model_audio(960)).await;
    conn.send(json!({ "serverContent": { "outputTranscription": { "text": "Hello" } } }))
        .await;
    conn.send(json!({ "serverContent": { "inputTranscription": { "text": "Hi" } } }))
        .await;
    conn.send(json!({ "serverContent": { "interrupted": true } }))
        .await;
    conn.send(model_audio(960)).await; // Late audio of the interrupted turn: dropped.
    conn.send(json!({ "serverContent": { "turnComplete": true } }))
        .await;
    conn.send(json!({ "usageMetadata": { "totalTokenCount": 10 } }))
        .await;
    conn.send(model_audio(960)).await;
    conn.send(json!({ "serverContent": { "generationComplete": true } }))
        .await;
    conn.send(json!({ "serverContent": { "turnComplete": true } }))
        .await;

    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseStarted { response_id: None }
    );
    match next(&mut session).await {
        RealtimeEvent::AudioDelta(chunk) => {
            assert_eq!(STANDARD.decode(&chunk.payload).unwrap(), vec![0xFFu8; 160]);
            assert_eq!(chunk.item_id, None);
        }
        other => panic!("expected audio, got {other:?}"),
    }
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Transcript {
            role: Role::Assistant,
            text: "Hello".into(),
            is_final: false
        }
    );
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Transcript {
            role: Role::User,
            text: "Hi".into(),
            is_final: false
        }
    );
    assert_eq!(next(&mut session).await, RealtimeEvent::SpeechStarted);
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseDone {
            response_id: None,
            status: ResponseStatus::Cancelled
        }
    );
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseStarted { response_id: None }
    );
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::AudioDelta(_)
    ));
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseDone {
            response_id: None,
            status: ResponseStatus::Completed
        }
    );

    // Tool calls: args object serialized; the reply needs id and name and an object response.
    conn.send_binary(json!({
        "toolCall": { "functionCalls": [{ "id": "fc_1", "name": "end_call", "args": { "reason": "bye" } }] }
    }))
    .await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ToolCall {
            call_id: "fc_1".into(),
            name: "end_call".into(),
            arguments: r#"{"reason":"bye"}"#.into()
        }
    );
    session
        .send_tool_result("fc_1", "end_call", r#"{"ok":true}"#)
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await,
        json!({ "toolResponse": { "functionResponses": [
            { "id": "fc_1", "name": "end_call", "response": { "ok": true } }
        ] } })
    );
    session
        .send_tool_result("fc_2", "lookup", "not json")
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await["toolResponse"]["functionResponses"][0]["response"],
        json!({ "result": "not json" })
    );
    conn.send(json!({ "toolCallCancellation": { "ids": ["fc_3"] } }))
        .await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ToolCallCancelled {
            call_ids: vec!["fc_3".into()]
        }
    );

    // Text injection; truncation is a no-op.
    session
        .inject_text(Role::User, "Greet the caller.", true)
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await,
        json!({ "clientContent": {
            "turns": [{ "role": "user", "parts": [{ "text": "Greet the caller." }] }],
            "turnComplete": true
        } })
    );
    session.truncate("anything", 500).await.unwrap();
    conn.expect_quiet(Duration::from_millis(100)).await;

    // Malformed JSON is an event, not a panic.
    conn.send_raw("{oops").await;
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::Error { code: Some(code), .. } if code == "invalid_server_message"
    ));

    session.close().await.unwrap();
    conn.expect_close().await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Closed { reason: None }
    );
    assert_eq!(session.next_event().await, None);
    assert!(matches!(
        session.send_audio(&silence_frame()).await,
        Err(RealtimeError::Closed)
    ));
}

#[tokio::test]
async fn a_rejected_setup_fails_the_connect() {
    let mut server = FakeServer::start().await;
    let live = live(&server);
    let config = config();
    let server_side = async {
        let mut conn = server.accept().await;
        conn.recv().await;
        conn.close_with(1007, "Request contains an invalid argument.")
            .await;
    };
    let (result, ()) = tokio::join!(live.connect(&config), server_side);
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("1007") && error.contains("invalid argument"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_close_code_ends_the_session() {
    let mut server = FakeServer::start().await;
    let (mut session, conn, _) = connect(&mut server).await;
    conn.close_with(1011, "Deadline expired").await;
    match next(&mut session).await {
        RealtimeEvent::Closed {
            reason: Some(reason),
        } => assert!(reason.contains("1011") && reason.contains("Deadline expired")),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(session.next_event().await, None);
}

#[tokio::test]
async fn go_away_resumes_with_the_latest_handle() {
    let mut server = FakeServer::start().await;
    let (mut session, mut first, _) = connect(&mut server).await;
    first
        .send(json!({ "sessionResumptionUpdate": { "newHandle": "handle-1", "resumable": true } }))
        .await;
    // Mid-generation updates are not resumable and must not replace the handle.
    first
        .send(json!({ "sessionResumptionUpdate": { "newHandle": "", "resumable": false } }))
        .await;
    first.send(json!({ "goAway": { "timeLeft": "10s" } })).await;

    let mut second = server.accept().await;
    let setup = second.recv().await;
    assert_eq!(
        setup["setup"]["sessionResumption"],
        json!({ "handle": "handle-1" })
    );
    // Caller audio sent during the reconnect waits for the new setupComplete.
    session.send_audio(&silence_frame()).await.unwrap();
    second.expect_quiet(Duration::from_millis(150)).await;
    second.send_binary(json!({ "setupComplete": {} })).await;
    assert!(second.recv().await["realtimeInput"]["audio"]["data"].is_string());

    // The session carries on over the new connection.
    second.send(model_audio(960)).await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseStarted { response_id: None }
    );
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::AudioDelta(_)
    ));
    first.vanish();
    session.close().await.unwrap();
    second.expect_close().await;
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_the_latest_handle() {
    let mut server = FakeServer::start().await;
    let (mut session, mut first, _) = connect(&mut server).await;
    first
        .send(json!({ "sessionResumptionUpdate": { "newHandle": "handle-7", "resumable": true } }))
        .await;
    // Let the handle arrive before the connection goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // No goAway, no close frame: the TCP connection is simply gone.
    first.vanish();

    let mut second = server.accept().await;
    let setup = second.recv().await;
    assert_eq!(
        setup["setup"]["sessionResumption"],
        json!({ "handle": "handle-7" })
    );
    second.send_binary(json!({ "setupComplete": {} })).await;
    session.send_audio(&silence_frame()).await.unwrap();
    assert!(second.recv().await["realtimeInput"]["audio"]["data"].is_string());
    second.send(model_audio(960)).await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseStarted { response_id: None }
    );

    // A server close is resumed too, while a handle is at hand.
    second
        .send(json!({ "sessionResumptionUpdate": { "newHandle": "handle-8", "resumable": true } }))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    second.close_with(1011, "Deadline expired").await;
    let mut third = server.accept().await;
    assert_eq!(
        third.recv().await["setup"]["sessionResumption"],
        json!({ "handle": "handle-8" })
    );
    third.send_binary(json!({ "setupComplete": {} })).await;
    third.close_with(1000, "").await;
    // Three resumptions within a minute at most: the fourth connection's end is the session's.
    let mut fourth = server.accept().await;
    fourth.recv().await;
    fourth.send_binary(json!({ "setupComplete": {} })).await;
    fourth.close_with(1011, "still failing").await;
    loop {
        match next(&mut session).await {
            RealtimeEvent::Closed {
                reason: Some(reason),
            } => {
                assert!(reason.contains("still failing"), "{reason}");
                break;
            }
            RealtimeEvent::Closed { reason: None } => panic!("ended as if asked to"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn go_away_without_a_handle_closes_with_the_reason() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect(&mut server).await;
    conn.send(json!({ "goAway": { "timeLeft": "1s" } })).await;
    conn.close_with(1000, "").await;
    match next(&mut session).await {
        RealtimeEvent::Closed {
            reason: Some(reason),
        } => assert!(reason.contains("goAway"), "{reason}"),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn an_openai_config_is_refused() {
    let live = GeminiLive::new("http://127.0.0.1:1", "k");
    assert!(matches!(
        live.connect(&RealtimeConfig::default()).await,
        Err(RealtimeError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn close_does_not_wait_forever_for_a_silent_server() {
    let mut server = FakeServer::start().await;
    let (mut session, _conn, _) = connect(&mut server).await;
    // The fake never reads again, so it never answers the close frame.
    session.close().await.unwrap();
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Closed { reason: None }
    );
    assert_eq!(session.next_event().await, None);
}

fn audio_bytes(message: &Value) -> usize {
    let data = message["realtimeInput"]["audio"]["data"].as_str().unwrap();
    STANDARD.decode(data).unwrap().len()
}

#[tokio::test]
async fn caller_audio_goes_up_in_batches_without_waiting_longer_than_one() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect(&mut server).await;
    // The bridge may sleep through the first two frames of each batch.
    assert_eq!(session.frames_per_send(), 3);
    // Five frames at once: one full batch of three (60 ms = 1920 bytes at 16 kHz) goes at once,
    // the other two when they have waited a batch duration.
    let started = std::time::Instant::now();
    for _ in 0..5 {
        session.send_audio(&silence_frame()).await.unwrap();
    }
    assert_eq!(audio_bytes(&conn.recv().await), 3 * 640);
    assert_eq!(audio_bytes(&conn.recv().await), 2 * 640);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_millis(500),
        "the tail waited one batch duration, not {waited:?}"
    );

    // Anything else sends the pending audio first, without waiting.
    session.send_audio(&silence_frame()).await.unwrap();
    session
        .inject_text(Role::User, "Hello?", false)
        .await
        .unwrap();
    assert_eq!(audio_bytes(&conn.recv().await), 640);
    assert!(conn.recv().await.get("clientContent").is_some());

    // An interruption flushes too: the model should hear a barge-in at once.
    session.send_audio(&silence_frame()).await.unwrap();
    let sent = std::time::Instant::now();
    conn.send(json!({ "serverContent": { "interrupted": true } }))
        .await;
    assert_eq!(audio_bytes(&conn.recv().await), 640);
    assert!(sent.elapsed() < Duration::from_millis(500));
    assert_eq!(next(&mut session).await, RealtimeEvent::SpeechStarted);

    // So does close().
    session.send_audio(&silence_frame()).await.unwrap();
    session.close().await.unwrap();
    assert_eq!(audio_bytes(&conn.recv().await), 640);
    conn.expect_close().await;
}

#[tokio::test]
async fn a_batch_of_one_frame_sends_every_frame_alone() {
    let mut server = FakeServer::start().await;
    let live = live(&server).with_uplink_batch(Duration::from_millis(20));
    let config = config();
    let (session, (mut conn, _)) = tokio::join!(live.connect(&config), handshake(&mut server));
    let mut session = session.unwrap();
    assert_eq!(session.frames_per_send(), 1);
    for _ in 0..3 {
        session.send_audio(&silence_frame()).await.unwrap();
    }
    for _ in 0..3 {
        assert_eq!(audio_bytes(&conn.recv().await), 640);
    }
}
