//! The caller's end of a live call: Twilio's Media Streams for a phone call, or a browser's web
//! call. Both run on the same [`CallSocket`] and the same loop; this is where they differ:
//!
//! | | Twilio | web |
//! |---|---|---|
//! | caller audio | `media` text messages, µ-law 8 kHz as base64 | binary messages, PCM16 LE 24 kHz |
//! | agent audio | `media` text messages | binary messages |
//! | played so far | `mark` sent, echoed by Twilio | `{"type":"mark","name"}` sent, echoed by the page |
//! | barge-in | `clear` | `{"type":"clear"}` |
//! | hang-up | `stop` from Twilio | `{"type":"end"}` either way, or the socket's close |
//!
//! An enum rather than a trait object: the loop calls into it once or twice per audio frame, and
//! a `match` costs nothing next to a boxed future or a second copy of the loop per transport.
//!
//! A web call is recorded here, caller and agent on separate channels (see
//! [`crate::telephony::web_call::recording`]); Twilio records a phone call itself.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use loquent_ai::realtime::Role;
use loquent_twilio::media_stream::{
    InboundMessage, MediaMessage, write_clear_frame, write_mark_frame, write_media_frame,
};
use serde::Deserialize;
use tokio::time::Sleep;

use super::super::media_socket::{CallSocket, Incoming};
use super::super::web_call::recording::Recorder;

/// How often a web call checks that its page is alive: one that sent no audio since the last
/// check is gone (a closed laptop, a dropped network that never said so), after 5 to 10 s of
/// silence. Its page sends a frame every 20 ms, silence included.
pub const WEB_CHECK_EVERY: Duration = Duration::from_secs(5);
/// The longest web call; its recording (and the speech session, which OpenAI ends at 60 minutes)
/// stays bounded.
pub const WEB_CALL_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How far the page's audio may run ahead of the time since the call started before frames are
/// dropped: a page cannot stream faster than real time into the provider and the recording.
const WEB_AHEAD_LIMIT_MS: u64 = 1_000;
/// Bytes per millisecond of the page's audio (PCM16 at 24 kHz).
const WEB_BYTES_PER_MS: u64 = 48;

pub enum Transport {
    Twilio(TwilioLink),
    Web(WebLink),
}

pub struct TwilioLink {
    stream_sid: String,
    /// Where a message for Twilio is written before it is framed (kept between messages).
    frame: String,
    /// The name of the mark being queued: its id in decimal (kept between marks).
    mark_name: String,
}

pub struct WebLink {
    /// The caller's latest frame as base64, which is what speech sessions take (kept between
    /// frames).
    caller_base64: String,
    /// The agent's latest chunk, decoded (kept between chunks).
    agent_pcm: Vec<u8>,
    frame: String,
    /// Audio came from the page since the last check.
    heard: bool,
    check: Pin<Box<Sleep>>,
    started: tokio::time::Instant,
    /// Bytes of the page's audio taken so far.
    caller_bytes: u64,
    /// Frames dropped for running ahead of real time.
    ahead_dropped: u64,
    pub recorder: Recorder,
}

/// What a web call's periodic check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebCheck {
    Fine,
    /// The page sent no audio since the last check.
    Silent,
    /// The call reached [`WEB_CALL_LIMIT`].
    TooLong,
}

/// What the caller's side said, borrowed from the socket or the link until the next read.
pub enum Heard<'a> {
    /// Caller audio, as base64 in the session's format, and its size on the wire.
    Audio {
        base64: Cow<'a, str>,
        wire_len: usize,
    },
    /// The audio queued before this mark has played.
    Mark(String),
    /// The caller hung up.
    HungUp,
    Nothing,
}

/// A web page's control message.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WebControl {
    Mark {
        name: String,
    },
    End,
    #[serde(other)]
    Other,
}

impl Transport {
    pub fn twilio(stream_sid: String) -> Self {
        Self::Twilio(TwilioLink {
            stream_sid,
            frame: String::with_capacity(512),
            mark_name: String::with_capacity(20),
        })
    }

    pub fn web(recorder: Recorder) -> Self {
        Self::Web(WebLink {
            caller_base64: String::with_capacity(1400),
            agent_pcm: Vec::with_capacity(4096),
            frame: String::with_capacity(256),
            heard: false,
            check: Box::pin(tokio::time::sleep(WEB_CHECK_EVERY)),
            started: tokio::time::Instant::now(),
            caller_bytes: 0,
            ahead_dropped: 0,
            recorder,
        })
    }

    pub fn is_web(&self) -> bool {
        matches!(self, Self::Web(_))
    }

    /// The message just read from the caller's socket.
    pub fn read<'a>(&'a mut self, socket: &'a CallSocket, incoming: Incoming) -> Heard<'a> {
        match (self, incoming) {
            (Self::Twilio(_), Incoming::Text) => twilio_heard(socket.text()),
            (Self::Web(link), Incoming::Binary) => {
                let pcm = socket.binary();
                if pcm.is_empty() || !pcm.len().is_multiple_of(2) {
                    tracing::debug!(
                        len = pcm.len(),
                        "odd-sized audio frame from the page ignored"
                    );
                    return Heard::Nothing;
                }
                link.heard = true;
                let elapsed_ms =
                    u64::try_from(link.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let allowed = (elapsed_ms + WEB_AHEAD_LIMIT_MS) * WEB_BYTES_PER_MS;
                if link.caller_bytes + pcm.len() as u64 > allowed {
                    link.ahead_dropped += 1;
                    if link.ahead_dropped == 1 {
                        tracing::warn!("the page sends audio faster than real time; dropping it");
                    }
                    return Heard::Nothing;
                }
                link.caller_bytes += pcm.len() as u64;
                link.recorder.caller(pcm);
                link.caller_base64.clear();
                STANDARD.encode_string(pcm, &mut link.caller_base64);
                Heard::Audio {
                    base64: Cow::Borrowed(&link.caller_base64),
                    wire_len: pcm.len(),
                }
            }
            (Self::Web(_), Incoming::Text) => match serde_json::from_str(socket.text()) {
                Ok(WebControl::Mark { name }) => Heard::Mark(name),
                Ok(WebControl::End) => Heard::HungUp,
                Ok(WebControl::Other) => Heard::Nothing,
                Err(error) => {
                    tracing::debug!(%error, "unreadable message from the page ignored");
                    Heard::Nothing
                }
            },
            (_, _) => Heard::Nothing,
        }
    }

    /// Queues a chunk of the agent's audio (base64, in the session's format); `false` when the
    /// socket's buffer is full and it was dropped.
    pub fn audio(&mut self, socket: &mut CallSocket, base64: &str) -> bool {
        match self {
            Self::Twilio(link) => {
                link.frame.clear();
                write_media_frame(&mut link.frame, &link.stream_sid, base64);
                socket.queue_text(&link.frame)
            }
            Self::Web(link) => {
                link.agent_pcm.clear();
                if STANDARD.decode_vec(base64, &mut link.agent_pcm).is_err() {
                    tracing::debug!("agent audio that is not base64 dropped");
                    return false;
                }
                // The page plays whole 16-bit samples.
                link.agent_pcm.truncate(link.agent_pcm.len() & !1);
                let queued = socket.queue_binary(&link.agent_pcm);
                if queued {
                    link.recorder.agent(&link.agent_pcm);
                }
                queued
            }
        }
    }

    /// Queues mark `id` after the audio queued so far; `false` when it did not fit.
    pub fn mark(&mut self, socket: &mut CallSocket, id: u64) -> bool {
        match self {
            Self::Twilio(link) => {
                link.frame.clear();
                link.mark_name.clear();
                let _ = write!(link.mark_name, "{id}");
                write_mark_frame(&mut link.frame, &link.stream_sid, &link.mark_name);
                socket.queue_text(&link.frame)
            }
            Self::Web(link) => {
                link.frame.clear();
                let _ = write!(link.frame, r#"{{"type":"mark","name":"{id}"}}"#);
                socket.queue_text(&link.frame)
            }
        }
    }

    /// The caller spoke over the agent: the audio queued at their end is dropped. Never refused,
    /// even behind a full buffer: the far end empties what it holds when it reads it.
    pub fn clear(&mut self, socket: &mut CallSocket) {
        match self {
            Self::Twilio(link) => {
                link.frame.clear();
                write_clear_frame(&mut link.frame, &link.stream_sid);
                socket.queue_text_always(&link.frame);
            }
            Self::Web(link) => {
                link.recorder.cut();
                socket.queue_text_always(r#"{"type":"clear"}"#);
            }
        }
    }

    /// A final transcript line: the page shows it live (a phone has nowhere to show it).
    pub fn said(&mut self, socket: &mut CallSocket, role: Role, text: &str) {
        if let Self::Web(_) = self {
            let speaker = match role {
                Role::User => "caller",
                Role::Assistant => "agent",
            };
            let line = serde_json::json!({"type": "transcript", "speaker": speaker, "text": text});
            socket.queue_text_always(&line.to_string());
        }
    }

    /// Tells the page the call is over, and why (a phone call ends through Twilio instead).
    pub fn end_web_call(&mut self, socket: &mut CallSocket, reason: &str) {
        if let Self::Web(_) = self {
            let end = serde_json::json!({"type": "end", "reason": reason});
            socket.queue_text_always(&end.to_string());
        }
    }

    /// For a web call, the timer of its checks (see [`Transport::check`]); `None` for Twilio,
    /// whose stream ends with `stop` or the connection.
    pub fn check_timer(&mut self) -> Option<&mut Pin<Box<Sleep>>> {
        match self {
            Self::Twilio(_) => None,
            Self::Web(link) => Some(&mut link.check),
        }
    }

    /// The check timer fired: whether the web call goes on.
    pub fn check(&mut self) -> WebCheck {
        let Self::Web(link) = self else {
            return WebCheck::Fine;
        };
        if !std::mem::take(&mut link.heard) {
            return WebCheck::Silent;
        }
        if link.started.elapsed() >= WEB_CALL_LIMIT {
            return WebCheck::TooLong;
        }
        let at = tokio::time::Instant::now() + WEB_CHECK_EVERY;
        link.check.as_mut().reset(at);
        WebCheck::Fine
    }
}

/// A Twilio message. Nearly every one is `media`: one typed pass, borrowing the payload; anything
/// else (or a media message this shortcut rejects) takes the general parser.
fn twilio_heard(text: &str) -> Heard<'_> {
    let message = match MediaMessage::parse(text) {
        Ok(media) => Ok(InboundMessage::Media(media)),
        Err(_) => InboundMessage::parse(text),
    };
    match message {
        Ok(InboundMessage::Media(media)) => Heard::Audio {
            base64: media.media.payload,
            wire_len: text.len(),
        },
        Ok(InboundMessage::Mark(mark)) => Heard::Mark(mark.mark.name),
        Ok(InboundMessage::Stop(_)) => Heard::HungUp,
        Ok(InboundMessage::Dtmf(dtmf)) => {
            tracing::debug!(digit = %dtmf.dtmf.digit, "caller pressed a key");
            Heard::Nothing
        }
        Ok(InboundMessage::Connected(_) | InboundMessage::Start(_)) => Heard::Nothing,
        Ok(InboundMessage::Unknown(event)) => {
            tracing::debug!(event, "unknown Media Streams event ignored");
            Heard::Nothing
        }
        Err(error) => {
            tracing::debug!(%error, "unreadable frame from Twilio ignored");
            Heard::Nothing
        }
    }
}
