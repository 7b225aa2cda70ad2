//! `POST /twilio/events`: a verified delivery becomes rows, once per event id, and one job per
//! new event. Nothing slow happens while Twilio waits (it gives a sink 5 s): the jobs act.

use std::collections::HashSet;

use chrono::Utc;
use loquent_twilio::event_stream::CloudEvent;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};
use uuid::Uuid;

use super::handle::{ATTEMPTS, EventJob, kind};
use crate::entity::twilio_event;
use crate::jobs::{self, JobError, NewJob};

/// What one delivery came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Events seen for the first time, each with its job queued.
    pub new: u64,
    /// Events delivered before (Twilio retries), or twice in this delivery.
    pub duplicates: u64,
}

/// The account an event belongs to, wherever its family keeps it: the voice callback's form
/// (`request.parameters.AccountSid`), a call summary's `account_sid` or a message's `accountSid`.
pub fn account_sid_of(event: &CloudEvent) -> Option<&str> {
    let data = &event.data;
    data.pointer("/request/parameters/AccountSid")
        .or_else(|| data.get("account_sid"))
        .or_else(|| data.get("accountSid"))
        .and_then(serde_json::Value::as_str)
}

/// Stores the organization's `events` not seen before and queues one job for each, in one
/// transaction: a delivery is taken whole or not at all, and a retried one adds nothing (the
/// event rows are unique per organization and id, and so are the jobs' keys).
pub async fn receive(
    db: &DatabaseConnection,
    org_id: Uuid,
    events: Vec<CloudEvent>,
) -> Result<Received, JobError> {
    let total = events.len() as u64;
    let mut seen = HashSet::new();
    let now = Utc::now();
    let mut rows = Vec::with_capacity(events.len());
    let mut new_jobs = Vec::with_capacity(events.len());
    for event in events {
        if !seen.insert(event.id.clone()) {
            continue;
        }
        let id = Uuid::now_v7();
        new_jobs.push(NewJob {
            kind: kind::EVENT.to_owned(),
            organization_id: Some(org_id),
            call_id: None,
            payload: serde_json::to_value(EventJob { event: id }).unwrap_or_default(),
            dedupe_key: Some(format!("{}:{org_id}:{}", kind::EVENT, event.id)),
            run_at: now,
            max_attempts: ATTEMPTS,
        });
        rows.push(twilio_event::ActiveModel {
            id: Set(id),
            organization_id: Set(org_id),
            event_id: Set(event.id),
            event_type: Set(event.event_type),
            data: Set(event.data),
            received_at: Set(now),
        });
    }
    if rows.is_empty() {
        return Ok(Received::default());
    }
    let txn = crate::db::begin_write(db).await?;
    let inserted = twilio_event::Entity::insert_many(rows)
        // No conflict target (see `jobs::enqueue`): the id is fresh, so only the event id can
        // conflict.
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await
        .or_else(|e| match e {
            DbErr::RecordNotInserted => Ok(0),
            e => Err(e),
        })?;
    // An event row that already existed had its job queued with it: the same keys conflict.
    let queued = jobs::enqueue_many(&txn, new_jobs).await?;
    txn.commit().await?;
    if inserted != queued {
        tracing::warn!(%org_id, inserted, queued, "event rows and their jobs disagree");
    }
    Ok(Received {
        new: queued,
        duplicates: total - queued,
    })
}
