//! The agent's speech session for a call: what it is configured with, how it is opened, and the
//! pre-warm that opens it while the voice webhook is still being answered.
//!
//! A provider takes a few hundred milliseconds to accept a session. Opening it when Twilio asks
//! for TwiML (rather than when the media stream starts) hides that behind Twilio's own call
//! setup, so the caller hears the agent sooner. A session nobody claims (the caller hung up
//! during the ring) is closed after [`PREWARM_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loquent_ai::realtime::{
    GeminiLive, OpenAiRealtime, Provider, RealtimeConfig, RealtimeError, RealtimeSession, ToolSpec,
    TurnDetection,
};
use loquent_twilio::E164;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::agents::config::{RealtimeConfig as AgentConfig, Tools};
use crate::config::{Config, Secret};
use crate::entity::agent;
use crate::secrets::SecretBox;

/// How long a pre-warmed session waits for its media stream.
pub const PREWARM_TTL: Duration = Duration::from_secs(10);
/// How long a stream waits for a session still connecting.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);

pub type Session = Box<dyn RealtimeSession>;
type Connecting = JoinHandle<Result<Session, RealtimeError>>;

/// What a call needs to know about its agent.
#[derive(Debug, Clone)]
pub struct AgentSetup {
    pub session: RealtimeConfig,
    /// What the agent says first; `None` lets the model greet in its own words.
    pub greeting: Option<String>,
    pub transfer_numbers: Vec<E164>,
    /// Tell the model the caller's name and notes before it greets them.
    pub caller_context: bool,
    /// The caller-lookup endpoint and its opened token, when the agent may look callers up.
    pub lookup: Option<(String, Option<String>)>,
}

impl AgentSetup {
    /// The agent's stored settings as a speech-session config; a row the current rules would
    /// reject still answers its calls, with the provider's defaults where it is wrong.
    pub fn of(agent: &agent::Model, secrets: &SecretBox) -> Self {
        let stored = AgentConfig::from_json(&agent.realtime_config);
        let transfer_numbers: Vec<E164> = stored
            .transfer_numbers
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let mut session = RealtimeConfig::for_provider(stored.provider.into());
        session.model = stored.model.clone();
        session.voice = stored.voice.clone();
        if !agent.prompt.trim().is_empty() {
            session.instructions = agent.prompt.clone();
        }
        session.turn_detection = TurnDetection::ServerVad {
            threshold: f64::from(stored.vad.threshold),
            prefix_padding_ms: stored.vad.prefix_padding_ms,
            silence_duration_ms: stored.vad.silence_duration_ms,
        };
        let lookup = stored
            .lookup
            .as_ref()
            .filter(|_| stored.tools.lookup_caller)
            .map(|l| (l.url.clone(), stored.lookup_token(secrets)));
        session.tools = tools(&stored.tools, &transfer_numbers, lookup.is_some());
        if let Err(error) = session.validate() {
            tracing::warn!(agent_id = %agent.id, %error, "agent settings invalid; using provider defaults");
            let fallback = RealtimeConfig::for_provider(session.provider);
            session.model = fallback.model;
            session.voice = fallback.voice;
            session.turn_detection = fallback.turn_detection;
        }
        Self {
            session,
            greeting: stored.greeting.filter(|g| !g.trim().is_empty()),
            transfer_numbers,
            caller_context: stored.caller_context,
            lookup,
        }
    }
}

/// The functions the model may call, as the agent enables them.
fn tools(enabled: &Tools, transfer_numbers: &[E164], lookup: bool) -> Vec<ToolSpec> {
    let mut tools = Vec::new();
    if enabled.end_call {
        tools.push(ToolSpec {
            name: super::tools::END_CALL.to_owned(),
            description: "End the phone call. Use it once the caller has nothing more to ask \
                          and you have said goodbye."
                .to_owned(),
            parameters: json!({"type": "object", "properties": {
                "reason": {"type": "string", "description": "Why the call is ending."}
            }}),
        });
    }
    if enabled.transfer_call && !transfer_numbers.is_empty() {
        let numbers: Vec<&str> = transfer_numbers.iter().map(E164::as_str).collect();
        tools.push(ToolSpec {
            name: super::tools::TRANSFER_CALL.to_owned(),
            description: "Transfer the caller to a person. Tell the caller first.".to_owned(),
            parameters: json!({"type": "object", "properties": {
                "number": {"type": "string", "enum": numbers,
                           "description": "The number to transfer to."}
            }, "required": ["number"]}),
        });
    }
    if lookup {
        tools.push(ToolSpec {
            name: super::tools::LOOKUP_CALLER.to_owned(),
            description: "Look up what the business knows about the caller (by their phone \
                          number) in its customer system."
                .to_owned(),
            parameters: json!({"type": "object", "properties": {}}),
        });
    }
    tools
}

/// The server's speech providers: where they are, their keys, and how much caller audio goes up
/// per message.
#[derive(Clone)]
pub struct Providers {
    openai_base_url: url::Url,
    openai_api_key: Option<Secret<String>>,
    gemini_base_url: url::Url,
    gemini_api_key: Option<Secret<String>>,
    uplink_batch: Option<Duration>,
}

impl Providers {
    pub fn from_config(config: &Config) -> Self {
        Self {
            openai_base_url: config.ai.openai_base_url.clone(),
            openai_api_key: config.ai.openai_api_key.clone(),
            gemini_base_url: config.ai.gemini_base_url.clone(),
            gemini_api_key: config.ai.gemini_api_key.clone(),
            uplink_batch: config.calls.uplink_batch,
        }
    }

    /// Opens a session with the agent's provider.
    pub async fn connect(&self, config: &RealtimeConfig) -> Result<Session, RealtimeError> {
        let key = |secret: &Option<Secret<String>>| {
            secret
                .as_ref()
                .map(|s| s.expose().clone())
                .unwrap_or_default()
        };
        Ok(match config.provider {
            Provider::OpenAi => {
                // The caller's words are transcribed too, so every call keeps both sides.
                let mut client =
                    OpenAiRealtime::new(self.openai_base_url.as_str(), key(&self.openai_api_key))
                        .with_input_transcription(LIVE_TRANSCRIPTION_MODEL);
                if let Some(batch) = self.uplink_batch {
                    client = client.with_uplink_batch(batch);
                }
                Box::new(client.connect(config).await?)
            }
            Provider::Gemini => {
                let mut client =
                    GeminiLive::new(self.gemini_base_url.as_str(), key(&self.gemini_api_key))
                        .with_transcription(true);
                if let Some(batch) = self.uplink_batch {
                    client = client.with_uplink_batch(batch);
                }
                Box::new(client.connect(config).await?)
            }
        })
    }
}

/// The model OpenAI's realtime sessions transcribe the caller with.
pub const LIVE_TRANSCRIPTION_MODEL: &str = "gpt-4o-mini-transcribe";

/// Sessions opened for calls whose media stream has not started yet, by Call SID.
pub struct Prewarmed {
    providers: Providers,
    pending: Mutex<HashMap<String, Connecting>>,
}

impl Prewarmed {
    pub fn new(providers: Providers) -> Self {
        Self {
            providers,
            pending: Mutex::default(),
        }
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Connecting>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts opening the call's session; a retried webhook for the same call reuses the first.
    pub fn start(self: &Arc<Self>, call_sid: &str, config: RealtimeConfig) {
        {
            let mut pending = self.lock();
            if pending.contains_key(call_sid) {
                return;
            }
            let providers = self.providers.clone();
            #[expect(
                clippy::disallowed_methods,
                reason = "a pre-warmed session belongs to a ringing call; after a restart the call is gone"
            )]
            let task = tokio::spawn(async move { providers.connect(&config).await });
            pending.insert(call_sid.to_owned(), task);
        }
        let this = Arc::clone(self);
        let call_sid = call_sid.to_owned();
        #[expect(
            clippy::disallowed_methods,
            reason = "closes an unclaimed pre-warmed session; a restart closes it anyway"
        )]
        tokio::spawn(async move {
            tokio::time::sleep(PREWARM_TTL).await;
            let unclaimed = this.lock().remove(&call_sid);
            if let Some(task) = unclaimed {
                tracing::info!(%call_sid, "pre-warmed session never claimed; closing it");
                close_when_open(task).await;
            }
        });
    }

    /// The call's pre-warmed session, waiting for it if it is still connecting; `None` when
    /// there was none (the stream then connects its own).
    pub async fn claim(&self, call_sid: &str) -> Option<Result<Session, RealtimeError>> {
        let mut task = self.lock().remove(call_sid)?;
        match tokio::time::timeout(CLAIM_TIMEOUT, &mut task).await {
            Ok(Ok(result)) => Some(result),
            Ok(Err(join)) => Some(Err(RealtimeError::Protocol {
                provider: Provider::OpenAi,
                message: format!("the session task failed: {join}"),
            })),
            Err(_) => {
                task.abort();
                Some(Err(RealtimeError::Closed))
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

async fn close_when_open(task: Connecting) {
    if let Ok(Ok(mut session)) = task.await {
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close()).await;
    }
}
