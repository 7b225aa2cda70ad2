//! Event Streams API v1 (`events.twilio.com`): sinks (where events go) and subscriptions
//! (which event types go there). The deliveries themselves are parsed by
//! [`crate::event_stream`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::operations::{
    CREATE_SINK, CREATE_SUBSCRIBED_EVENT, CREATE_SUBSCRIPTION, DELETE_SINK, DELETE_SUBSCRIPTION,
    LIST_SINK, LIST_SUBSCRIBED_EVENT, LIST_SUBSCRIPTION,
};
use crate::client::{TwilioClient, TwilioError, TwilioStream, events_page};
use crate::sid::{AccountSid, SinkSid, SubscriptionSid};
use crate::twiml::Method;

/// `events.v1.sink`.
#[derive(Debug, Clone, Deserialize)]
pub struct Sink {
    pub sid: Option<SinkSid>,
    pub description: Option<String>,
    /// Shape depends on `sink_type`; for webhooks see [`WebhookSink`].
    pub sink_configuration: Option<serde_json::Value>,
    pub sink_type: Option<SinkType>,
    pub status: Option<SinkStatus>,
    /// ISO 8601.
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub url: Option<String>,
    pub links: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    Webhook,
    Kinesis,
    Segment,
    Email,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkStatus {
    Initialized,
    Validating,
    Active,
    Failed,
    #[serde(other)]
    Unknown,
}

/// A webhook sink's `SinkConfiguration`, sent as a JSON string in the form field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSink {
    /// Where Twilio POSTs the events; put `user:pass@` in it for Basic auth.
    pub destination: String,
    /// `POST` or `GET`.
    pub method: String,
    /// Deliver several events per request (a JSON array either way).
    pub batch_events: bool,
}

impl WebhookSink {
    pub fn new(destination: impl Into<String>, method: Method, batch_events: bool) -> Self {
        Self {
            destination: destination.into(),
            method: method.as_str().to_owned(),
            batch_events,
        }
    }
}

/// `events.v1.subscription`.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub account_sid: Option<AccountSid>,
    pub sid: Option<SubscriptionSid>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub description: Option<String>,
    pub sink_sid: Option<SinkSid>,
    pub url: Option<String>,
    pub links: Option<BTreeMap<String, String>>,
}

/// `events.v1.subscription.subscribed_event`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscribedEvent {
    pub account_sid: Option<AccountSid>,
    /// Event type, e.g. `com.twilio.voice.status-callback.call.completed`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub schema_version: Option<u32>,
    pub subscription_sid: Option<SubscriptionSid>,
    pub url: Option<String>,
}

/// One event type to subscribe to, with its schema version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventType {
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
}

impl EventType {
    pub fn new(event_type: impl Into<String>, schema_version: u32) -> Self {
        Self {
            event_type: event_type.into(),
            schema_version,
        }
    }
}

events_page!(SinkPage, sinks, Sink);
events_page!(SubscriptionPage, subscriptions, Subscription);
events_page!(SubscribedEventPage, types, SubscribedEvent);

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs (strings, bools, integers) cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

impl TwilioClient {
    /// `CreateSink` with `SinkType=webhook`.
    pub async fn create_webhook_sink(
        &self,
        description: &str,
        config: &WebhookSink,
    ) -> Result<Sink, TwilioError> {
        let request = self
            .request(&CREATE_SINK, &[])
            .param("Description", description)
            .param("SinkConfiguration", to_json(config))
            .param("SinkType", "webhook");
        self.send_json(&request).await
    }

    /// `ListSink`.
    pub fn list_sinks(&self) -> TwilioStream<Sink> {
        self.paginate::<SinkPage>(self.request(&LIST_SINK, &[]))
    }

    /// `DeleteSink` (204).
    pub async fn delete_sink(&self, sid: &SinkSid) -> Result<(), TwilioError> {
        let request = self.request(&DELETE_SINK, &[("Sid", sid.as_str())]);
        self.send_no_content(&request).await
    }

    /// `CreateSubscription`: send `types` to `sink`. Each type goes as one `Types` field
    /// holding a JSON object `{"type":…,"schema_version":…}`.
    pub async fn create_subscription(
        &self,
        description: &str,
        sink: &SinkSid,
        types: &[EventType],
    ) -> Result<Subscription, TwilioError> {
        let mut request = self
            .request(&CREATE_SUBSCRIPTION, &[])
            .param("Description", description)
            .param("SinkSid", sink.as_str());
        for event_type in types {
            request = request.param("Types", to_json(event_type));
        }
        self.send_json(&request).await
    }

    /// `ListSubscription`, optionally only those delivering to `sink`.
    pub fn list_subscriptions(&self, sink: Option<&SinkSid>) -> TwilioStream<Subscription> {
        let request = self
            .request(&LIST_SUBSCRIPTION, &[])
            .opt_param("SinkSid", sink.map(SinkSid::as_str));
        self.paginate::<SubscriptionPage>(request)
    }

    /// `DeleteSubscription` (204).
    pub async fn delete_subscription(&self, sid: &SubscriptionSid) -> Result<(), TwilioError> {
        let request = self.request(&DELETE_SUBSCRIPTION, &[("Sid", sid.as_str())]);
        self.send_no_content(&request).await
    }

    /// `ListSubscribedEvent`: the event types a subscription delivers.
    pub fn list_subscribed_events(
        &self,
        subscription: &SubscriptionSid,
    ) -> TwilioStream<SubscribedEvent> {
        let request = self.request(
            &LIST_SUBSCRIBED_EVENT,
            &[("SubscriptionSid", subscription.as_str())],
        );
        self.paginate::<SubscribedEventPage>(request)
    }

    /// `CreateSubscribedEvent`: add one event type to a subscription.
    pub async fn add_subscribed_event(
        &self,
        subscription: &SubscriptionSid,
        event_type: &EventType,
    ) -> Result<SubscribedEvent, TwilioError> {
        let request = self
            .request(
                &CREATE_SUBSCRIBED_EVENT,
                &[("SubscriptionSid", subscription.as_str())],
            )
            .param("Type", event_type.event_type.as_str())
            .param("SchemaVersion", event_type.schema_version.to_string());
        self.send_json(&request).await
    }
}
