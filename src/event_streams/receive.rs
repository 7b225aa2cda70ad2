//! `POST /twilio/events`: a verified delivery becomes rows, once per event id, and one job for
//! the events it brought that were new. Nothing slow happens while Twilio waits (it gives a sink
//! 5 s): the job acts.
//!
//! One job per delivery rather than per event: a job costs a claim and a completion, each a
//! write, which at a thousand events a second would be most of the database's writes (and on
//! SQLite, waits for its one writer that the deliveries then share; see `docs/PERFORMANCE.md`).

use std::collections::HashSet;

use chrono::Utc;
use loquent_twilio::event_stream::CloudEvent;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::handle::{ATTEMPTS, EventsJob, kind};
use crate::entity::twilio_event;
use crate::jobs::{self, JobError, NewJob};

/// What one delivery came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Events seen for the first time, queued to be acted on.
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

/// Stores the organization's `events` not seen before and queues one job for them, in one
/// transaction: a delivery is taken whole or not at all, and a retried one adds nothing.
///
/// Two deliveries of the same event racing on PostgreSQL may both find it new: the unique
/// (organization, event id) index keeps one row, and the job of the other names a row that was
/// never written, which the job passes over.
pub async fn receive(
    db: &DatabaseConnection,
    org_id: Uuid,
    events: Vec<CloudEvent>,
) -> Result<Received, JobError> {
    let total = events.len() as u64;
    let txn = crate::db::begin_write(db).await?;
    let known: HashSet<String> = twilio_event::Entity::find()
        .select_only()
        .column(twilio_event::Column::EventId)
        .filter(twilio_event::Column::OrganizationId.eq(org_id))
        .filter(crate::db::in_strings(
            txn.get_database_backend(),
            "event_id",
            events.iter().map(|e| e.id.as_str()),
        ))
        .into_tuple::<String>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let mut seen = known;
    let now = Utc::now();
    let mut rows = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    for event in events {
        if !seen.insert(event.id.clone()) {
            continue;
        }
        let id = Uuid::now_v7();
        ids.push(id);
        rows.push(twilio_event::ActiveModel {
            id: Set(id),
            organization_id: Set(org_id),
            event_id: Set(event.id),
            event_type: Set(event.event_type),
            data: Set(event.data),
            received_at: Set(now),
            handled_at: Set(None),
            outcome: Set(None),
        });
    }
    if rows.is_empty() {
        return Ok(Received {
            new: 0,
            duplicates: total,
        });
    }
    twilio_event::Entity::insert_many(rows)
        // No conflict target (see `jobs::enqueue`): the id is fresh, so only the event id can
        // conflict, and only with a delivery racing this one.
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await
        .or_else(|e| match e {
            DbErr::RecordNotInserted => Ok(0),
            e => Err(e),
        })?;
    let new = ids.len() as u64;
    jobs::enqueue(
        &txn,
        NewJob {
            kind: kind::EVENTS.to_owned(),
            organization_id: Some(org_id),
            call_id: None,
            payload: serde_json::to_value(EventsJob { events: ids }).unwrap_or_default(),
            dedupe_key: None,
            run_at: now,
            max_attempts: ATTEMPTS,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Received {
        new,
        duplicates: total - new,
    })
}
