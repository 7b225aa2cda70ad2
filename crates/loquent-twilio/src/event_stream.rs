//! Event Streams: the CloudEvents Twilio POSTs to a webhook sink, and the typed events
//! Loquent acts on.
//!
//! A delivery body is a JSON array of CloudEvents (or, leniently, one bare object); parse
//! it with [`parse_delivery`], dedupe on [`CloudEvent::id`], then route with
//! [`CloudEvent::into_typed`]. Each event family names its `data` fields differently —
//! PascalCase form parameters for voice callbacks, snake_case for Voice Insights, camelCase
//! for Messaging — so each gets its own struct.
//!
//! Ingest is lenient on purpose: ids inside `data` are kept as strings (Twilio's own
//! documentation examples use SIDs of the wrong length) and exposed through typed
//! accessors such as [`VoiceWebhookEvent::call_sid`]. A dropped event is worse than one
//! with an odd field.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::phone_number::E164;
use crate::sid::{AccountSid, CallSid, RecordingSid};

/// Why an Event Streams delivery or event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventStreamError {
    #[error("invalid Event Streams delivery: {0}")]
    Envelope(#[source] serde_json::Error),
    #[error("invalid data for event type {event_type}: {source}")]
    Data {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One CloudEvents 1.0 envelope as Twilio delivers it.
///
/// `type` and `id` are required (we route and dedupe on them); the other CloudEvents
/// attributes default to empty because we never act on them, and Twilio's own examples
/// fill them with placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    #[serde(default)]
    pub specversion: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub source: String,
    /// Unique per event: Twilio retries deliveries, so dedupe on this.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataschema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// Parse a webhook sink delivery: a JSON array of events, or a single event object.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<CloudEvent>, EventStreamError> {
    // Decide by the first significant byte rather than an untagged enum: errors then
    // point at the real problem instead of "did not match any variant".
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        serde_json::from_slice(body).map_err(EventStreamError::Envelope)
    } else {
        serde_json::from_slice(body)
            .map(|event| vec![event])
            .map_err(EventStreamError::Envelope)
    }
}

/// Progress stages of a voice call's status callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStage {
    Initiated,
    Ringing,
    /// The callback arrives with `CallStatus=in-progress`; there is no `answered` status.
    Answered,
    /// Terminal: look at `CallStatus` for completed / busy / failed / no-answer / canceled.
    Completed,
}

/// Processing state named in a Voice Insights call-summary event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SummaryState {
    /// First within ~10 minutes of hangup, possibly repeated.
    Partial,
    PredictedComplete,
    /// Final, up to ~30 minutes after hangup.
    Complete,
}

/// An event Loquent understands, or [`TwilioEvent::Unknown`].
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioEvent {
    /// `com.twilio.voice.status-callback.call.{initiated,ringing,answered,completed}`
    /// (also the deprecated `com.twilio.voice.webhook.status-callback.call.*` and the
    /// seeds' `com.twilio.voice.status.{answered,completed}`).
    CallStatus {
        stage: CallStage,
        event: VoiceWebhookEvent,
    },
    /// The seeds' `com.twilio.voice.status.recording.processed`. Not a type in Twilio's
    /// catalogue; accepted so a sink set up from the seeds keeps working. Its `data` is
    /// read as a voice webhook event carrying the recording callback parameters.
    RecordingStatus(VoiceWebhookEvent),
    /// `com.twilio.voice.insights.call-summary.{partial,predicted-complete,complete}`.
    CallSummary {
        state: SummaryState,
        summary: Box<CallSummary>,
    },
    /// `com.twilio.messaging.message.*` (queued, sent, delivered, undelivered, failed, read…).
    MessageStatus(MessageStatus),
    /// `com.twilio.messaging.inbound-message.received`.
    InboundMessage(InboundMessage),
    /// Anything else, kept whole for logging or later handling.
    Unknown { event_type: String, data: Value },
}

impl CloudEvent {
    /// Route on `type` and decode `data` accordingly. Unknown types are not an error.
    pub fn into_typed(self) -> Result<TwilioEvent, EventStreamError> {
        let ty = self.event_type.as_str();
        let data = self.data;
        if let Some(stage) = call_stage(ty) {
            return Ok(TwilioEvent::CallStatus {
                stage,
                event: decode_data(ty, data)?,
            });
        }
        if ty == "com.twilio.voice.status.recording.processed" {
            return Ok(TwilioEvent::RecordingStatus(decode_data(ty, data)?));
        }
        if let Some(state) = ty.strip_prefix("com.twilio.voice.insights.call-summary.") {
            let state = match state {
                "partial" => Some(SummaryState::Partial),
                "predicted-complete" => Some(SummaryState::PredictedComplete),
                "complete" => Some(SummaryState::Complete),
                _ => None,
            };
            if let Some(state) = state {
                return Ok(TwilioEvent::CallSummary {
                    state,
                    summary: Box::new(decode_data(ty, data)?),
                });
            }
        }
        if ty.starts_with("com.twilio.messaging.message.") {
            return Ok(TwilioEvent::MessageStatus(decode_data(ty, data)?));
        }
        if ty == "com.twilio.messaging.inbound-message.received" {
            return Ok(TwilioEvent::InboundMessage(decode_data(ty, data)?));
        }
        Ok(TwilioEvent::Unknown {
            event_type: self.event_type,
            data,
        })
    }
}

fn decode_data<T: serde::de::DeserializeOwned>(
    event_type: &str,
    data: Value,
) -> Result<T, EventStreamError> {
    serde_json::from_value(data).map_err(|source| EventStreamError::Data {
        event_type: event_type.to_owned(),
        source,
    })
}

fn call_stage(ty: &str) -> Option<CallStage> {
    let stage = ty
        .strip_prefix("com.twilio.voice.status-callback.call.")
        .or_else(|| ty.strip_prefix("com.twilio.voice.webhook.status-callback.call."))
        // Seed names (design.md §2): not in Twilio's catalogue, accepted as aliases.
        .or_else(|| {
            ty.strip_prefix("com.twilio.voice.status.")
                .filter(|s| matches!(*s, "answered" | "completed"))
        })?;
    match stage {
        "initiated" => Some(CallStage::Initiated),
        "ringing" => Some(CallStage::Ringing),
        "answered" => Some(CallStage::Answered),
        "completed" => Some(CallStage::Completed),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Voice.WebhookEvent
// ---------------------------------------------------------------------------------------

/// `data` of the voice status-callback family (schema `Voice.WebhookEvent`): a record of
/// the HTTP callback Twilio made, with its form fields under `request.parameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceWebhookEvent {
    /// The Call SID (the one field the schema guarantees).
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub event_sid: Option<String>,
    /// ISO 8601.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub request_date_created: Option<String>,
    #[serde(default)]
    pub request: WebhookRequest,
    /// What our endpoint answered (`responseCode`, `responseBody` in base64, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// The callback request Twilio made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookRequest {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// The form fields, PascalCase as in the HTTP status callback (`CallSid`, `From`,
    /// `CallStatus`, `CallDuration`, …). Values are normalised to strings.
    #[serde(default, deserialize_with = "string_map")]
    pub parameters: BTreeMap<String, String>,
}

impl VoiceWebhookEvent {
    /// A form parameter by its PascalCase name.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.request.parameters.get(name).map(String::as_str)
    }

    /// The call: `data.sid`, falling back to `parameters.CallSid`. `None` if neither is
    /// a well-formed Call SID.
    pub fn call_sid(&self) -> Option<CallSid> {
        self.sid
            .as_deref()
            .and_then(|s| s.parse().ok())
            .or_else(|| self.parameter("CallSid")?.parse().ok())
    }

    pub fn account_sid(&self) -> Option<AccountSid> {
        self.parameter("AccountSid")?.parse().ok()
    }

    /// Raw `From`: E.164 for phone calls, but `client:…` or `sip:…` for other legs.
    pub fn from(&self) -> Option<&str> {
        self.parameter("From")
    }

    pub fn to(&self) -> Option<&str> {
        self.parameter("To")
    }

    /// `From` when it is a phone number.
    pub fn from_number(&self) -> Option<E164> {
        self.from()?.parse().ok()
    }

    /// `To` when it is a phone number.
    pub fn to_number(&self) -> Option<E164> {
        self.to()?.parse().ok()
    }

    /// `CallStatus`: `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`,
    /// `no-answer`, `canceled`.
    pub fn call_status(&self) -> Option<&str> {
        self.parameter("CallStatus")
    }

    /// `CallDuration` in seconds (terminal events only).
    pub fn call_duration_secs(&self) -> Option<u64> {
        self.parameter("CallDuration")?.trim().parse().ok()
    }

    /// `Direction`: `inbound`, `outbound-api` or `outbound-dial`.
    pub fn direction(&self) -> Option<&str> {
        self.parameter("Direction")
    }

    pub fn recording_sid(&self) -> Option<RecordingSid> {
        self.parameter("RecordingSid")?.parse().ok()
    }

    /// `RecordingStatus`: `in-progress`, `completed` or `absent`.
    pub fn recording_status(&self) -> Option<&str> {
        self.parameter("RecordingStatus")
    }

    /// `RecordingUrl` — without extension; append `.mp3` or `.wav` to download.
    pub fn recording_url(&self) -> Option<&str> {
        self.parameter("RecordingUrl")
    }
}

/// Deserialize an object whose values should be strings but may be numbers or booleans
/// (stringified) or null (dropped); nested values are kept as their JSON text.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct StringMap;

    impl<'de> Visitor<'de> for StringMap {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of parameters")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, Value>()? {
                let value = match value {
                    Value::Null => continue,
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, value);
            }
            Ok(out)
        }
    }

    d.deserialize_any(StringMap)
}

// ---------------------------------------------------------------------------------------
// Voice Insights call summary
// ---------------------------------------------------------------------------------------

/// `data` of `com.twilio.voice.insights.call-summary.*`: the Insights `CallSummary`
/// resource, snake_case. Call states use Insights' vocabulary (`completed`, `busy`,
/// `fail`, `noanswer`, `canceled`, `answered`, `undialed`, `ringing`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub call_sid: Option<String>,
    /// `carrier`, `sip`, `trunking`, `client`, `whatsapp`.
    #[serde(default)]
    pub call_type: Option<String>,
    #[serde(default)]
    pub call_state: Option<String>,
    #[serde(default)]
    pub answered_by: Option<String>,
    #[serde(default)]
    pub processing_state: Option<String>,
    /// ISO 8601 timestamps.
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    /// Seconds from initiation to end.
    #[serde(default)]
    pub duration: Option<u64>,
    /// Seconds from answer to end.
    #[serde(default)]
    pub connect_duration: Option<u64>,
    #[serde(default)]
    pub from: Option<CallParty>,
    #[serde(default)]
    pub to: Option<CallParty>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_edge: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_edge: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_edge: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_edge: Option<Value>,
    #[serde(default)]
    pub url: Option<String>,
}

impl CallSummary {
    pub fn call_sid(&self) -> Option<CallSid> {
        self.call_sid.as_deref()?.parse().ok()
    }

    pub fn account_sid(&self) -> Option<AccountSid> {
        self.account_sid.as_deref()?.parse().ok()
    }
}

/// The `from` / `to` object of a call summary: who called whom, and over what.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallParty {
    /// Set on `from`.
    #[serde(default)]
    pub caller: Option<String>,
    /// Set on `to`.
    #[serde(default)]
    pub callee: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
    /// e.g. `mobile`, `landline`, `voip`.
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub number_prefix: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub country_subdivision: Option<String>,
    /// Anything else Insights adds (`location`, `ip_address`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl CallParty {
    /// The party's address as reported: `caller` on `from`, `callee` on `to`.
    pub fn address(&self) -> Option<&str> {
        self.caller.as_deref().or(self.callee.as_deref())
    }

    /// The address when it is a phone number.
    pub fn number(&self) -> Option<E164> {
        self.address()?.parse().ok()
    }
}

// ---------------------------------------------------------------------------------------
// Messaging
// ---------------------------------------------------------------------------------------

/// `data` of `com.twilio.messaging.message.*` (schema `Messaging.MessageStatus`), camelCase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStatus {
    #[serde(default)]
    pub message_sid: Option<String>,
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// UPPERCASE: `QUEUED`, `SENT`, `DELIVERED`, `UNDELIVERED`, `FAILED`, `READ`.
    #[serde(default)]
    pub message_status: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub number_of_segments: Option<u32>,
    #[serde(default)]
    pub date_updated: Option<String>,
}

/// `data` of `com.twilio.messaging.inbound-message.received`, camelCase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    #[serde(default)]
    pub message_sid: Option<String>,
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub num_media: Option<u32>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub event_name: Option<String>,
    /// Geo and carrier fields (`fromCountry`, `toCity`, `mcc`, …) and anything newer.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_stage_names() {
        assert_eq!(
            call_stage("com.twilio.voice.status-callback.call.answered"),
            Some(CallStage::Answered)
        );
        assert_eq!(
            call_stage("com.twilio.voice.webhook.status-callback.call.ringing"),
            Some(CallStage::Ringing)
        );
        assert_eq!(
            call_stage("com.twilio.voice.status.completed"),
            Some(CallStage::Completed)
        );
        assert_eq!(call_stage("com.twilio.voice.status.initiated"), None);
        assert_eq!(
            call_stage("com.twilio.voice.status-callback.amd.detected"),
            None
        );
        assert_eq!(
            call_stage("com.twilio.voice.status-callback.call.bogus"),
            None
        );
    }

    #[test]
    fn parameters_are_stringified() {
        let e: VoiceWebhookEvent = serde_json::from_value(serde_json::json!({
            "sid": "CA0123456789abcdef0123456789abcdef",
            "request": {"parameters": {"CallDuration": 42, "Flag": true, "Gone": null, "CallStatus": "completed"}}
        }))
        .unwrap();
        assert_eq!(e.call_duration_secs(), Some(42));
        assert_eq!(e.parameter("Flag"), Some("true"));
        assert_eq!(e.parameter("Gone"), None);
        assert_eq!(e.call_status(), Some("completed"));
        let null_params: VoiceWebhookEvent =
            serde_json::from_value(serde_json::json!({"request": {"parameters": null}})).unwrap();
        assert!(null_params.request.parameters.is_empty());
    }
}
