//! An imported call's recording: looked up on Twilio (the first of the call's recordings) and
//! processed like a live call's, except that nothing follows and nothing is deleted on Twilio.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use loquent_twilio::recordings::{CallRecording, RecordingStatus};
use loquent_twilio::{CallSid, RecordingSid};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

use crate::entity::{call, job};
use crate::jobs::{Handler, Outcome};
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure, reload};
use crate::recordings::process::{Origin, ProcessRecording};

/// A [`super::kind::RECORDING`] job's payload.
#[derive(Debug, Deserialize)]
struct Payload {
    call_id: Uuid,
}

pub struct SyncedRecording {
    db: DatabaseConnection,
    twilio: TwilioAccounts,
    pipeline: Arc<ProcessRecording>,
}

impl SyncedRecording {
    pub fn new(
        db: DatabaseConnection,
        twilio: TwilioAccounts,
        pipeline: Arc<ProcessRecording>,
    ) -> Self {
        Self {
            db,
            twilio,
            pipeline,
        }
    }

    /// The call's first completed recording on Twilio, if it has one.
    async fn first_recording(
        &self,
        org_id: Uuid,
        call_sid: &CallSid,
    ) -> Result<Option<RecordingSid>, String> {
        let org = reload(&self.db, org_id).await.map_err(|e| e.to_string())?;
        let client = self.twilio.client_for(&org).map_err(|e| e.to_string())?;
        let recordings: Vec<CallRecording> = client
            .list_call_recordings(call_sid)
            .try_collect()
            .await
            .map_err(|e| TwilioFailure::to("list the call's recordings")(e).to_string())?;
        let started = |r: &CallRecording| {
            r.start_time
                .as_deref()
                .or(r.date_created.as_deref())
                .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        Ok(recordings
            .into_iter()
            .filter(|r| matches!(r.status, None | Some(RecordingStatus::Completed)))
            .filter_map(|r| Some((started(&r), r.sid?)))
            .min_by_key(|(at, _)| *at)
            .map(|(_, sid)| sid))
    }
}

#[async_trait::async_trait]
impl Handler for SyncedRecording {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let payload: Payload = serde_json::from_value(job.payload.clone())
            .map_err(|e| format!("this job does not describe an imported call: {e}"))?;
        let org_id = job
            .organization_id
            .ok_or("this job names no organization")?;
        let Some(row) = call::Entity::find_by_id(payload.call_id)
            .filter(call::Column::OrganizationId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "imported recording: database error");
                "the database failed; will try again".to_owned()
            })?
        else {
            return Ok(Outcome::Skipped("the call no longer exists".to_owned()));
        };
        // An earlier run found (and maybe stored) it: go on with that one.
        let sid = match &row.recording_sid {
            Some(sid) => sid
                .parse()
                .map_err(|e| format!("{sid} is not a recording SID: {e}"))?,
            None => {
                let call_sid: CallSid = row
                    .call_sid
                    .parse()
                    .map_err(|e| format!("{} is not a Call SID: {e}", row.call_sid))?;
                match self.first_recording(org_id, &call_sid).await? {
                    Some(sid) => sid,
                    None => {
                        return Ok(Outcome::Skipped(
                            "the call has no recording on Twilio".to_owned(),
                        ));
                    }
                }
            }
        };
        self.pipeline
            .process(org_id, row.id, &sid, Origin::Imported)
            .await
    }
}
