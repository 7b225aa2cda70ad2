//! The OpenAI REST emulator: `POST /openai/v1/audio/transcriptions` and
//! `POST /openai/v1/chat/completions`, plus its control API under `/sandbox/openai/...`.
//!
//! # Wire behaviour
//!
//! Both endpoints want `Authorization: Bearer <anything non-empty>` (401 otherwise) and answer
//! errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.
//!
//! **Transcriptions** take OpenAI's multipart form and validate it as the real API does: known
//! `model`; `response_format` allowed for it (`gpt-4o-transcribe-diarize`: `json`, `text`,
//! `diarized_json`; `gpt-4o(-mini)-transcribe`: `json`, `text`; `whisper-1`: `json`, `text`,
//! `verbose_json`); no `prompt`, `include[]` or `timestamp_granularities[]` with the diarize
//! model; `chunking_strategy` (`auto` or a `server_vad` object) required for diarization above
//! 30 s; the duration caps (1400 s diarize, 1500 s others); bodies above 26,214,400 bytes get
//! 413 with OpenAI's message. The audio (MP3 frame headers or a WAV header) gives the duration.
//!
//! The emulator cannot hear, so transcripts are deterministic, cut in [`transcriptions::WINDOW_SECS`]
//! windows:
//! - 16-bit PCM WAV carrying the sandbox's speech tones ([`crate::speech`]): each window with
//!   speech becomes a segment whose text is the phrase's name (`hello`, `question`, ...; speaker
//!   `A`) or `agent reply` for the agent's voice (speaker `B`); equal neighbours merge; silence
//!   gives nothing.
//! - Anything without recognisable speech (MP3s, whose samples the emulator does not decode, or
//!   silence): a script alternating `A` and `B`, window `n` (from 1) saying
//!   `Line n from speaker X.`.
//!
//! **Chat Completions** validate `model` (a `gpt-*`, `chatgpt-*` or `o<digit>` id, else 404
//! `model_not_found`), `messages`, and a `json_schema` response format (name pattern; with
//! `strict: true` the strict-mode rules: object root, `additionalProperties: false` and every
//! property required on every object, no `allOf`/`oneOf`/`not`/conditionals/tuples, resolvable
//! `$ref`s). The answer is a canned one if one matches (see below), otherwise JSON generated from
//! the schema (every property; enums pick their first value; arrays hold one item; strings are
//! `sample <property>`; integers 1, numbers 1.5, booleans true; `anyOf` its first non-null
//! member). An answer longer than `max_completion_tokens` (4 characters per token) is cut with
//! `finish_reason: length`. Requests with `store: true` are accepted but noted in the log.
//!
//! # Control API (JSON, no auth)
//!
//! | Request | Effect |
//! | --- | --- |
//! | `POST /sandbox/openai/chat-answers` `{match?, schema?, answer? \| content? \| refusal?, finish_reason?, times?}` | From now on, chat requests whose last user message contains `match` and/or whose schema is named `schema` get this answer: `answer` (any JSON, serialized as the content), `content` (a raw string, e.g. invalid JSON) or `refusal`. The newest matching answer wins; `times` limits how often it is used. 201 `{id}`. |
//! | `DELETE /sandbox/openai/chat-answers` | Forgets all canned answers. |
//! | `POST /sandbox/openai/faults` `{status?, count?, rate?, retry_after?, endpoint?, seed?}` | The next `count` requests (or a `rate` share, PRNG seeded by `seed`) to `endpoint` (`audio/transcriptions` or `chat/completions`; both if absent) fail with `status` (default 500) before running; 429s carry `Retry-After: retry_after`. |
//! | `DELETE /sandbox/openai/faults` | Stops injecting faults. |
//! | `GET /sandbox/openai/requests` | `{requests: [{endpoint, status, body}]}` in arrival order. `body` is the JSON body, or for multipart `{fields: [[name, value]...], files: [{name, filename, content_type, size, channels, duration}]}`. |
//! | `DELETE /sandbox/openai/requests` | Clears the log. |

mod chat;
mod control;
mod error;
mod probe;
mod schema;
mod transcriptions;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use error::OpenAiError;

/// OpenAI's request body limit (25 MiB).
pub(crate) const MAX_BODY_BYTES: usize = 26_214_400;

pub(crate) type Shared = Arc<Mutex<State>>;

/// Everything the emulator remembers.
#[derive(Debug, Default)]
pub(crate) struct State {
    requests: Vec<LoggedRequest>,
    faults: Option<control::Faults>,
    answers: Vec<control::CannedAnswer>,
    next_id: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoggedRequest {
    endpoint: &'static str,
    status: u16,
    body: Value,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every route of the OpenAI emulator.
pub(crate) fn router() -> Router {
    let shared: Shared = Arc::default();
    Router::new()
        .route(
            "/openai/v1/audio/transcriptions",
            post(transcriptions::create),
        )
        .route("/openai/v1/chat/completions", post(chat::create))
        .route(
            "/sandbox/openai/chat-answers",
            post(control::add_answer).delete(control::clear_answers),
        )
        .route(
            "/sandbox/openai/faults",
            post(control::set_faults).delete(control::clear_faults),
        )
        .route(
            "/sandbox/openai/requests",
            axum::routing::get(control::list_requests).delete(control::clear_requests),
        )
        // The handlers read bodies themselves, to answer oversized uploads in OpenAI's shape.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// The front door shared by both endpoints: bearer auth, then any injected fault. `Err` is the
/// answer to send (already logged).
fn admit(shared: &Shared, endpoint: &'static str, headers: &HeaderMap) -> Result<(), OpenAiError> {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty());
    let mut state = lock(shared);
    let failure = if !authorized {
        Some(OpenAiError::unauthenticated())
    } else {
        control::take_fault(&mut state, endpoint)
    };
    match failure {
        Some(e) => {
            state.requests.push(LoggedRequest {
                endpoint,
                status: e.status,
                body: Value::Null,
            });
            Err(e)
        }
        None => Ok(()),
    }
}

fn log(shared: &Shared, endpoint: &'static str, status: u16, body: Value) {
    lock(shared).requests.push(LoggedRequest {
        endpoint,
        status,
        body,
    });
}
