use std::time::Duration;

use loquent_ai::realtime::{
    AudioFormat, GeminiLive, Provider, RealtimeConfig, RealtimeError, RealtimeEvent,
    RealtimeSession, ResponseStatus, Role, TurnDetection,
};
use loquent_sandbox::speech::{self, Phrase};
use serde_json::{Value, json};

use crate::common::*;

fn config(model: &str) -> RealtimeConfig {
    RealtimeConfig {
        model: model.to_owned(),
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 200,
        },
        tools: vec![end_call_tool()],
        ..RealtimeConfig::for_provider(Provider::Gemini)
    }
}

fn live(sandbox: &loquent_sandbox::SandboxHandle) -> GeminiLive {
    GeminiLive::new(sandbox.gemini_base_url(), "sandbox-key")
}

fn transcript(events: &[RealtimeEvent], role: Role) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            RealtimeEvent::Transcript { role: r, text, .. } if *r == role => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A call from the browser: PCM16 24 kHz in (resampled to 16 kHz for Gemini), Gemini's own
/// 24 kHz out, untouched.
#[tokio::test]
async fn a_browser_call_speaks_pcm_at_24_khz_both_ways() {
    let sandbox = sandbox().await;
    let web = RealtimeConfig {
        audio_format: AudioFormat::Pcm24k,
        ..config("gemini-sandbox")
    };
    let mut session = live(&sandbox).connect(&web).await.expect("setupComplete");
    let session: &mut dyn RealtimeSession = &mut session;
    say_pcm24k(session, Phrase::Hello).await;
    let turn = until(session, "the reply", is_response_done).await;
    assert_eq!(transcript(&turn, Role::User), "Hello.");
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
    let mut session = live(&sandbox)
        .connect(&config("gemini-sandbox"))
        .await
        .expect("setupComplete");
    let session: &mut dyn RealtimeSession = &mut session;

    // A caller turn: PCM16 16 kHz up, PCM16 24 kHz agent voice down, converted to µ-law 8 kHz.
    say(session, Phrase::Hello).await;
    let turn = until(session, "the reply", is_response_done).await;
    assert_eq!(transcript(&turn, Role::User), "Hello.");
    assert_eq!(
        transcript(&turn, Role::Assistant),
        "Hi! How can I help you today?"
    );
    assert!(
        matches!(
            turn[..],
            [
                RealtimeEvent::Transcript { .. },
                RealtimeEvent::ResponseStarted { .. },
                ..
            ]
        ),
        "{turn:#?}"
    );
    // The resampler's filter delay holds back a few ms; the rest is the agent's 600 ms.
    assert_agent_voice(&audio(&turn), 550);
    assert_eq!(
        turn.last(),
        Some(&RealtimeEvent::ResponseDone {
            response_id: None,
            status: ResponseStatus::Completed
        })
    );

    // A long answer, and the caller talks over it: Gemini reports `interrupted`.
    say(session, Phrase::Question).await;
    until(session, "the answer's audio", |e| {
        matches!(e, RealtimeEvent::AudioDelta(_))
    })
    .await;
    for frame in utterance(Phrase::Hello, 200, 300) {
        session.send_audio(&frame).await.unwrap();
    }
    let barge_in = until(session, "the cancelled answer", is_response_done).await;
    assert!(
        barge_in.contains(&RealtimeEvent::SpeechStarted),
        "{barge_in:#?}"
    );
    assert_eq!(
        barge_in.last(),
        Some(&RealtimeEvent::ResponseDone {
            response_id: None,
            status: ResponseStatus::Cancelled
        })
    );
    // Gemini keeps its own idea of what was heard: truncation is a no-op that must not fail.
    session.truncate("ignored", 100).await.unwrap();
    let answered = until(session, "the answer to the interruption", is_response_done).await;
    assert_agent_voice(&audio(&answered), 550);

    // Goodbye: a tool call with an id, then the reply after the tool's result.
    say(session, Phrase::EndCall).await;
    let call = until(session, "the tool call", |e| {
        matches!(e, RealtimeEvent::ToolCall { .. })
    })
    .await;
    let Some(RealtimeEvent::ToolCall {
        call_id,
        name,
        arguments,
    }) = call.last().cloned()
    else {
        unreachable!()
    };
    assert_eq!(name, "end_call");
    assert!(!call_id.is_empty());
    let arguments: Value = serde_json::from_str(&arguments).unwrap();
    assert!(arguments["reason"].is_string(), "{arguments}");
    session
        .send_tool_result(&call_id, &name, r#"{"ok":true}"#)
        .await
        .unwrap();
    let farewell = until(session, "the farewell", is_response_done).await;
    assert_agent_voice(&audio(&farewell), 450);
    assert_eq!(
        transcript(&farewell, Role::Assistant),
        "Thanks for calling, goodbye."
    );

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

    // The emulator saw batched audio (more than one 20 ms frame per message) and an object
    // tool response.
    let log = connections(&sandbox).await;
    let received = log[0]["received"].as_array().unwrap();
    assert!(received[0].get("setup").is_some());
    let audio_messages = received
        .iter()
        .filter(|m| m["realtimeInput"].get("audio").is_some())
        .count();
    let frames =
        3 * utterance(Phrase::Hello, 300, 300).len() + utterance(Phrase::Hello, 200, 300).len();
    assert!(
        audio_messages * 2 < frames,
        "{audio_messages} messages for {frames} frames"
    );
    let tool_response = received
        .iter()
        .find(|m| m.get("toolResponse").is_some())
        .unwrap();
    assert_eq!(
        tool_response["toolResponse"]["functionResponses"][0],
        json!({ "id": call_id, "name": "end_call", "response": { "ok": true } })
    );
}

#[tokio::test]
async fn a_session_survives_go_away_by_resuming() {
    let sandbox = sandbox().await;
    // `go-away`: the first connection gets `goAway` a second after setup.
    let mut session = live(&sandbox)
        .connect(&config("sandbox-go-away"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    say(&mut session, Phrase::Hello).await;
    let turn = until(&mut session, "a reply after resuming", is_response_done).await;
    assert_agent_voice(&audio(&turn), 550);
    assert!(
        !turn.iter().any(|e| matches!(
            e,
            RealtimeEvent::Closed { .. } | RealtimeEvent::Error { .. }
        )),
        "{turn:#?}"
    );

    let log = connections(&sandbox).await;
    assert_eq!(log.len(), 2, "one resumption");
    let sent_go_away = log[0]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m.get("goAway").is_some());
    assert!(sent_go_away);
    let first_handle = log[0]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["sessionResumptionUpdate"]["newHandle"].as_str())
        .next_back()
        .unwrap()
        .to_owned();
    assert_eq!(
        log[1]["received"][0]["setup"]["sessionResumption"]["handle"],
        json!(first_handle)
    );
    // The caller's audio went to the new connection.
    assert!(
        log[1]["received"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.get("realtimeInput").is_some())
    );
    session.close().await.unwrap();
}

#[tokio::test]
async fn echo_mode_returns_the_callers_audio() {
    let sandbox = sandbox().await;
    let mut session = live(&sandbox)
        .with_uplink_batch(Duration::from_millis(20))
        .connect(&config("sandbox-echo"))
        .await
        .unwrap();
    for frame in utterance(Phrase::LookupCaller, 200, 0) {
        session.send_audio(&frame).await.unwrap();
    }
    let mut events = Vec::new();
    let mut chunks = 0;
    while chunks < 10 {
        let event = next(&mut session).await;
        chunks += usize::from(matches!(event, RealtimeEvent::AudioDelta(_)));
        events.push(event);
    }
    // 8 kHz → 16 kHz → (echo) 24 kHz → 8 kHz: the caller's phrase comes back recognisable.
    let pcm = pcm(&audio(&events));
    assert!(pcm.len() >= 1_400, "{} samples", pcm.len());
    assert_eq!(
        speech::recognise(&pcm[400..], speech::SAMPLE_RATE),
        Some(Phrase::LookupCaller)
    );
}

#[tokio::test]
async fn faults_surface_as_typed_errors_and_events() {
    let sandbox = sandbox().await;

    // No key: refused before the upgrade.
    let error = GeminiLive::new(sandbox.gemini_base_url(), "")
        .connect(&config("gemini-sandbox"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RealtimeError::Connect { message, .. } if message.contains("403")),
        "{error}"
    );

    let error = live(&sandbox)
        .with_setup_timeout(Duration::from_millis(300))
        .connect(&config("sandbox-slow-start"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RealtimeError::Connect { message, .. } if message.contains("no setupComplete")),
        "{error}"
    );

    // Gemini's fatal errors are close frames. A connection that fails again after each
    // resumption ends the session with its reason.
    let mut session = live(&sandbox)
        .connect(&config("sandbox-error"))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::Closed { reason: Some(reason) } if reason.contains("1011")
    ));

    let mut session = live(&sandbox)
        .connect(&config("sandbox-drop"))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut session).await,
        RealtimeEvent::Closed { reason: Some(_) }
    ));
    assert_eq!(session.next_event().await, None);

    // Through the control API, one failing connection (an error close, or the TCP connection
    // dropped): the session resumes on a new one with its handle and carries on.
    for faults in [
        json!({ "error_after_ms": 100 }),
        json!({ "drop_after_ms": 100 }),
    ] {
        queue_faults(
            &sandbox,
            json!({ "provider": "gemini", "connections": 1, "faults": faults }),
        )
        .await;
        let mut session = live(&sandbox)
            .connect(&config("gemini-sandbox"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        session
            .inject_text(Role::User, "Greet the caller.", true)
            .await
            .unwrap();
        let turn = until(&mut session, "a reply after resuming", is_response_done).await;
        assert!(
            !turn
                .iter()
                .any(|e| matches!(e, RealtimeEvent::Closed { .. })),
            "{faults}: {turn:#?}"
        );
    }
}
