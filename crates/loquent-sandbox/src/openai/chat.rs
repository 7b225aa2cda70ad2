//! `POST /openai/v1/chat/completions`: validated like the real API, answered with a canned answer
//! or with JSON generated from the request's schema (see the module docs of `openai`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::control::{CannedAnswer, take_answer};
use super::error::OpenAiError;
use super::schema::{check_strict, generate};
use super::{Shared, admit, lock, log};

const ENDPOINT: &str = "chat/completions";
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
/// Characters per token, for usage and `max_completion_tokens`.
const CHARS_PER_TOKEN: usize = 4;

pub(crate) async fn create(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = admit(&shared, ENDPOINT, &headers) {
        return e.into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request @ Value::Object(_)) => request,
        _ => {
            let e = OpenAiError::invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
                None,
            );
            log(&shared, ENDPOINT, e.status, Value::Null);
            return e.into_response();
        }
    };
    let result = complete(&shared, &request);
    let status = result.as_ref().map_or_else(|e| e.status, |_| 200);
    log(&shared, ENDPOINT, status, request);
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn complete(shared: &Shared, request: &Value) -> Result<Value, OpenAiError> {
    let model = request["model"].as_str().unwrap_or_default();
    if model.is_empty() {
        return Err(
            OpenAiError::invalid("you must provide a model parameter", Some("model"))
                .with_code("missing_required_parameter"),
        );
    }
    let known = ["gpt-", "chatgpt-"].iter().any(|p| model.starts_with(p))
        || (model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()));
    if !known {
        let mut e = OpenAiError::invalid(
            format!("The model `{model}` does not exist or you do not have access to it."),
            None,
        )
        .with_code("model_not_found");
        e.status = 404;
        return Err(e);
    }
    let messages = request["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            OpenAiError::invalid("'messages' must be a non-empty array.", Some("messages"))
        })?;
    for (i, message) in messages.iter().enumerate() {
        let role_ok = message["role"].as_str().is_some_and(|r| ROLES.contains(&r));
        let content_ok = message["content"].is_string() || message["content"].is_array();
        if !role_ok || !content_ok {
            return Err(OpenAiError::invalid(
                format!("Invalid value for 'messages[{i}]': needs a known role and content."),
                Some("messages"),
            ));
        }
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();

    let format = &request["response_format"];
    let schema = match format["type"].as_str() {
        None | Some("text" | "json_object") => None,
        Some("json_schema") => Some(json_schema(&format["json_schema"])?),
        Some(other) => {
            return Err(OpenAiError::invalid(
                format!(
                    "Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."
                ),
                Some("response_format.type"),
            ));
        }
    };

    let canned = {
        let mut state = lock(shared);
        take_answer(&mut state, last_user, schema.map(|(name, _)| name))
    };
    let (mut content, refusal, mut finish_reason) = match canned {
        Some(CannedAnswer {
            refusal: Some(refusal),
            ..
        }) => (None, Some(refusal), "stop".to_owned()),
        Some(answer) => {
            let content = match (answer.content, answer.answer) {
                (Some(raw), _) => raw,
                (None, Some(value)) => value.to_string(),
                (None, None) => String::new(),
            };
            (
                Some(content),
                None,
                answer.finish_reason.unwrap_or_else(|| "stop".into()),
            )
        }
        None => {
            let content = match (schema, format["type"].as_str()) {
                (Some((_, schema)), _) => generate(schema, schema).to_string(),
                (None, Some("json_object")) => "{}".to_owned(),
                (None, _) => "Sandbox reply.".to_owned(),
            };
            (Some(content), None, "stop".to_owned())
        }
    };
    let limit = request["max_completion_tokens"]
        .as_u64()
        .or_else(|| request["max_tokens"].as_u64());
    if let (Some(limit), Some(text)) = (limit, content.as_mut()) {
        let max_chars = limit as usize * CHARS_PER_TOKEN;
        if text.chars().count() > max_chars {
            *text = text.chars().take(max_chars).collect();
            finish_reason = "length".to_owned();
        }
    }

    let prompt_chars: usize = messages
        .iter()
        .map(|m| m["content"].as_str().map_or(0, str::len))
        .sum();
    let completion_chars = content
        .as_deref()
        .or(refusal.as_deref())
        .map_or(0, str::len);
    let prompt_tokens = prompt_chars.div_ceil(CHARS_PER_TOKEN);
    let completion_tokens = completion_chars.div_ceil(CHARS_PER_TOKEN);
    let id = lock(shared).next_id();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(json!({
        "id": format!("chatcmpl-sandbox{id:016}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": content,
                "refusal": refusal,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_sandbox",
    }))
}

/// The `json_schema` object of a response format: its name and schema, checked.
fn json_schema(format: &Value) -> Result<(&str, &Value), OpenAiError> {
    let name = format["name"].as_str().unwrap_or_default();
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(OpenAiError::invalid(
            format!("Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters, got {name:?}."),
            Some("response_format.json_schema.name"),
        )
        .with_code("invalid_value"));
    }
    let schema = &format["schema"];
    if !schema.is_object() {
        return Err(OpenAiError::invalid(
            format!(
                "Invalid schema for response_format '{name}': schema must be a JSON Schema object."
            ),
            Some("response_format"),
        ));
    }
    if format["strict"] == json!(true) {
        check_strict(schema).map_err(|rule| {
            OpenAiError::invalid(
                format!("Invalid schema for response_format '{name}': {rule}."),
                Some("response_format"),
            )
            .with_code("invalid_json_schema")
        })?;
    }
    Ok((name, schema))
}
