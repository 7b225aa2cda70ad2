//! What follows a call once its transcript is final: the post-call steps, each its own job so
//! that one failing does not stop the others.
//!
//! Every step's job carries the call's id (and the analyzer's, for a run) and a `round`: the
//! recording SID for the steps a processed recording starts, a fresh id for a re-run asked for
//! by a person. The dedupe key is the kind, the ids and the round, so a recording processed
//! twice (its job ran again after a crash) starts each step once, while a re-run starts them
//! all again.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{analyzer, call, phone_number_analyzer};
use crate::jobs::{self, JobError, NewJob};

/// The job kinds of the recording pipeline and the post-call steps.
pub mod kind {
    /// Download, store and transcribe a call's recording ([`super::RecordingJob`]).
    pub const PROCESS_RECORDING: &str = "recording.process";
    /// Fill a stub contact's empty fields from the transcript ([`super::CallJob`]).
    pub const ENRICH_CONTACT: &str = "contact.enrich";
    /// One analyzer's run over the transcript ([`super::AnalyzerJob`]).
    pub const RUN_ANALYZER: &str = "analyzer.run";
    /// To-dos extracted from the transcript ([`super::CallJob`]).
    pub const EXTRACT_TODOS: &str = "todos.extract";
    /// The call report e-mail ([`super::CallJob`]); it waits for the other steps of its round.
    pub const SEND_REPORT: &str = "report.send";
    /// The steps whose results the report shows.
    pub const REPORTED: &[&str] = &[ENRICH_CONTACT, RUN_ANALYZER, EXTRACT_TODOS];
}

/// What a job of `kind` does, in words a person reads on the dashboard.
pub fn step_label(kind: &str) -> &'static str {
    match kind {
        kind::PROCESS_RECORDING => "Recording",
        kind::ENRICH_CONTACT => "Contact details",
        kind::RUN_ANALYZER => "Analyzer run",
        kind::EXTRACT_TODOS => "To-dos",
        kind::SEND_REPORT => "Call report",
        crate::call_sync::kind::RECORDING => "Recording (history import)",
        crate::call_sync::kind::FOLLOW => "History import",
        _ => "Background job",
    }
}

/// Attempts of a post-call step before it is marked failed.
pub const STEP_ATTEMPTS: i32 = 5;

/// The payload of a [`kind::PROCESS_RECORDING`] job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordingJob {
    pub call_sid: String,
    pub recording_sid: String,
    /// Where Twilio said the recording is (without extension); the job may also fetch it by SID.
    pub recording_url: Option<String>,
}

/// The payload of a step about one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallJob {
    pub call_id: Uuid,
    pub round: String,
}

/// The payload of a [`kind::RUN_ANALYZER`] job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalyzerJob {
    pub call_id: Uuid,
    pub analyzer_id: Uuid,
    pub round: String,
}

/// Enqueues every post-call step of `call` for `round`, in `conn`'s transaction: contact
/// enrichment, one run per active analyzer attached to the call's number, to-do extraction and
/// the report. Returns how many jobs were new.
pub async fn enqueue_post_call(
    conn: &impl ConnectionTrait,
    call: &call::Model,
    round: &str,
) -> Result<usize, JobError> {
    let mut created = 0;
    let step = |kind: &str, payload: serde_json::Value, key: String| NewJob {
        kind: kind.to_owned(),
        organization_id: Some(call.organization_id),
        call_id: Some(call.id),
        payload,
        dedupe_key: Some(key),
        run_at: Utc::now(),
        max_attempts: STEP_ATTEMPTS,
    };
    let call_job = serde_json::to_value(CallJob {
        call_id: call.id,
        round: round.to_owned(),
    })
    .unwrap_or_default();
    for kind in [kind::ENRICH_CONTACT, kind::EXTRACT_TODOS] {
        let key = format!("{kind}:{}:{round}", call.id);
        created += usize::from(
            jobs::enqueue(conn, step(kind, call_job.clone(), key))
                .await?
                .created,
        );
    }
    for analyzer_id in analyzers_of(conn, call).await? {
        let payload = serde_json::to_value(AnalyzerJob {
            call_id: call.id,
            analyzer_id,
            round: round.to_owned(),
        })
        .unwrap_or_default();
        let key = format!("{}:{}:{analyzer_id}:{round}", kind::RUN_ANALYZER, call.id);
        created += usize::from(
            jobs::enqueue(conn, step(kind::RUN_ANALYZER, payload, key))
                .await?
                .created,
        );
    }
    let key = format!("{}:{}:{round}", kind::SEND_REPORT, call.id);
    created += usize::from(
        jobs::enqueue(conn, step(kind::SEND_REPORT, call_job, key))
            .await?
            .created,
    );
    Ok(created)
}

/// The active analyzers attached to `call`'s number.
pub async fn analyzers_of(
    conn: &impl ConnectionTrait,
    call: &call::Model,
) -> Result<Vec<Uuid>, JobError> {
    let Some(phone_number_id) = call.phone_number_id else {
        return Ok(Vec::new());
    };
    let attached: Vec<Uuid> = phone_number_analyzer::Entity::find()
        .select_only()
        .column(phone_number_analyzer::Column::AnalyzerId)
        .filter(phone_number_analyzer::Column::PhoneNumberId.eq(phone_number_id))
        .filter(phone_number_analyzer::Column::OrganizationId.eq(call.organization_id))
        .into_tuple()
        .all(conn)
        .await?;
    if attached.is_empty() {
        return Ok(Vec::new());
    }
    Ok(analyzer::Entity::find()
        .select_only()
        .column(analyzer::Column::Id)
        .filter(analyzer::Column::Id.is_in(attached))
        .filter(analyzer::Column::OrganizationId.eq(call.organization_id))
        .filter(analyzer::Column::Active.eq(true))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?)
}

/// Whether any step of `round` that the report shows is still to run for call `call_id`.
pub async fn reported_steps_pending(
    conn: &impl ConnectionTrait,
    call_id: Uuid,
    round: &str,
) -> Result<bool, JobError> {
    let pending = crate::entity::job::Entity::find()
        .filter(crate::entity::job::Column::CallId.eq(call_id))
        .filter(crate::entity::job::Column::Kind.is_in(kind::REPORTED.iter().copied()))
        .filter(
            crate::entity::job::Column::Status.is_in([jobs::status::QUEUED, jobs::status::RUNNING]),
        )
        .filter(crate::entity::job::Column::DedupeKey.like(format!("%:{round}")))
        .all(conn)
        .await?;
    Ok(!pending.is_empty())
}
