//! The speech-to-speech emulators: OpenAI Realtime (GA) at `/openai/v1/realtime` and Gemini Live
//! (`BidiGenerateContent`) under `/gemini`, plus their control API under `/sandbox/realtime`.
//!
//! Both hear the caller with an energy VAD, recognise the [`crate::speech`] phrase that was said,
//! and answer as scripted in [`script`]: the agent's voice (a tone at
//! [`crate::speech::AGENT_VOICE_HZ`]) paced in real time, or a tool call when the phrase has a
//! tool the session declared. See the crate documentation for modes and faults.

mod arguments;
mod control;
mod faults;
mod gemini;
mod log;
mod openai;
mod script;
mod vad;
mod voice;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};

pub(crate) use faults::{FaultRule, Faults};
pub(crate) use log::ConnectionLog;

/// Where the Gemini emulator listens, below the `/gemini` base URL: the path the Developer API
/// uses (the `GeminiLive` client appends it to its base URL).
pub(crate) const GEMINI_LIVE_PATH: &str =
    "/gemini/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

/// Bytes read from a realtime socket at a time. tungstenite's default (128 KiB) is zero-filled
/// before every read: with a thousand connections each sending a 20 ms frame at a time (the
/// live-call benchmark) that alone would take most of a core. Larger messages take several reads.
pub(crate) const READ_BUFFER_BYTES: usize = 4 * 1024;

/// State shared by every realtime connection of one sandbox.
#[derive(Default)]
pub(crate) struct Realtime {
    faults: Mutex<Vec<FaultRule>>,
    connections: Mutex<Vec<Arc<Mutex<ConnectionLog>>>>,
    /// Gemini resumption handle → how many turns that session had completed.
    handles: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
}

pub(crate) type Shared = Arc<Realtime>;

/// Keeps memory bounded in long demo runs: only the latest connections are logged.
const LOGGED_CONNECTIONS: usize = 64;

/// A poisoned lock only means another connection's task panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Realtime {
    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a new connection: takes the first fault rule that applies to it, and starts its
    /// log.
    fn open(&self, provider: Provider, model: &str) -> (u64, Faults, Arc<Mutex<ConnectionLog>>) {
        let id = self.next_id();
        let faults = faults::take(&mut lock(&self.faults), provider);
        let entry = Arc::new(Mutex::new(ConnectionLog::new(id, provider, model)));
        let mut connections = lock(&self.connections);
        if connections.len() >= LOGGED_CONNECTIONS {
            connections.remove(0);
        }
        connections.push(entry.clone());
        (id, faults, entry)
    }
}

/// Which emulator a connection or fault rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Provider {
    #[serde(rename = "openai")]
    OpenAi,
    Gemini,
}

/// Every route of the realtime emulators.
pub(crate) fn router() -> Router {
    let shared: Shared = Arc::new(Realtime::default());
    Router::new()
        .route("/openai/v1/realtime", get(openai::upgrade))
        .route(GEMINI_LIVE_PATH, get(gemini::upgrade))
        .route(
            "/sandbox/realtime/faults",
            post(control::add_faults).delete(control::clear_faults),
        )
        .route(
            "/sandbox/realtime/connections",
            get(control::list_connections).delete(control::clear_connections),
        )
        .with_state(shared)
}

/// Sleeps until `deadline`, or forever without one: a `select!` arm that is off when unset.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
