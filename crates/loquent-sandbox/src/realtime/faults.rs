//! Per-connection modes and injected faults: chosen by words in the model id
//! (`model=sandbox-echo`, `models/sandbox-go-away`) or queued with `POST /sandbox/realtime/faults`.

use std::time::Duration;

use serde::Deserialize;

use super::Provider;

/// What a connection does besides behaving: all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Faults {
    /// Every input frame comes straight back as output audio; no VAD, no responses.
    #[serde(default)]
    pub echo: bool,
    /// Delay before the first server message (`session.created` / `setupComplete`).
    pub slow_start_ms: Option<u64>,
    /// After setup: OpenAI sends an `error` event (`server_error`); Gemini closes with 1011.
    pub error_after_ms: Option<u64>,
    /// After setup: the TCP connection is dropped without a close frame.
    pub drop_after_ms: Option<u64>,
    /// OpenAI: the 60-minute session limit, reached early (`session_expired`, then close 1001).
    pub expire_after_ms: Option<u64>,
    /// Gemini: `goAway` this long after setup (first connection of a session only).
    pub go_away_after_ms: Option<u64>,
}

/// How soon the model-id words fire, so tests stay short.
const FLAG_DELAY_MS: u64 = 200;
/// `slow-start`: longer than any sensible test setup timeout, shorter than the clients' defaults.
const SLOW_START_MS: u64 = 2_000;
/// `expire` and `go-away`: late enough for a turn to start first.
const LIFETIME_MS: u64 = 1_000;

impl Faults {
    /// The modes named in a model id: its `-`-separated words `echo`, `slow-start`, `error`,
    /// `drop`, `expire`, `go-away` (e.g. `sandbox-echo`, `gpt-realtime-drop`).
    pub fn from_model(model: &str) -> Self {
        let words = format!("-{}-", model.trim_start_matches("models/"));
        let has = |flag: &str| words.contains(&format!("-{flag}-"));
        let after = |flag: &str, ms: u64| has(flag).then_some(ms);
        Self {
            echo: has("echo"),
            slow_start_ms: after("slow-start", SLOW_START_MS),
            error_after_ms: after("error", FLAG_DELAY_MS),
            drop_after_ms: after("drop", FLAG_DELAY_MS),
            expire_after_ms: after("expire", LIFETIME_MS),
            go_away_after_ms: after("go-away", LIFETIME_MS),
        }
    }

    /// `other`'s settings where `self` has none.
    pub fn or(self, other: Self) -> Self {
        Self {
            echo: self.echo || other.echo,
            slow_start_ms: self.slow_start_ms.or(other.slow_start_ms),
            error_after_ms: self.error_after_ms.or(other.error_after_ms),
            drop_after_ms: self.drop_after_ms.or(other.drop_after_ms),
            expire_after_ms: self.expire_after_ms.or(other.expire_after_ms),
            go_away_after_ms: self.go_away_after_ms.or(other.go_away_after_ms),
        }
    }

    pub fn slow_start(&self) -> Option<Duration> {
        self.slow_start_ms.map(Duration::from_millis)
    }
}

/// A queued `POST /sandbox/realtime/faults`. Unknown fields are refused (422) so a misspelt
/// fault cannot silently do nothing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    /// Only connections to this emulator; both when absent.
    pub provider: Option<Provider>,
    /// How many connections it applies to; until `DELETE` when absent.
    pub connections: Option<u32>,
    pub faults: Faults,
}

/// The faults of a new connection: the first rule for its provider (used up after its count).
pub(crate) fn take(rules: &mut Vec<FaultRule>, provider: Provider) -> Faults {
    let Some(index) = rules
        .iter()
        .position(|rule| rule.provider.is_none_or(|p| p == provider))
    else {
        return Faults::default();
    };
    let rule = &mut rules[index];
    let faults = rule.faults.clone();
    if let Some(left) = &mut rule.connections {
        *left = left.saturating_sub(1);
        if *left == 0 {
            rules.remove(index);
        }
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_words_select_modes() {
        assert_eq!(
            Faults::from_model("sandbox-echo"),
            Faults {
                echo: true,
                ..Faults::default()
            }
        );
        let slow = Faults::from_model("models/gpt-realtime-slow-start");
        assert_eq!(slow.slow_start_ms, Some(SLOW_START_MS));
        assert!(!slow.echo);
        assert_eq!(Faults::from_model("gpt-realtime"), Faults::default());
        // Words only: "echoes" or "error-prone" inside a word do not count.
        assert_eq!(Faults::from_model("echoes-errors"), Faults::default());
        let go_away = Faults::from_model("models/sandbox-go-away");
        assert_eq!(go_away.go_away_after_ms, Some(LIFETIME_MS));
    }

    #[test]
    fn rules_apply_to_their_provider_and_count() {
        let rule = |provider, connections| FaultRule {
            provider,
            connections,
            faults: Faults {
                echo: true,
                ..Faults::default()
            },
        };
        let mut rules = vec![rule(Some(Provider::Gemini), Some(1)), rule(None, None)];
        assert!(take(&mut rules, Provider::Gemini).echo);
        assert_eq!(rules.len(), 1, "the one-shot rule is used up");
        assert!(take(&mut rules, Provider::OpenAi).echo);
        assert!(
            take(&mut rules, Provider::OpenAi).echo,
            "unlimited rule stays"
        );
        rules.clear();
        assert_eq!(take(&mut rules, Provider::OpenAi), Faults::default());
    }
}
