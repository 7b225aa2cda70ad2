use std::time::Duration;

use loquent_ai::realtime::{
    AudioFormat, OpenAiRealtime, Provider, RealtimeConfig, RealtimeError, RealtimeEvent,
    RealtimeSession, ResponseStatus, Role, TurnDetection,
};
use loquent_sandbox::speech::{self, Phrase};
use serde_json::{Value, json};

use crate::common::*;

fn config(model: &str) -> RealtimeConfig {
    RealtimeConfig {
        model: model.to_owned(),
        // A short end-of-turn silence keeps the test quick.
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 200,
        },
        tools: vec![end_call_tool()],
        ..RealtimeConfig::for_provider(Provider::OpenAi)
    }
}

fn client(sandbox: &loquent_sandbox::SandboxHandle) -> OpenAiRealtime {
    OpenAiRealtime::new(sandbox.openai_base_url(), "sk-sandbox")
        .with_input_transcription("gpt-4o-mini-transcribe")
}

/// A call from the browser: PCM16 24 kHz both ways, no conversion.
#[tokio::test]
async fn a_browser_call_speaks_pcm_at_24_khz_both_ways() {
    let sandbox = sandbox().await;
    let web = RealtimeConfig {
        audio_format: AudioFormat::Pcm24k,
        ..config("gpt-realtime")
    };
    let mut session = client(&sandbox)
        .connect(&web)
        .await
        .expect("connects and confirms audio/pcm");
    let sent = &connections(&sandbox).await[0];
    assert!(
        sent.to_string().contains(r#""rate":24000"#),
        "asked for 24 kHz: {sent}"
    );
    let session: &mut dyn RealtimeSession = &mut session;
    say_pcm24k(session, Phrase::Hello).await;
    let turn = until(session, "the reply", is_response_done).await;
    assert!(turn.contains(&RealtimeEvent::Transcript {
        role: Role::User,
        text: "Hello.".into(),
        is_final: true
    }));
    let pcm = pcm24k(&audio(&turn));
    assert!(pcm.len() >= 600 * 24, "only {} ms of audio", pcm.len() / 24);
    assert!(
        speech::is_agent_voice(&pcm, 24_000),
        "the agent's voice at 24 kHz"
    );
    session.close().await.unwrap();
}

#[tokio::test]
async fn a_whole_call_with_barge_in_and_a_tool_call() {
    let sandbox = sandbox().await;
    let mut session = client(&sandbox)
        .connect(&config("gpt-realtime"))
        .await
        .expect("connects and confirms audio/pcmu");
    let session: &mut dyn RealtimeSession = &mut session;

    // The agent speaks first when asked to.
    session
        .inject_text(Role::User, "Greet the caller.", true)
        .await
        .unwrap();
    let greeting = until(session, "the greeting", is_response_done).await;
    assert_agent_voice(&audio(&greeting), 600);

    // A caller turn: VAD, the caller's transcript, a spoken reply in µ-law at the agent's pitch.
    say(session, Phrase::Hello).await;
    let turn = until(session, "the reply", is_response_done).await;
    assert_eq!(turn[0], RealtimeEvent::SpeechStarted, "{turn:#?}");
    assert!(turn.contains(&RealtimeEvent::Transcript {
        role: Role::User,
        text: "Hello.".into(),
        is_final: true
    }));
    assert!(
        turn.iter()
            .any(|e| matches!(e, RealtimeEvent::ResponseStarted { .. }))
    );
    assert_agent_voice(&audio(&turn), 600);
    assert_eq!(
        turn.last(),
        Some(&RealtimeEvent::ResponseDone {
            response_id: audio(&turn)[0].response_id.clone(),
            status: ResponseStatus::Completed
        })
    );
    assert!(turn.contains(&RealtimeEvent::Transcript {
        role: Role::Assistant,
        text: "Hi! How can I help you today?".into(),
        is_final: true
    }));

    // A question gets a long answer; the caller talks over it.
    say(session, Phrase::Question).await;
    let answer = until(session, "the answer's audio", |e| {
        matches!(e, RealtimeEvent::AudioDelta(_))
    })
    .await;
    let first = audio(&answer)[0].clone();
    let item_id = first.item_id.clone().expect("OpenAI audio has an item id");
    let mut heard = first.decoded_len();
    for frame in utterance(Phrase::Hello, 200, 0) {
        session.send_audio(&frame).await.unwrap();
    }
    let barge_in = until(session, "the cancelled answer", is_response_done).await;
    heard += audio(&barge_in)
        .iter()
        .map(|chunk| chunk.decoded_len())
        .sum::<usize>();
    assert!(barge_in.contains(&RealtimeEvent::SpeechStarted));
    assert_eq!(
        barge_in.last(),
        Some(&RealtimeEvent::ResponseDone {
            response_id: first.response_id.clone(),
            status: ResponseStatus::Cancelled
        })
    );
    let heard_ms = u32::try_from(heard / 8).unwrap();
    assert!(
        heard_ms < 2_000,
        "the answer was cut short at {heard_ms} ms"
    );

    // The model is told what was heard; more than was sent is refused, as OpenAI does.
    session.truncate(&item_id, heard_ms).await.unwrap();
    session.truncate(&item_id, heard_ms + 5_000).await.unwrap();
    let refused = until(session, "the truncate error", |e| {
        matches!(e, RealtimeEvent::Error { .. })
    })
    .await;
    match refused.last() {
        Some(RealtimeEvent::Error { code, message }) => {
            assert_eq!(code.as_deref(), Some("invalid_value"));
            assert!(message.contains("shorter than"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // The caller finishes the interrupting turn; it is answered.
    for frame in utterance(Phrase::Hello, 0, 300) {
        session.send_audio(&frame).await.unwrap();
    }
    let answered = until(session, "the answer to the interruption", is_response_done).await;
    assert_agent_voice(&audio(&answered), 600);

    // Goodbye: the declared end_call tool is called with arguments from its schema.
    say(session, Phrase::EndCall).await;
    let call = until(session, "the tool call", |e| {
        matches!(e, RealtimeEvent::ToolCall { .. })
    })
    .await;
    assert!(audio(&call).is_empty(), "a tool call is not spoken");
    let Some(RealtimeEvent::ToolCall {
        call_id,
        name,
        arguments,
    }) = call.last().cloned()
    else {
        unreachable!()
    };
    assert_eq!(name, "end_call");
    let arguments: Value = serde_json::from_str(&arguments).unwrap();
    assert!(arguments["reason"].is_string(), "{arguments}");
    // The tool-call response itself ends right after the call.
    assert!(matches!(
        next(session).await,
        RealtimeEvent::ResponseDone {
            status: ResponseStatus::Completed,
            ..
        }
    ));
    session
        .send_tool_result(&call_id, &name, r#"{"ok":true}"#)
        .await
        .unwrap();
    let farewell = until(session, "the farewell", is_response_done).await;
    assert_agent_voice(&audio(&farewell), 500);
    assert!(farewell.contains(&RealtimeEvent::Transcript {
        role: Role::Assistant,
        text: "Thanks for calling, goodbye.".into(),
        is_final: true
    }));

    session.close().await.unwrap();
    assert_eq!(
        until(session, "Closed", |e| matches!(
            e,
            RealtimeEvent::Closed { .. }
        ))
        .await
        .last(),
        Some(&RealtimeEvent::Closed { reason: None })
    );
    assert_eq!(session.next_event().await, None);

    // What the emulator saw: the truncation it honoured, with the client's exact value.
    let log = connections(&sandbox).await;
    let sent = log[0]["sent"].as_array().unwrap();
    let truncated: Vec<&Value> = sent
        .iter()
        .filter(|event| event["type"] == "conversation.item.truncated")
        .collect();
    assert_eq!(truncated.len(), 1);
    assert_eq!(truncated[0]["item_id"], json!(item_id));
    assert_eq!(truncated[0]["audio_end_ms"], json!(heard_ms));
    assert_eq!(log[0]["ended"], "client closed");
}

#[tokio::test]
async fn echo_mode_returns_every_batch_at_once() {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let sandbox = sandbox().await;
    let mut session = client(&sandbox)
        .connect(&config("sandbox-echo"))
        .await
        .unwrap();
    // The session sends 40 ms per append: two Twilio frames come back as one delta, and a
    // shorter tail as soon as it is flushed.
    let batch = session.frames_per_send();
    assert_eq!(batch, 2);
    let frames = utterance(Phrase::Transfer, 120, 0);
    for chunk in frames.chunks(batch) {
        let mut sent = Vec::new();
        for frame in chunk {
            session.send_audio(frame).await.unwrap();
            sent.extend(base64.decode(frame).unwrap());
        }
        if chunk.len() < batch {
            session.flush_audio().await.unwrap();
        }
        match next(&mut session).await {
            RealtimeEvent::AudioDelta(chunk) => {
                assert_eq!(base64.decode(&chunk.payload).unwrap(), sent);
            }
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn faults_surface_as_typed_errors_and_events() {
    let sandbox = sandbox().await;

    // No key: the upgrade is refused with 401.
    let error = OpenAiRealtime::new(sandbox.openai_base_url(), "")
        .connect(&config("gpt-realtime"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RealtimeError::Connect { message, .. } if message.contains("401")),
        "{error}"
    );

    // A server slower than the setup timeout.
    let error = client(&sandbox)
        .with_setup_timeout(Duration::from_millis(300))
        .connect(&config("sandbox-slow-start"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RealtimeError::Connect { message, .. } if message.contains("no session.updated")),
        "{error}"
    );

    // A server error is an event; the session stays open.
    let mut session = client(&sandbox)
        .connect(&config("sandbox-error"))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::Error { code: Some(code), .. } if code == "server_error"
    ));
    session
        .inject_text(Role::User, "Still there?", true)
        .await
        .unwrap();
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::ResponseStarted { .. }
    ));

    // A connection that drops every time: replaced three times, then the session ends with a
    // reason.
    let mut session = client(&sandbox)
        .connect(&config("sandbox-drop"))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::Closed { reason: Some(_) }
    ));
    assert_eq!(session.next_event().await, None);

    // Every session of this model reaches the 60-minute limit early: each is replaced, three
    // times a minute at most, and then the session ends saying why.
    let mut session = client(&sandbox)
        .connect(&config("sandbox-expire"))
        .await
        .unwrap();
    let events = until(&mut session, "the end of the session", |e| {
        matches!(e, RealtimeEvent::Closed { .. })
    })
    .await;
    let expired = events
        .iter()
        .filter(|e| matches!(e, RealtimeEvent::Error { code: Some(code), .. } if code == "session_expired"))
        .count();
    assert_eq!(expired, 4, "{events:#?}");
    assert!(
        matches!(events.last(), Some(RealtimeEvent::Closed { reason: Some(reason) }) if reason.starts_with("session_expired")),
        "{events:#?}"
    );

    // One session reaches the limit: the replacement is told the conversation so far and the
    // call goes on.
    queue_faults(
        &sandbox,
        json!({ "provider": "openai", "connections": 1, "faults": { "expire_after_ms": 200 } }),
    )
    .await;
    let mut session = client(&sandbox)
        .connect(&config("gpt-realtime"))
        .await
        .unwrap();
    session
        .inject_text(Role::User, "The caller is Ada Lovelace.", false)
        .await
        .unwrap();
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::Error { code: Some(code), .. } if code == "session_expired"
    ));
    session.inject_text(Role::User, "Hi", true).await.unwrap();
    let turn = until(&mut session, "a reply from the replacement", |e| {
        matches!(e, RealtimeEvent::ResponseStarted { .. })
    })
    .await;
    assert!(
        !turn
            .iter()
            .any(|e| matches!(e, RealtimeEvent::Closed { .. })),
        "{turn:#?}"
    );
    let log = connections(&sandbox).await;
    let replacement = log.last().unwrap();
    let told: Vec<&str> = replacement["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["item"]["content"][0]["text"].as_str())
        .collect();
    assert_eq!(told, ["The caller is Ada Lovelace.", "Hi"], "{replacement}");

    // Faults queued through the control API apply to the next connection only.
    queue_faults(
        &sandbox,
        json!({ "provider": "openai", "connections": 1, "faults": { "error_after_ms": 10 } }),
    )
    .await;
    let mut faulty = client(&sandbox)
        .connect(&config("gpt-realtime"))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut faulty).await,
        RealtimeEvent::Error { .. }
    ));
    let mut healthy = client(&sandbox)
        .connect(&config("gpt-realtime"))
        .await
        .unwrap();
    healthy.inject_text(Role::User, "Hi", true).await.unwrap();
    assert!(matches!(
        next(&mut healthy).await,
        RealtimeEvent::ResponseStarted { .. }
    ));
}
