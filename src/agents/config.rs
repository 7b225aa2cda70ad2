//! An agent's live-call settings, stored as JSON in `agent.realtime_config`: which speech model
//! answers, with which voice and turn detection, what it says first and which tools it may use.
//!
//! Reading is lenient and writing is strict. Rows written by older versions miss fields, which
//! take their defaults (the provider's model and voice, OpenAI's VAD values), so adding a setting
//! never needs a migration; the live-call path uses [`RealtimeConfig::from_json`], which never
//! fails. What people send goes through [`ConfigInput::validate`], which reports every bad field
//! at once so a form can show each message beside its field.

use loquent_ai::realtime::{self, config as defaults};
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secrets::SecretBox;
use crate::validation::FieldError;

/// OpenAI Realtime's built-in voices.
pub const OPENAI_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
];
/// Gemini Live's prebuilt voices.
pub const GEMINI_VOICES: &[&str] = &[
    "Puck", "Charon", "Kore", "Fenrir", "Aoede", "Leda", "Orus", "Zephyr",
];

/// The most numbers an agent may transfer to: the model chooses among them by name, and a long
/// list is a prompt problem rather than a routing table.
pub const MAX_TRANSFER_NUMBERS: usize = 10;
const MAX_MODEL_CHARS: usize = 128;
const MAX_GREETING_CHARS: usize = 2_000;
const MAX_URL_CHARS: usize = 2_048;
const MAX_TOKEN_CHARS: usize = 4_096;

/// The speech-to-speech service that runs the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    OpenAi,
    Gemini,
}

/// The speech session's own provider type (the AI crate knows nothing of agents).
impl From<Provider> for realtime::Provider {
    fn from(provider: Provider) -> Self {
        match provider {
            Provider::OpenAi => Self::OpenAi,
            Provider::Gemini => Self::Gemini,
        }
    }
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::OpenAi, Provider::Gemini];

    /// The stored and API spelling: `openai`, `gemini`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Gemini => "gemini",
        }
    }

    /// How people call it.
    pub fn label(self) -> &'static str {
        match self {
            Self::OpenAi => "OpenAI Realtime",
            Self::Gemini => "Gemini Live",
        }
    }

    pub fn default_model(self) -> &'static str {
        match self {
            Self::OpenAi => defaults::OPENAI_DEFAULT_MODEL,
            Self::Gemini => defaults::GEMINI_DEFAULT_MODEL,
        }
    }

    pub fn default_voice(self) -> &'static str {
        match self {
            Self::OpenAi => defaults::OPENAI_DEFAULT_VOICE,
            Self::Gemini => defaults::GEMINI_DEFAULT_VOICE,
        }
    }

    /// The voices this provider offers, spelled as it expects them.
    pub fn voices(self) -> &'static [&'static str] {
        match self {
            Self::OpenAi => OPENAI_VOICES,
            Self::Gemini => GEMINI_VOICES,
        }
    }

    /// Whether `model` is obviously this provider's (its model ids share a prefix), to catch a
    /// model left over after switching provider.
    fn owns_model(self, model: &str) -> bool {
        let prefix = match self {
            Self::OpenAi => "gpt-",
            Self::Gemini => "gemini-",
        };
        model.to_ascii_lowercase().starts_with(prefix)
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Server-side voice activity detection: when the caller has started and finished speaking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Vad {
    /// 0.0..=1.0; higher needs louder speech, which suits noisy lines.
    pub threshold: f32,
    /// Audio kept from before detected speech, 0..=2000 ms.
    pub prefix_padding_ms: u32,
    /// Silence that ends the caller's turn, 100..=5000 ms.
    pub silence_duration_ms: u32,
}

impl Default for Vad {
    /// OpenAI's documented server-VAD defaults.
    fn default() -> Self {
        Self {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        }
    }
}

/// The built-in tools the model may call during a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Tools {
    /// Hang up once the conversation is over.
    pub end_call: bool,
    /// Transfer the caller to one of `transfer_numbers`.
    pub transfer_call: bool,
    /// Ask the lookup endpoint about the caller.
    pub lookup_caller: bool,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            end_call: true,
            transfer_call: false,
            lookup_caller: false,
        }
    }
}

/// The caller-lookup endpoint (a CRM) the `lookup_caller` tool asks.
///
/// The issue speaks of "the organization's configured lookup URL"; it is kept per agent instead,
/// because an organization's lines may serve different businesses with different CRMs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// An http(s) URL.
    pub url: String,
    /// The bearer token sealed with the server key (never shown back); `None`: no token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_sealed: Option<String>,
}

impl Lookup {
    pub fn has_token(&self) -> bool {
        self.token_sealed.is_some()
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup")
            .field("url", &self.url)
            .field("has_token", &self.has_token())
            .finish()
    }
}

/// An agent's settings as stored. Build it from input with [`ConfigInput::validate`]; read it
/// from a row with [`RealtimeConfig::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredConfig")]
pub struct RealtimeConfig {
    pub provider: Provider,
    /// Model id without any `models/` prefix.
    pub model: String,
    /// One of `provider.voices()`.
    pub voice: String,
    pub vad: Vad,
    /// What the agent says first; `None`: the model opens as it sees fit.
    pub greeting: Option<String>,
    pub tools: Tools,
    /// E.164 numbers the `transfer_call` tool may dial; non-empty when that tool is on.
    pub transfer_numbers: Vec<String>,
    /// Set when `tools.lookup_caller` is on (and may be kept while it is off).
    pub lookup: Option<Lookup>,
    /// Tell the model the known contact's name and notes before the greeting.
    pub caller_context: bool,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self::for_provider(Provider::default())
    }
}

/// The stored form: every field optional, so old rows read as complete configs.
#[derive(Deserialize)]
struct StoredConfig {
    #[serde(default)]
    provider: Provider,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    voice: Option<String>,
    #[serde(default)]
    vad: Vad,
    #[serde(default)]
    greeting: Option<String>,
    #[serde(default)]
    tools: Tools,
    #[serde(default)]
    transfer_numbers: Vec<String>,
    #[serde(default)]
    lookup: Option<Lookup>,
    #[serde(default)]
    caller_context: bool,
}

impl From<StoredConfig> for RealtimeConfig {
    fn from(stored: StoredConfig) -> Self {
        let provider = stored.provider;
        let or_default = |value: Option<String>, default: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            provider,
            model: or_default(stored.model, provider.default_model()),
            voice: or_default(stored.voice, provider.default_voice()),
            vad: stored.vad,
            greeting: stored.greeting.filter(|g| !g.trim().is_empty()),
            tools: stored.tools,
            transfer_numbers: stored.transfer_numbers,
            lookup: stored.lookup,
            caller_context: stored.caller_context,
        }
    }
}

impl RealtimeConfig {
    /// The defaults for a new agent on `provider`.
    pub fn for_provider(provider: Provider) -> Self {
        Self {
            provider,
            model: provider.default_model().to_owned(),
            voice: provider.default_voice().to_owned(),
            vad: Vad::default(),
            greeting: None,
            tools: Tools::default(),
            transfer_numbers: Vec::new(),
            lookup: None,
            caller_context: false,
        }
    }

    /// A stored `realtime_config`, never failing: missing fields take their defaults, and an
    /// unreadable value (hand-edited, or from a future version) is logged and replaced by the
    /// defaults so the call is still answered.
    pub fn from_json(value: &serde_json::Value) -> Self {
        match Self::deserialize(value) {
            Ok(config) => config,
            Err(error) => {
                tracing::warn!(%error, "unreadable agent realtime_config; answering with defaults");
                Self::default()
            }
        }
    }

    /// The value to store in `agent.realtime_config`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a config of strings, numbers and booleans serializes")
    }

    /// The lookup endpoint's bearer token in clear, for the live-call path only; `None` without a
    /// lookup, without a token, or when it cannot be opened (logged: the server key changed).
    pub fn lookup_token(&self, secrets: &SecretBox) -> Option<String> {
        let sealed = self.lookup.as_ref()?.token_sealed.as_deref()?;
        match secrets.open(sealed) {
            Ok(token) => Some(token),
            Err(error) => {
                tracing::warn!(%error, "cannot open the caller-lookup token");
                None
            }
        }
    }
}

/// The config as the API and pages show it: the lookup token only as `has_token`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigView {
    pub provider: Provider,
    pub model: String,
    pub voice: String,
    pub vad: Vad,
    pub greeting: Option<String>,
    pub tools: Tools,
    pub transfer_numbers: Vec<String>,
    pub lookup: Option<LookupView>,
    pub caller_context: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LookupView {
    pub url: String,
    pub has_token: bool,
}

impl From<&RealtimeConfig> for ConfigView {
    fn from(c: &RealtimeConfig) -> Self {
        Self {
            provider: c.provider,
            model: c.model.clone(),
            voice: c.voice.clone(),
            vad: c.vad,
            greeting: c.greeting.clone(),
            tools: c.tools,
            transfer_numbers: c.transfer_numbers.clone(),
            lookup: c.lookup.as_ref().map(|l| LookupView {
                url: l.url.clone(),
                has_token: l.has_token(),
            }),
            caller_context: c.caller_context,
        }
    }
}

/// The config as people send it (API body `config`, or the agent form). Everything may be left
/// out; [`ConfigInput::validate`] fills defaults and checks the rest.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ConfigInput {
    /// `openai` or `gemini`; `openai` when absent.
    pub provider: Option<String>,
    /// The provider's default model when absent.
    pub model: Option<String>,
    /// One of the provider's voices; its default when absent.
    pub voice: Option<String>,
    #[schema(default = json!({}))]
    pub vad: VadInput,
    /// What the agent says first; absent: the model opens as it sees fit.
    pub greeting: Option<String>,
    pub tools: Tools,
    /// E.164 numbers the `transfer_call` tool may dial; needed when that tool is on.
    pub transfer_numbers: Vec<String>,
    /// Needed when `tools.lookup_caller` is on.
    #[schema(default = json!(null))]
    pub lookup: Option<LookupInput>,
    /// Tell the model the known contact's name and notes before the greeting.
    pub caller_context: bool,
}

/// Wide types, so an out-of-range value is a field error rather than a parse failure.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct VadInput {
    pub threshold: Option<f64>,
    pub prefix_padding_ms: Option<i64>,
    pub silence_duration_ms: Option<i64>,
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct LookupInput {
    pub url: String,
    /// Write-only. Absent or empty on update: the stored token is kept (same server only).
    pub token: Option<String>,
}

impl fmt::Debug for LookupInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookupInput")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Collects problems under `config.`-prefixed field paths.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .push(FieldError::new(format!("config.{field}"), message));
    }
}

impl ConfigInput {
    /// The config to store, or every problem with the input. `previous` is the agent's stored
    /// config on update: its lookup token is kept when no new one is given and the lookup URL
    /// still points to the same server (a token must not follow a URL to another host). A new
    /// token is sealed with `secrets` here.
    pub fn validate(
        self,
        previous: Option<&RealtimeConfig>,
        secrets: &SecretBox,
    ) -> Result<RealtimeConfig, Vec<FieldError>> {
        let mut problems = Problems::default();

        let provider = match trimmed(self.provider.as_deref()) {
            None => Some(Provider::default()),
            Some(p) => Provider::parse(p).or_else(|| {
                problems.add(
                    "provider",
                    format!("`{p}` is not a provider: choose openai or gemini"),
                );
                None
            }),
        };

        let model = match trimmed(self.model.as_deref()) {
            None => provider.unwrap_or_default().default_model().to_owned(),
            Some(m) => {
                if m.chars().count() > MAX_MODEL_CHARS || m.contains(char::is_whitespace) {
                    problems.add(
                        "model",
                        format!(
                            "enter a model id without spaces, at most {MAX_MODEL_CHARS} characters"
                        ),
                    );
                } else if let Some(p) = provider
                    && let Some(other) = Provider::ALL
                        .into_iter()
                        .find(|o| *o != p && o.owns_model(m))
                {
                    problems.add(
                        "model",
                        format!(
                            "`{m}` is a {} model: use a {} model such as {}",
                            other.label(),
                            p.label(),
                            p.default_model()
                        ),
                    );
                }
                m.to_owned()
            }
        };

        let voice = match (provider, trimmed(self.voice.as_deref())) {
            (Some(p), None) => p.default_voice().to_owned(),
            (Some(p), Some(v)) => match p
                .voices()
                .iter()
                .find(|known| known.eq_ignore_ascii_case(v))
            {
                Some(known) => (*known).to_owned(),
                None => {
                    problems.add(
                        "voice",
                        format!(
                            "`{v}` is not one of the {} voices: choose one of {}",
                            p.label(),
                            p.voices().join(", ")
                        ),
                    );
                    v.to_owned()
                }
            },
            // Without a known provider there is no voice list to check against.
            (None, v) => v.unwrap_or_default().to_owned(),
        };

        let vad = self.vad.validate(&mut problems);

        let greeting = trimmed(self.greeting.as_deref()).map(str::to_owned);
        if greeting
            .as_ref()
            .is_some_and(|g| g.chars().count() > MAX_GREETING_CHARS)
        {
            problems.add(
                "greeting",
                format!("keep the greeting under {MAX_GREETING_CHARS} characters"),
            );
        }

        let transfer_numbers = transfer_numbers(&self.transfer_numbers, &mut problems);
        if self.tools.transfer_call
            && transfer_numbers.is_empty()
            && !problems
                .0
                .iter()
                .any(|e| e.field == "config.transfer_numbers")
        {
            problems.add(
                "transfer_numbers",
                "add at least one number to transfer calls to, or turn call transfer off",
            );
        }

        let previous_lookup = previous.and_then(|p| p.lookup.as_ref());
        let lookup = self
            .lookup
            .and_then(|input| input.validate(previous_lookup, secrets, &mut problems));
        if self.tools.lookup_caller
            && lookup.is_none()
            && !problems
                .0
                .iter()
                .any(|e| e.field.starts_with("config.lookup"))
        {
            problems.add(
                "lookup.url",
                "enter the lookup endpoint's URL, or turn caller lookup off",
            );
        }

        match provider {
            Some(provider) if problems.0.is_empty() => Ok(RealtimeConfig {
                provider,
                model,
                voice,
                vad,
                greeting,
                tools: self.tools,
                transfer_numbers,
                lookup,
                caller_context: self.caller_context,
            }),
            _ => Err(problems.0),
        }
    }
}

impl VadInput {
    fn validate(&self, problems: &mut Problems) -> Vad {
        let defaults = Vad::default();
        let threshold = match self.threshold {
            None => defaults.threshold,
            Some(t) if (0.0..=1.0).contains(&t) => t as f32,
            Some(_) => {
                problems.add("vad.threshold", "must be between 0 and 1");
                defaults.threshold
            }
        };
        let mut millis =
            |field: &str, value: Option<i64>, default: u32, min: u32, max: u32| match value {
                None => default,
                Some(v) if (i64::from(min)..=i64::from(max)).contains(&v) => v as u32,
                Some(_) => {
                    problems.add(field, format!("must be between {min} and {max} ms"));
                    default
                }
            };
        Vad {
            threshold,
            prefix_padding_ms: millis(
                "vad.prefix_padding_ms",
                self.prefix_padding_ms,
                defaults.prefix_padding_ms,
                0,
                2_000,
            ),
            silence_duration_ms: millis(
                "vad.silence_duration_ms",
                self.silence_duration_ms,
                defaults.silence_duration_ms,
                100,
                5_000,
            ),
        }
    }
}

impl LookupInput {
    fn validate(
        self,
        previous: Option<&Lookup>,
        secrets: &SecretBox,
        problems: &mut Problems,
    ) -> Option<Lookup> {
        let url = self.url.trim();
        let token = trimmed(self.token.as_deref());
        if url.is_empty() {
            problems.add("lookup.url", "enter the lookup endpoint's URL");
            return None;
        }
        let parsed = match lookup_url(url) {
            Ok(parsed) => parsed,
            Err(message) => {
                problems.add("lookup.url", message);
                return None;
            }
        };
        let token_sealed = match token {
            Some(t) if t.chars().count() > MAX_TOKEN_CHARS => {
                problems.add(
                    "lookup.token",
                    format!("a token is at most {MAX_TOKEN_CHARS} characters"),
                );
                None
            }
            Some(t) => Some(secrets.seal(t)),
            None => match previous {
                Some(prev) if prev.has_token() => {
                    let same_server =
                        Url::parse(&prev.url).is_ok_and(|old| old.origin() == parsed.origin());
                    if !same_server {
                        problems.add(
                            "lookup.token",
                            "the URL now points to another server: enter the token again",
                        );
                    }
                    prev.token_sealed.clone()
                }
                _ => None,
            },
        };
        Some(Lookup {
            url: url.to_owned(),
            token_sealed,
        })
    }
}

/// An http(s) URL with a host and without credentials (those belong in the token).
fn lookup_url(url: &str) -> Result<Url, String> {
    let expected = "enter an http:// or https:// URL, e.g. https://crm.example.com/lookup";
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("a URL is at most {MAX_URL_CHARS} characters"));
    }
    let parsed = Url::parse(url).map_err(|_| expected.to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(expected.to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("put credentials in the token field, not in the URL".to_owned());
    }
    Ok(parsed)
}

/// Non-empty entries as E.164, duplicates dropped; bad entries reported together.
fn transfer_numbers(input: &[String], problems: &mut Problems) -> Vec<String> {
    let mut numbers: Vec<String> = Vec::new();
    let mut bad: Vec<&str> = Vec::new();
    for entry in input.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match e164(entry) {
            Some(n) if !numbers.contains(&n) => numbers.push(n),
            Some(_) => {}
            None => bad.push(entry),
        }
    }
    if !bad.is_empty() {
        let quoted: Vec<String> = bad.iter().map(|b| format!("`{b}`")).collect();
        problems.add(
            "transfer_numbers",
            format!(
                "{} {} not in international format: + and 8 to 15 digits, e.g. +14155550100",
                quoted.join(", "),
                if bad.len() == 1 { "is" } else { "are" }
            ),
        );
    } else if numbers.len() > MAX_TRANSFER_NUMBERS {
        problems.add(
            "transfer_numbers",
            format!("at most {MAX_TRANSFER_NUMBERS} numbers"),
        );
    }
    numbers
}

/// `+` then 8 to 15 digits, the first not 0; spaces, dashes, dots and brackets are dropped.
pub fn e164(number: &str) -> Option<String> {
    let parsed: loquent_twilio::E164 = number.parse().ok()?;
    (8..=loquent_twilio::E164::MAX_DIGITS)
        .contains(&parsed.digits().len())
        .then(|| parsed.into_string())
}

fn trimmed(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::*;

    fn secrets() -> SecretBox {
        SecretBox::from_base64(&base64::engine::general_purpose::STANDARD.encode([3u8; 32]))
            .unwrap()
    }

    fn input(value: serde_json::Value) -> ConfigInput {
        serde_json::from_value(value).unwrap()
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn old_rows_read_with_the_providers_defaults() {
        assert_eq!(
            RealtimeConfig::from_json(&json!({})),
            RealtimeConfig::default()
        );
        let gemini = RealtimeConfig::from_json(&json!({"provider": "gemini", "model": ""}));
        assert_eq!(gemini, RealtimeConfig::for_provider(Provider::Gemini));
        assert_eq!(gemini.voice, defaults::GEMINI_DEFAULT_VOICE);
        let partial = RealtimeConfig::from_json(&json!({"vad": {"silence_duration_ms": 800}}));
        assert_eq!(partial.vad.silence_duration_ms, 800);
        assert_eq!(partial.vad.threshold, 0.5);
        assert!(partial.tools.end_call);
    }

    #[test]
    fn unreadable_rows_read_as_defaults() {
        for bad in [
            json!({"provider": "azure"}),
            json!("text"),
            json!({"vad": 3}),
        ] {
            assert_eq!(
                RealtimeConfig::from_json(&bad),
                RealtimeConfig::default(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_valid_config_round_trips_through_storage() {
        let config = input(json!({
            "provider": "gemini", "voice": "kore",
            "vad": {"threshold": 0.7, "prefix_padding_ms": 0, "silence_duration_ms": 5000},
            "greeting": "  Hello!  ",
            "tools": {"transfer_call": true, "lookup_caller": true},
            "transfer_numbers": ["+1 (415) 555-0100", "", "+14155550100", "+447700900123"],
            "lookup": {"url": "https://crm.example.com/lookup", "token": "s3cret"},
            "caller_context": true
        }))
        .validate(None, &secrets())
        .unwrap();
        assert_eq!(
            config.voice, "Kore",
            "voices are matched case-insensitively"
        );
        assert_eq!(config.model, Provider::Gemini.default_model());
        assert_eq!(config.greeting.as_deref(), Some("Hello!"));
        assert_eq!(config.transfer_numbers, ["+14155550100", "+447700900123"]);
        assert!(config.tools.end_call);
        let stored = config.to_json();
        assert!(!stored.to_string().contains("s3cret"), "{stored}");
        let read = RealtimeConfig::from_json(&stored);
        assert_eq!(read, config);
        assert_eq!(read.lookup_token(&secrets()).as_deref(), Some("s3cret"));
        let view = serde_json::to_value(ConfigView::from(&read)).unwrap();
        assert_eq!(
            view["lookup"],
            json!({"url": "https://crm.example.com/lookup", "has_token": true})
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = input(json!({
            "provider": "openai", "voice": "Puck", "model": "gpt realtime",
            "vad": {"threshold": 1.5, "prefix_padding_ms": -1, "silence_duration_ms": 50},
            "tools": {"transfer_call": true, "lookup_caller": true},
            "transfer_numbers": ["0800 123", "+0123456789", "+1234567"]
        }))
        .validate(None, &secrets())
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "config.model",
                "config.voice",
                "config.vad.threshold",
                "config.vad.prefix_padding_ms",
                "config.vad.silence_duration_ms",
                "config.transfer_numbers",
                "config.lookup.url",
            ]
        );
        let numbers = &errors[5].message;
        assert!(
            numbers.contains("`0800 123`, `+0123456789`, `+1234567` are not"),
            "{numbers}"
        );
        assert!(errors[1].message.contains("marin"), "{}", errors[1].message);
    }

    #[test]
    fn transfer_needs_numbers_and_at_most_ten() {
        let errors = input(json!({"tools": {"transfer_call": true}}))
            .validate(None, &secrets())
            .unwrap_err();
        assert_eq!(fields(&errors), ["config.transfer_numbers"]);
        let eleven: Vec<String> = (0..11).map(|i| format!("+1415555010{i}")).collect();
        let errors = input(json!({"transfer_numbers": eleven}))
            .validate(None, &secrets())
            .unwrap_err();
        assert!(errors[0].message.contains("at most 10"));
    }

    #[test]
    fn a_model_left_from_the_other_provider_is_caught() {
        let errors = input(json!({"provider": "gemini", "model": "gpt-realtime"}))
            .validate(None, &secrets())
            .unwrap_err();
        assert_eq!(fields(&errors), ["config.model"]);
        assert!(
            errors[0].message.contains("OpenAI Realtime"),
            "{:?}",
            errors[0]
        );
        let custom = input(json!({"provider": "openai", "model": "gpt-realtime-mini"}))
            .validate(None, &secrets())
            .unwrap();
        assert_eq!(custom.model, "gpt-realtime-mini");
    }

    #[test]
    fn unknown_provider_is_one_error_not_a_voice_error_too() {
        let errors = input(json!({"provider": "azure", "voice": "alloy"}))
            .validate(None, &secrets())
            .unwrap_err();
        assert_eq!(fields(&errors), ["config.provider"]);
    }

    #[test]
    fn lookup_urls_must_be_http_without_credentials() {
        for (url, expected) in [
            ("ftp://crm.example.com", "http://"),
            ("crm.example.com/lookup", "http://"),
            ("https://user:pw@crm.example.com", "credentials"),
        ] {
            let errors = input(json!({"lookup": {"url": url}}))
                .validate(None, &secrets())
                .unwrap_err();
            assert_eq!(fields(&errors), ["config.lookup.url"]);
            assert!(
                errors[0].message.contains(expected),
                "{url}: {:?}",
                errors[0]
            );
        }
    }

    #[test]
    fn the_token_is_kept_on_the_same_server_only() {
        let secrets = secrets();
        let first = input(json!({"lookup": {"url": "https://crm.example.com/a", "token": "t1"}}))
            .validate(None, &secrets)
            .unwrap();
        let kept = input(json!({"lookup": {"url": "https://crm.example.com/b", "token": ""}}))
            .validate(Some(&first), &secrets)
            .unwrap();
        assert_eq!(kept.lookup_token(&secrets).as_deref(), Some("t1"));
        let replaced =
            input(json!({"lookup": {"url": "https://crm.example.com/b", "token": "t2"}}))
                .validate(Some(&first), &secrets)
                .unwrap();
        assert_eq!(replaced.lookup_token(&secrets).as_deref(), Some("t2"));
        let errors = input(json!({"lookup": {"url": "https://evil.example.net/"}}))
            .validate(Some(&first), &secrets)
            .unwrap_err();
        assert_eq!(fields(&errors), ["config.lookup.token"]);
        let removed = input(json!({"lookup": null}))
            .validate(Some(&first), &secrets)
            .unwrap();
        assert_eq!(removed.lookup, None);
    }

    #[test]
    fn e164_rules() {
        assert_eq!(e164("+14155550100").as_deref(), Some("+14155550100"));
        assert_eq!(e164("+44 7700 900123").as_deref(), Some("+447700900123"));
        assert_eq!(e164("+12345678").as_deref(), Some("+12345678"));
        for bad in [
            "14155550100",
            "+1234567",
            "+1234567890123456",
            "+0415555010",
            "+1415abc0100",
            "",
        ] {
            assert_eq!(e164(bad), None, "{bad}");
        }
    }
}
