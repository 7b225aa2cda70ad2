//! Twilio Event Streams (seed 001): the organization's one webhook sink at
//! `{LOQUENT_PUBLIC_URL}/twilio/events`, with one subscription per kind of event (calls, SMS),
//! each set up and removed on its own.

pub mod handle;
pub mod receive;
pub mod setup;

use serde::Serialize;

use crate::entity::organization_twilio_settings as settings;
use crate::orgs::twilio::{TwilioAccountError, TwilioFailure};

/// Where Twilio delivers the organization's events.
pub const SINK_PATH: &str = "/twilio/events";

/// A kind of events, subscribed and removed independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Call,
    Sms,
}

impl Kind {
    /// The event types of the kind's subscription with their schema versions: names from
    /// Twilio's catalogue (`shared/specs/twilio/PROTOCOLS.md` §4.3), not the seed's, which
    /// Twilio would refuse; deliveries under the seed's names are still understood.
    pub fn event_types(self) -> &'static [(&'static str, u32)] {
        match self {
            Self::Call => &[
                ("com.twilio.voice.status-callback.call.answered", 1),
                ("com.twilio.voice.status-callback.call.completed", 1),
                ("com.twilio.voice.insights.call-summary.complete", 1),
            ],
            Self::Sms => &[
                ("com.twilio.messaging.inbound-message.received", 1),
                ("com.twilio.messaging.message.sent", 1),
                ("com.twilio.messaging.message.delivered", 1),
                ("com.twilio.messaging.message.failed", 1),
                ("com.twilio.messaging.message.undelivered", 1),
            ],
        }
    }

    /// The subscription's description on Twilio.
    pub fn description(self) -> &'static str {
        match self {
            Self::Call => "Loquent call events",
            Self::Sms => "Loquent SMS events",
        }
    }
}

/// What the organization has set up, as the API and the dashboard show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StreamsState {
    /// Whether call events (answered, completed, call summaries) are being delivered.
    pub call_events_active: bool,
    /// Whether SMS events (received, sent, delivered, failed, undelivered) are being delivered.
    pub sms_events_active: bool,
    /// The webhook sink on Twilio, while a subscription uses it.
    pub sink_sid: Option<String>,
    pub call_subscription_sid: Option<String>,
    pub sms_subscription_sid: Option<String>,
}

impl StreamsState {
    pub fn of(row: Option<&settings::Model>) -> Self {
        row.map_or_else(Self::default, |row| Self {
            call_events_active: row.call_events_active,
            sms_events_active: row.sms_events_active,
            sink_sid: row.event_sink_sid.clone(),
            call_subscription_sid: row.call_subscription_sid.clone(),
            sms_subscription_sid: row.sms_subscription_sid.clone(),
        })
    }
}

/// What the organization has set up.
pub async fn read(
    db: &impl sea_orm::ConnectionTrait,
    org_id: uuid::Uuid,
) -> Result<StreamsState, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    let row = settings::Entity::find_by_id(org_id).one(db).await?;
    Ok(StreamsState::of(row.as_ref()))
}

#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    #[error("choose call events, SMS events or both")]
    NothingChosen,
    #[error(transparent)]
    Account(#[from] TwilioAccountError),
    #[error(transparent)]
    Twilio(#[from] TwilioFailure),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}
