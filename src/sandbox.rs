//! The built-in sandbox: the emulated Twilio, OpenAI and Gemini of `loquent-sandbox`, served in
//! this process on loopback, so that a fresh install can do everything without accounts or keys.
//!
//! - On with `LOQUENT_SANDBOX=on`, or by default (`auto`) while the server has neither platform
//!   Twilio credentials nor any AI provider key. Off, nothing of it exists.
//! - An organization may use it as its Twilio account (`orgs::twilio::connect_sandbox`): its
//!   own emulated main account with numbers and a little past call history. Its Twilio client
//!   then talks to the sandbox; everything else (import, buy, voice URL, sync, event sinks) is
//!   the same code as for a real account.
//! - A provider without an API key talks to the sandbox's emulator (see [`Emulated`]).
//! - A sandbox number can be called by a scripted caller ([`BuiltInSandbox::place_call`]),
//!   which rings our own voice URL as Twilio would.
//!
//! The sandbox keeps its state in memory: after a restart an organization's account is seeded
//! again from the same seed (same SID, token and history); see [`BuiltInSandbox::create_account`].

use std::net::SocketAddr;

use loquent_sandbox::{Sandbox, SandboxHandle, SeededAccount};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

/// Which AI providers talk to the sandbox's emulator because they have no key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emulated {
    pub openai: bool,
    pub gemini: bool,
}

/// Why the sandbox could not do something.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the built-in sandbox did not answer: {0}")]
    Unreachable(String),
    #[error("the built-in sandbox refused: {0}")]
    Refused(String),
}

/// The running sandbox and a client for its control API.
pub struct BuiltInSandbox {
    handle: SandboxHandle,
    http: reqwest::Client,
}

/// Numbers an organization's sandbox account starts with.
pub const NUMBERS: u32 = 2;

/// Past calls per number, for trying the history sync.
pub const PAST_CALLS_PER_NUMBER: u32 = 3;

impl BuiltInSandbox {
    /// Serves the emulators on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let handle = Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self { handle, http })
    }

    /// The emulated Twilio's REST and Events host.
    pub fn twilio_base(&self) -> Url {
        Url::parse(&self.handle.twilio_api_base()).expect("the sandbox's own URL")
    }

    pub fn openai_base_url(&self) -> Url {
        Url::parse(&self.handle.openai_base_url()).expect("the sandbox's own URL")
    }

    pub fn gemini_base_url(&self) -> Url {
        Url::parse(&self.handle.gemini_base_url()).expect("the sandbox's own URL")
    }

    async fn control(&self, path: &str, body: Value) -> Result<Value, SandboxError> {
        let url = format!("{}{path}", self.handle.twilio_api_base());
        let res = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| SandboxError::Unreachable(e.to_string()))?;
        let status = res.status();
        let answer: Value = res
            .json()
            .await
            .map_err(|e| SandboxError::Unreachable(e.to_string()))?;
        if status.is_success() {
            Ok(answer)
        } else {
            Err(SandboxError::Refused(answer.to_string()))
        }
    }

    /// The emulated account of `organization`: the same SID, token, numbers and past calls
    /// for the same organization, so seeding again after a restart brings it back.
    pub async fn create_account(
        &self,
        organization: Uuid,
        name: &str,
    ) -> Result<SeededAccount, SandboxError> {
        let now = chrono::Utc::now();
        let answer = self
            .control(
                "/sandbox/accounts",
                json!({
                    "numbers": NUMBERS,
                    "calls_per_number": PAST_CALLS_PER_NUMBER,
                    "recording_share": 1.0,
                    "seed": seed_of(organization),
                    "since": (now - chrono::Duration::days(30)).date_naive().to_string(),
                    "until": now.date_naive().to_string(),
                    "friendly_name": format!("Sandbox: {name}"),
                    "parties": 3,
                }),
            )
            .await?;
        serde_json::from_value(answer).map_err(|e| SandboxError::Refused(e.to_string()))
    }

    /// Gives `account_sid` the number `phone_number` (one bought before a restart), answering
    /// its new SID.
    pub async fn add_number(
        &self,
        account_sid: &str,
        phone_number: &str,
        voice_url: Option<&str>,
    ) -> Result<String, SandboxError> {
        let mut body = json!({"account_sid": account_sid, "phone_number": phone_number});
        if let Some(url) = voice_url {
            body["voice_url"] = json!(url);
            body["voice_method"] = json!("POST");
        }
        let answer = self.control("/sandbox/numbers", body).await?;
        answer["sid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SandboxError::Refused(answer.to_string()))
    }

    /// Rings `to` (a number of `account_sid`) from `from` with a scripted caller (the default
    /// one without `script`); answers the call's SID at once, the call runs on.
    pub async fn place_call(
        &self,
        account_sid: &str,
        from: &str,
        to: &str,
        script: Option<Value>,
    ) -> Result<String, SandboxError> {
        let mut body = json!({"account_sid": account_sid, "from": from, "to": to, "wait": false});
        body["script"] = script.unwrap_or_else(default_script);
        let answer = self.control("/sandbox/calls", body).await?;
        answer["call_sid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SandboxError::Refused(answer.to_string()))
    }
}

/// A caller who waits for the greeting, says hello, asks a question and, after the answers, says
/// goodbye (the agent then ends the call with its tool).
pub fn default_script() -> Value {
    json!([
        {"wait_for_speech": 5000},
        {"say": "hello", "ms": 900},
        {"wait_for_reply": 8000},
        {"say": "question", "ms": 1200},
        {"wait_for_reply": 10000},
        {"say": "end_call", "ms": 900},
        {"wait_for_hangup": 10000}
    ])
}

/// A seed that is the organization's alone (the last eight bytes of its id, the random ones of a
/// UUIDv7).
fn seed_of(organization: Uuid) -> u64 {
    let bytes = organization.as_bytes();
    u64::from_be_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ])
}
