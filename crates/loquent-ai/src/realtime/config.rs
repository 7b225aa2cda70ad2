//! An agent's speech-model settings, stored as JSON in `agent.realtime_config`.
//!
//! Deserializing validates, so a `RealtimeConfig` read from the database or an API body is known
//! good; fields left out take the provider's defaults, so `{}` and `{"provider":"gemini"}` are
//! complete configs and later versions can add fields without migrating rows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Provider, RealtimeError};
use crate::audio::AudioFormat;

/// OpenAI's stable alias for its current GA realtime model.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-realtime";
/// One of the two voices OpenAI recommends for `gpt-realtime`.
pub const OPENAI_DEFAULT_VOICE: &str = "marin";
/// Gemini's native-audio Live model on the Developer API (sent as `models/<id>`).
pub const GEMINI_DEFAULT_MODEL: &str = "gemini-2.5-flash-native-audio-preview-12-2025";
/// A clear, neutral prebuilt Gemini voice.
pub const GEMINI_DEFAULT_VOICE: &str = "Kore";

const DEFAULT_INSTRUCTIONS: &str = "You are a helpful assistant answering a phone call. \
Speak naturally and briefly, one or two sentences at a time, and ask one question at a time.";

/// Longest pause or padding we accept: past this a phone caller has hung up or given up.
const MAX_VAD_MS: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredConfig")]
pub struct RealtimeConfig {
    pub provider: Provider,
    /// Model id without any `models/` prefix; the Gemini session adds it.
    pub model: String,
    pub voice: String,
    /// The system prompt.
    pub instructions: String,
    pub turn_detection: TurnDetection,
    pub tools: Vec<ToolSpec>,
    /// The audio the session exchanges with the bridge: µ-law 8 kHz for a phone call, PCM16
    /// 24 kHz for a call from the browser. A property of the call, not of the stored agent, so
    /// never serialized.
    #[serde(skip)]
    pub audio_format: AudioFormat,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self::for_provider(Provider::OpenAi)
    }
}

impl RealtimeConfig {
    /// The defaults for a phone agent on `provider`.
    pub fn for_provider(provider: Provider) -> Self {
        let (model, voice) = match provider {
            Provider::OpenAi => (OPENAI_DEFAULT_MODEL, OPENAI_DEFAULT_VOICE),
            Provider::Gemini => (GEMINI_DEFAULT_MODEL, GEMINI_DEFAULT_VOICE),
        };
        Self {
            provider,
            model: model.to_owned(),
            voice: voice.to_owned(),
            instructions: DEFAULT_INSTRUCTIONS.to_owned(),
            turn_detection: TurnDetection::default(),
            tools: Vec::new(),
            audio_format: AudioFormat::default(),
        }
    }

    /// Checks what the providers would otherwise reject mid-call. Deserialization runs this;
    /// call it again after editing fields in code.
    pub fn validate(&self) -> Result<(), RealtimeError> {
        let invalid = |message: String| Err(RealtimeError::InvalidConfig(message));
        if self.model.is_empty()
            || self.model.len() > 128
            || self.model.contains(char::is_whitespace)
        {
            return invalid(format!("model {:?} is not a model id", self.model));
        }
        if self.voice.trim().is_empty() || self.voice.len() > 64 {
            return invalid(format!("voice {:?} is not a voice name", self.voice));
        }
        self.turn_detection.validate()?;
        for (index, tool) in self.tools.iter().enumerate() {
            tool.validate()?;
            if self.tools[..index]
                .iter()
                .any(|other| other.name == tool.name)
            {
                return invalid(format!("tool {:?} is declared twice", tool.name));
            }
        }
        Ok(())
    }
}

/// The stored form: everything optional, filled from the provider's defaults.
#[derive(Deserialize)]
struct StoredConfig {
    #[serde(default = "default_provider")]
    provider: Provider,
    model: Option<String>,
    voice: Option<String>,
    instructions: Option<String>,
    turn_detection: Option<TurnDetection>,
    #[serde(default)]
    tools: Vec<ToolSpec>,
}

fn default_provider() -> Provider {
    Provider::OpenAi
}

impl TryFrom<StoredConfig> for RealtimeConfig {
    type Error = RealtimeError;

    fn try_from(stored: StoredConfig) -> Result<Self, Self::Error> {
        let defaults = Self::for_provider(stored.provider);
        let config = Self {
            provider: stored.provider,
            model: stored.model.unwrap_or(defaults.model),
            voice: stored.voice.unwrap_or(defaults.voice),
            instructions: stored.instructions.unwrap_or(defaults.instructions),
            turn_detection: stored.turn_detection.unwrap_or(defaults.turn_detection),
            tools: stored.tools,
            audio_format: AudioFormat::default(),
        };
        config.validate()?;
        Ok(config)
    }
}

/// How the model decides the caller has finished (or started) speaking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnDetection {
    /// Voice-activity detection on audio level and silence.
    ServerVad {
        /// 0..=1; higher needs louder speech, which suits noisy phone lines.
        #[serde(default = "default_threshold")]
        threshold: f64,
        /// Audio kept from before detected speech.
        #[serde(default = "default_prefix_padding_ms")]
        prefix_padding_ms: u32,
        /// Silence that ends the caller's turn.
        #[serde(default = "default_silence_duration_ms")]
        silence_duration_ms: u32,
    },
    /// OpenAI's model-based end-of-turn detection; Gemini maps it onto its end-of-speech
    /// sensitivity.
    SemanticVad {
        #[serde(default)]
        eagerness: Eagerness,
    },
}

fn default_threshold() -> f64 {
    0.5
}
fn default_prefix_padding_ms() -> u32 {
    300
}
fn default_silence_duration_ms() -> u32 {
    500
}

impl Default for TurnDetection {
    /// OpenAI's documented server-VAD defaults, which the Twilio reference bridges run with.
    fn default() -> Self {
        Self::ServerVad {
            threshold: default_threshold(),
            prefix_padding_ms: default_prefix_padding_ms(),
            silence_duration_ms: default_silence_duration_ms(),
        }
    }
}

impl TurnDetection {
    fn validate(&self) -> Result<(), RealtimeError> {
        if let Self::ServerVad {
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
        } = *self
        {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(RealtimeError::InvalidConfig(format!(
                    "turn_detection.threshold must be between 0 and 1, not {threshold}"
                )));
            }
            for (field, value) in [
                ("prefix_padding_ms", prefix_padding_ms),
                ("silence_duration_ms", silence_duration_ms),
            ] {
                if value > MAX_VAD_MS {
                    return Err(RealtimeError::InvalidConfig(format!(
                        "turn_detection.{field} must be at most {MAX_VAD_MS}, not {value}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Gemini's automatic activity detection has only two-level sensitivities; this is how our
    /// settings map onto them (`None` leaves Gemini's default, which is high).
    pub fn gemini_sensitivity(&self) -> SpeechSensitivity {
        match *self {
            // A threshold above the default asks for louder speech: fewer false barge-ins.
            Self::ServerVad { threshold, .. } => SpeechSensitivity {
                start_of_speech: (threshold > default_threshold()).then_some(Sensitivity::Low),
                end_of_speech: None,
            },
            // Eagerness is about ending the turn: eager ends it sooner.
            Self::SemanticVad { eagerness } => SpeechSensitivity {
                start_of_speech: None,
                end_of_speech: match eagerness {
                    Eagerness::Low => Some(Sensitivity::Low),
                    Eagerness::High => Some(Sensitivity::High),
                    Eagerness::Medium | Eagerness::Auto => None,
                },
            },
        }
    }
}

/// How quickly semantic VAD decides the caller is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eagerness {
    Low,
    Medium,
    High,
    #[default]
    Auto,
}

/// Gemini's two-level speech detection sensitivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    Low,
    High,
}

/// Gemini `startOfSpeechSensitivity` / `endOfSpeechSensitivity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechSensitivity {
    pub start_of_speech: Option<Sensitivity>,
    pub end_of_speech: Option<Sensitivity>,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments object.
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
}

fn empty_object_schema() -> Value {
    serde_json::json!({ "type": "object", "properties": {} })
}

impl ToolSpec {
    fn validate(&self) -> Result<(), RealtimeError> {
        // The intersection of OpenAI's and Gemini's rules for function names.
        let mut chars = self.name.chars();
        let valid_name = self.name.len() <= 64
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(RealtimeError::InvalidConfig(format!(
                "tool name {:?} must start with a letter or _, then use letters, digits, _ or -, \
                 64 characters at most",
                self.name
            )));
        }
        if !self.parameters.is_object() {
            return Err(RealtimeError::InvalidConfig(format!(
                "tool {:?}: parameters must be a JSON Schema object",
                self.name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<RealtimeConfig, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn default_config_json_shape() {
        assert_eq!(
            serde_json::to_value(RealtimeConfig::default()).unwrap(),
            json!({
                "provider": "openai",
                "model": "gpt-realtime",
                "voice": "marin",
                "instructions": DEFAULT_INSTRUCTIONS,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500
                },
                "tools": []
            })
        );
    }

    #[test]
    fn full_gemini_config_round_trips() {
        let stored = json!({
            "provider": "gemini",
            "model": "gemini-3.1-flash-live-preview",
            "voice": "Puck",
            "instructions": "Answer for Acme Plumbing.",
            "turn_detection": { "type": "semantic_vad", "eagerness": "low" },
            "tools": [{
                "name": "end_call",
                "description": "Hang up once the caller has said goodbye.",
                "parameters": {
                    "type": "object",
                    "properties": { "reason": { "type": "string" } },
                    "required": ["reason"]
                }
            }]
        });
        let config = parse(stored.clone()).unwrap();
        assert_eq!(config.provider, Provider::Gemini);
        assert_eq!(
            config.turn_detection,
            TurnDetection::SemanticVad {
                eagerness: Eagerness::Low
            }
        );
        assert_eq!(serde_json::to_value(&config).unwrap(), stored);
    }

    #[test]
    fn missing_fields_take_the_providers_defaults() {
        assert_eq!(parse(json!({})).unwrap(), RealtimeConfig::default());

        let gemini = parse(json!({ "provider": "gemini" })).unwrap();
        assert_eq!(gemini, RealtimeConfig::for_provider(Provider::Gemini));
        assert_eq!(gemini.model, GEMINI_DEFAULT_MODEL);
        assert_eq!(gemini.voice, GEMINI_DEFAULT_VOICE);

        let partial = parse(json!({
            "turn_detection": { "type": "server_vad", "silence_duration_ms": 800 },
            "tools": [{ "name": "lookup_caller" }]
        }))
        .unwrap();
        assert_eq!(
            partial.turn_detection,
            TurnDetection::ServerVad {
                threshold: 0.5,
                prefix_padding_ms: 300,
                silence_duration_ms: 800
            }
        );
        assert_eq!(partial.tools[0].parameters, empty_object_schema());
        assert_eq!(
            parse(json!({ "turn_detection": { "type": "semantic_vad" } }))
                .unwrap()
                .turn_detection,
            TurnDetection::SemanticVad {
                eagerness: Eagerness::Auto
            }
        );
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        assert!(parse(json!({ "speed": 1.1 })).is_ok());
    }

    #[test]
    fn invalid_configs_are_rejected_with_the_reason() {
        let cases = [
            (json!({ "provider": "azure" }), "unknown variant"),
            (json!({ "model": "" }), "not a model id"),
            (json!({ "model": "gpt realtime" }), "not a model id"),
            (json!({ "voice": " " }), "not a voice name"),
            (
                json!({ "turn_detection": { "type": "server_vad", "threshold": 1.5 } }),
                "between 0 and 1",
            ),
            (
                json!({ "turn_detection": { "type": "server_vad", "threshold": -0.1 } }),
                "between 0 and 1",
            ),
            (
                json!({ "turn_detection": { "type": "server_vad", "silence_duration_ms": 60000 } }),
                "silence_duration_ms must be at most",
            ),
            (
                json!({ "turn_detection": { "type": "semantic_vad", "eagerness": "eager" } }),
                "unknown variant",
            ),
            (
                json!({ "turn_detection": { "type": "push_to_talk" } }),
                "unknown variant",
            ),
            (json!({ "tools": [{ "name": "end call" }] }), "tool name"),
            (json!({ "tools": [{ "name": "1st" }] }), "tool name"),
            (json!({ "tools": [{ "name": "" }] }), "tool name"),
            (
                json!({ "tools": [{ "name": "x", "parameters": [] }] }),
                "JSON Schema object",
            ),
            (
                json!({ "tools": [{ "name": "end_call" }, { "name": "end_call" }] }),
                "declared twice",
            ),
        ];
        for (value, expected) in cases {
            let error = parse(value.clone()).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn validate_catches_edits_made_in_code() {
        let config = RealtimeConfig {
            turn_detection: TurnDetection::ServerVad {
                threshold: f64::NAN,
                prefix_padding_ms: 300,
                silence_duration_ms: 500,
            },
            ..RealtimeConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(RealtimeError::InvalidConfig(_))
        ));
    }

    #[test]
    fn gemini_sensitivity_mapping() {
        let vad = |threshold| TurnDetection::ServerVad {
            threshold,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        };
        assert_eq!(vad(0.5).gemini_sensitivity().start_of_speech, None);
        assert_eq!(
            vad(0.8).gemini_sensitivity().start_of_speech,
            Some(Sensitivity::Low)
        );
        let semantic = |eagerness| TurnDetection::SemanticVad { eagerness }.gemini_sensitivity();
        assert_eq!(
            semantic(Eagerness::High).end_of_speech,
            Some(Sensitivity::High)
        );
        assert_eq!(
            semantic(Eagerness::Low).end_of_speech,
            Some(Sensitivity::Low)
        );
        assert_eq!(
            semantic(Eagerness::Auto),
            SpeechSensitivity {
                start_of_speech: None,
                end_of_speech: None
            }
        );
    }
}
