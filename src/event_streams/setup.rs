//! `POST /api/twilio/setup-event-sink` and `/remove-event-sink`: the sink and its subscriptions
//! on the organization's Twilio account, and what is stored of them.
//!
//! Twilio is changed first and the database after, so a Twilio failure leaves the stored state
//! as it was; whatever this request created on Twilio before the failure is deleted again.

use chrono::Utc;
use futures_util::TryStreamExt;
use loquent_twilio::TwilioClient;
use loquent_twilio::events_api::{EventType, Sink, WebhookSink};
use loquent_twilio::sid::{SinkSid, SubscriptionSid};
use loquent_twilio::twiml::Method;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Set};
use uuid::Uuid;

use super::{Kind, StreamsError, StreamsState};
use crate::entity::organization_twilio_settings as settings;
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure, reload};
use crate::recordings::settings::TelephonySettings;

/// Which kinds a setup turns on; a kind left out stays as it is.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub call: bool,
    pub sms: bool,
}

/// Where the events go and how to reach Twilio for the organization.
pub struct Streams<'a, C> {
    pub db: &'a C,
    pub client: TwilioClient,
    /// `{LOQUENT_PUBLIC_URL}/twilio/events`.
    pub destination: String,
}

impl<'a> Streams<'a, DatabaseConnection> {
    /// The organization's streams, on its Twilio account as stored now.
    pub async fn of(
        db: &'a DatabaseConnection,
        accounts: &TwilioAccounts,
        org_id: Uuid,
    ) -> Result<Self, StreamsError> {
        let org = reload(db, org_id).await?;
        Ok(Self {
            db,
            client: accounts.client_for(&org)?,
            destination: accounts.events_url(),
        })
    }
}

impl<C: ConnectionTrait> Streams<'_, C> {
    /// Creates (or reuses, when one already delivers to [`Self::destination`]) the webhook sink
    /// and a subscription for each wanted kind that has none, then stores them.
    pub async fn setup(&self, org_id: Uuid, wanted: Wanted) -> Result<StreamsState, StreamsError> {
        if !wanted.call && !wanted.sms {
            return Err(StreamsError::NothingChosen);
        }
        let row = settings::Entity::find_by_id(org_id).one(self.db).await?;
        let mut state = StreamsState::of(row.as_ref());
        let mut created = Created::default();
        match self.setup_on_twilio(&mut state, wanted, &mut created).await {
            Ok(()) => {}
            Err(failure) => {
                created.undo(&self.client).await;
                return Err(failure.into());
            }
        }
        if let Err(e) = save(self.db, org_id, &state).await {
            created.undo(&self.client).await;
            return Err(e.into());
        }
        Ok(state)
    }

    async fn setup_on_twilio(
        &self,
        state: &mut StreamsState,
        wanted: Wanted,
        created: &mut Created,
    ) -> Result<(), TwilioFailure> {
        let sinks: Vec<Sink> = self
            .client
            .list_sinks()
            .try_collect()
            .await
            .map_err(TwilioFailure::to("list the event sinks"))?;
        let ours = |sink: &&Sink| {
            sink.sink_configuration
                .as_ref()
                .and_then(|c| c.get("destination"))
                .and_then(|d| d.as_str())
                == Some(self.destination.as_str())
        };
        // The stored sink when it still exists, else any sink already delivering here.
        let existing = sinks
            .iter()
            .find(|s| s.sid.as_ref().map(SinkSid::as_str) == state.sink_sid.as_deref())
            .or_else(|| sinks.iter().find(ours))
            .and_then(|s| s.sid.clone());
        let sink = match existing {
            Some(sid) => sid,
            None => {
                let config = WebhookSink::new(&self.destination, Method::Post, true);
                let sink = self
                    .client
                    .create_webhook_sink("Loquent", &config)
                    .await
                    .map_err(TwilioFailure::to("create the event sink"))?;
                let sid = sink
                    .sid
                    .ok_or_else(|| missing_sid("create the event sink"))?;
                created.sink = Some(sid.clone());
                sid
            }
        };
        if state.sink_sid.as_deref() != Some(sink.as_str()) {
            // Subscriptions stored against another sink no longer deliver here.
            state.call_subscription_sid = None;
            state.sms_subscription_sid = None;
            state.call_events_active = false;
            state.sms_events_active = false;
        }
        state.sink_sid = Some(sink.as_str().to_owned());
        // (SID, description) of the sink's subscriptions.
        let live: Vec<(String, Option<String>)> = self
            .client
            .list_subscriptions(Some(&sink))
            .try_collect::<Vec<_>>()
            .await
            .map_err(TwilioFailure::to("list the event subscriptions"))?
            .into_iter()
            .filter_map(|s| Some((s.sid?.as_str().to_owned(), s.description)))
            .collect();
        for (kind, on) in [(Kind::Call, wanted.call), (Kind::Sms, wanted.sms)] {
            if !on {
                continue;
            }
            let (sid, active) = match kind {
                Kind::Call => (
                    &mut state.call_subscription_sid,
                    &mut state.call_events_active,
                ),
                Kind::Sms => (
                    &mut state.sms_subscription_sid,
                    &mut state.sms_events_active,
                ),
            };
            if sid
                .as_ref()
                .is_some_and(|s| live.iter().any(|(l, _)| l == s))
            {
                *active = true;
                continue;
            }
            // One of ours that was never stored (the database restored from before it was
            // made): reused, not doubled.
            if let Some((found, _)) = live
                .iter()
                .find(|(_, d)| d.as_deref() == Some(kind.description()))
            {
                *sid = Some(found.clone());
                *active = true;
                continue;
            }
            let types: Vec<EventType> = kind
                .event_types()
                .iter()
                .map(|(name, version)| EventType::new(*name, *version))
                .collect();
            let subscription = self
                .client
                .create_subscription(kind.description(), &sink, &types)
                .await
                .map_err(TwilioFailure::to("subscribe to the events"))?;
            let new = subscription
                .sid
                .ok_or_else(|| missing_sid("subscribe to the events"))?;
            *sid = Some(new.as_str().to_owned());
            *active = true;
            created.subscriptions.push(new);
        }
        Ok(())
    }

    /// Deletes the kind's subscription, and the sink once no subscription uses it, then stores
    /// that. Removing what is not there is not an error.
    pub async fn remove(&self, org_id: Uuid, kind: Kind) -> Result<StreamsState, StreamsError> {
        let row = settings::Entity::find_by_id(org_id).one(self.db).await?;
        let mut state = StreamsState::of(row.as_ref());
        let (sid, active, other) = match kind {
            Kind::Call => (
                &mut state.call_subscription_sid,
                &mut state.call_events_active,
                state.sms_subscription_sid.is_some(),
            ),
            Kind::Sms => (
                &mut state.sms_subscription_sid,
                &mut state.sms_events_active,
                state.call_subscription_sid.is_some(),
            ),
        };
        if let Some(stored) = sid.take()
            && let Ok(subscription) = stored.parse::<SubscriptionSid>()
        {
            gone_is_fine(self.client.delete_subscription(&subscription).await)
                .map_err(TwilioFailure::to("delete the event subscription"))?;
        }
        *active = false;
        if !other
            && let Some(stored) = state.sink_sid.take()
            && let Ok(sink) = stored.parse::<SinkSid>()
        {
            gone_is_fine(self.client.delete_sink(&sink).await)
                .map_err(TwilioFailure::to("delete the event sink"))?;
        }
        if row.is_some() {
            save(self.db, org_id, &state).await?;
        }
        Ok(state)
    }
}

/// What one setup created on Twilio, deleted again when the setup fails.
#[derive(Default)]
struct Created {
    sink: Option<SinkSid>,
    subscriptions: Vec<SubscriptionSid>,
}

impl Created {
    async fn undo(self, client: &TwilioClient) {
        for sid in &self.subscriptions {
            if let Err(e) = client.delete_subscription(sid).await {
                tracing::warn!(subscription = %sid.as_str(), error = %e, "could not delete a half-made subscription");
            }
        }
        if let Some(sid) = &self.sink
            && let Err(e) = client.delete_sink(sid).await
        {
            tracing::warn!(sink = %sid.as_str(), error = %e, "could not delete a half-made sink");
        }
    }
}

/// Twilio answered a create without the new resource's SID.
fn missing_sid(action: &'static str) -> TwilioFailure {
    TwilioFailure {
        action,
        error: loquent_twilio::TwilioError::InvalidResponse {
            status: 200,
            detail: "the answer has no sid".to_owned(),
        },
    }
}

fn gone_is_fine(
    result: Result<(), loquent_twilio::TwilioError>,
) -> Result<(), loquent_twilio::TwilioError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// Stores `state` in the organization's settings row, creating it with the defaults when absent.
async fn save(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    state: &StreamsState,
) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    let defaults = TelephonySettings::DEFAULT;
    let row = settings::ActiveModel {
        organization_id: Set(org_id),
        call_recording_enabled: Set(defaults.call_recording_enabled),
        event_sink_sid: Set(state.sink_sid.clone()),
        sms_subscription_sid: Set(state.sms_subscription_sid.clone()),
        call_subscription_sid: Set(state.call_subscription_sid.clone()),
        sms_events_active: Set(state.sms_events_active),
        call_events_active: Set(state.call_events_active),
        caller_lookup_url: Set(None),
        caller_lookup_auth: Set(None),
        delete_recordings_from_twilio: Set(defaults.delete_recordings_from_twilio),
        created_at: Set(now),
        updated_at: Set(now),
    };
    settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(settings::Column::OrganizationId)
                .update_columns([
                    settings::Column::EventSinkSid,
                    settings::Column::SmsSubscriptionSid,
                    settings::Column::CallSubscriptionSid,
                    settings::Column::SmsEventsActive,
                    settings::Column::CallEventsActive,
                    settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
