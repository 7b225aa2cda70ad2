use std::time::Duration;

use serde_json::json;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::*;
use crate::realtime::fake_server::{FakeConnection, FakeServer};
use crate::realtime::{Eagerness, ToolSpec};

/// A Twilio frame: 160 µ-law bytes as base64 (varied bytes, so any re-encoding would show).
fn frame() -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..160u8).map(|i| i.wrapping_mul(37)).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `n` frames of [`frame`] as one µ-law stream, base64.
fn frames(n: usize) -> String {
    let one = BASE64.decode(frame()).unwrap();
    BASE64.encode(one.repeat(n))
}

fn config() -> RealtimeConfig {
    RealtimeConfig {
        instructions: "Answer for Acme Plumbing.".to_owned(),
        tools: vec![ToolSpec {
            name: "end_call".to_owned(),
            description: "Hang up.".to_owned(),
            parameters: json!({ "type": "object", "properties": { "reason": { "type": "string" } } }),
        }],
        ..RealtimeConfig::default()
    }
}

fn updated(input: &str, output: &str) -> Value {
    json!({
        "type": "session.updated",
        "event_id": "event_1",
        "session": {
            "type": "realtime",
            "audio": {
                "input": { "format": { "type": input } },
                "output": { "format": { "type": output }, "voice": "marin" }
            }
        }
    })
}

/// Accepts the connection and answers the `session.update` as a healthy server would.
async fn handshake(server: &mut FakeServer) -> (FakeConnection, Value) {
    let mut conn = server.accept().await;
    conn.send(json!({ "type": "session.created", "session": { "type": "realtime" } }))
        .await;
    let update = conn.recv().await;
    conn.send(updated("audio/pcmu", "audio/pcmu")).await;
    (conn, update)
}

async fn connect(server: &mut FakeServer) -> (OpenAiSession, FakeConnection, Value) {
    connect_with(server, OpenAiRealtime::DEFAULT_UPLINK_BATCH).await
}

async fn connect_with(
    server: &mut FakeServer,
    batch: Duration,
) -> (OpenAiSession, FakeConnection, Value) {
    let client = OpenAiRealtime::new(server.http_url("/v1"), "sk-test").with_uplink_batch(batch);
    let config = config();
    let (session, (conn, update)) = tokio::join!(client.connect(&config), handshake(server));
    (session.expect("connect"), conn, update)
}

async fn next(session: &mut OpenAiSession) -> RealtimeEvent {
    tokio::time::timeout(Duration::from_secs(5), session.next_event())
        .await
        .expect("no event in time")
        .expect("session ended")
}

#[test]
fn url_from_base() {
    let client = OpenAiRealtime::new(OpenAiRealtime::DEFAULT_BASE_URL, "k");
    assert_eq!(
        client.realtime_url("gpt-realtime").unwrap(),
        "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    );
    let local = OpenAiRealtime::new("http://127.0.0.1:9000/v1/", "k");
    assert_eq!(
        local.realtime_url("gpt-realtime-mini").unwrap(),
        "ws://127.0.0.1:9000/v1/realtime?model=gpt-realtime-mini"
    );
}

#[test]
fn debug_hides_the_key() {
    let client = OpenAiRealtime::new(OpenAiRealtime::DEFAULT_BASE_URL, "sk-secret");
    assert!(!format!("{client:?}").contains("sk-secret"));
}

#[test]
fn session_update_has_the_ga_shape() {
    let update = OpenAiRealtime::new("https://x", "k").session_update(&config());
    assert_eq!(
        update,
        json!({
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["audio"],
                "instructions": "Answer for Acme Plumbing.",
                "audio": {
                    "input": {
                        "format": { "type": "audio/pcmu" },
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                            "create_response": true,
                            "interrupt_response": true
                        }
                    },
                    "output": { "format": { "type": "audio/pcmu" }, "voice": "marin" }
                },
                "tools": [{
                    "type": "function",
                    "name": "end_call",
                    "description": "Hang up.",
                    "parameters": {
                        "type": "object",
                        "properties": { "reason": { "type": "string" } }
                    }
                }]
            }
        })
    );
}

#[test]
fn semantic_vad_and_transcription() {
    let config = RealtimeConfig {
        turn_detection: TurnDetection::SemanticVad {
            eagerness: Eagerness::Low,
        },
        ..RealtimeConfig::default()
    };
    let update = OpenAiRealtime::new("https://x", "k")
        .with_input_transcription("gpt-4o-mini-transcribe")
        .session_update(&config);
    let input = &update["session"]["audio"]["input"];
    assert_eq!(
        input["turn_detection"],
        json!({
            "type": "semantic_vad",
            "eagerness": "low",
            "create_response": true,
            "interrupt_response": true
        })
    );
    assert_eq!(
        input["transcription"],
        json!({ "model": "gpt-4o-mini-transcribe" })
    );
    // Beta-era fields must not appear.
    let text = update.to_string();
    for beta in [
        "input_audio_format",
        "g711_ulaw",
        "\"modalities\"",
        "temperature",
    ] {
        assert!(!text.contains(beta), "{beta} in {text}");
    }
}

#[tokio::test]
async fn a_whole_session_against_a_fake_server() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, update) = connect(&mut server).await;

    assert_eq!(conn.uri, "/v1/realtime?model=gpt-realtime");
    assert_eq!(conn.headers["authorization"], "Bearer sk-test");
    assert!(conn.headers.get("openai-beta").is_none());
    assert_eq!(
        update,
        OpenAiRealtime::new("https://x", "k").session_update(&config())
    );

    // Caller audio goes up 40 ms (two Twilio frames) at a time, the same bytes in one append.
    let frame = frame();
    for _ in 0..2 {
        session.send_audio(&frame).await.unwrap();
    }
    let raw = conn.recv_text().await;
    assert_eq!(
        raw,
        format!(
            r#"{{"type":"input_audio_buffer.append","audio":"{}"}}"#,
            frames(2)
        )
    );

    // Server events map onto the neutral vocabulary.
    conn.send(json!({ "type": "response.created", "response": { "id": "resp_1", "status": "in_progress" } }))
        .await;
    conn.send(json!({
        "type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_1",
        "output_index": 0, "content_index": 0, "delta": frame
    }))
    .await;
    conn.send(json!({ "type": "rate_limits.updated", "rate_limits": [] }))
        .await;
    conn.send(json!({ "type": "input_audio_buffer.speech_started", "audio_start_ms": 1200, "item_id": "item_2" }))
        .await;
    conn.send(json!({
        "type": "response.function_call_arguments.done", "response_id": "resp_1", "item_id": "item_3",
        "call_id": "call_1", "name": "end_call", "arguments": "{\"reason\":\"bye\"}"
    }))
    .await;
    conn.send(json!({
        "type": "response.output_audio_transcript.done", "item_id": "item_1", "transcript": "Hello there."
    }))
    .await;
    conn.send(json!({
        "type": "response.done",
        "response": {
            "id": "resp_1", "status": "completed",
            "output": [
                { "type": "message", "id": "item_1", "role": "assistant", "status": "completed" },
                { "type": "function_call", "id": "item_3", "status": "completed", "call_id": "call_1",
                  "name": "end_call", "arguments": "{\"reason\":\"bye\"}" }
            ]
        }
    }))
    .await;
    conn.send(json!({
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_2", "content_index": 0, "transcript": "Goodbye."
    }))
    .await;
    conn.send(json!({
        "type": "error",
        "error": { "type": "invalid_request_error", "code": "response_cancel_not_active", "message": "nothing to cancel" }
    }))
    .await;

    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseStarted {
            response_id: Some("resp_1".into())
        }
    );
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::AudioDelta(AudioChunk {
            payload: frame.clone(),
            item_id: Some("item_1".into()),
            response_id: Some("resp_1".into()),
        })
    );
    assert_eq!(next(&mut session).await, RealtimeEvent::SpeechStarted);
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Transcript {
            role: Role::Assistant,
            text: "Hello there.".into(),
            is_final: true
        }
    );
    // Exactly one ToolCall, from response.done, before ResponseDone.
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ToolCall {
            call_id: "call_1".into(),
            name: "end_call".into(),
            arguments: "{\"reason\":\"bye\"}".into()
        }
    );
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::ResponseDone {
            response_id: Some("resp_1".into()),
            status: ResponseStatus::Completed
        }
    );
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Transcript {
            role: Role::User,
            text: "Goodbye.".into(),
            is_final: true
        }
    );
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Error {
            code: Some("response_cancel_not_active".into()),
            message: "nothing to cancel".into()
        }
    );

    // Truncate: integer audio_end_ms, content_index 0.
    session.truncate("item_1", 1_250).await.unwrap();
    let truncate = conn.recv().await;
    assert_eq!(
        truncate,
        json!({ "type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 1250 })
    );
    assert!(truncate["audio_end_ms"].is_u64());

    // Tool result: the output item, then response.create.
    session
        .send_tool_result("call_1", "end_call", r#"{"ok":true}"#)
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await,
        json!({
            "type": "conversation.item.create",
            "item": { "type": "function_call_output", "call_id": "call_1", "output": "{\"ok\":true}" }
        })
    );
    assert_eq!(conn.recv().await, json!({ "type": "response.create" }));

    // Injected text, with and without a response.
    session
        .inject_text(Role::User, "Greet the caller.", true)
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await,
        json!({
            "type": "conversation.item.create",
            "item": { "type": "message", "role": "user",
                      "content": [{ "type": "input_text", "text": "Greet the caller." }] }
        })
    );
    assert_eq!(conn.recv().await, json!({ "type": "response.create" }));
    session
        .inject_text(Role::Assistant, "Hi, Acme here.", false)
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await["item"]["content"],
        json!([{ "type": "output_text", "text": "Hi, Acme here." }])
    );
    conn.expect_quiet(Duration::from_millis(100)).await;

    // Close: a close frame goes out, then Closed, then None.
    session.close().await.unwrap();
    conn.expect_close().await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Closed { reason: None }
    );
    assert_eq!(session.next_event().await, None);
    assert!(matches!(
        session.send_audio(&frame).await,
        Err(RealtimeError::Closed)
    ));
}

#[tokio::test]
async fn a_rejected_format_fails_the_connect() {
    let mut server = FakeServer::start().await;
    let client = OpenAiRealtime::new(server.http_url("/v1"), "sk-test");
    let config = config();
    let server_side = async {
        let mut conn = server.accept().await;
        conn.recv().await;
        conn.send(updated("audio/pcmu", "audio/pcm")).await;
        conn
    };
    let (result, _conn) = tokio::join!(client.connect(&config), server_side);
    let error = result.unwrap_err();
    assert!(
        matches!(&error, RealtimeError::Connect { message, .. } if message.contains("audio/pcm\"")),
        "{error}"
    );
}

#[tokio::test]
async fn an_error_before_session_updated_fails_the_connect() {
    let mut server = FakeServer::start().await;
    let client = OpenAiRealtime::new(server.http_url("/v1"), "sk-test");
    let config = config();
    let server_side = async {
        let mut conn = server.accept().await;
        conn.recv().await;
        conn.send(json!({
            "type": "error",
            "error": { "type": "invalid_request_error", "code": "missing_required_parameter",
                       "message": "Missing required parameter: 'session.type'.", "param": "session.type" }
        }))
        .await;
        conn
    };
    let (result, _conn) = tokio::join!(client.connect(&config), server_side);
    let error = result.unwrap_err().to_string();
    assert!(error.contains("missing_required_parameter"), "{error}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let mut server = FakeServer::start().await;
    let client = OpenAiRealtime::new(server.http_url("/v1"), "sk-test")
        .with_setup_timeout(Duration::from_millis(200));
    let config = config();
    let server_side = async {
        let mut conn = server.accept().await;
        conn.recv().await;
        conn
    };
    let (result, _conn) = tokio::join!(client.connect(&config), server_side);
    let error = result.unwrap_err().to_string();
    assert!(error.contains("no session.updated"), "{error}");
}

#[tokio::test]
async fn a_refused_handshake_reports_the_status() {
    // Nothing listens on the port after the listener is dropped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = OpenAiRealtime::new(format!("http://{addr}/v1"), "sk-test");
    let error = client.connect(&config()).await.unwrap_err();
    assert!(matches!(error, RealtimeError::Connect { .. }), "{error}");
}

#[tokio::test]
async fn a_gemini_config_is_refused() {
    let client = OpenAiRealtime::new("http://127.0.0.1:1/v1", "k");
    let config = RealtimeConfig::for_provider(Provider::Gemini);
    assert!(matches!(
        client.connect(&config).await,
        Err(RealtimeError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn malformed_json_is_an_error_event() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect(&mut server).await;
    conn.send_raw("{not json").await;
    conn.send_raw("[1,2]").await;
    conn.send(json!({ "no_type": true })).await;

    for _ in 0..3 {
        assert!(matches!(
            next(&mut session).await,
            RealtimeEvent::Error { code: Some(code), .. } if code == "invalid_server_message"
        ));
    }
    session.close().await.unwrap();
    conn.expect_close().await;
}

/// A replacement's handshake: `session.update` answered, then the conversation items it
/// replays, until `items` of them have arrived.
async fn replacement(server: &mut FakeServer, items: usize) -> (FakeConnection, Vec<Value>) {
    let (mut conn, update) = handshake(server).await;
    assert_eq!(update["type"], "session.update");
    assert_eq!(update["session"]["instructions"], config().instructions);
    let mut replayed = Vec::new();
    for _ in 0..items {
        replayed.push(conn.recv().await);
    }
    (conn, replayed)
}

#[tokio::test]
async fn a_server_that_fails_every_replacement_ends_the_session_with_its_reason() {
    let mut server = FakeServer::start().await;
    let (mut session, conn, _) = connect(&mut server).await;
    conn.vanish();
    let mut ending = tokio::spawn(async move {
        let event = next(&mut session).await;
        (session, event)
    });
    // Three replacements within the minute, each closed at once; the third's end is the call's.
    for round in 0..3 {
        let mut accept = std::pin::pin!(handshake(&mut server));
        let (conn, _) = tokio::select! {
            handshake = &mut accept => handshake,
            ended = &mut ending => panic!("ended after {round} replacements: {ended:?}"),
        };
        conn.close_with(1011, "still failing").await;
    }
    let (mut session, event) = ending.await.unwrap();
    match event {
        RealtimeEvent::Closed {
            reason: Some(reason),
        } => assert!(
            reason.contains("1011") && reason.contains("still failing"),
            "{reason}"
        ),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(session.next_event().await, None);
}

#[tokio::test]
async fn a_vanished_server_is_replaced_and_the_session_goes_on() {
    let mut server = FakeServer::start().await;
    let (mut session, conn, _) = connect(&mut server).await;
    conn.vanish();
    let events = tokio::spawn(async move {
        // Nothing to report while the replacement connects: the next event is the new server's.
        let event = next(&mut session).await;
        (session, event)
    });
    let (mut conn, _) = replacement(&mut server, 0).await;
    conn.send(json!({ "type": "input_audio_buffer.speech_started", "item_id": "item_2" }))
        .await;
    let (mut session, event) = events.await.unwrap();
    assert_eq!(event, RealtimeEvent::SpeechStarted);
    session.send_audio(&frames(2)).await.unwrap();
    assert_eq!(conn.recv().await["type"], "input_audio_buffer.append");
    session.close().await.unwrap();
    conn.expect_close().await;
}

#[test]
fn cancelled_responses_report_no_half_made_tool_calls() {
    let mut out = Vec::new();
    map_server_event(
        &json!({
            "type": "response.done",
            "response": {
                "id": "resp_2", "status": "cancelled",
                "status_details": { "type": "cancelled", "reason": "turn_detected" },
                "output": [{ "type": "function_call", "status": "incomplete", "call_id": "c",
                             "name": "end_call", "arguments": "{\"rea" }]
            }
        }),
        &mut out,
    );
    assert_eq!(
        out,
        vec![RealtimeEvent::ResponseDone {
            response_id: Some("resp_2".into()),
            status: ResponseStatus::Cancelled
        }]
    );
}

#[test]
fn beta_event_names_are_not_mistaken_for_ga_ones() {
    let mut out = Vec::new();
    for beta in [
        json!({ "type": "response.audio.delta", "delta": frame(), "item_id": "i" }),
        json!({ "type": "response.audio_transcript.done", "transcript": "x" }),
    ] {
        map_server_event(&beta, &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
}

#[tokio::test]
async fn close_does_not_wait_forever_for_a_silent_server() {
    let mut server = FakeServer::start().await;
    let (mut session, conn, _) = connect(&mut server).await;
    // The server never reads again, so it never answers our close frame.
    let started = std::time::Instant::now();
    session.close().await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), session.next_event())
        .await
        .expect("Closed within the close timeout");
    assert_eq!(event, Some(RealtimeEvent::Closed { reason: None }));
    assert!(
        started.elapsed() >= CLOSE_TIMEOUT / 2,
        "it did wait for a reply first"
    );
    assert_eq!(session.next_event().await, None);
    drop(conn);
}

#[tokio::test]
async fn the_sixty_minute_limit_replaces_the_session_with_the_conversation_so_far() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect(&mut server).await;
    // Context injected without a response, and a turn each way, transcribed.
    session
        .inject_text(Role::User, "The caller is Ada.", false)
        .await
        .unwrap();
    session
        .inject_text(Role::User, "Greet the caller.", true)
        .await
        .unwrap();
    for _ in 0..3 {
        conn.recv().await;
    }
    conn.send(json!({
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_1", "content_index": 0, "transcript": "My boiler is leaking."
    }))
    .await;
    conn.send(json!({
        "type": "response.output_audio_transcript.done",
        "response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0,
        "transcript": "I can send someone today."
    }))
    .await;
    for _ in 0..2 {
        assert!(matches!(
            next(&mut session).await,
            RealtimeEvent::Transcript { is_final: true, .. }
        ));
    }
    let message = "Your session hit the maximum duration of 60 minutes.";
    conn.send(json!({
        "type": "error",
        "event_id": "event_1",
        "error": { "type": "invalid_request_error", "code": "session_expired", "message": message }
    }))
    .await;
    conn.close_with(1001, message).await;
    assert_eq!(
        next(&mut session).await,
        RealtimeEvent::Error {
            code: Some("session_expired".into()),
            message: message.into()
        }
    );
    let events = tokio::spawn(async move {
        let event = next(&mut session).await;
        (session, event)
    });
    // A new session, told the conversation so far, in order.
    let (mut conn, replayed) = replacement(&mut server, 3).await;
    let said: Vec<(&str, &str)> = replayed
        .iter()
        .map(|item| {
            assert_eq!(item["type"], "conversation.item.create");
            (
                item["item"]["role"].as_str().unwrap(),
                item["item"]["content"][0]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("user", "The caller is Ada."),
            ("user", "My boiler is leaking."),
            ("assistant", "I can send someone today.")
        ]
    );
    conn.send(json!({ "type": "input_audio_buffer.speech_started", "item_id": "item_9" }))
        .await;
    let (mut session, event) = events.await.unwrap();
    assert_eq!(event, RealtimeEvent::SpeechStarted);
    session.close().await.unwrap();
    conn.expect_close().await;
}

#[tokio::test]
async fn unbatched_caller_audio_passes_through_byte_for_byte() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect_with(&mut server, Duration::ZERO).await;
    assert_eq!(session.frames_per_send(), 1);
    let frame = frame();
    session.send_audio(&frame).await.unwrap();
    assert_eq!(
        conn.recv_text().await,
        format!(r#"{{"type":"input_audio_buffer.append","audio":"{frame}"}}"#)
    );
}

#[tokio::test]
async fn batched_audio_goes_before_any_other_message_and_at_close() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect(&mut server).await;

    // Half a batch, then a tool result: the model hears the caller first.
    session.send_audio(&frame()).await.unwrap();
    session
        .send_tool_result("call_1", "lookup_caller", "{}")
        .await
        .unwrap();
    let append = conn.recv().await;
    assert_eq!(append["type"], "input_audio_buffer.append");
    assert_eq!(append["audio"], frame());
    assert_eq!(conn.recv().await["type"], "conversation.item.create");
    assert_eq!(conn.recv().await, json!({ "type": "response.create" }));

    // A bad frame is refused alone; what was batched before it is kept.
    session.send_audio(&frame()).await.unwrap();
    assert!(matches!(
        session.send_audio("not base64!").await,
        Err(RealtimeError::InvalidAudio(_))
    ));
    // The rest of the caller's last words reach the model when the session closes.
    session.close().await.unwrap();
    assert_eq!(conn.recv().await["audio"], frame());
}

#[tokio::test]
async fn flush_audio_sends_a_partial_batch_at_once_and_nothing_when_empty() {
    let mut server = FakeServer::start().await;
    let (mut session, mut conn, _) = connect(&mut server).await;
    // The bridge is woken once per batch of two Twilio frames (40 ms).
    assert_eq!(session.frames_per_send(), 2);

    // Nothing held back: no message.
    session.flush_audio().await.unwrap();
    // One frame of a batch goes out when the bridge says the caller's socket is drained.
    session.send_audio(&frame()).await.unwrap();
    session.flush_audio().await.unwrap();
    let append = conn.recv().await;
    assert_eq!(append["type"], "input_audio_buffer.append");
    assert_eq!(append["audio"], frame());
    // A full batch goes by itself, and a flush after it sends nothing more.
    for _ in 0..2 {
        session.send_audio(&frame()).await.unwrap();
    }
    session.flush_audio().await.unwrap();
    session
        .inject_text(Role::User, "marker", false)
        .await
        .unwrap();
    assert_eq!(conn.recv().await["type"], "input_audio_buffer.append");
    assert_eq!(conn.recv().await["type"], "conversation.item.create");
}

#[test]
fn caller_audio_is_recognised_batched_or_not() {
    let unbatched = serde_json::to_string(&AppendAudio {
        kind: "input_audio_buffer.append",
        audio: "AAAA",
    })
    .unwrap();
    assert!(is_audio(&unbatched), "{unbatched}");
    assert!(is_audio(&format!("{APPEND_OPEN}AAAA\"}}")));
    assert!(!is_audio(
        &conversation_item(Role::User, "input_audio_buffer.append").to_string()
    ));
    assert!(!is_audio(r#"{"type":"response.create"}"#));
}
