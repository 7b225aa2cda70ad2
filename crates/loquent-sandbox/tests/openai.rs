//! The OpenAI emulator through its front door: auth, validation, deterministic answers, the
//! control API.

use loquent_sandbox::{Sandbox, SandboxHandle};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Silent MPEG-2 Layer III: 36-byte frames of 36 ms.
fn silent_mp3(frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..frames {
        out.extend_from_slice(&[0xFF, 0xF3, 0x18, 0xC0]);
        out.resize(out.len() + 32, 0);
    }
    out
}

async fn transcribe(
    sandbox: &SandboxHandle,
    fields: &[(&str, &str)],
    audio: Vec<u8>,
) -> (StatusCode, Value) {
    let mut form = Form::new().part("file", Part::bytes(audio).file_name("call.mp3"));
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    let response = reqwest::Client::new()
        .post(format!(
            "{}/audio/transcriptions",
            sandbox.openai_base_url()
        ))
        .bearer_auth("sk-test")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn chat(sandbox: &SandboxHandle, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", sandbox.openai_base_url()))
        .bearer_auth("sk-test")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_base_url_is_on_the_twilio_listener_and_needs_a_bearer_key() {
    let sandbox = sandbox().await;
    assert_eq!(
        sandbox.openai_base_url(),
        format!("{}/openai/v1", sandbox.twilio_api_base())
    );
    let http = reqwest::Client::new();
    for auth in [None, Some("Bearer "), Some("Basic abc")] {
        let mut request = http
            .post(format!("{}/chat/completions", sandbox.openai_base_url()))
            .json(&json!({}));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("API key")
        );
        assert!(body["error"]["param"].is_null() && body["error"]["code"].is_null());
    }
    // The Twilio emulator is still there.
    let twilio = http
        .get(format!(
            "{}/2010-04-01/Accounts/ACnope.json",
            sandbox.twilio_api_base()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(twilio.status(), StatusCode::UNAUTHORIZED);
}

/// Form fields, a substring of the error message, the error's `param`.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);

#[tokio::test]
async fn transcriptions_are_validated_like_the_real_api() {
    let sandbox = sandbox().await;
    let minute = silent_mp3(1667); // 60 s
    let diarize = ("model", "gpt-4o-transcribe-diarize");
    let cases: [Case<'_>; 6] = [
        (
            &[diarize, ("response_format", "diarized_json")],
            "chunking_strategy is required",
            Some("chunking_strategy"),
        ),
        (
            &[diarize, ("chunking_strategy", "auto"), ("prompt", "hi")],
            "prompt is not supported",
            Some("prompt"),
        ),
        (
            &[
                ("model", "gpt-4o-transcribe"),
                ("response_format", "diarized_json"),
            ],
            "not compatible",
            Some("response_format"),
        ),
        (&[("model", "whisper-2")], "Invalid model", Some("model")),
        (
            &[diarize, ("chunking_strategy", "sometimes")],
            "Invalid chunking_strategy",
            Some("chunking_strategy"),
        ),
        (
            &[("response_format", "json")],
            "model parameter",
            Some("model"),
        ),
    ];
    for (fields, message, param) in cases {
        let (status, body) = transcribe(&sandbox, fields, minute.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{body}"
        );
        assert_eq!(body["error"]["param"].as_str(), param);
    }
    let (status, body) = transcribe(&sandbox, &[diarize], b"just text".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid file format")
    );
    // 1500 s: over the diarize model's 1400 s cap.
    let (status, body) = transcribe(
        &sandbox,
        &[diarize, ("chunking_strategy", "auto")],
        silent_mp3(41_667),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1400"),
        "{body}"
    );
    // Under 30 s, diarization needs no chunking strategy.
    let (status, _) = transcribe(
        &sandbox,
        &[diarize, ("response_format", "diarized_json")],
        silent_mp3(500),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn transcripts_are_deterministic_in_every_format() {
    let sandbox = sandbox().await;
    let audio = silent_mp3(334); // 12.024 s
    let diarize = [
        ("model", "gpt-4o-transcribe-diarize"),
        ("response_format", "diarized_json"),
    ];
    let (status, body) = transcribe(&sandbox, &diarize, audio.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["task"], "transcribe");
    assert!((body["duration"].as_f64().unwrap() - 12.024).abs() < 1e-9);
    assert_eq!(
        body["text"],
        "Line 1 from speaker A. Line 2 from speaker B. Line 3 from speaker A."
    );
    assert_eq!(
        body["segments"][1],
        json!({"type": "transcript.text.segment", "id": "seg_002", "start": 5.0, "end": 10.0,
               "text": "Line 2 from speaker B.", "speaker": "B"})
    );
    assert_eq!(body["usage"], json!({"type": "duration", "seconds": 13}));
    assert_eq!(transcribe(&sandbox, &diarize, audio.clone()).await.1, body);

    let (_, text) = transcribe(
        &sandbox,
        &[
            ("model", "gpt-4o-mini-transcribe"),
            ("response_format", "text"),
        ],
        audio.clone(),
    )
    .await;
    assert_eq!(text, body["text"]);
    let (_, json_body) =
        transcribe(&sandbox, &[("model", "gpt-4o-transcribe")], audio.clone()).await;
    assert_eq!(json_body["text"], body["text"]);
    let (_, verbose) = transcribe(
        &sandbox,
        &[("model", "whisper-1"), ("response_format", "verbose_json")],
        audio,
    )
    .await;
    assert_eq!(verbose["segments"][2]["start"], 10.0);
    assert_eq!(verbose["language"], "english");
}

#[tokio::test]
async fn bodies_over_25_mib_get_openais_413() {
    let sandbox = sandbox().await;
    let (status, body) = transcribe(&sandbox, &[("model", "whisper-1")], vec![0; 26_214_400]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["type"], "server_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Maximum content size limit (26214400) exceeded ("),
        "{body}"
    );
}

fn strict_request(schema: Value) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": true, "schema": schema}},
    })
}

#[tokio::test]
async fn chat_requests_are_validated_and_strict_schemas_enforced() {
    let sandbox = sandbox().await;
    let (status, body) = chat(
        &sandbox,
        strict_request(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Invalid schema for response_format 'out': In context=(), 'additionalProperties' is required to be supplied and to be false."
    );
    let (status, body) = chat(
        &sandbox,
        strict_request(
            json!({"type": "object", "properties": {"a": {"type": "string"}},
            "required": [], "additionalProperties": false}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Missing 'a'")
    );

    let mut bad_name = strict_request(json!({"type": "object"}));
    bad_name["response_format"]["json_schema"]["name"] = json!("my schema");
    assert_eq!(chat(&sandbox, bad_name).await.0, StatusCode::BAD_REQUEST);

    let (status, body) = chat(
        &sandbox,
        json!({"model": "llama", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "model_not_found");
    let (status, _) = chat(
        &sandbox,
        json!({"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Not strict: the schema is not held to strict rules.
    let mut loose =
        strict_request(json!({"type": "object", "properties": {"a": {"type": "integer"}}}));
    loose["response_format"]["json_schema"]["strict"] = json!(false);
    let (status, body) = chat(&sandbox, loose).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["choices"][0]["message"]["content"], r#"{"a":1}"#);
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn canned_answers_and_faults_are_controlled_per_test() {
    let sandbox = sandbox().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/sandbox/openai/{path}", sandbox.twilio_api_base());
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false});

    let created = http
        .post(control("chat-answers"))
        .json(&json!({"match": "hi", "answer": {"a": "canned"}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let first = chat(&sandbox, strict_request(schema.clone())).await.1;
    assert_eq!(
        first["choices"][0]["message"]["content"],
        r#"{"a":"canned"}"#
    );
    // Used up: back to the generated answer.
    let second = chat(&sandbox, strict_request(schema.clone())).await.1;
    assert_eq!(
        second["choices"][0]["message"]["content"],
        r#"{"a":"sample a"}"#
    );
    let refusal = http
        .post(control("chat-answers"))
        .json(&json!({"schema": "out", "refusal": "No."}))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal.status(), StatusCode::CREATED);
    let refused = chat(&sandbox, strict_request(schema.clone())).await.1;
    assert_eq!(refused["choices"][0]["message"]["refusal"], "No.");
    assert!(refused["choices"][0]["message"]["content"].is_null());
    http.delete(control("chat-answers")).send().await.unwrap();
    assert!(
        chat(&sandbox, strict_request(schema.clone())).await.1["choices"][0]["message"]["refusal"]
            .is_null()
    );
    let both = http
        .post(control("chat-answers"))
        .json(&json!({"answer": {}, "refusal": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);

    // A seeded rate faults the same requests every time.
    let mut runs = Vec::new();
    for _ in 0..2 {
        http.post(control("faults"))
            .json(&json!({"rate": 0.5, "status": 429, "retry_after": 3, "seed": 9}))
            .send()
            .await
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let (status, _) = chat(&sandbox, strict_request(schema.clone())).await;
            statuses.push(status.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&429) && runs[0].contains(&200),
        "{:?}",
        runs[0]
    );
    // The faulted 429s carry the Retry-After asked for.
    let mut retry_after = None;
    for _ in 0..12 {
        let response = http
            .post(format!("{}/chat/completions", sandbox.openai_base_url()))
            .bearer_auth("k")
            .json(&strict_request(schema.clone()))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
            break;
        }
    }
    assert_eq!(retry_after.unwrap(), "3");
    http.delete(control("faults")).send().await.unwrap();
    assert_eq!(
        chat(&sandbox, strict_request(schema)).await.0,
        StatusCode::OK
    );

    let log: Value = http
        .get(control("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(log["requests"].as_array().unwrap().len() >= 30);
    http.delete(control("requests")).send().await.unwrap();
    let log: Value = http
        .get(control("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["requests"], json!([]));
}
