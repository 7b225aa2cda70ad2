//! Structured output: ask a chat model a question and get a typed Rust value back, via Chat
//! Completions (`POST /chat/completions`) with `response_format: json_schema` in strict mode.
//!
//! The schema is derived from the answer's type ([`StrictSchema::of`]) or given at run time
//! ([`StructuredClient::complete_json`]). The answer arrives as a JSON *string* in
//! `choices[0].message.content`; a refusal arrives in `message.refusal` instead, and
//! `finish_reason: length` means the JSON was cut off. Each is its own [`StructuredError`].
//! Requests are sent with `store: false`: call transcripts carry personal data.

mod schema;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use schema::{SchemaError, StrictSchema};

use crate::http::{Api, ApiError, ApiKey, RetryPolicy};

/// Asks chat models for schema-conforming JSON. Cheap to clone; `Debug` hides the API key.
#[derive(Debug, Clone)]
pub struct StructuredClient {
    api: Api,
    max_completion_tokens: Option<u32>,
}

/// What a structured completion is asked: the model, instructions and input.
#[derive(Debug, Clone, Copy)]
pub struct Prompt<'a> {
    pub model: &'a str,
    /// Instructions (the `system` message).
    pub system: &'a str,
    /// The material to work on, e.g. a transcript (the `user` message).
    pub user: &'a str,
}

/// A structured completion failed.
#[derive(Debug, thiserror::Error)]
pub enum StructuredError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The model declined to answer (safety refusal); its explanation is `refusal`.
    #[error("the model refused: {refusal}")]
    Refused { refusal: String },
    /// `finish_reason: length`: the token limit cut the JSON off.
    #[error("the answer was cut off by the token limit")]
    Truncated,
    /// `finish_reason: content_filter`: the answer was withheld.
    #[error("the answer was withheld by the content filter")]
    Filtered,
    /// No choice, or a choice with neither content nor refusal.
    #[error("the response carried no answer")]
    NoAnswer,
    /// The content is not JSON. The content itself is kept out of the message: it may quote the
    /// transcript.
    #[error("the answer is not valid JSON: {source}")]
    InvalidJson {
        content: String,
        #[source]
        source: serde_json::Error,
    },
    /// The JSON does not fit the requested type.
    #[error("the answer does not match the requested type: {source}")]
    Mismatch {
        answer: Value,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    finish_reason: Option<String>,
    message: Message,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Debug, Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl StructuredClient {
    /// The public API; any OpenAI-compatible server works.
    pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

    pub fn new(base_url: impl Into<String>, api_key: impl Into<ApiKey>) -> Self {
        Self {
            api: Api::new(base_url, api_key),
            max_completion_tokens: None,
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.api.retry = retry;
        self
    }

    /// Caps the answer's tokens (`max_completion_tokens`); an answer that hits the cap fails
    /// with [`StructuredError::Truncated`].
    pub fn with_max_completion_tokens(mut self, tokens: u32) -> Self {
        self.max_completion_tokens = Some(tokens);
        self
    }

    /// Ask `model` and get a `T`, whose JSON Schema (made strict) constrains the answer.
    pub async fn complete<T: JsonSchema + DeserializeOwned>(
        &self,
        model: &str,
        system: &str,
        user: &str,
    ) -> Result<T, StructuredError> {
        let schema = StrictSchema::of::<T>()?;
        let answer = self
            .complete_json(
                &Prompt {
                    model,
                    system,
                    user,
                },
                &schema,
            )
            .await?;
        T::deserialize(&answer).map_err(|source| StructuredError::Mismatch { answer, source })
    }

    /// Ask for JSON conforming to `schema` (for schemas built at run time).
    pub async fn complete_json(
        &self,
        prompt: &Prompt<'_>,
        schema: &StrictSchema,
    ) -> Result<Value, StructuredError> {
        let body = self.request_body(prompt, schema);
        let response = self
            .api
            .send(|| self.api.post("chat/completions").json(&body))
            .await?;
        let completion: Completion = response
            .json()
            .await
            .map_err(|e| ApiError::UnexpectedBody(e.to_string()))?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or(StructuredError::NoAnswer)?;
        if let Some(refusal) = choice.message.refusal.filter(|r| !r.is_empty()) {
            return Err(StructuredError::Refused { refusal });
        }
        match choice.finish_reason.as_deref() {
            Some("length") => return Err(StructuredError::Truncated),
            Some("content_filter") => return Err(StructuredError::Filtered),
            _ => {}
        }
        let content = choice.message.content.ok_or(StructuredError::NoAnswer)?;
        serde_json::from_str(&content)
            .map_err(|source| StructuredError::InvalidJson { content, source })
    }

    /// The Chat Completions request body.
    fn request_body(&self, prompt: &Prompt<'_>, schema: &StrictSchema) -> Value {
        // `system` rather than `developer`: every chat model and compatible server knows it.
        let messages = [
            ChatMessage {
                role: "system",
                content: prompt.system,
            },
            ChatMessage {
                role: "user",
                content: prompt.user,
            },
        ];
        let mut body = json!({
            "model": prompt.model,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": schema.name(),
                    "strict": true,
                    "schema": schema.schema(),
                },
            },
            "store": false,
        });
        if let Some(tokens) = self.max_completion_tokens {
            body["max_completion_tokens"] = json!(tokens);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema, Deserialize)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct Todo {
        title: String,
    }

    #[test]
    fn the_request_nests_the_schema_and_opts_out_of_storage() {
        let client = StructuredClient::new("http://x", "sk-1").with_max_completion_tokens(500);
        let schema = StrictSchema::of::<Todo>().unwrap();
        let body = client.request_body(
            &Prompt {
                model: "gpt-4.1-mini",
                system: "Extract to-dos.",
                user: "Call me back.",
            },
            &schema,
        );
        assert_eq!(body["store"], json!(false));
        assert_eq!(body["max_completion_tokens"], json!(500));
        assert_eq!(body["response_format"]["type"], json!("json_schema"));
        let format = &body["response_format"]["json_schema"];
        assert_eq!(format["name"], json!("Todo"));
        assert_eq!(format["strict"], json!(true));
        assert_eq!(format["schema"]["required"], json!(["title"]));
        assert_eq!(body["messages"][0]["role"], json!("system"));
        assert_eq!(body["messages"][1]["content"], json!("Call me back."));
    }
}
