use std::time::Duration;

use loquent_sandbox::speech::Phrase;
use serde_json::json;

use crate::common::*;

fn ga_update() -> serde_json::Value {
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {
                "input": {
                    "format": { "type": "audio/pcmu" },
                    "turn_detection": { "type": "server_vad", "silence_duration_ms": 200 },
                    "transcription": { "model": "gpt-4o-mini-transcribe" }
                },
                "output": { "format": { "type": "audio/pcmu" }, "voice": "cedar" }
            },
            "tools": [{ "type": "function", "name": "lookup_caller", "description": "Who is calling",
                        "parameters": { "type": "object", "properties": { "phone": { "type": "string" } } } }]
        }
    })
}

#[tokio::test]
async fn the_upgrade_needs_a_bearer_token() {
    let sandbox = sandbox().await;
    let url = ws_url(&sandbox.openai_base_url(), "/realtime?model=gpt-realtime");
    for headers in [
        &[][..],
        &[("authorization", "Basic abc")][..],
        &[("authorization", "Bearer ")][..],
    ] {
        let error = connect(&url, headers).await.err().expect("refused");
        assert_eq!(refused_status(&error), 401);
    }
    assert!(
        connect(&url, &[("authorization", "Bearer sk-x")])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn echo_mode_sends_each_append_straight_back_unchanged() {
    let sandbox = sandbox().await;
    let mut ws = openai(&sandbox, "sandbox-echo").await;
    assert_eq!(ws.recv().await["type"], "session.created");
    // µ-law as a Twilio bridge forwards it: the bytes must come back exactly, chunk by chunk
    // (the live-call benchmark matches its frames by their bytes).
    let chunks = [
        "AAECAwQFBgcICQ==",
        "/+Xq8PHy8/T19vf4+fr7/P3+/w==",
        "f39/fw==",
    ];
    for chunk in chunks {
        ws.send(json!({ "type": "input_audio_buffer.append", "audio": chunk }))
            .await;
    }
    for chunk in chunks {
        let delta = ws.recv().await;
        assert_eq!(delta["type"], "response.output_audio.delta");
        assert_eq!(delta["delta"], chunk);
    }
    // Nothing else: no VAD events, no responses.
    ws.quiet(Duration::from_millis(300)).await;
    // Audio that is not base64 is refused as without echo.
    ws.send(json!({ "type": "input_audio_buffer.append", "audio": "not base64!" }))
        .await;
    let error = ws.recv().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "invalid_value");
    assert_openai_conforms(&sandbox, false).await;
}

#[tokio::test]
async fn sessions_start_with_the_documented_defaults_and_echo_the_applied_update() {
    let sandbox = sandbox().await;
    let mut ws = openai(&sandbox, "gpt-realtime").await;
    let created = ws.recv().await;
    assert_eq!(created["type"], "session.created");
    let session = &created["session"];
    assert_eq!(session["type"], "realtime");
    assert_eq!(session["model"], "gpt-realtime");
    // Without an update the model speaks PCM 24 kHz: the trap PROTOCOLS.md §1.3 warns about.
    assert_eq!(
        session["audio"]["output"]["format"],
        json!({ "type": "audio/pcm", "rate": 24000 })
    );

    ws.send(ga_update()).await;
    let updated = ws.recv().await;
    assert_eq!(updated["type"], "session.updated");
    let session = &updated["session"];
    assert_eq!(
        session["audio"]["input"]["format"],
        json!({ "type": "audio/pcmu" })
    );
    assert_eq!(
        session["audio"]["output"]["format"],
        json!({ "type": "audio/pcmu" })
    );
    assert_eq!(session["audio"]["output"]["voice"], "cedar");
    assert_eq!(
        session["audio"]["input"]["turn_detection"]["silence_duration_ms"],
        200
    );
    assert_eq!(session["tools"][0]["name"], "lookup_caller");
    // Fields absent from the update keep their values.
    assert_eq!(session["audio"]["output"]["speed"], 1);
    assert_eq!(session["tool_choice"], "auto");
    assert_openai_conforms(&sandbox, true).await;
}

#[tokio::test]
async fn beta_clients_fail_as_they_do_against_the_real_service() {
    let sandbox = sandbox().await;
    let url = ws_url(
        &sandbox.openai_base_url(),
        "/realtime?model=gpt-4o-realtime-preview",
    );

    // The beta header: an error, and never a session.created.
    let mut ws = connect(
        &url,
        &[
            ("authorization", "Bearer sk-x"),
            ("openai-beta", "realtime=v1"),
        ],
    )
    .await
    .unwrap();
    let error = ws.recv().await;
    assert_eq!(error["error"]["code"], "invalid_beta");
    ws.quiet(Duration::from_millis(200)).await;

    // The flat beta session shape: an error naming it, then close code 4000.
    let mut ws = openai(&sandbox, "gpt-realtime").await;
    ws.event("session.created").await;
    ws.send(json!({ "type": "session.update", "session": {
        "modalities": ["text", "audio"], "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"
    } }))
    .await;
    let error = ws.recv().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "beta_api_shape_disabled");
    assert_eq!(ws.closed().await.0, 4000);
    assert_openai_conforms(&sandbox, false).await;
}

#[tokio::test]
async fn bad_updates_get_errors_and_leave_the_socket_open() {
    let sandbox = sandbox().await;
    let mut ws = openai(&sandbox, "gpt-realtime").await;
    ws.event("session.created").await;
    let cases = [
        (
            json!({ "audio": { "output": { "format": { "type": "audio/pcmu" } } } }),
            "missing_required_parameter",
            "session.type",
        ),
        (
            json!({ "type": "transcription" }),
            "invalid_value",
            "session.type",
        ),
        (
            json!({ "type": "realtime", "speed_of_light": 1 }),
            "unknown_parameter",
            "session.speed_of_light",
        ),
        (
            json!({ "type": "realtime", "audio": { "input": { "format": { "type": "audio/pcm", "rate": 16000 } } } }),
            "invalid_value",
            "session.audio.input.format",
        ),
        (
            json!({ "type": "realtime", "output_modalities": ["text", "audio"] }),
            "invalid_value",
            "session.output_modalities",
        ),
    ];
    for (session, code, param) in cases {
        ws.send(
            json!({ "type": "session.update", "event_id": "evt_client_1", "session": session }),
        )
        .await;
        let error = ws.recv().await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["code"], code, "{error}");
        assert_eq!(error["error"]["param"], param, "{error}");
        assert_eq!(
            error["error"]["event_id"], "evt_client_1",
            "errors name the client event"
        );
    }
    // Still open, still on its defaults, and a good update works.
    ws.send(ga_update()).await;
    assert_eq!(ws.recv().await["type"], "session.updated");
    assert_openai_conforms(&sandbox, false).await;
}

#[tokio::test]
async fn vad_turns_tool_calls_and_truncation_bounds() {
    let sandbox = sandbox().await;
    let mut ws = openai(&sandbox, "gpt-realtime").await;
    ws.send(ga_update()).await;
    ws.event("session.updated").await;

    // 400 ms of silence, then the phrase: speech starts 400 ms in, less the 300 ms padding.
    let mut frames = mulaw_frames(Phrase::Hello, 0, 400);
    frames.extend(mulaw_frames(Phrase::LookupCaller, 300, 300));
    for audio in frames {
        ws.send(json!({ "type": "input_audio_buffer.append", "audio": audio }))
            .await;
    }
    let started = ws.event("input_audio_buffer.speech_started").await;
    assert_eq!(started["audio_start_ms"], 100);
    let stopped = ws.event("input_audio_buffer.speech_stopped").await;
    assert_eq!(stopped["item_id"], started["item_id"]);
    assert_eq!(stopped["audio_end_ms"], 900);
    let transcript = ws
        .event("conversation.item.input_audio_transcription.completed")
        .await;
    assert_eq!(transcript["transcript"], "Do you know who I am?");

    // The declared lookup_caller tool is called, with arguments from its parameters.
    let done = ws.event("response.function_call_arguments.done").await;
    assert_eq!(done["name"], "lookup_caller");
    let arguments: serde_json::Value =
        serde_json::from_str(done["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["phone"].is_string());
    let response = ws.event("response.done").await;
    assert_eq!(
        response["response"]["output"][0]["call_id"],
        done["call_id"]
    );

    // An unknown call id is refused; the right one, then response.create, gets a spoken reply.
    ws.send(json!({ "type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_nope", "output": "{}" } }))
        .await;
    assert_eq!(ws.event("error").await["error"]["param"], "item.call_id");
    ws.send(json!({ "type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": done["call_id"], "output": "{\"name\":\"Ada\"}" } }))
    .await;
    ws.event("conversation.item.done").await;
    ws.send(json!({ "type": "response.create" })).await;
    let delta = ws.event("response.output_audio.delta").await;
    let item_id = delta["item_id"].clone();
    // A second response while one is active is refused.
    ws.send(json!({ "type": "response.create" })).await;
    assert_eq!(
        ws.event("error").await["error"]["code"],
        "conversation_already_has_active_response"
    );
    let done = ws.event("response.done").await;
    assert_eq!(done["response"]["status"], "completed");
    let text = ws_transcript(&done);
    assert_eq!(text, "Thanks, I have that now.");

    // Truncation: not beyond the audio sent (500 ms), not a float, not an unknown item.
    for (end, code) in [
        (json!(501), "invalid_value"),
        (json!(120.5), "invalid_type"),
    ] {
        ws.send(json!({ "type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": end }))
            .await;
        assert_eq!(ws.event("error").await["error"]["code"], code);
    }
    ws.send(json!({ "type": "conversation.item.truncate", "item_id": "item_nope", "content_index": 0, "audio_end_ms": 1 }))
        .await;
    assert_eq!(ws.event("error").await["error"]["param"], "item_id");
    ws.send(json!({ "type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 500 }))
        .await;
    let truncated = ws.event("conversation.item.truncated").await;
    assert_eq!(truncated["audio_end_ms"], 500);

    // Nothing to cancel.
    ws.send(json!({ "type": "response.cancel" })).await;
    assert_eq!(
        ws.event("error").await["error"]["code"],
        "response_cancel_not_active"
    );
    assert_openai_conforms(&sandbox, false).await;
}

fn ws_transcript(done: &serde_json::Value) -> String {
    done["response"]["output"][0]["content"][0]["transcript"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn responses_are_paced_in_real_time_and_cancellable() {
    let sandbox = sandbox().await;
    let mut ws = openai(&sandbox, "gpt-realtime").await;
    ws.send(ga_update()).await;
    ws.event("session.updated").await;
    ws.send(json!({ "type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "Hi" }] } }))
        .await;
    ws.event("conversation.item.added").await;
    let started = std::time::Instant::now();
    ws.send(json!({ "type": "response.create" })).await;
    ws.event("response.output_audio.delta").await;
    ws.event("response.output_audio.delta").await;
    ws.event("response.output_audio.delta").await;
    // Three 100 ms chunks: the third is due 200 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "{:?}",
        started.elapsed()
    );
    ws.send(json!({ "type": "response.cancel" })).await;
    let done = ws.event("response.done").await;
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "client_cancelled"
    );
    assert_eq!(done["response"]["output"][0]["status"], "incomplete");

    // Assistant audio cannot be injected, and beta content parts are refused.
    ws.send(json!({ "type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{ "type": "text", "text": "Hi" }] } }))
        .await;
    assert_eq!(ws.event("error").await["error"]["param"], "item.content");
    assert_openai_conforms(&sandbox, false).await;
}

#[tokio::test]
async fn faults_queued_through_the_control_api() {
    let sandbox = sandbox().await;
    let client = reqwest::Client::new();
    let faults = format!("{}/sandbox/realtime/faults", sandbox.twilio_api_base());
    let response = client
        .post(&faults)
        .json(&json!({ "provider": "openai", "connections": 1, "faults": { "drop_after_ms": 50 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // An unknown fault is a client error, not a silent no-op.
    let response = client
        .post(&faults)
        .json(&json!({ "faults": { "explode": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    let mut dropped = openai(&sandbox, "gpt-realtime").await;
    dropped.event("session.created").await;
    assert_eq!(dropped.closed().await.0, 1006, "no close frame");
    let mut fine = openai(&sandbox, "gpt-realtime").await;
    fine.event("session.created").await;
    fine.quiet(Duration::from_millis(150)).await;

    let response = client.delete(&faults).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let log = connections(&sandbox).await;
    assert_eq!(log[0]["ended"], "dropped without a close frame (fault)");
}
