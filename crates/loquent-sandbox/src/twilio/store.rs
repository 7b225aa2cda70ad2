//! The emulator's in-memory state: accounts and everything they own, the request log and the
//! fault plan. One [`Store`] behind one mutex; every handler holds it for a few microseconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::rng::Rng;

pub(crate) const API_VERSION: &str = "2010-04-01";

/// Everything the sandbox knows.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) accounts: BTreeMap<String, Account>,
    /// Source of SIDs for resources created at run time (not seeded ones).
    pub(crate) rng: Rng,
    pub(crate) requests: Vec<LoggedRequest>,
    /// Fault rules, in the order they were added; the first that fires decides.
    pub(crate) faults: Vec<FaultPlan>,
    /// Reports of finished simulated calls, by Call SID.
    pub(crate) call_reports: BTreeMap<String, Value>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            accounts: BTreeMap::new(),
            rng: Rng::new(0x10_0E17),
            requests: Vec::new(),
            faults: Vec::new(),
            call_reports: BTreeMap::new(),
        }
    }

    /// A new SID with `prefix`, unique in this sandbox.
    pub(crate) fn new_sid(&mut self, prefix: &str) -> String {
        self.rng.sid(prefix)
    }

    /// Whether some account already owns `phone_number`.
    pub(crate) fn number_is_owned(&self, phone_number: &str) -> bool {
        self.accounts
            .values()
            .any(|a| a.numbers.iter().any(|n| n.phone_number == phone_number))
    }
}

/// A (sub)account and its resources.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) sid: String,
    pub(crate) auth_token: String,
    /// `None` for a main account.
    pub(crate) parent: Option<String>,
    pub(crate) friendly_name: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) numbers: Vec<Number>,
    /// Newest first (by start time, then SID), the order `ListCall` returns.
    pub(crate) calls: Vec<Call>,
    pub(crate) recordings: Vec<Recording>,
    pub(crate) sinks: Vec<Sink>,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) keys: Vec<ApiKey>,
}

impl Account {
    pub(crate) fn new(
        sid: String,
        auth_token: String,
        parent: Option<String>,
        friendly_name: String,
        created: DateTime<Utc>,
    ) -> Self {
        Self {
            sid,
            auth_token,
            parent,
            friendly_name,
            created,
            numbers: Vec::new(),
            calls: Vec::new(),
            recordings: Vec::new(),
            sinks: Vec::new(),
            subscriptions: Vec::new(),
            keys: Vec::new(),
        }
    }

    pub(crate) fn sort_calls(&mut self) {
        self.calls
            .sort_by(|a, b| b.start_time.cmp(&a.start_time).then(b.sid.cmp(&a.sid)));
    }

    pub(crate) fn to_json(&self, with_token: bool) -> Value {
        let uri = format!("/{API_VERSION}/Accounts/{}", self.sid);
        let sub = |name: &str| format!("{uri}/{name}.json");
        let mut subresources = serde_json::Map::new();
        for (key, name) in [
            ("available_phone_numbers", "AvailablePhoneNumbers"),
            ("calls", "Calls"),
            ("conferences", "Conferences"),
            ("incoming_phone_numbers", "IncomingPhoneNumbers"),
            ("notifications", "Notifications"),
            ("outgoing_caller_ids", "OutgoingCallerIds"),
            ("recordings", "Recordings"),
            ("transcriptions", "Transcriptions"),
            ("addresses", "Addresses"),
            ("signing_keys", "SigningKeys"),
            ("connect_apps", "ConnectApps"),
            ("sip", "SIP"),
            ("authorized_connect_apps", "AuthorizedConnectApps"),
            ("usage", "Usage"),
            ("keys", "Keys"),
            ("applications", "Applications"),
            ("short_codes", "SMS/ShortCodes"),
            ("queues", "Queues"),
            ("messages", "Messages"),
            ("balance", "Balance"),
        ] {
            subresources.insert(key.to_owned(), Value::String(sub(name)));
        }
        json!({
            "auth_token": if with_token { Value::String(self.auth_token.clone()) } else { Value::Null },
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
            "friendly_name": self.friendly_name,
            "owner_account_sid": self.parent.as_deref().unwrap_or(&self.sid),
            "sid": self.sid,
            "status": "active",
            "subresource_uris": subresources,
            "type": "Full",
            "uri": format!("{uri}.json"),
        })
    }
}

/// An incoming phone number (`PN…`).
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub(crate) sid: String,
    pub(crate) phone_number: String,
    pub(crate) friendly_name: String,
    pub(crate) voice_url: Option<String>,
    pub(crate) voice_method: String,
    pub(crate) status_callback: String,
    pub(crate) status_callback_method: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

impl Number {
    pub(crate) fn new(sid: String, phone_number: String, now: DateTime<Utc>) -> Self {
        Self {
            friendly_name: friendly(&phone_number),
            sid,
            phone_number,
            voice_url: None,
            voice_method: "POST".to_owned(),
            status_callback: String::new(),
            status_callback_method: "POST".to_owned(),
            created: now,
            updated: now,
        }
    }

    pub(crate) fn to_json(&self, account: &str) -> Value {
        let uri = format!(
            "/{API_VERSION}/Accounts/{account}/IncomingPhoneNumbers/{}",
            self.sid
        );
        json!({
            "account_sid": account,
            "address_requirements": "none",
            "address_sid": null,
            "api_version": API_VERSION,
            "beta": false,
            "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.updated),
            "emergency_status": "Inactive",
            "emergency_address_sid": null,
            "emergency_address_status": "unregistered",
            "friendly_name": self.friendly_name,
            "identity_sid": null,
            "origin": "twilio",
            "phone_number": self.phone_number,
            "sid": self.sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status_callback": self.status_callback,
            "status_callback_method": self.status_callback_method,
            "trunk_sid": null,
            "uri": format!("{uri}.json"),
            "voice_application_sid": "",
            "voice_caller_id_lookup": false,
            "voice_fallback_method": "POST",
            "voice_fallback_url": null,
            "voice_method": self.voice_method,
            "voice_url": self.voice_url,
            "voice_receive_mode": "voice",
            "status": "in-use",
            "bundle_sid": null,
            "type": "local",
            "subresource_uris": {
                "assigned_add_ons": format!("{uri}/AssignedAddOns.json"),
            },
        })
    }
}

/// A call (`CA…`), historical or live.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) sid: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// Twilio's `call_enum_status` value.
    pub(crate) status: String,
    /// `inbound` or `outbound-api`.
    pub(crate) direction: String,
    pub(crate) phone_number_sid: Option<String>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) start_time: DateTime<Utc>,
    pub(crate) end_time: Option<DateTime<Utc>>,
    /// TwiML or URL the call was last redirected to (`UpdateCall`).
    pub(crate) instructions: Option<String>,
}

impl Call {
    pub(crate) fn duration(&self) -> Option<i64> {
        self.end_time
            .map(|end| (end - self.start_time).num_seconds())
    }

    pub(crate) fn is_live(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "ringing" | "in-progress")
    }

    pub(crate) fn to_json(&self, account: &str) -> Value {
        let uri = format!("/{API_VERSION}/Accounts/{account}/Calls/{}", self.sid);
        let mut subresources = serde_json::Map::new();
        for (key, name) in [
            ("feedback", "Feedback"),
            ("notifications", "Notifications"),
            ("recordings", "Recordings"),
            ("payments", "Payments"),
            ("events", "Events"),
            ("siprec", "Siprec"),
            ("streams", "Streams"),
            ("transcriptions", "Transcriptions"),
            (
                "user_defined_message_subscriptions",
                "UserDefinedMessageSubscriptions",
            ),
            ("user_defined_messages", "UserDefinedMessages"),
        ] {
            subresources.insert(key.to_owned(), Value::String(format!("{uri}/{name}.json")));
        }
        subresources.insert(
            "feedback_summaries".to_owned(),
            Value::String(format!(
                "/{API_VERSION}/Accounts/{account}/Calls/FeedbackSummary.json"
            )),
        );
        let duration = self.duration();
        json!({
            "account_sid": account,
            "annotation": null,
            "answered_by": null,
            "api_version": API_VERSION,
            "caller_name": null,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.updated),
            "direction": self.direction,
            "duration": duration.map(|d| d.to_string()),
            "end_time": self.end_time.map(rfc2822),
            "forwarded_from": if self.direction == "inbound" { Value::String(self.to.clone()) } else { Value::Null },
            "from": self.from,
            "from_formatted": friendly(&self.from),
            "group_sid": null,
            "parent_call_sid": null,
            "phone_number_sid": self.phone_number_sid,
            "price": duration.map(|d| format!("{:.5}", -0.0085 * ((d + 59) / 60) as f64)),
            "price_unit": "USD",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": subresources,
            "to": self.to,
            "to_formatted": friendly(&self.to),
            "trunk_sid": null,
            "uri": format!("{uri}.json"),
            "queue_time": "0",
        })
    }
}

/// A recording (`RE…`) of a call.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    pub(crate) sid: String,
    pub(crate) call_sid: String,
    pub(crate) channels: u8,
    /// `in-progress` while the call lasts, then `completed`.
    pub(crate) status: String,
    pub(crate) source: String,
    pub(crate) track: String,
    pub(crate) start_time: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    /// Seconds; `None` while in progress (Twilio shows `-1`).
    pub(crate) duration: Option<i64>,
    /// A recording started through the REST API: its status callback, sent by the call
    /// simulator when the call ends. `None` for the others.
    pub(crate) api_callback: Option<ApiCallback>,
}

/// `RecordingStatusCallback*` of a `CreateCallRecording` request.
#[derive(Debug, Clone)]
pub(crate) struct ApiCallback {
    pub(crate) url: Option<String>,
    pub(crate) method: String,
    pub(crate) events: Vec<loquent_twilio::twiml::RecordingEvent>,
}

impl Recording {
    fn common(&self, account: &str) -> serde_json::Map<String, Value> {
        let completed = self.status == "completed";
        let fields = json!({
            "account_sid": account,
            "api_version": API_VERSION,
            "call_sid": self.call_sid,
            "conference_sid": null,
            "channels": self.channels,
            "date_created": rfc2822(self.start_time),
            "date_updated": rfc2822(self.updated),
            "start_time": rfc2822(self.start_time),
            "price": if completed { Value::String("-0.00250".into()) } else { Value::Null },
            "price_unit": "USD",
            "duration": self.duration.unwrap_or(-1).to_string(),
            "sid": self.sid,
            "source": self.source,
            "status": self.status,
            "error_code": null,
            "encryption_details": null,
        });
        match fields {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    /// As `api.v2010.account.recording` (`FetchRecording`).
    pub(crate) fn to_json(&self, account: &str, origin: &str) -> Value {
        let uri = format!("/{API_VERSION}/Accounts/{account}/Recordings/{}", self.sid);
        let mut map = self.common(account);
        map.insert("uri".into(), Value::String(format!("{uri}.json")));
        map.insert(
            "subresource_uris".into(),
            json!({
                "add_on_results": format!("{uri}/AddOnResults.json"),
                "transcriptions": format!("{uri}/Transcriptions.json"),
            }),
        );
        map.insert("media_url".into(), Value::String(format!("{origin}{uri}")));
        Value::Object(map)
    }

    /// As `api.v2010.account.call.call_recording` (`ListCallRecording`, `CreateCallRecording`).
    pub(crate) fn to_call_json(&self, account: &str) -> Value {
        let mut map = self.common(account);
        map.insert("track".into(), Value::String(self.track.clone()));
        map.insert(
            "uri".into(),
            Value::String(format!(
                "/{API_VERSION}/Accounts/{account}/Calls/{}/Recordings/{}.json",
                self.call_sid, self.sid
            )),
        );
        Value::Object(map)
    }
}

/// An Event Streams sink (`DG…`).
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    pub(crate) sid: String,
    pub(crate) description: String,
    pub(crate) sink_type: String,
    pub(crate) configuration: Value,
    pub(crate) created: DateTime<Utc>,
}

impl Sink {
    pub(crate) fn to_json(&self, origin: &str) -> Value {
        let url = format!("{origin}/v1/Sinks/{}", self.sid);
        json!({
            "date_created": iso8601(self.created),
            "date_updated": iso8601(self.created),
            "description": self.description,
            "sid": self.sid,
            "sink_configuration": self.configuration,
            "sink_type": self.sink_type,
            "status": "active",
            "url": url,
            "links": {
                "sink_test": format!("{url}/Test"),
                "sink_validate": format!("{url}/Validate"),
            },
        })
    }
}

/// An Event Streams subscription (`DF…`) and the event types it delivers.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) sid: String,
    pub(crate) description: String,
    pub(crate) sink_sid: String,
    pub(crate) types: Vec<(String, u32)>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

impl Subscription {
    pub(crate) fn to_json(&self, account: &str, origin: &str) -> Value {
        let url = format!("{origin}/v1/Subscriptions/{}", self.sid);
        json!({
            "account_sid": account,
            "sid": self.sid,
            "date_created": iso8601(self.created),
            "date_updated": iso8601(self.updated),
            "description": self.description,
            "sink_sid": self.sink_sid,
            "url": url,
            "links": {"subscribed_events": format!("{url}/SubscribedEvents")},
        })
    }

    pub(crate) fn event_json(
        &self,
        account: &str,
        origin: &str,
        (event_type, schema_version): &(String, u32),
    ) -> Value {
        json!({
            "account_sid": account,
            "type": event_type,
            "schema_version": schema_version,
            "subscription_sid": self.sid,
            "url": format!("{origin}/v1/Subscriptions/{}/SubscribedEvents/{event_type}", self.sid),
        })
    }
}

/// One API request as the sandbox saw it (`GET /sandbox/requests`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoggedRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    /// The account the request acted on (from the path, or the credentials for Events).
    pub(crate) account_sid: Option<String>,
    pub(crate) status: u16,
    /// RFC 3339.
    pub(crate) at: String,
}

/// One rule of injected failures (`POST /sandbox/faults`).
#[derive(Debug, Clone)]
pub(crate) struct FaultPlan {
    pub(crate) account_sid: Option<String>,
    /// Only requests with this method (`GET`, `POST`, `DELETE`).
    pub(crate) method: Option<String>,
    /// Only requests whose path contains this, e.g. `/Calls.json` or `/IncomingPhoneNumbers/`.
    pub(crate) path_contains: Option<String>,
    pub(crate) rate: f64,
    /// Answer with one of these; empty means the request runs (after `latency`).
    pub(crate) statuses: Vec<u16>,
    pub(crate) retry_after_secs: u64,
    pub(crate) latency: std::time::Duration,
    /// Close the connection without an answer.
    pub(crate) drop_connection: bool,
    pub(crate) rng: Rng,
}

/// An API key (`SK…`) and its secret: HTTP Basic credentials for the account that owns it.
#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    pub(crate) sid: String,
    pub(crate) secret: String,
    pub(crate) friendly_name: String,
    pub(crate) created: DateTime<Utc>,
}

impl ApiKey {
    pub(crate) fn to_json(&self, with_secret: bool) -> Value {
        let mut body = json!({
            "sid": self.sid,
            "friendly_name": self.friendly_name,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
        });
        if with_secret {
            body["secret"] = Value::String(self.secret.clone());
        }
        body
    }
}

/// `Fri, 18 Oct 2019 17:00:00 +0000`, as v2010 writes dates.
pub(crate) fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// `2019-10-18T17:00:00Z`, as Events v1 writes dates.
pub(crate) fn iso8601(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `(415) 555-0100` for a NANP number; other strings unchanged.
pub(crate) fn friendly(number: &str) -> String {
    match number.strip_prefix("+1") {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
        }
        _ => number.to_owned(),
    }
}
