//! Provider-neutral speech-to-speech sessions: the one vocabulary the call bridge speaks, whether
//! the model behind it is OpenAI Realtime or Gemini Live.
//!
//! Audio crosses this boundary as base64 in the session's [`AudioFormat`], the same in both
//! directions. For a phone call that is µ-law 8 kHz, exactly what Twilio Media Streams carry:
//! OpenAI (`audio/pcmu`) passes it through untouched, and the Gemini session converts internally
//! with [`crate::audio::MulawToPcm16k`] and [`crate::audio::Pcm24kToMulaw`]. For a call from the
//! browser it is PCM16 24 kHz: OpenAI (`audio/pcm`) passes it through both ways, and Gemini
//! resamples only its input (24 → 16 kHz), its output being 24 kHz already.

pub mod config;
#[cfg(test)]
mod fake_server;
pub mod gemini;
pub mod openai;
mod socket;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::audio::AudioFormat;
pub use config::{
    Eagerness, RealtimeConfig, Sensitivity, SpeechSensitivity, ToolSpec, TurnDetection,
};
pub use gemini::{GeminiLive, GeminiSession};
pub use openai::{OpenAiRealtime, OpenAiSession};
#[doc(hidden)]
pub use socket::{Socket, Stream, open_for_conformance};

/// Which speech-to-speech service a session talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "gemini")]
    Gemini,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenAi => "OpenAI Realtime",
            Self::Gemini => "Gemini Live",
        })
    }
}

/// Who said something in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The caller.
    User,
    /// The AI agent.
    Assistant,
}

/// One piece of assistant audio, ready to go into a Twilio `media` message (or, decoded, to a
/// browser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioChunk {
    /// Base64 of the session's [`AudioFormat`] (µ-law 8 kHz on a phone call). An owned string so
    /// OpenAI's deltas move through without being decoded.
    pub payload: String,
    /// The assistant item this audio belongs to (OpenAI); needed to truncate it on barge-in.
    /// Gemini has no item ids.
    pub item_id: Option<String>,
    /// The response that produced it, so late deltas of a cancelled response can be dropped.
    pub response_id: Option<String>,
}

impl AudioChunk {
    /// Number of bytes in the decoded payload, computed from the base64 length without decoding
    /// (for µ-law, the samples). Divide by [`AudioFormat::bytes_per_ms`] for milliseconds.
    pub fn decoded_len(&self) -> usize {
        let text = self.payload.as_bytes();
        let padding = text.iter().rev().take_while(|&&c| c == b'=').count();
        let chars = text.len() - padding;
        // Every 4 characters carry 3 bytes; a trailing group of 2 or 3 characters carries 1 or 2.
        chars / 4 * 3 + (chars % 4).saturating_sub(1)
    }
}

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseStatus {
    Completed,
    /// Cut short, usually by the caller barging in.
    Cancelled,
    Failed,
    /// Stopped early, e.g. by a token limit.
    Incomplete,
}

/// Everything a session reports to the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum RealtimeEvent {
    /// Assistant audio to forward to the caller.
    AudioDelta(AudioChunk),
    /// The model's VAD heard the caller start speaking: the barge-in trigger (clear Twilio's
    /// buffer, truncate what was not heard, reset any resampler).
    SpeechStarted,
    /// The model began a response.
    ResponseStarted { response_id: Option<String> },
    /// A response ended, however it ended.
    ResponseDone {
        response_id: Option<String>,
        status: ResponseStatus,
    },
    /// The model wants a tool run; answer with [`RealtimeSession::send_tool_result`].
    ToolCall {
        call_id: String,
        name: String,
        /// The arguments as a JSON document (OpenAI sends a string, Gemini an object; both
        /// arrive here serialized).
        arguments: String,
    },
    /// The model withdrew tool calls it made earlier (Gemini, usually after an interruption);
    /// their results must not be sent.
    ToolCallCancelled { call_ids: Vec<String> },
    /// Caller or assistant speech as text. Partial pieces have `is_final: false`.
    Transcript {
        role: Role,
        text: String,
        is_final: bool,
    },
    /// A provider error that did not end the session (most are recoverable).
    Error {
        code: Option<String>,
        message: String,
    },
    /// The session is over; `next_event` returns `None` after this.
    Closed { reason: Option<String> },
}

/// A live speech-to-speech session for one call.
///
/// The bridge drives it from a single task: `select!` over [`RealtimeSession::next_event`] and
/// the Twilio socket, so `next_event` **must be cancel-safe** (losing the race must not lose an
/// event), and the senders should only queue or write one message.
#[async_trait]
pub trait RealtimeSession: Send {
    /// Forwards one caller frame: base64 of the session's [`AudioFormat`] (on a phone call, the
    /// µ-law payload of a Twilio `media` event, as received).
    async fn send_audio(&mut self, audio_base64: &str) -> Result<(), RealtimeError>;

    /// Sends caller audio that `send_audio` is holding back to batch it, if any: the bridge calls
    /// it when the caller's socket has nothing more to read. Any other message, and `close`, send
    /// held-back audio first anyway. Providers that send every frame as it comes do nothing.
    async fn flush_audio(&mut self) -> Result<(), RealtimeError> {
        Ok(())
    }

    /// How many 20 ms caller frames `send_audio` gathers into one message: the bridge need not
    /// wake up more often than that. 1 for providers that send every frame as it comes.
    fn frames_per_send(&self) -> usize {
        1
    }

    /// Tells the model the caller heard only the first `audio_end_ms` of an assistant item, so its
    /// memory matches what was played. A no-op for providers that cannot truncate (Gemini).
    async fn truncate(&mut self, item_id: &str, audio_end_ms: u32) -> Result<(), RealtimeError>;

    /// Returns a tool's result (a JSON document) and asks the model to carry on speaking.
    /// `name` is the tool's name from the [`RealtimeEvent::ToolCall`]; Gemini requires it.
    async fn send_tool_result(
        &mut self,
        call_id: &str,
        name: &str,
        output: &str,
    ) -> Result<(), RealtimeError>;

    /// Adds a text message to the conversation, e.g. caller context or "greet the caller". With
    /// `respond`, the model answers it at once (how the agent speaks first).
    async fn inject_text(
        &mut self,
        role: Role,
        text: &str,
        respond: bool,
    ) -> Result<(), RealtimeError>;

    /// Ends the session politely; `next_event` then yields `Closed` and `None`.
    async fn close(&mut self) -> Result<(), RealtimeError>;

    /// The next event, or `None` once the session has closed. Cancel-safe.
    async fn next_event(&mut self) -> Option<RealtimeEvent>;
}

/// Errors of the realtime boundary.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    #[error("invalid realtime config: {0}")]
    InvalidConfig(String),
    #[error("invalid audio payload: {0}")]
    InvalidAudio(#[from] base64::DecodeError),
    #[error("could not connect to {provider}: {message}")]
    Connect { provider: Provider, message: String },
    #[error("{provider} protocol error: {message}")]
    Protocol { provider: Provider, message: String },
    #[error("the realtime session is closed")]
    Closed,
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    use super::*;

    fn chunk(payload: String) -> AudioChunk {
        AudioChunk {
            payload,
            item_id: None,
            response_id: None,
        }
    }

    #[test]
    fn decoded_len_matches_the_decoded_length() {
        for len in 0..50 {
            let bytes = vec![0xFFu8; len];
            assert_eq!(chunk(STANDARD.encode(&bytes)).decoded_len(), len);
            assert_eq!(chunk(STANDARD_NO_PAD.encode(&bytes)).decoded_len(), len);
        }
        // A Twilio frame: 160 bytes, 216 characters, 20 ms.
        let frame = chunk(STANDARD.encode([0xFFu8; 160]));
        assert_eq!(frame.payload.len(), 216);
        assert_eq!(frame.decoded_len() / crate::audio::MULAW_BYTES_PER_MS, 20);
    }

    #[test]
    fn wire_names_of_small_enums() {
        let names = serde_json::json!([
            Provider::OpenAi,
            Provider::Gemini,
            Role::User,
            Role::Assistant,
            ResponseStatus::Cancelled
        ]);
        assert_eq!(
            names,
            serde_json::json!(["openai", "gemini", "user", "assistant", "cancelled"])
        );
    }

    /// A scripted session: proves the trait is object-safe and usable as `Box<dyn ...>`.
    struct Scripted {
        events: VecDeque<RealtimeEvent>,
        sent: Vec<String>,
    }

    #[async_trait]
    impl RealtimeSession for Scripted {
        async fn send_audio(&mut self, mulaw_base64: &str) -> Result<(), RealtimeError> {
            STANDARD.decode(mulaw_base64)?;
            self.sent.push(format!("audio {mulaw_base64}"));
            Ok(())
        }
        async fn truncate(
            &mut self,
            item_id: &str,
            audio_end_ms: u32,
        ) -> Result<(), RealtimeError> {
            self.sent.push(format!("truncate {item_id} {audio_end_ms}"));
            Ok(())
        }
        async fn send_tool_result(
            &mut self,
            call_id: &str,
            name: &str,
            output: &str,
        ) -> Result<(), RealtimeError> {
            self.sent.push(format!("tool {call_id} {name} {output}"));
            Ok(())
        }
        async fn inject_text(
            &mut self,
            role: Role,
            text: &str,
            respond: bool,
        ) -> Result<(), RealtimeError> {
            self.sent.push(format!("text {role:?} {text} {respond}"));
            Ok(())
        }
        async fn close(&mut self) -> Result<(), RealtimeError> {
            self.events
                .push_back(RealtimeEvent::Closed { reason: None });
            Ok(())
        }
        async fn next_event(&mut self) -> Option<RealtimeEvent> {
            self.events.pop_front()
        }
    }

    #[tokio::test]
    async fn sessions_work_behind_a_trait_object() {
        let mut session: Box<dyn RealtimeSession> = Box::new(Scripted {
            events: VecDeque::from([RealtimeEvent::SpeechStarted]),
            sent: Vec::new(),
        });
        session.send_audio("/w==").await.unwrap();
        let bad = session.send_audio("not base64!").await;
        assert!(matches!(bad, Err(RealtimeError::InvalidAudio(_))));
        session.truncate("item_1", 1_250).await.unwrap();
        session
            .inject_text(Role::User, "Greet the caller.", true)
            .await
            .unwrap();
        assert_eq!(
            session.next_event().await,
            Some(RealtimeEvent::SpeechStarted)
        );
        session.close().await.unwrap();
        assert_eq!(
            session.next_event().await,
            Some(RealtimeEvent::Closed { reason: None })
        );
        assert_eq!(session.next_event().await, None);
    }
}
