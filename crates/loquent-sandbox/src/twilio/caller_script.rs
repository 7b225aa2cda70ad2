//! What a simulated caller does once the media stream is up: a list of steps, each a JSON object
//! with one key.
//!
//! | Step | Meaning |
//! | --- | --- |
//! | `{"say": "hello", "ms": 1200}` | Speak a [`Phrase`] (`hello`, `question`, `end_call`, `transfer`, `lookup_caller`) for `ms` (default 1000) |
//! | `{"silence": 500}` | Send silence for 500 ms |
//! | `{"dtmf": "12#"}` | Press keys, one `dtmf` event per key, 100 ms apart |
//! | `{"wait_for_speech": 5000}` | Send silence until the agent's audio starts arriving (at most 5000 ms) |
//! | `{"wait_for_reply": 5000}` | Send silence until the agent has spoken and finished (its audio played out and nothing new for 300 ms), at most 5000 ms |
//! | `{"wait_for_hangup": 10000}` | Send silence until the call ends from the other side (the server closes the stream, hangs up or redirects), at most 10000 ms |
//! | `"hangup"` or `{"hangup": true}` | Hang up: `stop`, then close the socket |
//!
//! A script that runs out hangs up. Waits that time out are reported as warnings, not errors: the
//! report says what happened and the test decides.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::speech::Phrase;

/// One step of a caller script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Say { phrase: Phrase, duration: Duration },
    Silence(Duration),
    Dtmf(String),
    WaitForSpeech(Duration),
    WaitForReply(Duration),
    WaitForHangup(Duration),
    Hangup,
}

const DEFAULT_SAY: Duration = Duration::from_millis(1_000);
/// No single step may keep a simulated call busy longer than this.
const LONGEST_STEP: Duration = Duration::from_secs(600);
const DTMF_KEYS: &str = "0123456789*#";

/// The script of `POST /sandbox/calls`. An absent script means "say hello, listen, hang up".
pub(crate) fn parse(script: Option<&Value>) -> Result<Vec<Step>, String> {
    let Some(script) = script else {
        return Ok(vec![
            Step::Say {
                phrase: Phrase::Hello,
                duration: DEFAULT_SAY,
            },
            Step::WaitForReply(Duration::from_secs(5)),
            Step::Hangup,
        ]);
    };
    let Value::Array(steps) = script else {
        return Err("script must be an array of steps".to_owned());
    };
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| parse_step(step).map_err(|e| format!("script step {i}: {e}")))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Say {
    say: String,
    ms: Option<u64>,
}

fn parse_step(step: &Value) -> Result<Step, String> {
    if step.as_str() == Some("hangup") {
        return Ok(Step::Hangup);
    }
    let Value::Object(fields) = step else {
        return Err(format!("expected an object or \"hangup\", got {step}"));
    };
    if fields.contains_key("say") {
        let say: Say = serde_json::from_value(step.clone()).map_err(|e| e.to_string())?;
        let phrase = Phrase::from_name(&say.say).ok_or_else(|| {
            let known: Vec<_> = Phrase::ALL.iter().map(|p| p.name()).collect();
            format!("unknown phrase {:?}; known: {}", say.say, known.join(", "))
        })?;
        let duration = say.ms.map_or(DEFAULT_SAY, Duration::from_millis);
        return Ok(Step::Say {
            phrase,
            duration: bounded(duration)?,
        });
    }
    if fields.len() != 1 {
        return Err(format!("a step has exactly one key, got {step}"));
    }
    let (key, value) = fields.iter().next().ok_or("empty step")?;
    let millis = || {
        value
            .as_u64()
            .map(Duration::from_millis)
            .ok_or_else(|| format!("{key} takes milliseconds, got {value}"))
            .and_then(bounded)
    };
    match key.as_str() {
        "silence" => Ok(Step::Silence(millis()?)),
        "wait_for_speech" => Ok(Step::WaitForSpeech(millis()?)),
        "wait_for_reply" => Ok(Step::WaitForReply(millis()?)),
        "wait_for_hangup" => Ok(Step::WaitForHangup(millis()?)),
        "hangup" if value == &Value::Bool(true) => Ok(Step::Hangup),
        "dtmf" => {
            let keys = value
                .as_str()
                .filter(|k| !k.is_empty() && k.chars().all(|c| DTMF_KEYS.contains(c)))
                .ok_or_else(|| format!("dtmf takes a string of keys from {DTMF_KEYS}"))?;
            Ok(Step::Dtmf(keys.to_owned()))
        }
        other => Err(format!("unknown step {other:?}")),
    }
}

fn bounded(duration: Duration) -> Result<Duration, String> {
    if duration > LONGEST_STEP {
        return Err(format!(
            "{} ms is longer than the {} s a step may last",
            duration.as_millis(),
            LONGEST_STEP.as_secs()
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_every_step() {
        let script = json!([
            {"say": "question", "ms": 300},
            {"say": "hello"},
            {"silence": 40},
            {"dtmf": "1#"},
            {"wait_for_speech": 1000},
            {"wait_for_reply": 2000},
            {"wait_for_hangup": 3000},
            "hangup",
            {"hangup": true},
        ]);
        assert_eq!(
            parse(Some(&script)).unwrap(),
            vec![
                Step::Say {
                    phrase: Phrase::Question,
                    duration: Duration::from_millis(300)
                },
                Step::Say {
                    phrase: Phrase::Hello,
                    duration: DEFAULT_SAY
                },
                Step::Silence(Duration::from_millis(40)),
                Step::Dtmf("1#".into()),
                Step::WaitForSpeech(Duration::from_secs(1)),
                Step::WaitForReply(Duration::from_secs(2)),
                Step::WaitForHangup(Duration::from_secs(3)),
                Step::Hangup,
                Step::Hangup,
            ]
        );
        assert_eq!(parse(None).unwrap().len(), 3);
    }

    #[test]
    fn rejects_bad_steps_with_their_position() {
        for (script, message) in [
            (json!({"say": "hello"}), "script must be an array"),
            (json!([{"say": "sing"}]), "step 0: unknown phrase \"sing\""),
            (
                json!([{"silence": 1}, {"dance": 1}]),
                "step 1: unknown step",
            ),
            (json!([{"silence": "long"}]), "silence takes milliseconds"),
            (json!([{"dtmf": "x"}]), "dtmf takes a string"),
            (json!([{"silence": 1, "dtmf": "1"}]), "exactly one key"),
            (json!([{"say": "hello", "loud": true}]), "unknown field"),
            (json!([{"silence": 700_000}]), "longer than"),
            (json!([42]), "expected an object"),
        ] {
            let error = parse(Some(&script)).unwrap_err();
            assert!(error.contains(message), "{script}: {error}");
        }
    }
}
