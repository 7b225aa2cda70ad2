//! What each realtime connection received and sent, for `GET /sandbox/realtime/connections`:
//! tests assert on it and validate it against the published event schemas.

use serde::Serialize;
use serde_json::Value;

use super::Provider;

/// Per direction; a long demo call keeps only its first events.
const LOGGED_EVENTS: usize = 2_000;
/// Audio strings longer than this are replaced by a note of their length.
const AUDIO_KEPT_CHARS: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConnectionLog {
    pub id: u64,
    pub provider: Provider,
    pub model: String,
    /// Client messages, in arrival order.
    pub received: Vec<Value>,
    /// Server messages, in sending order.
    pub sent: Vec<Value>,
    /// How the connection ended, once it has (`None` while open).
    pub ended: Option<String>,
}

impl ConnectionLog {
    pub fn new(id: u64, provider: Provider, model: &str) -> Self {
        Self {
            id,
            provider,
            model: model.to_owned(),
            received: Vec::new(),
            sent: Vec::new(),
            ended: None,
        }
    }

    pub fn received(&mut self, message: &Value) {
        push(&mut self.received, message);
    }

    pub fn sent(&mut self, message: &Value) {
        push(&mut self.sent, message);
    }
}

fn push(list: &mut Vec<Value>, message: &Value) {
    if list.len() < LOGGED_EVENTS {
        let mut message = message.clone();
        shorten_audio(&mut message);
        list.push(message);
    }
}

/// Base64 audio would dominate the log; its length is what tests care about.
fn shorten_audio(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let is_audio = matches!(key.as_str(), "audio" | "delta" | "data");
                match field {
                    Value::String(text) if is_audio && text.len() > AUDIO_KEPT_CHARS => {
                        *text = format!("<{} base64 characters>", text.len());
                    }
                    other => shorten_audio(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(shorten_audio),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn long_audio_is_replaced_by_its_length_and_text_is_kept() {
        let mut log = ConnectionLog::new(1, Provider::OpenAi, "gpt-realtime");
        let audio = "A".repeat(216);
        log.received(&json!({ "type": "input_audio_buffer.append", "audio": audio }));
        log.sent(&json!({ "type": "response.output_audio_transcript.delta", "delta": "Hi" }));
        log.sent(&json!({ "serverContent": { "modelTurn": { "parts": [
            { "inlineData": { "data": audio } }
        ] } } }));
        assert_eq!(log.received[0]["audio"], "<216 base64 characters>");
        assert_eq!(log.sent[0]["delta"], "Hi");
        assert_eq!(
            log.sent[1]["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"],
            "<216 base64 characters>"
        );
    }
}
