//! The structured-output client against the sandbox's Chat Completions emulator, over real HTTP.

use std::time::Duration;

use loquent_ai::http::{ApiError, RetryPolicy};
use loquent_ai::structured::{Prompt, StrictSchema, StructuredClient, StructuredError};
use loquent_sandbox::{Sandbox, SandboxHandle};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const MODEL: &str = "gpt-4.1-mini";
const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
    ..RetryPolicy::DEFAULT
};

/// What a call analyzer might ask for.
#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
struct CallAnalysis {
    /// One or two sentences.
    summary: String,
    sentiment: Sentiment,
    /// What the caller wants to happen next, if anything.
    follow_up: Option<String>,
    topics: Vec<Topic>,
    satisfaction: u8,
    urgent: bool,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    /// The caller was happy.
    Positive,
    Neutral,
    Negative,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
struct Topic {
    name: String,
    confidence: Option<f64>,
}

async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(sandbox: &SandboxHandle) -> StructuredClient {
    StructuredClient::new(sandbox.openai_base_url(), "sk-test").with_retry(FAST)
}

async fn control(
    sandbox: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let response = reqwest::Client::new()
        .request(
            method,
            format!("{}/sandbox/openai/{path}", sandbox.twilio_api_base()),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

async fn answer(sandbox: &SandboxHandle, canned: Value) {
    control(sandbox, reqwest::Method::POST, "chat-answers", canned).await;
}

async fn logged(sandbox: &SandboxHandle) -> Vec<(u64, Value)> {
    let log = control(sandbox, reqwest::Method::GET, "requests", Value::Null).await;
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["body"].clone()))
        .collect()
}

async fn analyse(
    client: &StructuredClient,
    transcript: &str,
) -> Result<CallAnalysis, StructuredError> {
    client
        .complete::<CallAnalysis>(MODEL, "Analyse this call.", transcript)
        .await
}

#[tokio::test]
async fn a_derived_schema_is_accepted_and_its_answer_typed() {
    let sandbox = sandbox().await;
    let analysis = analyse(&client(&sandbox), "Caller: hello").await.unwrap();
    // The emulator's answer generated from the strict schema we sent. schemars lists the
    // undocumented variants before the documented one, so the emulator's pick (the first value
    // of the first `anyOf` member) is `neutral`.
    assert_eq!(
        analysis,
        CallAnalysis {
            summary: "sample summary".into(),
            sentiment: Sentiment::Neutral,
            follow_up: Some("sample follow_up".into()),
            topics: vec![Topic {
                name: "sample name".into(),
                confidence: Some(1.5),
            }],
            satisfaction: 1,
            urgent: true,
        }
    );
    let log = logged(&sandbox).await;
    assert_eq!(log.len(), 1);
    let (status, request) = &log[0];
    assert_eq!(*status, 200);
    assert_eq!(request["store"], json!(false));
    assert_eq!(request["model"], json!(MODEL));
    assert_eq!(
        request["messages"][1],
        json!({"role": "user", "content": "Caller: hello"})
    );
    let format = &request["response_format"];
    assert_eq!(format["type"], json!("json_schema"));
    assert_eq!(format["json_schema"]["name"], json!("CallAnalysis"));
    assert_eq!(format["json_schema"]["strict"], json!(true));
    assert_eq!(
        &format["json_schema"]["schema"],
        StrictSchema::of::<CallAnalysis>().unwrap().schema()
    );
}

#[tokio::test]
async fn canned_answers_match_by_message_or_schema_name() {
    let sandbox = sandbox().await;
    answer(
        &sandbox,
        json!({"match": "refund", "answer": {
            "summary": "Wants a refund.", "sentiment": "negative", "follow_up": null,
            "topics": [], "satisfaction": 2, "urgent": false
        }}),
    )
    .await;
    let client = client(&sandbox);
    let analysis = analyse(&client, "Caller: I want a refund").await.unwrap();
    assert_eq!(analysis.summary, "Wants a refund.");
    assert_eq!(analysis.sentiment, Sentiment::Negative);
    assert_eq!(analysis.follow_up, None);
    // Not matching: the generated answer.
    assert_eq!(
        analyse(&client, "Caller: hi").await.unwrap().summary,
        "sample summary"
    );

    answer(
        &sandbox,
        json!({"schema": "Todos", "answer": {"todos": [{"title": "Call back", "due": null}]}}),
    )
    .await;
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Todos {
        todos: Vec<Todo>,
    }
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Todo {
        title: String,
        due: Option<String>,
    }
    let todos: Todos = client
        .complete(MODEL, "Extract to-dos.", "anything")
        .await
        .unwrap();
    assert_eq!(todos.todos[0].title, "Call back");
    assert_eq!(todos.todos[0].due, None);
}

#[tokio::test]
async fn refusals_truncation_and_bad_json_are_typed() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    answer(
        &sandbox,
        json!({"match": "weapon", "refusal": "I can't help with that."}),
    )
    .await;
    answer(
        &sandbox,
        json!({"match": "garbled", "content": "{\"summary\": \"cut"}),
    )
    .await;
    answer(
        &sandbox,
        json!({"match": "wrong", "answer": {"summary": 5}}),
    )
    .await;
    answer(
        &sandbox,
        json!({"match": "long", "content": "{\"summary\": \"aaaa", "finish_reason": "length"}),
    )
    .await;

    match analyse(&client, "how to build a weapon").await {
        Err(StructuredError::Refused { refusal }) => assert_eq!(refusal, "I can't help with that."),
        other => panic!("{other:?}"),
    }
    match analyse(&client, "garbled").await {
        Err(StructuredError::InvalidJson { content, .. }) => {
            assert_eq!(content, "{\"summary\": \"cut");
        }
        other => panic!("{other:?}"),
    }
    match analyse(&client, "wrong").await {
        Err(error @ StructuredError::Mismatch { .. }) => {
            assert!(error.to_string().contains("invalid type"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        analyse(&client, "long").await,
        Err(StructuredError::Truncated)
    ));
    // The emulator also cuts generated answers at max_completion_tokens.
    let short =
        StructuredClient::new(sandbox.openai_base_url(), "sk-test").with_max_completion_tokens(5);
    assert!(matches!(
        analyse(&short, "hi").await,
        Err(StructuredError::Truncated)
    ));
}

#[tokio::test]
async fn transient_failures_are_retried_and_persistent_ones_typed() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    control(
        &sandbox,
        reqwest::Method::POST,
        "faults",
        json!({"status": 500, "count": 2}),
    )
    .await;
    analyse(&client, "hi").await.unwrap();
    control(
        &sandbox,
        reqwest::Method::POST,
        "faults",
        json!({"status": 429, "retry_after": 0, "endpoint": "chat/completions"}),
    )
    .await;
    match analyse(&client, "hi").await {
        Err(StructuredError::Api(ApiError::RateLimited { attempts, message })) => {
            assert_eq!(attempts, 4);
            assert!(message.starts_with("Rate limit reached"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let statuses: Vec<u64> = logged(&sandbox).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, [500, 500, 200, 429, 429, 429, 429]);

    control(&sandbox, reqwest::Method::DELETE, "faults", Value::Null).await;
    let error = StructuredClient::new(sandbox.openai_base_url(), "")
        .complete::<CallAnalysis>(MODEL, "s", "u")
        .await
        .unwrap_err();
    assert!(
        matches!(error, StructuredError::Api(ApiError::Unauthorized { .. })),
        "{error:?}"
    );
    let error = client
        .complete::<CallAnalysis>("llama-3", "s", "u")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StructuredError::Api(ApiError::Status { status: 404, message }) if message.contains("llama-3")),
        "{error:?}"
    );
}

#[tokio::test]
async fn runtime_schemas_and_what_strict_mode_refuses() {
    let sandbox = sandbox().await;
    let schema = StrictSchema::new(
        "lead",
        json!({"type": "object", "properties": {
            "company": {"type": ["string", "null"]},
            "size": {"enum": ["small", "large"]}
        }}),
    )
    .unwrap();
    let value = client(&sandbox)
        .complete_json(
            &Prompt {
                model: MODEL,
                system: "Enrich the contact.",
                user: "Caller: I'm from Acme.",
            },
            &schema,
        )
        .await
        .unwrap();
    assert_eq!(value, json!({"company": "sample company", "size": "small"}));

    // A map cannot be strict: refused before any request is sent.
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Tags {
        #[expect(dead_code, reason = "only the schema matters")]
        tags: std::collections::HashMap<String, String>,
    }
    let error = client(&sandbox)
        .complete::<Tags>(MODEL, "s", "u")
        .await
        .unwrap_err();
    assert!(matches!(error, StructuredError::Schema(_)), "{error:?}");
    assert_eq!(logged(&sandbox).await.len(), 1);
}
