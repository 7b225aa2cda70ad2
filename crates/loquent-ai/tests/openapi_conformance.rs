//! What our clients send and what the emulators answer, checked against OpenAI's OpenAPI spec:
//! `createTranscription` and `createChatCompletion`, request bodies and responses.

mod openapi;

use loquent_ai::structured::{Prompt, StrictSchema, StructuredClient};
use loquent_ai::transcription::{Attribution, Recording, Transcriber};
use loquent_sandbox::speech::{AGENT_VOICE_HZ, Phrase, Tone};
use loquent_sandbox::{Sandbox, SandboxHandle};
use openapi::Spec;
use reqwest::multipart::{Form, Part};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const TRANSCRIBE: &str = "createTranscription";
const CHAT: &str = "createChatCompletion";

async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn logged(sandbox: &SandboxHandle, endpoint: &str) -> Vec<Value> {
    let log: Value = reqwest::get(format!(
        "{}/sandbox/openai/requests",
        sandbox.twilio_api_base()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == endpoint)
        .map(|r| {
            assert_eq!(r["status"], 200, "{r}");
            r["body"].clone()
        })
        .collect()
}

fn assert_valid(spec: &Spec, schema: &Value, value: &Value, what: &str) {
    let errors = spec.validate(schema, value);
    assert!(
        errors.is_empty(),
        "{what} violates the spec:\n{}\n{value:#}",
        errors.join("\n")
    );
}

/// Silent MPEG-2 Layer III frames, as the Twilio emulator's recordings are made.
fn silent_mp3(seconds: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..seconds * 16_000 / 576 {
        out.extend_from_slice(&[0xFF, 0xF3, 0x18, 0x80]);
        out.resize(out.len() + 32, 0);
    }
    out
}

/// Stereo 8 kHz PCM WAV: a caller phrase on the left for 5 s, then the agent on the right.
fn tone_wav() -> Vec<u8> {
    let mut left = Vec::new();
    Tone::new(Phrase::Hello.frequency_hz(), 8000).pcm(40_000, &mut left);
    left.resize(80_000, 0);
    let mut right = vec![0; 40_000];
    Tone::new(AGENT_VOICE_HZ, 8000).pcm(40_000, &mut right);
    let mut data = Vec::new();
    for (l, r) in left.iter().zip(&right) {
        data.extend_from_slice(&l.to_le_bytes());
        data.extend_from_slice(&r.to_le_bytes());
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt \x10\0\0\0\x01\0\x02\0\x40\x1f\0\0\0\x7d\0\0\x04\0\x10\0data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

#[tokio::test]
async fn the_transcription_requests_we_send_conform() {
    let spec = openapi::spec();
    let sandbox = sandbox().await;
    let base = sandbox.openai_base_url();
    let mp3 = Recording::parse(silent_mp3(40)).unwrap();
    let wav = Recording::parse(tone_wav()).unwrap();
    let transcriber = Transcriber::new(&base, "sk-test").with_language("en");
    transcriber
        .transcribe(&mp3, Attribution::Diarize)
        .await
        .unwrap();
    transcriber
        .transcribe(&wav, Attribution::ByChannel)
        .await
        .unwrap();
    for model in ["whisper-1", "gpt-4o-transcribe"] {
        transcriber
            .clone()
            .with_model(model)
            .transcribe(&mp3, Attribution::Diarize)
            .await
            .unwrap();
    }

    let schema = spec.request_schema(TRANSCRIBE, "multipart/form-data");
    let requests = logged(&sandbox, "audio/transcriptions").await;
    assert_eq!(requests.len(), 5);
    for request in &requests {
        let body = spec.form_as_json(schema, request);
        assert_valid(spec, schema, &body, "transcription request");
    }
    // The whisper request repeated `timestamp_granularities[]` into an array.
    let whisper = spec.form_as_json(schema, &requests[3]);
    assert_eq!(whisper["timestamp_granularities"], json!(["segment"]));
    assert_eq!(whisper["response_format"], json!("verbose_json"));
}

#[tokio::test]
async fn the_transcription_emulator_answers_conform() {
    let spec = openapi::spec();
    let sandbox = sandbox().await;
    let url = format!("{}/audio/transcriptions", sandbox.openai_base_url());
    let http = reqwest::Client::new();
    let post = |model: &str, format: &str, audio: Vec<u8>, name: &'static str, key: &str| {
        let form = Form::new()
            .part("file", Part::bytes(audio).file_name(name))
            .text("model", model.to_owned())
            .text("response_format", format.to_owned())
            .text(
                "chunking_strategy",
                r#"{"type":"server_vad","threshold":0.5}"#,
            );
        http.post(&url).bearer_auth(key).multipart(form).send()
    };
    let any = spec.response_schema(TRANSCRIBE, "200", "application/json");
    for (model, format, audio, name, component) in [
        (
            "gpt-4o-transcribe-diarize",
            "diarized_json",
            silent_mp3(40),
            "a.mp3",
            "CreateTranscriptionResponseDiarizedJson",
        ),
        (
            "gpt-4o-transcribe-diarize",
            "diarized_json",
            tone_wav(),
            "a.wav",
            "CreateTranscriptionResponseDiarizedJson",
        ),
        (
            "gpt-4o-transcribe",
            "json",
            silent_mp3(10),
            "a.mp3",
            "CreateTranscriptionResponseJson",
        ),
        (
            "whisper-1",
            "verbose_json",
            silent_mp3(10),
            "a.mp3",
            "CreateTranscriptionResponseVerboseJson",
        ),
    ] {
        let response = post(model, format, audio, name, "sk-test").await.unwrap();
        assert_eq!(response.status(), 200, "{model} {format}");
        let body: Value = response.json().await.unwrap();
        assert_valid(spec, any, &body, format);
        assert_valid(spec, spec.component(component), &body, component);
    }
    // Errors, in the shape every endpoint shares.
    let errors = spec.component("ErrorResponse");
    for (model, key, status) in [
        ("gpt-4o-transcribe-diarize", "", 401),
        ("nope", "sk-test", 400),
    ] {
        let response = post(model, "json", silent_mp3(1), "a.mp3", key)
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_valid(spec, errors, &response.json().await.unwrap(), "error body");
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[expect(
    dead_code,
    reason = "only the request and response shapes are checked here"
)]
struct Enrichment {
    company: Option<String>,
    role: Role,
    interests: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Role {
    DecisionMaker,
    Other,
}

#[tokio::test]
async fn the_chat_requests_we_send_conform() {
    let spec = openapi::spec();
    let sandbox = sandbox().await;
    let client = StructuredClient::new(sandbox.openai_base_url(), "sk-test");
    client
        .complete::<Enrichment>("gpt-4.1-mini", "Enrich.", "Caller: hi")
        .await
        .unwrap();
    let schema = StrictSchema::new(
        "notes",
        json!({"type": "object", "properties": {"notes": {"type": "string"}}}),
    )
    .unwrap();
    client
        .clone()
        .with_max_completion_tokens(1000)
        .complete_json(
            &Prompt {
                model: "gpt-5-mini",
                system: "Take notes.",
                user: "Agent: hello",
            },
            &schema,
        )
        .await
        .unwrap();
    let requests = logged(&sandbox, "chat/completions").await;
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_valid(
            spec,
            spec.request_schema(CHAT, "application/json"),
            request,
            "chat request",
        );
    }
}

#[tokio::test]
async fn the_chat_emulator_answers_conform() {
    let spec = openapi::spec();
    let sandbox = sandbox().await;
    let http = reqwest::Client::new();
    http.post(format!(
        "{}/sandbox/openai/chat-answers",
        sandbox.twilio_api_base()
    ))
    .json(&json!({"match": "refuse", "refusal": "No."}))
    .send()
    .await
    .unwrap();
    let schema = StrictSchema::of::<Enrichment>().unwrap();
    let request = |user: &str, extra: Value| {
        let mut body = json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Enrich."}, {"role": "user", "content": user}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": schema.name(), "strict": true, "schema": schema.schema()
            }},
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let completion = spec.response_schema(CHAT, "200", "application/json");
    for (body, finish) in [
        (request("hi", json!({})), "stop"),
        (request("please refuse", json!({})), "stop"),
        (request("hi", json!({"max_completion_tokens": 3})), "length"),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
            "stop",
        ),
    ] {
        assert_valid(
            spec,
            spec.request_schema(CHAT, "application/json"),
            &body,
            "test request",
        );
        let response = http
            .post(format!("{}/chat/completions", sandbox.openai_base_url()))
            .bearer_auth("sk-test")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["choices"][0]["finish_reason"], finish);
        assert_valid(spec, completion, &answer, "chat completion");
    }
    let bad = http
        .post(format!("{}/chat/completions", sandbox.openai_base_url()))
        .bearer_auth("sk-test")
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_valid(
        spec,
        spec.component("ErrorResponse"),
        &bad.json().await.unwrap(),
        "error body",
    );
}

#[tokio::test]
async fn the_validator_catches_violations() {
    let spec = openapi::spec();
    let completion = spec.response_schema(CHAT, "200", "application/json");
    let valid = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
            "message": {"role": "assistant", "content": "{}", "refusal": null}}],
    });
    assert_eq!(spec.validate(completion, &valid), Vec::<String>::new());
    let mut no_id = valid.clone();
    no_id.as_object_mut().unwrap().remove("id");
    assert!(!spec.validate(completion, &no_id).is_empty());
    let mut wrong_object = valid.clone();
    wrong_object["object"] = json!("chat.completions");
    assert!(!spec.validate(completion, &wrong_object).is_empty());
    let mut bad_reason = valid;
    bad_reason["choices"][0]["finish_reason"] = json!("done");
    assert!(!spec.validate(completion, &bad_reason).is_empty());

    let transcription = spec.request_schema(TRANSCRIBE, "multipart/form-data");
    let form = |fields: Value| json!({"fields": fields, "files": [{"name": "file", "size": 10}]});
    let ok = spec.form_as_json(
        transcription,
        &form(json!([["model", "whisper-1"], ["temperature", "0.2"]])),
    );
    assert_eq!(ok["temperature"], json!(0.2));
    assert!(spec.validate(transcription, &ok).is_empty());
    for fields in [
        json!([["model", "whisper-1"], ["temperature", "hot"]]),
        json!([["model", "whisper-1"], ["speakers", "2"]]),
        json!([["model", "whisper-1"], ["response_format", "xml"]]),
        json!([["response_format", "json"]]),
    ] {
        let body = spec.form_as_json(transcription, &form(fields.clone()));
        assert!(
            !spec.validate(transcription, &body).is_empty(),
            "{fields} passed"
        );
    }
}
