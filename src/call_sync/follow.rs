//! A sync's follower: releases its recording jobs `recording_batch_size` at a time, stores and
//! publishes how many have ended, and closes the sync with `Done` after the last one. It runs in
//! short turns (a job put back `Later` between them), so no lease ever has to outlast a long
//! import, and a restart loses nothing: the counts are read from the jobs each turn.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use serde::Deserialize;
use tokio::sync::Notify;
use uuid::Uuid;

use super::start::is_stale;
use super::{Phase, publish};
use crate::entity::{call_sync, job};
use crate::jobs::{self, Handler, Outcome};
use crate::realtime::EventHub;

/// How often a turn comes while recordings are in flight.
const TURN: Duration = Duration::from_millis(250);
/// How often it looks while the request is still inserting.
const WAIT_FOR_REQUEST: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
struct Payload {
    sync_id: Uuid,
}

pub struct FollowSync {
    db: DatabaseConnection,
    events: EventHub,
    wake: Arc<Notify>,
}

impl FollowSync {
    pub fn new(db: DatabaseConnection, events: EventHub, wake: Arc<Notify>) -> Self {
        Self { db, events, wake }
    }

    async fn turn(&self, sync_id: Uuid) -> Result<Outcome, sea_orm::DbErr> {
        let Some(row) = call_sync::Entity::find_by_id(sync_id).one(&self.db).await? else {
            return Ok(Outcome::Skipped("the sync no longer exists".to_owned()));
        };
        let failed = row.phase == Phase::Error.as_str();
        if row.finished_at.is_some() && !failed {
            return Ok(Outcome::Done);
        }
        let counts = jobs::counts(&self.db, sync_id)
            .await
            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        let total = i32::try_from(counts.total()).unwrap_or(i32::MAX);
        let completed = i32::try_from(counts.ended()).unwrap_or(i32::MAX);
        let phase = Phase::parse(&row.phase);
        let mut active = row.clone().into_active_model();
        match phase {
            Some(Phase::ProcessingRecordings) => {}
            // The request failed after some calls went in: the sync stays failed (a new one may
            // have started since), but those calls' recordings are still processed.
            Some(Phase::Error) if row.finished_at.is_some() => {}
            // The request is still inserting: its calls' jobs wait for it.
            _ if row.finished_at.is_none() && !is_stale(&row, Utc::now()) => {
                return Ok(Outcome::Later(WAIT_FOR_REQUEST));
            }
            // The request was cut off (or failed) after some calls went in: their recordings
            // are still this sync's to process.
            _ => {
                active.phase = Set(Phase::ProcessingRecordings.as_str().to_owned());
                active.recordings_total = Set(total);
                active.finished_at = Set(None);
                if row.finished_at.is_none() {
                    active.message = Set(Some(
                        "the import was interrupted; the calls saved so far are processed"
                            .to_owned(),
                    ));
                }
            }
        }
        let batch = u64::try_from(row.recording_batch_size.max(1)).unwrap_or(1);
        if counts.waiting > 0 && counts.open() < batch {
            let released = jobs::release(&self.db, sync_id, batch - counts.open())
                .await
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            if released > 0 {
                self.wake.notify_one();
            }
        }
        let finished = counts.waiting == 0 && counts.open() == 0;
        active.recordings_total = Set(total);
        active.recordings_completed = Set(completed);
        if finished && !failed {
            active.phase = Set(Phase::Done.as_str().to_owned());
            active.finished_at = Set(Some(Utc::now()));
        }
        if active.is_changed() {
            active.updated_at = Set(Utc::now());
            let row = active.update(&self.db).await?;
            publish(&self.events, &row).await;
        }
        Ok(if finished {
            Outcome::Done
        } else {
            Outcome::Later(TURN)
        })
    }
}

#[async_trait::async_trait]
impl Handler for FollowSync {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let payload: Payload = serde_json::from_value(job.payload.clone())
            .map_err(|e| format!("this job does not name a sync: {e}"))?;
        self.turn(payload.sync_id).await.map_err(|e| {
            tracing::warn!(error = %e, sync_id = %payload.sync_id, "call sync follower: database error");
            "the database failed; will try again".to_owned()
        })
    }
}
