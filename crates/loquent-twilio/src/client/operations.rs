//! The one table of every Twilio operation the client performs.
//!
//! Requests are built from these entries (path template, method), and in debug builds a
//! parameter not listed here panics, so the table is exactly what goes on the wire. A test
//! (`tests/openapi_conformance.rs`) checks each entry against Twilio's OpenAPI files.

/// Which Twilio host serves an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Core API, `https://api.twilio.com` (spec `twilio_api_v2010.json`).
    Api,
    /// Event Streams, `https://events.twilio.com` (spec `twilio_events_v1.json`).
    Events,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Delete => reqwest::Method::DELETE,
        }
    }
}

/// Whether repeating a request whose outcome is unknown is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, deletes and updates that set absolute values: retried on 5xx and timeouts.
    Idempotent,
    /// Creates something (a subaccount, a recording, a purchase): retried only when the
    /// request certainly did not run (connect error, 429).
    Creates,
}

/// One Twilio operation as the client uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// OpenAPI `operationId` (or our own name when `in_openapi` is false).
    pub id: &'static str,
    pub host: Host,
    pub method: HttpMethod,
    /// Path template with `{Name}` placeholders, exactly as the spec's `paths` key.
    pub path: &'static str,
    /// Query (GET/DELETE) or form (POST) parameter names the client may send.
    pub params: &'static [&'static str],
    pub idempotency: Idempotency,
    /// False only for recording media, which Twilio serves but does not describe in OpenAPI;
    /// its path is the `FetchRecording` path with `.mp3` for `.json`.
    pub in_openapi: bool,
}

const fn op(
    id: &'static str,
    host: Host,
    method: HttpMethod,
    path: &'static str,
    params: &'static [&'static str],
) -> Operation {
    Operation {
        id,
        host,
        method,
        path,
        params,
        idempotency: match method {
            HttpMethod::Get | HttpMethod::Delete => Idempotency::Idempotent,
            // Updates are listed with `update`, below.
            HttpMethod::Post => Idempotency::Creates,
        },
        in_openapi: true,
    }
}

const fn update(op: Operation) -> Operation {
    Operation {
        idempotency: Idempotency::Idempotent,
        ..op
    }
}

use Host::{Api, Events};
use HttpMethod::{Delete, Get, Post};

const PAGING: &str = "PageSize";

pub const FETCH_ACCOUNT: Operation = op(
    "FetchAccount",
    Api,
    Get,
    "/2010-04-01/Accounts/{Sid}.json",
    &[],
);
pub const CREATE_ACCOUNT: Operation = op(
    "CreateAccount",
    Api,
    Post,
    "/2010-04-01/Accounts.json",
    &["FriendlyName"],
);

pub const LIST_CALL: Operation = op(
    "ListCall",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/Calls.json",
    &["To", "From", "Status", "StartTime>", PAGING],
);
pub const FETCH_CALL: Operation = op(
    "FetchCall",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
    &[],
);
pub const UPDATE_CALL: Operation = update(op(
    "UpdateCall",
    Api,
    Post,
    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
    &["Status", "Twiml", "Url", "Method"],
));

pub const LIST_CALL_RECORDING: Operation = op(
    "ListCallRecording",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json",
    &[PAGING],
);
pub const CREATE_CALL_RECORDING: Operation = op(
    "CreateCallRecording",
    Api,
    Post,
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json",
    &[
        "RecordingChannels",
        "RecordingStatusCallback",
        "RecordingStatusCallbackMethod",
        "RecordingStatusCallbackEvent",
        "RecordingTrack",
        "Trim",
    ],
);
pub const FETCH_RECORDING: Operation = op(
    "FetchRecording",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json",
    &[],
);
pub const DELETE_RECORDING: Operation = op(
    "DeleteRecording",
    Api,
    Delete,
    "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json",
    &[],
);
pub const FETCH_RECORDING_MEDIA: Operation = Operation {
    in_openapi: false,
    ..op(
        "FetchRecordingMedia",
        Api,
        Get,
        "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.mp3",
        &["RequestedChannels"],
    )
};

pub const LIST_INCOMING_PHONE_NUMBER: Operation = op(
    "ListIncomingPhoneNumber",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
    &["PhoneNumber", PAGING],
);
pub const FETCH_INCOMING_PHONE_NUMBER: Operation = op(
    "FetchIncomingPhoneNumber",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
    &[],
);
pub const UPDATE_INCOMING_PHONE_NUMBER: Operation = update(op(
    "UpdateIncomingPhoneNumber",
    Api,
    Post,
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
    &[
        "VoiceUrl",
        "VoiceMethod",
        "StatusCallback",
        "StatusCallbackMethod",
        "FriendlyName",
    ],
));
pub const CREATE_INCOMING_PHONE_NUMBER: Operation = op(
    "CreateIncomingPhoneNumber",
    Api,
    Post,
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
    &[
        "PhoneNumber",
        "VoiceUrl",
        "VoiceMethod",
        "StatusCallback",
        "StatusCallbackMethod",
        "FriendlyName",
    ],
);
pub const LIST_AVAILABLE_PHONE_NUMBER_LOCAL: Operation = op(
    "ListAvailablePhoneNumberLocal",
    Api,
    Get,
    "/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers/{CountryCode}/Local.json",
    &[
        "AreaCode",
        "Contains",
        "VoiceEnabled",
        "SmsEnabled",
        "MmsEnabled",
        "InRegion",
        "InPostalCode",
        PAGING,
    ],
);

pub const CREATE_SINK: Operation = op(
    "CreateSink",
    Events,
    Post,
    "/v1/Sinks",
    &["Description", "SinkConfiguration", "SinkType"],
);
pub const LIST_SINK: Operation = op("ListSink", Events, Get, "/v1/Sinks", &[PAGING]);
pub const DELETE_SINK: Operation = op("DeleteSink", Events, Delete, "/v1/Sinks/{Sid}", &[]);
pub const CREATE_SUBSCRIPTION: Operation = op(
    "CreateSubscription",
    Events,
    Post,
    "/v1/Subscriptions",
    &["Description", "SinkSid", "Types"],
);
pub const LIST_SUBSCRIPTION: Operation = op(
    "ListSubscription",
    Events,
    Get,
    "/v1/Subscriptions",
    &["SinkSid", PAGING],
);
pub const DELETE_SUBSCRIPTION: Operation = op(
    "DeleteSubscription",
    Events,
    Delete,
    "/v1/Subscriptions/{Sid}",
    &[],
);
pub const LIST_SUBSCRIBED_EVENT: Operation = op(
    "ListSubscribedEvent",
    Events,
    Get,
    "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents",
    &[PAGING],
);
pub const CREATE_SUBSCRIBED_EVENT: Operation = op(
    "CreateSubscribedEvent",
    Events,
    Post,
    "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents",
    &["Type", "SchemaVersion"],
);

/// Every operation the client performs.
pub const OPERATIONS: &[Operation] = &[
    FETCH_ACCOUNT,
    CREATE_ACCOUNT,
    LIST_CALL,
    FETCH_CALL,
    UPDATE_CALL,
    LIST_CALL_RECORDING,
    CREATE_CALL_RECORDING,
    FETCH_RECORDING,
    DELETE_RECORDING,
    FETCH_RECORDING_MEDIA,
    LIST_INCOMING_PHONE_NUMBER,
    FETCH_INCOMING_PHONE_NUMBER,
    UPDATE_INCOMING_PHONE_NUMBER,
    CREATE_INCOMING_PHONE_NUMBER,
    LIST_AVAILABLE_PHONE_NUMBER_LOCAL,
    CREATE_SINK,
    LIST_SINK,
    DELETE_SINK,
    CREATE_SUBSCRIPTION,
    LIST_SUBSCRIPTION,
    DELETE_SUBSCRIPTION,
    LIST_SUBSCRIBED_EVENT,
    CREATE_SUBSCRIBED_EVENT,
];
