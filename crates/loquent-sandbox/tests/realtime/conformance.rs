use loquent_ai::realtime::{
    OpenAiRealtime, Provider, RealtimeConfig, RealtimeEvent, RealtimeSession, ResponseStatus, Role,
    ToolSpec, TurnDetection,
};
use loquent_sandbox::speech::Phrase;
use serde_json::{Value, json};

use crate::common::*;
use crate::schema::Spec;

/// The validator itself: a checker that accepts everything would make every conformance test
/// pass vacuously.
#[test]
fn the_validator_rejects_what_a_schema_forbids() {
    let spec = Spec::from_schemas(json!({
        "Event": {
            "type": "object",
            "properties": {
                "type": { "type": "string", "enum": ["a.b"] },
                "ms": { "type": "integer", "minimum": 0 },
                "part": { "$ref": "#/components/schemas/Part" },
                "tags": { "type": "array", "items": { "type": "string" }, "maxItems": 2 },
                "either": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
                "maybe": { "anyOf": [{ "type": "string", "maxLength": 3 }, { "type": "null" }] }
            },
            "required": ["type", "ms"]
        },
        "Part": { "type": "object", "properties": { "kind": { "const": "x" } }, "additionalProperties": false },
        "Union": { "anyOf": [{ "$ref": "#/components/schemas/Event" }] }
    }));
    let good = json!({ "type": "a.b", "ms": 5, "part": { "kind": "x" }, "tags": ["t"], "either": 1, "maybe": null });
    assert_eq!(spec.validate("Event", &good), Ok(()));
    assert_eq!(spec.validate_event("Union", &good), Ok(()));
    let bad = [
        (json!({ "type": "a.b" }), "missing required property \"ms\""),
        (json!({ "type": "a.c", "ms": 1 }), "is not one of"),
        (json!({ "type": "a.b", "ms": 1.5 }), "expected integer"),
        (json!({ "type": "a.b", "ms": -1 }), "below the minimum"),
        (
            json!({ "type": "a.b", "ms": 1, "part": { "kind": "y" } }),
            "expected \"x\"",
        ),
        (
            json!({ "type": "a.b", "ms": 1, "part": { "other": 1 } }),
            "not allowed",
        ),
        (
            json!({ "type": "a.b", "ms": 1, "tags": ["a", 2] }),
            "$.tags[1]: expected string",
        ),
        (
            json!({ "type": "a.b", "ms": 1, "tags": ["a", "b", "c"] }),
            "more than 2 items",
        ),
        (
            json!({ "type": "a.b", "ms": 1, "either": true }),
            "matches 0 of the 2 oneOf",
        ),
        (
            json!({ "type": "a.b", "ms": 1, "maybe": "long" }),
            "none of the 2 anyOf",
        ),
    ];
    for (value, expected) in bad {
        let errors = spec.validate("Event", &value).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{value}: {errors:?}"
        );
    }
    let unknown = spec
        .validate_event("Union", &json!({ "type": "z" }))
        .unwrap_err();
    assert!(unknown[0].contains("no event type \"z\""));
}

#[test]
fn the_spec_refuses_beta_events_and_shapes() {
    let spec = Spec::load();
    // The beta names are not GA server events.
    for beta in [
        "response.audio.delta",
        "response.audio_transcript.done",
        "response.text.delta",
    ] {
        let event = json!({ "type": beta, "event_id": "e", "response_id": "r", "item_id": "i",
                            "output_index": 0, "content_index": 0, "delta": "AA==" });
        assert!(
            spec.validate_event("RealtimeServerEvent", &event).is_err(),
            "{beta}"
        );
    }
    // A GA delta without its audio is not valid either.
    let missing = json!({ "type": "response.output_audio.delta", "event_id": "e", "response_id": "r",
                          "item_id": "i", "output_index": 0, "content_index": 0 });
    let errors = spec
        .validate_event("RealtimeServerEvent", &missing)
        .unwrap_err();
    assert!(errors.iter().any(|e| e.contains("\"delta\"")), "{errors:?}");
    // A truncation must give its end as an integer.
    let float = json!({ "type": "conversation.item.truncate", "item_id": "i", "content_index": 0,
                        "audio_end_ms": 1.5 });
    assert!(spec.validate_event("RealtimeClientEvent", &float).is_err());
}

#[test]
fn our_clients_session_update_is_the_ga_shape() {
    let spec = Spec::load();
    let config = RealtimeConfig {
        tools: vec![ToolSpec {
            name: "end_call".to_owned(),
            description: "Hang up.".to_owned(),
            parameters: json!({ "type": "object", "properties": {} }),
        }],
        ..RealtimeConfig::default()
    };
    for client in [
        OpenAiRealtime::new("https://x/v1", "k"),
        OpenAiRealtime::new("https://x/v1", "k").with_input_transcription("gpt-4o-mini-transcribe"),
    ] {
        let update = client.session_update(&config);
        assert_eq!(spec.validate_event("RealtimeClientEvent", &update), Ok(()));
    }
    let semantic = RealtimeConfig {
        turn_detection: TurnDetection::SemanticVad {
            eagerness: Default::default(),
        },
        ..RealtimeConfig::default()
    };
    let update = OpenAiRealtime::new("https://x/v1", "k").session_update(&semantic);
    assert_eq!(spec.validate_event("RealtimeClientEvent", &update), Ok(()));
}

async fn next(session: &mut dyn RealtimeSession) -> RealtimeEvent {
    tokio::time::timeout(std::time::Duration::from_secs(5), session.next_event())
        .await
        .expect("an event in time")
        .expect("the session is open")
}

async fn until_done(session: &mut dyn RealtimeSession) -> Vec<RealtimeEvent> {
    let mut events = Vec::new();
    loop {
        let event = next(session).await;
        let done = matches!(event, RealtimeEvent::ResponseDone { .. });
        events.push(event);
        if done {
            return events;
        }
    }
}

/// Every event of a whole call, both directions, against the published schemas: our client's
/// and the emulator's.
#[tokio::test]
async fn every_event_of_a_whole_openai_call_conforms() {
    let sandbox = sandbox().await;
    let config = RealtimeConfig {
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 200,
        },
        tools: vec![ToolSpec {
            name: "end_call".to_owned(),
            description: "Hang up.".to_owned(),
            parameters: json!({ "type": "object", "properties": { "reason": { "type": "string" } } }),
        }],
        ..RealtimeConfig::for_provider(Provider::OpenAi)
    };
    let mut session = OpenAiRealtime::new(sandbox.openai_base_url(), "sk-sandbox")
        .with_input_transcription("gpt-4o-mini-transcribe")
        .connect(&config)
        .await
        .unwrap();
    let session: &mut dyn RealtimeSession = &mut session;
    session
        .inject_text(Role::User, "Greet the caller.", true)
        .await
        .unwrap();
    until_done(session).await;

    for frame in mulaw_frames(Phrase::Question, 300, 300) {
        session.send_audio(&frame).await.unwrap();
    }
    let item_id = loop {
        if let RealtimeEvent::AudioDelta(chunk) = next(session).await {
            break chunk.item_id.unwrap();
        }
    };
    for frame in mulaw_frames(Phrase::EndCall, 300, 300) {
        session.send_audio(&frame).await.unwrap();
    }
    let cut = until_done(session).await;
    assert!(cut.contains(&RealtimeEvent::SpeechStarted));
    session.truncate(&item_id, 50).await.unwrap();
    let call = loop {
        if let RealtimeEvent::ToolCall { call_id, name, .. } = next(session).await {
            break (call_id, name);
        }
    };
    session
        .send_tool_result(&call.0, &call.1, r#"{"hung_up":true}"#)
        .await
        .unwrap();
    let farewell = until_done(session).await;
    assert!(farewell.iter().any(|e| matches!(
        e,
        RealtimeEvent::ResponseDone {
            status: ResponseStatus::Completed,
            ..
        }
    )));
    session.close().await.unwrap();
    while session.next_event().await.is_some() {}

    let log = connections(&sandbox).await;
    let sent: Vec<&str> = log[0]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    // The call exercised every kind of event the emulator sends in a normal call.
    for kind in [
        "session.created",
        "session.updated",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
        "conversation.item.truncated",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    ] {
        assert!(sent.contains(&kind), "no {kind} in {sent:?}");
    }
    let checked = assert_openai_conforms(&sandbox, true).await;
    assert!(checked > 50, "only {checked} events checked");
    let cancelled: Vec<&Value> = log[0]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "response.done" && e["response"]["status"] == "cancelled")
        .collect();
    assert_eq!(
        cancelled[0]["response"]["status_details"]["reason"],
        "turn_detected"
    );
}
