//! Media Streams: the JSON text frames on the WebSocket Twilio opens for `<Stream>`.
//!
//! Inbound (Twilio → us): [`InboundMessage::parse`] for any frame, and
//! [`MediaMessage::parse`] as the hot path for audio — it borrows the base64 payload from
//! the frame so it can be forwarded to a µ-law speaking model without decoding or copying.
//! Outbound (us → Twilio, bidirectional streams only): [`OutboundMessage`], plus
//! [`write_media_frame`], [`write_mark_frame`] and [`write_clear_frame`], which write the
//! frames a live call sends without going through serde.
//!
//! Both directions also (de)serialize the other way round so the sandbox can play Twilio.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sid::{AccountSid, CallSid, StreamSid};

/// Why a frame could not be understood. Never a panic: frames come off the network.
#[derive(Debug, thiserror::Error)]
pub enum MediaStreamError {
    #[error("invalid Media Streams frame: {0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a media frame, got event {0:?}")]
    NotMedia(String),
}

/// A counter Twilio sends as a JSON string (`"1"`) in its documented examples but that
/// some senders emit as a number: both are accepted, strings are written back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counter(pub u64);

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Counter {
    fn from(n: u64) -> Self {
        Self(n)
    }
}

impl Serialize for Counter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Counter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberOrString).map(Counter)
    }
}

/// Accepts `123` or `"123"` as a `u64`.
struct NumberOrString;

impl Visitor<'_> for NumberOrString {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer or a string holding one")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

fn number_or_string_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = d.deserialize_any(NumberOrString)?;
    u32::try_from(n).map_err(|_| de::Error::custom("number out of range"))
}

/// Which side of the call an audio chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaTrack {
    /// The caller (what Twilio receives from the phone).
    #[serde(alias = "inbound_track")]
    Inbound,
    /// What Twilio plays to the caller.
    #[serde(alias = "outbound_track")]
    Outbound,
}

/// The track named in a `dtmf` event, which Twilio spells `inbound_track`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfTrack {
    #[serde(alias = "inbound")]
    InboundTrack,
    #[serde(alias = "outbound")]
    OutboundTrack,
}

// ---------------------------------------------------------------------------------------
// Twilio → us
// ---------------------------------------------------------------------------------------

/// Any frame Twilio sends on a media stream.
///
/// Serializing writes the `event` tag (for the sandbox); [`InboundMessage::Unknown`]
/// cannot be serialized.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum InboundMessage<'a> {
    Connected(Connected),
    Start(StartMessage),
    Media(MediaMessage<'a>),
    Mark(MarkMessage),
    Dtmf(DtmfMessage),
    Stop(StopMessage),
    /// An event this crate does not know (its `event` value); newer Twilio features add
    /// some. Log and ignore.
    #[serde(skip_serializing)]
    Unknown(String),
}

/// Just the discriminator, read first so unknown events don't fail the whole frame.
#[derive(Deserialize)]
struct EventTag<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
}

impl<'a> InboundMessage<'a> {
    /// Parse one text frame. Malformed JSON, a missing `event` or a known event with
    /// missing fields is an error; an unknown `event` is [`InboundMessage::Unknown`].
    pub fn parse(frame: &'a str) -> Result<Self, MediaStreamError> {
        let tag: EventTag<'_> = serde_json::from_str(frame)?;
        Ok(match tag.event.as_ref() {
            "connected" => Self::Connected(serde_json::from_str(frame)?),
            "start" => Self::Start(serde_json::from_str(frame)?),
            "media" => Self::Media(serde_json::from_str(frame)?),
            "mark" => Self::Mark(serde_json::from_str(frame)?),
            "dtmf" => Self::Dtmf(serde_json::from_str(frame)?),
            "stop" => Self::Stop(serde_json::from_str(frame)?),
            other => Self::Unknown(other.to_owned()),
        })
    }

    /// The frame as JSON text (what the sandbox sends). Fails only for
    /// [`InboundMessage::Unknown`], which has nothing to send.
    pub fn to_json(&self) -> Result<String, MediaStreamError> {
        Ok(serde_json::to_string(self)?)
    }
}

/// `connected`: the first frame, once per socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// `"Call"`.
    pub protocol: String,
    /// `"1.0.0"`.
    pub version: String,
}

/// `start`: stream metadata, once, right after `connected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartMessage {
    pub sequence_number: Counter,
    pub start: StreamStart,
    pub stream_sid: StreamSid,
}

/// The `start` object of a `start` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStart {
    pub stream_sid: StreamSid,
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
    #[serde(default)]
    pub tracks: Vec<MediaTrack>,
    /// The `<Parameter>` name/value pairs from the TwiML.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

/// Audio encoding of the stream: always 8 kHz mono µ-law on Twilio today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `"audio/x-mulaw"`.
    pub encoding: String,
    #[serde(deserialize_with = "number_or_string_u32")]
    pub sample_rate: u32,
    #[serde(deserialize_with = "number_or_string_u32")]
    pub channels: u32,
}

impl Default for MediaFormat {
    fn default() -> Self {
        Self {
            encoding: "audio/x-mulaw".to_owned(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

/// `media`: one chunk of audio (typically 20 ms).
///
/// Borrows from the frame: `stream_sid` and `payload` are [`Cow`]s that stay borrowed
/// unless the sender used JSON escapes (e.g. `\/` in base64), in which case serde has to
/// unescape into an owned string — correct either way, zero-copy in practice. The stream
/// SID is not re-validated per frame: it was checked at `start` and this is the hot path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaMessage<'a> {
    pub sequence_number: Counter,
    #[serde(borrow)]
    pub media: MediaChunk<'a>,
    #[serde(borrow)]
    pub stream_sid: Cow<'a, str>,
}

/// The `media` object of a `media` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaChunk<'a> {
    pub track: MediaTrack,
    /// Per-track chunk counter, starting at 1.
    pub chunk: Counter,
    /// Milliseconds since the stream started.
    pub timestamp: Counter,
    /// Base64 of raw µ-law bytes, no header.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

/// Only the `event` field, checked on the hot path without a second pass over the frame.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaggedMedia<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    // Optional here so a non-media frame reports `NotMedia` rather than "missing field".
    sequence_number: Option<Counter>,
    #[serde(borrow)]
    media: Option<MediaChunk<'a>>,
    #[serde(borrow)]
    stream_sid: Option<Cow<'a, str>>,
}

impl<'a> MediaMessage<'a> {
    /// Hot path: parse a frame expected to be `media` in one pass, borrowing the payload.
    /// Any other event yields [`MediaStreamError::NotMedia`]; fall back to
    /// [`InboundMessage::parse`] for those.
    pub fn parse(frame: &'a str) -> Result<Self, MediaStreamError> {
        let tagged: TaggedMedia<'a> = serde_json::from_str(frame)?;
        if tagged.event != "media" {
            return Err(MediaStreamError::NotMedia(tagged.event.into_owned()));
        }
        let missing = |field| MediaStreamError::Json(de::Error::missing_field(field));
        Ok(Self {
            sequence_number: tagged
                .sequence_number
                .ok_or_else(|| missing("sequenceNumber"))?,
            media: tagged.media.ok_or_else(|| missing("media"))?,
            stream_sid: tagged.stream_sid.ok_or_else(|| missing("streamSid"))?,
        })
    }

    /// The base64 µ-law payload, ready to forward as is.
    pub fn payload(&self) -> &str {
        &self.media.payload
    }

    /// Append this frame as Twilio sends it: the same JSON as
    /// [`InboundMessage::Media`]'s serialization, written without serde. The sandbox's load
    /// generator sends fifty of these per call-second; strings are escaped all the same.
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        let track = match self.media.track {
            MediaTrack::Inbound => "inbound",
            MediaTrack::Outbound => "outbound",
        };
        out.reserve(112 + self.stream_sid.len() + self.media.payload.len());
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            r#"{{"event":"media","sequenceNumber":"{}","media":{{"track":"{track}","chunk":"{}","timestamp":"{}","payload":""#,
            self.sequence_number, self.media.chunk, self.media.timestamp
        );
        push_json_str(out, &self.media.payload);
        out.push_str(r#""},"streamSid":""#);
        push_json_str(out, &self.stream_sid);
        out.push_str(r#""}"#);
    }

    /// Detach from the frame buffer (e.g. to queue the message).
    pub fn into_owned(self) -> MediaMessage<'static> {
        MediaMessage {
            sequence_number: self.sequence_number,
            media: MediaChunk {
                track: self.media.track,
                chunk: self.media.chunk,
                timestamp: self.media.timestamp,
                payload: Cow::Owned(self.media.payload.into_owned()),
            },
            stream_sid: Cow::Owned(self.stream_sid.into_owned()),
        }
    }
}

/// `mark`: Twilio finished playing (or cleared) the audio queued before a mark we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkMessage {
    pub sequence_number: Counter,
    pub stream_sid: StreamSid,
    pub mark: Mark,
}

/// A mark label, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub name: String,
}

/// `dtmf`: the caller pressed a key (bidirectional streams only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtmfMessage {
    pub sequence_number: Counter,
    pub stream_sid: StreamSid,
    pub dtmf: Dtmf,
}

/// The `dtmf` object of a `dtmf` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtmf {
    pub track: DtmfTrack,
    /// `0`–`9`, `*` or `#`.
    pub digit: String,
}

/// `stop`: the stream ended (call hung up, `<Stop>`, or we closed the socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopMessage {
    pub sequence_number: Counter,
    pub stream_sid: StreamSid,
    pub stop: StreamStop,
}

/// The `stop` object of a `stop` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStop {
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
}

// ---------------------------------------------------------------------------------------
// us → Twilio
// ---------------------------------------------------------------------------------------

/// A frame we send on a bidirectional (`<Connect><Stream>`) stream.
///
/// Deserialization is strict — unknown fields are rejected — because Twilio rejects them
/// too (error 31951), and the sandbox uses this to catch such bugs in our own frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutboundMessage {
    /// Audio to play: base64 of raw 8 kHz mono µ-law, no WAV header.
    #[serde(rename_all = "camelCase")]
    Media {
        stream_sid: StreamSid,
        media: OutboundMedia,
    },
    /// Ask Twilio to echo `name` back once the audio queued so far has played.
    #[serde(rename_all = "camelCase")]
    Mark { stream_sid: StreamSid, mark: Mark },
    /// Drop all queued audio (barge-in); pending marks are echoed back.
    #[serde(rename_all = "camelCase")]
    Clear { stream_sid: StreamSid },
}

/// The `media` object of an outbound media frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundMedia {
    pub payload: String,
}

impl OutboundMessage {
    pub fn mark(stream_sid: StreamSid, name: impl Into<String>) -> Self {
        Self::Mark {
            stream_sid,
            mark: Mark { name: name.into() },
        }
    }

    pub fn clear(stream_sid: StreamSid) -> Self {
        Self::Clear { stream_sid }
    }

    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("outbound messages always serialize")
    }

    /// Parse a frame we (or a client under test) sent.
    pub fn parse(frame: &str) -> Result<Self, MediaStreamError> {
        Ok(serde_json::from_str(frame)?)
    }
}

/// Append an outbound `media` frame to `out`, for a payload that is already base64.
///
/// This is the per-20 ms path towards Twilio: no serde, one allocation at most (none if
/// `out` is reused). Strings are escaped anyway, so a bad input cannot break the JSON.
pub fn write_media_frame(out: &mut String, stream_sid: &str, payload_base64: &str) {
    out.reserve(48 + stream_sid.len() + payload_base64.len());
    out.push_str(r#"{"event":"media","streamSid":""#);
    push_json_str(out, stream_sid);
    out.push_str(r#"","media":{"payload":""#);
    push_json_str(out, payload_base64);
    out.push_str(r#""}}"#);
}

/// Append an outbound `mark` frame to `out`: Twilio echoes `name` back once the audio queued
/// before it has played (or was cleared). The same JSON as [`OutboundMessage::mark`], written
/// without serde because a call sends one every half second of agent audio.
pub fn write_mark_frame(out: &mut String, stream_sid: &str, name: &str) {
    out.reserve(52 + stream_sid.len() + name.len());
    out.push_str(r#"{"event":"mark","streamSid":""#);
    push_json_str(out, stream_sid);
    out.push_str(r#"","mark":{"name":""#);
    push_json_str(out, name);
    out.push_str(r#""}}"#);
}

/// Append an outbound `clear` frame to `out`: Twilio drops the audio it still holds and echoes
/// every pending mark. The same JSON as [`OutboundMessage::clear`].
pub fn write_clear_frame(out: &mut String, stream_sid: &str) {
    out.reserve(34 + stream_sid.len());
    out.push_str(r#"{"event":"clear","streamSid":""#);
    push_json_str(out, stream_sid);
    out.push_str(r#""}"#);
}

/// [`write_media_frame`] into a new string.
pub fn media_frame(stream_sid: &str, payload_base64: &str) -> String {
    let mut out = String::new();
    write_media_frame(&mut out, stream_sid, payload_base64);
    out
}

/// Push `s` escaped for the inside of a JSON string, as serde_json escapes it. SIDs and base64
/// never need escaping, so the common case is a single `push_str`.
fn push_json_str(out: &mut String, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

/// Whether any byte of `bytes` must be escaped in a JSON string. Every audio frame's payload
/// passes through here (both ways), so the scan has no early exit inside a 16-byte block: the
/// compiler turns each block into a few vector compares instead of three branches per byte.
fn needs_escape(bytes: &[u8]) -> bool {
    let special = |b: u8| (b == b'"') | (b == b'\\') | (b < 0x20);
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |any, &b| any | special(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| special(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MZ: &str = "MZ18ad3ab5a668481ce02b83e7395059f0";
    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const CA: &str = "CA0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_connected() {
        let msg =
            InboundMessage::parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                .unwrap();
        assert_eq!(
            msg,
            InboundMessage::Connected(Connected {
                protocol: "Call".into(),
                version: "1.0.0".into()
            })
        );
    }

    #[test]
    fn parses_documented_start() {
        let frame = format!(
            r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"{AC}","streamSid":"{MZ}","callSid":"{CA}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"FirstName":"Jane","LastName":"Doe"}}}},"streamSid":"{MZ}"}}"#
        );
        let InboundMessage::Start(start) = InboundMessage::parse(&frame).unwrap() else {
            panic!()
        };
        assert_eq!(start.sequence_number, Counter(1));
        assert_eq!(start.start.call_sid.as_str(), CA);
        assert_eq!(start.start.tracks, vec![MediaTrack::Inbound]);
        assert_eq!(start.start.custom_parameters["FirstName"], "Jane");
        assert_eq!(start.start.media_format, MediaFormat::default());
        // Round trip through the sandbox's serializer.
        let again = InboundMessage::Start(start.clone()).to_json().unwrap();
        assert_eq!(
            InboundMessage::parse(&again).unwrap(),
            InboundMessage::Start(start)
        );
    }

    #[test]
    fn start_rejects_bad_sids() {
        let frame = format!(
            r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"nope","streamSid":"{MZ}","callSid":"{CA}","tracks":[],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}},"streamSid":"{MZ}"}}"#
        );
        assert!(InboundMessage::parse(&frame).is_err());
    }

    #[test]
    fn media_counters_as_strings_or_numbers() {
        let strings = format!(
            r#"{{"event":"media","sequenceNumber":"3","media":{{"track":"inbound","chunk":"1","timestamp":"5","payload":"no+/AA=="}},"streamSid":"{MZ}"}}"#
        );
        let numbers = format!(
            r#"{{"event":"media","sequenceNumber":3,"media":{{"track":"inbound","chunk":1,"timestamp":5,"payload":"no+/AA=="}},"streamSid":"{MZ}"}}"#
        );
        let a = MediaMessage::parse(&strings).unwrap();
        let b = MediaMessage::parse(&numbers).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.media.timestamp, Counter(5));
        assert_eq!(a.payload(), "no+/AA==");
        assert!(
            matches!(a.media.payload, Cow::Borrowed(_)),
            "payload must be borrowed"
        );
        assert_eq!(
            InboundMessage::parse(&strings).unwrap(),
            InboundMessage::Media(a)
        );
    }

    #[test]
    fn escaped_payload_still_parses() {
        let frame = format!(
            r#"{{"event":"media","sequenceNumber":"3","media":{{"track":"outbound","chunk":"1","timestamp":"5","payload":"ab\/cd"}},"streamSid":"{MZ}"}}"#
        );
        let m = MediaMessage::parse(&frame).unwrap();
        assert_eq!(m.payload(), "ab/cd");
        assert_eq!(m.media.track, MediaTrack::Outbound);
        let owned: MediaMessage<'static> = m.into_owned();
        assert_eq!(owned.stream_sid, MZ);
    }

    #[test]
    fn media_hot_path_reports_other_events() {
        let err =
            MediaMessage::parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                .unwrap_err();
        assert!(matches!(err, MediaStreamError::NotMedia(e) if e == "connected"));
        assert!(MediaMessage::parse(r#"{"event":"media"}"#).is_err());
        assert!(MediaMessage::parse("").is_err());
    }

    #[test]
    fn parses_mark_dtmf_stop() {
        let mark = format!(
            r#"{{"event":"mark","sequenceNumber":"4","streamSid":"{MZ}","mark":{{"name":"utterance-1"}}}}"#
        );
        let InboundMessage::Mark(m) = InboundMessage::parse(&mark).unwrap() else {
            panic!()
        };
        assert_eq!(m.mark.name, "utterance-1");

        let dtmf = format!(
            r#"{{"event":"dtmf","streamSid":"{MZ}","sequenceNumber":"5","dtmf":{{"track":"inbound_track","digit":"5"}}}}"#
        );
        let InboundMessage::Dtmf(d) = InboundMessage::parse(&dtmf).unwrap() else {
            panic!()
        };
        assert_eq!(
            (d.dtmf.track, d.dtmf.digit.as_str()),
            (DtmfTrack::InboundTrack, "5")
        );
        assert!(
            InboundMessage::Dtmf(d)
                .to_json()
                .unwrap()
                .contains(r#""track":"inbound_track""#)
        );

        let stop = format!(
            r#"{{"event":"stop","sequenceNumber":"6","streamSid":"{MZ}","stop":{{"accountSid":"{AC}","callSid":"{CA}"}}}}"#
        );
        let InboundMessage::Stop(s) = InboundMessage::parse(&stop).unwrap() else {
            panic!()
        };
        assert_eq!(s.stop.account_sid.as_str(), AC);
    }

    #[test]
    fn unknown_events_and_garbage() {
        assert_eq!(
            InboundMessage::parse(r#"{"event":"transcription","x":1}"#).unwrap(),
            InboundMessage::Unknown("transcription".into())
        );
        assert!(InboundMessage::Unknown("x".into()).to_json().is_err());
        for bad in [
            "",
            "{",
            "[]",
            "null",
            r#"{"event":1}"#,
            r#"{"no":"event"}"#,
            r#"{"event":"media"}"#,
            r#"{"event":"start"}"#,
        ] {
            assert!(InboundMessage::parse(bad).is_err(), "{bad}");
        }
        // Negative or non-numeric counters are rejected, not wrapped.
        let neg = format!(
            r#"{{"event":"mark","sequenceNumber":-1,"streamSid":"{MZ}","mark":{{"name":"a"}}}}"#
        );
        assert!(InboundMessage::parse(&neg).is_err());
    }

    #[test]
    fn outbound_frames_match_the_documented_shape() {
        let sid: StreamSid = MZ.parse().unwrap();
        let media = OutboundMessage::Media {
            stream_sid: sid.clone(),
            media: OutboundMedia {
                payload: "AAEC".into(),
            },
        };
        let expected =
            format!(r#"{{"event":"media","streamSid":"{MZ}","media":{{"payload":"AAEC"}}}}"#);
        assert_eq!(media.to_json(), expected);
        assert_eq!(media_frame(MZ, "AAEC"), expected);
        assert_eq!(OutboundMessage::parse(&expected).unwrap(), media);

        assert_eq!(
            OutboundMessage::mark(sid.clone(), "m1").to_json(),
            format!(r#"{{"event":"mark","streamSid":"{MZ}","mark":{{"name":"m1"}}}}"#)
        );
        assert_eq!(
            OutboundMessage::clear(sid).to_json(),
            format!(r#"{{"event":"clear","streamSid":"{MZ}"}}"#)
        );
    }

    #[test]
    fn outbound_parse_is_strict() {
        // The classic typo Twilio answers with 31951.
        let typo =
            format!(r#"{{"event":"media","streamSid":"{MZ}","media":{{"playload":"AAEC"}}}}"#);
        assert!(OutboundMessage::parse(&typo).is_err());
        let extra = format!(r#"{{"event":"clear","streamSid":"{MZ}","now":true}}"#);
        assert!(OutboundMessage::parse(&extra).is_err());
        assert!(OutboundMessage::parse(r#"{"event":"play","streamSid":"x"}"#).is_err());
    }

    #[test]
    fn inbound_media_writer_matches_serde() {
        for (sequence, chunk, track, sid, payload) in [
            (2, 1, MediaTrack::Inbound, MZ, "f/8A"),
            (u64::MAX, 7, MediaTrack::Outbound, MZ, ""),
            (
                3,
                2,
                MediaTrack::Inbound,
                "a\"b\\c\n\u{1}",
                "x\u{7f}é\u{8}\u{c}\r\t\u{1f}",
            ),
        ] {
            let message = MediaMessage {
                sequence_number: Counter(sequence),
                stream_sid: Cow::Borrowed(sid),
                media: MediaChunk {
                    track,
                    chunk: Counter(chunk),
                    timestamp: Counter(chunk * 20),
                    payload: Cow::Borrowed(payload),
                },
            };
            let mut written = String::from("kept:");
            message.write_json(&mut written);
            let serde = InboundMessage::Media(message).to_json().unwrap();
            assert_eq!(written, format!("kept:{serde}"));
        }
    }

    #[test]
    fn media_frame_writer_escapes_hostile_input() {
        let frame = media_frame("a\"b\\c\n\u{1}", "x");
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["streamSid"], "a\"b\\c\n\u{1}");
        let mut buf = String::from("prefix:");
        write_media_frame(&mut buf, MZ, "");
        assert!(buf.starts_with("prefix:{\"event\":\"media\""));
    }

    #[test]
    fn mark_and_clear_writers_round_trip_through_the_outbound_messages() {
        let sid: StreamSid = MZ.parse().unwrap();
        for name in ["1", "18446744073709551615", "goodbye", ""] {
            let mut written = String::from("kept:");
            write_mark_frame(&mut written, MZ, name);
            let frame = written.strip_prefix("kept:").unwrap();
            let expected = OutboundMessage::mark(sid.clone(), name);
            assert_eq!(OutboundMessage::parse(frame).unwrap(), expected);
            assert_eq!(frame, expected.to_json());
        }
        let mut written = String::from("kept:");
        write_clear_frame(&mut written, MZ);
        let frame = written.strip_prefix("kept:").unwrap();
        let expected = OutboundMessage::clear(sid);
        assert_eq!(OutboundMessage::parse(frame).unwrap(), expected);
        assert_eq!(frame, expected.to_json());
    }

    #[test]
    fn mark_and_clear_writers_escape_hostile_input() {
        let sid = "a\"b\\c\n\u{1}";
        let name = "x\"}}{\"event\":\"clear\u{7f}é\t";
        let mut mark = String::new();
        write_mark_frame(&mut mark, sid, name);
        let v: serde_json::Value = serde_json::from_str(&mark).unwrap();
        assert_eq!(v["event"], "mark");
        assert_eq!(v["streamSid"], sid);
        assert_eq!(v["mark"]["name"], name);
        assert_eq!(v.as_object().unwrap().len(), 3);
        let mut clear = String::new();
        write_clear_frame(&mut clear, sid);
        let v: serde_json::Value = serde_json::from_str(&clear).unwrap();
        assert_eq!(v["event"], "clear");
        assert_eq!(v["streamSid"], sid);
        assert_eq!(v.as_object().unwrap().len(), 2);
        // The same document serde_json reads back, nothing more.
        let read = |frame: &str| serde_json::from_str::<serde_json::Value>(frame).unwrap();
        assert_eq!(
            read(&mark),
            serde_json::json!({"event": "mark", "streamSid": sid, "mark": {"name": name}})
        );
        assert_eq!(
            read(&clear),
            serde_json::json!({"event": "clear", "streamSid": sid})
        );
    }

    #[test]
    fn a_character_needing_escape_is_found_wherever_it_sits() {
        let base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
        assert!(!needs_escape(base64.as_bytes()));
        assert!(!needs_escape(b""));
        // Every position of a 40-byte string: in the first block, the second, and the tail.
        for special in [b'"', b'\\', b'\n', 0x00, 0x1f] {
            for at in 0..40 {
                let mut bytes = base64.as_bytes()[..40].to_vec();
                bytes[at] = special;
                assert!(needs_escape(&bytes), "{special:#x} at {at}");
            }
        }
        // The bytes either side of the escaped ranges are plain.
        assert!(!needs_escape(b" !#[]~\x7f"));
    }
}
