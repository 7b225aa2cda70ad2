//! The OpenAI emulator's control API under `/sandbox/openai` (no authentication): canned chat
//! answers, injected faults, the request log. Documented in the module docs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::OpenAiError;
use super::{Shared, lock};

/// Injected failures.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Faults {
    #[serde(default = "default_status")]
    status: u16,
    /// Fail this many requests, then stop.
    #[serde(default)]
    count: Option<u32>,
    /// Fail this share of requests (0–1), chosen by a PRNG seeded with `seed`.
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    retry_after: Option<u64>,
    /// `audio/transcriptions` or `chat/completions`; both if absent.
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    seed: u64,
}

fn default_status() -> u16 {
    500
}

/// A chat answer set up by a test.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CannedAnswer {
    #[serde(skip_deserializing)]
    pub(crate) id: u64,
    /// A substring of the last user message.
    #[serde(default, rename = "match")]
    pub(crate) matches: Option<String>,
    /// The `json_schema.name` of the request.
    #[serde(default)]
    pub(crate) schema: Option<String>,
    #[serde(default)]
    pub(crate) answer: Option<Value>,
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default)]
    pub(crate) refusal: Option<String>,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) times: Option<u32>,
}

/// Whether the next request to `endpoint` is faulted, and how.
pub(crate) fn take_fault(state: &mut super::State, endpoint: &str) -> Option<OpenAiError> {
    let faults = state.faults.as_mut()?;
    if faults.endpoint.as_deref().is_some_and(|e| e != endpoint) {
        return None;
    }
    let fire = match (faults.count.as_mut(), faults.rate) {
        (Some(0), _) => false,
        (Some(count), _) => {
            *count -= 1;
            true
        }
        (None, Some(rate)) => {
            faults.seed = splitmix(faults.seed);
            ((faults.seed >> 11) as f64 / (1u64 << 53) as f64) < rate
        }
        (None, None) => true,
    };
    fire.then(|| OpenAiError::injected(faults.status, faults.retry_after))
}

/// SplitMix64: the same seed faults the same requests on every machine.
fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The answer for a request, if a test set one up; uses it up when it has `times`.
pub(crate) fn take_answer(
    state: &mut super::State,
    last_user_message: &str,
    schema_name: Option<&str>,
) -> Option<CannedAnswer> {
    let index = state.answers.iter().rposition(|a| {
        a.matches
            .as_deref()
            .is_none_or(|m| last_user_message.contains(m))
            && a.schema.as_deref().is_none_or(|s| Some(s) == schema_name)
    })?;
    let answer = state.answers[index].clone();
    if let Some(times) = state.answers[index].times.as_mut() {
        *times = times.saturating_sub(1);
        if *times == 0 {
            state.answers.remove(index);
        }
    }
    Some(answer)
}

pub(crate) async fn add_answer(
    State(shared): State<Shared>,
    Json(mut answer): Json<CannedAnswer>,
) -> Response {
    let given = [
        answer.answer.is_some(),
        answer.content.is_some(),
        answer.refusal.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return OpenAiError::invalid("give exactly one of answer, content, refusal", None)
            .into_response();
    }
    let mut state = lock(&shared);
    answer.id = state.next_id();
    let id = answer.id;
    state.answers.push(answer);
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

pub(crate) async fn clear_answers(State(shared): State<Shared>) -> StatusCode {
    lock(&shared).answers.clear();
    StatusCode::NO_CONTENT
}

pub(crate) async fn set_faults(
    State(shared): State<Shared>,
    Json(faults): Json<Faults>,
) -> Response {
    if faults.rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return OpenAiError::invalid("rate must be between 0 and 1", None).into_response();
    }
    lock(&shared).faults = Some(faults);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn clear_faults(State(shared): State<Shared>) -> StatusCode {
    lock(&shared).faults = None;
    StatusCode::NO_CONTENT
}

pub(crate) async fn list_requests(State(shared): State<Shared>) -> Json<Value> {
    Json(json!({ "requests": lock(&shared).requests }))
}

pub(crate) async fn clear_requests(State(shared): State<Shared>) -> StatusCode {
    lock(&shared).requests.clear();
    StatusCode::NO_CONTENT
}
