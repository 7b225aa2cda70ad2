//! The job that acts on a delivery's new events (seed 001's Call Event Processing): calls
//! answered, completed and summarised, recordings completed, and SMS.
//!
//! The events are acted on one after the other, in the order Twilio sent them (an answered call
//! before its completion). Each one's outcome is written on its row; a failed one is left
//! unhandled and the job fails with it, so the next attempt acts on the failed ones only. Every
//! branch is idempotent besides: a job may run again after a crash, and several events describe
//! the same call.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use loquent_twilio::CallSid;
use loquent_twilio::calls::CallStatus;
use loquent_twilio::event_stream::{
    CallStage, CallSummary, CloudEvent, InboundMessage, MessageStatus, TwilioEvent,
    VoiceWebhookEvent,
};
use loquent_twilio::recordings::{RecordingStatus, StartRecording};
use loquent_twilio::twiml::{Method, RecordingChannels, RecordingEvent};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::calls::external::{ExternalCall, ensure};
use crate::calls::status::record_status;
use crate::entity::{job, twilio_event};
use crate::jobs::{Handler, Outcome};
use crate::messages::{SmsEvent, record};
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure, reload};
use crate::phone_numbers::answering::recording_enabled;
use crate::realtime::EventHub;
use crate::recordings::completed::{Completed, recording_completed};

pub mod kind {
    /// The new events of one Event Streams delivery.
    pub const EVENTS: &str = "twilio.events";
}

/// Attempts of a delivery's job before it is marked failed.
pub const ATTEMPTS: i32 = 5;

/// A [`kind::EVENTS`] job's payload: the `twilio_event` rows, in delivery order.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventsJob {
    pub events: Vec<Uuid>,
}

pub struct HandleEvent {
    db: DatabaseConnection,
    twilio: TwilioAccounts,
    /// This process's job runner, woken when a recording's processing is queued.
    wake: Arc<Notify>,
    /// Open calls pages follow the calls events add or change.
    events: EventHub,
}

/// A failed step, as the job's error says it.
fn database(error: impl std::fmt::Display) -> String {
    tracing::warn!(%error, "event: database error");
    "the database failed; will try again".to_owned()
}

fn skipped(why: impl Into<String>) -> Result<Outcome, String> {
    Ok(Outcome::Skipped(why.into()))
}

fn time(value: Option<&str>) -> Option<DateTime<Utc>> {
    let value = value?;
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn seconds(value: Option<u64>) -> Option<i32> {
    value.and_then(|v| i32::try_from(v).ok())
}

impl HandleEvent {
    pub fn new(
        db: DatabaseConnection,
        twilio: TwilioAccounts,
        wake: Arc<Notify>,
        events: EventHub,
    ) -> Self {
        Self {
            db,
            twilio,
            wake,
            events,
        }
    }

    /// `call.updated` for the organization's open pages; best effort (the row is stored).
    async fn publish(&self, org_id: Uuid, call: &crate::entity::call::Model) {
        let event = serde_json::json!({
            "call_id": call.id,
            "call_sid": call.call_sid,
            "status": call.status,
            "duration_secs": call.duration_secs,
        });
        if let Err(e) = self.events.publish(org_id, "call.updated", event).await {
            tracing::warn!(error = %e, "could not publish call.updated");
        }
    }

    /// Publishes the call's row as it now is.
    async fn publish_sid(&self, org_id: Uuid, call_sid: &CallSid) {
        if let Ok(Some(call)) = crate::calls::start::find(&self.db, org_id, call_sid).await {
            self.publish(org_id, &call).await;
        }
    }

    async fn client(&self, org_id: Uuid) -> Result<loquent_twilio::TwilioClient, String> {
        let org = reload(&self.db, org_id).await.map_err(|e| e.to_string())?;
        self.twilio.client_for(&org).map_err(|e| e.to_string())
    }

    /// Seed 001's `call.answered`: the call row, and a REST recording when the call is one of
    /// ours that our TwiML does not answer (it records its own calls) and recording is on.
    async fn answered(&self, org_id: Uuid, event: &VoiceWebhookEvent) -> Result<Outcome, String> {
        let Some(call_sid) = event.call_sid() else {
            return skipped("the event names no call");
        };
        let (row, created) = ensure(
            &self.db,
            org_id,
            &ExternalCall {
                call_sid: &call_sid,
                from: event.from().unwrap_or_default(),
                to: event.to().unwrap_or_default(),
                direction_hint: event.direction(),
                status: CallStatus::InProgress,
                started_at: time(event.timestamp.as_deref()).or(Some(Utc::now())),
                duration_secs: None,
            },
        )
        .await
        .map_err(database)?;
        if created {
            self.publish(org_id, &row).await;
        }
        // Fail-closed (seed 001): a number we do not know is not recorded, nor is anything when
        // the setting cannot be read.
        let Some(number_id) = row.phone_number_id else {
            return skipped("not one of the organization's numbers: not recorded");
        };
        let number = crate::entity::phone_number::Entity::find_by_id(number_id)
            .filter(crate::entity::phone_number::Column::OrganizationId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(database)?;
        let Some(number) = number else {
            return skipped("the number is gone: not recorded");
        };
        if number.previous_voice_url.is_some() && number.agent_id.is_some() {
            return skipped("answered by our TwiML, which records it");
        }
        if !recording_enabled(&self.db, org_id).await {
            return skipped("call recording is off");
        }
        self.start_recording(org_id, &call_sid).await
    }

    async fn start_recording(&self, org_id: Uuid, call_sid: &CallSid) -> Result<Outcome, String> {
        let client = self.client(org_id).await?;
        // A run that started the recording and then died must not start a second one.
        let existing: Vec<_> = client
            .list_call_recordings(call_sid)
            .try_collect()
            .await
            .map_err(|e| TwilioFailure::to("list the call's recordings")(e).to_string())?;
        let recording = |s: &Option<RecordingStatus>| {
            !matches!(
                s,
                Some(RecordingStatus::Absent | RecordingStatus::Deleted | RecordingStatus::Unknown)
            )
        };
        if existing.iter().any(|r| recording(&r.status)) {
            return skipped("the call is already being recorded");
        }
        let options = StartRecording {
            channels: Some(RecordingChannels::Dual),
            status_callback: Some(self.twilio.recording_callback_url()),
            status_callback_method: Some(Method::Post),
            status_callback_events: vec![RecordingEvent::Completed],
            ..StartRecording::default()
        };
        match client.start_call_recording(call_sid, &options).await {
            Ok(_) => Ok(Outcome::Done),
            // Twilio's "not eligible for recording": the call ended before we got to it.
            Err(e) if e.code() == Some(21220) => {
                skipped("the call ended before it could be recorded")
            }
            Err(e) => Err(TwilioFailure::to("start the call's recording")(e).to_string()),
        }
    }

    /// Seed 001's `call.completed`: the status and duration of a call we know.
    async fn completed(&self, org_id: Uuid, event: &VoiceWebhookEvent) -> Result<Outcome, String> {
        let Some(call_sid) = event.call_sid() else {
            return skipped("the event names no call");
        };
        let status = event
            .call_status()
            .and_then(|s| s.parse::<CallStatus>().ok())
            .filter(|s| s.is_terminal())
            .unwrap_or(CallStatus::Completed);
        let duration = seconds(event.call_duration_secs());
        match record_status(&self.db, org_id, &call_sid, status, duration)
            .await
            .map_err(database)?
        {
            crate::calls::status::StatusOutcome::UnknownCall => {
                skipped("no call with this SID; its call summary will add it")
            }
            crate::calls::status::StatusOutcome::Recorded => {
                self.publish_sid(org_id, &call_sid).await;
                Ok(Outcome::Done)
            }
            crate::calls::status::StatusOutcome::FinalKept => Ok(Outcome::Done),
        }
    }

    /// A Voice Insights call summary: the row of a call that bypassed our TwiML (SIP trunk,
    /// Studio), or the final status of one we know.
    async fn summary(&self, org_id: Uuid, summary: &CallSummary) -> Result<Outcome, String> {
        let Some(call_sid) = summary.call_sid() else {
            return skipped("the summary names no call");
        };
        let status = match summary.call_state.as_deref() {
            Some("completed" | "answered") => CallStatus::Completed,
            Some("busy") => CallStatus::Busy,
            Some("fail") => CallStatus::Failed,
            Some("noanswer") => CallStatus::NoAnswer,
            Some("canceled") => CallStatus::Canceled,
            _ => CallStatus::Completed,
        };
        let duration = seconds(summary.connect_duration.or(summary.duration));
        let direction = summary
            .properties
            .as_ref()
            .and_then(|p| p.get("direction"))
            .and_then(|d| d.as_str());
        let from = summary
            .from
            .as_ref()
            .and_then(|p| p.address())
            .unwrap_or_default();
        let to = summary
            .to
            .as_ref()
            .and_then(|p| p.address())
            .unwrap_or_default();
        let (row, created) = ensure(
            &self.db,
            org_id,
            &ExternalCall {
                call_sid: &call_sid,
                from,
                to,
                direction_hint: direction,
                status,
                started_at: time(summary.start_time.as_deref())
                    .or(time(summary.created_time.as_deref())),
                duration_secs: duration,
            },
        )
        .await
        .map_err(database)?;
        if created {
            self.publish(org_id, &row).await;
        } else if record_status(&self.db, org_id, &call_sid, status, duration)
            .await
            .map_err(database)?
            == crate::calls::status::StatusOutcome::Recorded
        {
            self.publish_sid(org_id, &call_sid).await;
        }
        Ok(Outcome::Done)
    }

    /// Seed 001's `recording.processed`: the call (fetched from Twilio when no event named it
    /// before), then the recordings pipeline, once per Recording SID.
    async fn recording(&self, org_id: Uuid, event: &VoiceWebhookEvent) -> Result<Outcome, String> {
        if event.recording_status() != Some("completed") {
            return skipped("the recording is not completed");
        }
        let (Some(call_sid), Some(recording_sid)) = (event.call_sid(), event.recording_sid())
        else {
            return skipped("the event names no call or no recording");
        };
        let known = crate::calls::start::find(&self.db, org_id, &call_sid)
            .await
            .map_err(database)?;
        if let Some(call) = &known {
            if call.recording_url.is_some() {
                return skipped("the call's recording is stored already");
            }
        } else {
            let client = self.client(org_id).await?;
            let fetched = client
                .fetch_call(&call_sid)
                .await
                .map_err(|e| TwilioFailure::to("fetch the call")(e).to_string())?;
            let status = fetched
                .status
                .filter(|s| s.is_terminal())
                .unwrap_or(CallStatus::Completed);
            let (row, _) = ensure(
                &self.db,
                org_id,
                &ExternalCall {
                    call_sid: &call_sid,
                    from: fetched.from.as_deref().unwrap_or_default(),
                    to: fetched.to.as_deref().unwrap_or_default(),
                    direction_hint: fetched.direction.as_deref(),
                    status,
                    started_at: time(fetched.start_time.as_deref()),
                    duration_secs: fetched.duration.as_deref().and_then(|d| d.parse().ok()),
                },
            )
            .await
            .map_err(database)?;
            self.publish(org_id, &row).await;
        }
        match recording_completed(
            &self.db,
            org_id,
            &call_sid,
            recording_sid.as_str(),
            event.recording_url(),
        )
        .await
        .map_err(database)?
        {
            Completed::Queued { created, .. } => {
                if created {
                    self.wake.notify_one();
                }
                Ok(Outcome::Done)
            }
            Completed::UnknownCall => Err("the call row is missing; will try again".to_owned()),
        }
    }

    async fn sms(&self, org_id: Uuid, sms: SmsEvent<'_>) -> Result<Outcome, String> {
        record(&self.db, org_id, &sms).await.map_err(database)?;
        Ok(Outcome::Done)
    }
}

fn inbound(message: &InboundMessage, at: DateTime<Utc>) -> Option<SmsEvent<'_>> {
    Some(SmsEvent {
        message_sid: message.message_sid.as_deref()?,
        from: message.from.as_deref()?,
        to: message.to.as_deref()?,
        direction: Some("inbound"),
        body: message.body.as_deref(),
        status: "received".to_owned(),
        error_code: None,
        at: time(message.timestamp.as_deref()).unwrap_or(at),
    })
}

fn status_of(message: &MessageStatus, at: DateTime<Utc>) -> Option<SmsEvent<'_>> {
    Some(SmsEvent {
        message_sid: message.message_sid.as_deref()?,
        from: message.from.as_deref()?,
        to: message.to.as_deref()?,
        direction: None,
        body: message.body.as_deref(),
        status: message
            .message_status
            .as_deref()
            .unwrap_or("unknown")
            .to_ascii_lowercase(),
        error_code: message
            .error_code
            .and_then(|c| i32::try_from(c).ok())
            .filter(|c| *c != 0),
        at: time(message.timestamp.as_deref()).unwrap_or(at),
    })
}

impl HandleEvent {
    /// Acts on one stored event.
    async fn handle(&self, org_id: Uuid, row: twilio_event::Model) -> Result<Outcome, String> {
        let received = row.received_at;
        let event = CloudEvent {
            specversion: "1.0".to_owned(),
            event_type: row.event_type,
            source: String::new(),
            id: row.event_id,
            dataschema: None,
            datacontenttype: None,
            time: None,
            data: row.data,
        };
        // Data that does not read as its type never will: no point retrying.
        let typed = match event.into_typed() {
            Ok(typed) => typed,
            Err(e) => return skipped(e.to_string()),
        };
        match typed {
            TwilioEvent::CallStatus {
                stage: CallStage::Answered,
                event,
            } => self.answered(org_id, &event).await,
            TwilioEvent::CallStatus {
                stage: CallStage::Completed,
                event,
            } => self.completed(org_id, &event).await,
            TwilioEvent::CallStatus { .. } => skipped("a call stage Loquent does not act on"),
            TwilioEvent::CallSummary { summary, .. } => self.summary(org_id, &summary).await,
            TwilioEvent::RecordingStatus(event) => self.recording(org_id, &event).await,
            TwilioEvent::InboundMessage(message) => match inbound(&message, received) {
                Some(sms) => self.sms(org_id, sms).await,
                None => skipped("the message has no SID, From or To"),
            },
            TwilioEvent::MessageStatus(message) => match status_of(&message, received) {
                Some(sms) => self.sms(org_id, sms).await,
                None => skipped("the message has no SID, From or To"),
            },
            TwilioEvent::Unknown { event_type, .. } => {
                skipped(format!("{event_type} is not an event Loquent acts on"))
            }
        }
    }

    /// Writes what became of the events: the ones done in one statement, each skipped one with
    /// its reason.
    async fn mark(&self, done: Vec<Uuid>, skipped: Vec<(Uuid, String)>) -> Result<(), String> {
        let now = Utc::now();
        let set = |outcome: String| {
            twilio_event::Entity::update_many()
                .col_expr(twilio_event::Column::HandledAt, Expr::value(now))
                .col_expr(twilio_event::Column::Outcome, Expr::value(outcome))
        };
        if !done.is_empty() {
            set("done".to_owned())
                .filter(twilio_event::Column::Id.is_in(done))
                .exec(&self.db)
                .await
                .map_err(database)?;
        }
        for (id, why) in skipped {
            set(format!("skipped: {why}"))
                .filter(twilio_event::Column::Id.eq(id))
                .exec(&self.db)
                .await
                .map_err(database)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler for HandleEvent {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let payload: EventsJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| format!("this job does not name events: {e}"))?;
        let org_id = job
            .organization_id
            .ok_or("this job names no organization")?;
        let mut rows: HashMap<Uuid, twilio_event::Model> = twilio_event::Entity::find()
            .filter(twilio_event::Column::OrganizationId.eq(org_id))
            .filter(twilio_event::Column::Id.is_in(payload.events.iter().copied()))
            .filter(twilio_event::Column::HandledAt.is_null())
            .all(&self.db)
            .await
            .map_err(database)?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        let (mut done, mut passed, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for id in &payload.events {
            // Handled by an earlier attempt, or never stored (a racing delivery's).
            let Some(row) = rows.remove(id) else {
                continue;
            };
            let event_id = row.event_id.clone();
            match self.handle(org_id, row).await {
                Ok(Outcome::Skipped(why)) => passed.push((*id, why)),
                Ok(_) => done.push(*id),
                Err(error) => {
                    tracing::warn!(%org_id, %event_id, %error, "event not handled; will try again");
                    failed.push(format!("{event_id}: {error}"));
                }
            }
        }
        self.mark(done, passed).await?;
        match failed.first() {
            None => Ok(Outcome::Done),
            Some(first) => Err(format!(
                "{} of {} events failed (the others are done); first: {first}",
                failed.len(),
                payload.events.len()
            )),
        }
    }
}
