//! One call in full (seed 003's `CallDetails`): the call, its transcript, its analyses grouped
//! by analyzer, its to-dos, its contact and the pipeline's steps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use super::CallLookupError;
use super::after::step_label;
use super::list::{CallItem, items};
use super::transcript::Segment;
use crate::contacts::ContactView;
use crate::entity::{analyzer, call, call_analysis, contact, todo};
use crate::todos::TodoView;

/// The analyses of one analyzer over the call (seed 003's `CallAnalysisGroup`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnalysisGroup {
    pub analyzer_id: Uuid,
    pub analyzer_name: String,
    /// Newest first; a re-run appends, earlier runs stay.
    pub runs: Vec<AnalysisRun>,
}

/// One analyzer run (seed 003's `CallAnalysisRun`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnalysisRun {
    pub id: Uuid,
    pub analysis_text: String,
    pub created_at: DateTime<Utc>,
}

/// One post-call step (a job) of the call and where it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PipelineStep {
    /// The job's id: `POST /api/jobs/{id}/retry` starts a failed one over.
    pub id: Uuid,
    /// The job kind: `recording.process`, `analyzer.run`, ...
    pub kind: String,
    /// What the step does, in words.
    pub label: &'static str,
    /// `queued`, `running`, `done`, `skipped` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    /// The last attempt's error, or why the step was skipped.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A call with everything known about it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallDetails {
    /// The call as lists show it (its `contact` is the short `{id, name}`).
    #[serde(flatten)]
    pub call: CallItem,
    /// `Speaker: text` lines, as prompts and e-mails read them.
    pub transcription: Option<String>,
    /// `live` (the realtime session's) or `recording` (which replaces it).
    pub transcript_source: Option<String>,
    /// The transcript's timed lines, in time order; empty without a transcript.
    pub transcript_segments: Vec<Segment>,
    /// One group per analyzer with runs over this call, by analyzer name.
    pub analysis_groups: Vec<AnalysisGroup>,
    /// Oldest first.
    pub todos: Vec<TodoView>,
    /// The contact in full: numbers, e-mail, source.
    pub contact_details: Option<ContactView>,
    /// Oldest first.
    pub steps: Vec<PipelineStep>,
}

/// The organization's call `call_id`, or [`CallLookupError::NotFound`] (also for another
/// organization's call).
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<call::Model, CallLookupError> {
    call::Entity::find_by_id(call_id)
        .filter(call::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(CallLookupError::NotFound)
}

pub async fn read(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<CallDetails, CallLookupError> {
    let row = find(db, org_id, call_id).await?;
    let segments = match &row.transcript_segments {
        None => Vec::new(),
        Some(json) => serde_json::from_value(json.clone()).unwrap_or_else(|e| {
            tracing::warn!(%org_id, %call_id, error = %e, "unreadable transcript segments");
            Vec::new()
        }),
    };
    let transcription = row.transcription.clone();
    let transcript_source = row.transcript_source.clone();
    let contact_id = row.contact_id;
    let analysis_groups = analysis_groups(db, org_id, call_id).await?;
    let todos = todo::Entity::find()
        .filter(todo::Column::OrganizationId.eq(org_id))
        .filter(todo::Column::CallId.eq(call_id))
        .order_by_asc(todo::Column::CreatedAt)
        .order_by_asc(todo::Column::Id)
        .all(db)
        .await?;
    let todos = crate::todos::views(db, org_id, todos).await?;
    let contact_details = match contact_id {
        None => None,
        Some(id) => {
            let found = contact::Entity::find_by_id(id)
                .filter(contact::Column::OrganizationId.eq(org_id))
                .all(db)
                .await?;
            crate::contacts::views(db, org_id, found).await?.pop()
        }
    };
    let steps = crate::jobs::of_call(db, org_id, call_id)
        .await?
        .into_iter()
        .map(|job| PipelineStep {
            label: step_label(&job.kind),
            id: job.id,
            kind: job.kind,
            status: job.status,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error,
            created_at: job.created_at,
            updated_at: job.updated_at,
        })
        .collect();
    let call = items(db, org_id, vec![row])
        .await?
        .pop()
        .ok_or(CallLookupError::NotFound)?;
    Ok(CallDetails {
        call,
        transcription,
        transcript_source,
        transcript_segments: segments,
        analysis_groups,
        todos,
        contact_details,
        steps,
    })
}

/// The call's runs grouped by analyzer (by name), each group's runs newest first.
async fn analysis_groups(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<Vec<AnalysisGroup>, CallLookupError> {
    let runs = call_analysis::Entity::find()
        .filter(call_analysis::Column::OrganizationId.eq(org_id))
        .filter(call_analysis::Column::CallId.eq(call_id))
        .order_by_desc(call_analysis::Column::CreatedAt)
        .order_by_desc(call_analysis::Column::Id)
        .all(db)
        .await?;
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let names: HashMap<Uuid, String> = analyzer::Entity::find()
        .filter(analyzer::Column::OrganizationId.eq(org_id))
        .filter(analyzer::Column::Id.is_in(runs.iter().map(|r| r.analyzer_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut groups: Vec<AnalysisGroup> = Vec::new();
    for run in runs {
        let at = match groups.iter().position(|g| g.analyzer_id == run.analyzer_id) {
            Some(at) => at,
            None => {
                groups.push(AnalysisGroup {
                    analyzer_id: run.analyzer_id,
                    // Runs go with their analyzer when it is deleted, so a name is always found.
                    analyzer_name: names.get(&run.analyzer_id).cloned().unwrap_or_default(),
                    runs: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[at].runs.push(AnalysisRun {
            id: run.id,
            analysis_text: run.analysis_text,
            created_at: run.created_at,
        });
    }
    groups.sort_by(|a, b| {
        a.analyzer_name
            .cmp(&b.analyzer_name)
            .then(a.analyzer_id.cmp(&b.analyzer_id))
    });
    Ok(groups)
}

/// Where the recording of the organization's call `call_id` is stored;
/// [`CallLookupError::NoRecording`] when it has none (yet).
pub async fn recording_key(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<String, CallLookupError> {
    find(db, org_id, call_id)
        .await?
        .recording_url
        .ok_or(CallLookupError::NoRecording)
}
