//! The post-call step that turns a transcript into to-dos awaiting review
//! ([`crate::calls::after::kind::EXTRACT_TODOS`]).
//!
//! Idempotent: every row it inserts carries the job's id, and a run that finds rows with its
//! job's id inserts nothing (the job ran before, and its worker died before marking it done).
//! The rows of one run are inserted in one transaction, so a run leaves all of them or none.

use chrono::{DateTime, NaiveDate, Utc};
use loquent_ai::structured::StructuredClient;
use schemars::JsonSchema;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::calls::after::CallJob;
use crate::entity::{call, job, todo};
use crate::jobs::{Handler, Outcome};

/// The longest title kept, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// The longest details kept, in characters.
const MAX_DETAILS_CHARS: usize = 2_000;

const INSTRUCTIONS: &str = "You read the transcript of a phone call between a caller and a \
business's phone agent. List the follow-up tasks the business must do after this call: call \
backs, quotes to send, visits to book, questions to answer. Each task has a short imperative \
title, optional details (names, numbers, addresses the task needs, as said in the call) and \
an optional due date (ISO 8601: YYYY-MM-DD, or a date and time with offset) only when the call \
set one. Never invent tasks, details or dates the call does not contain; a call that needs no \
follow-up has an empty list.";

/// What the model answers: the call's follow-up tasks.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CallTodos {
    pub todos: Vec<ExtractedTodo>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExtractedTodo {
    /// A short imperative title, e.g. "Send Rosa a quote for the tap".
    pub title: String,
    /// What the task needs, as said in the call.
    pub details: Option<String>,
    /// ISO 8601 date (YYYY-MM-DD) or date-time, only if the call set one.
    pub due: Option<String>,
}

/// Runs [`crate::calls::after::kind::EXTRACT_TODOS`] jobs.
pub struct ExtractTodos {
    db: DatabaseConnection,
    /// `None` when no OpenAI key is configured: every job then fails and says so.
    client: Option<StructuredClient>,
    model: String,
}

impl ExtractTodos {
    pub fn new(
        db: DatabaseConnection,
        client: Option<StructuredClient>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            db,
            client,
            model: model.into(),
        }
    }
}

/// The call a post-call job is about, read in the job's organization; `Err` for a job that
/// does not carry what such a job must.
pub(crate) async fn call_of(
    db: &DatabaseConnection,
    job: &job::Model,
) -> Result<Option<(CallJob, call::Model)>, String> {
    let payload: CallJob = serde_json::from_value(job.payload.clone())
        .map_err(|e| format!("the job's payload is not a call step's: {e}"))?;
    let org_id = job.organization_id.ok_or("the job names no organization")?;
    let call = call::Entity::find_by_id(payload.call_id)
        .filter(call::Column::OrganizationId.eq(org_id))
        .one(db)
        .await
        .map_err(|e| format!("could not read the call: {e}"))?;
    Ok(call.map(|c| (payload, c)))
}

/// The call's transcript, when it has one worth reading.
pub(crate) fn transcript_of(call: &call::Model) -> Option<&str> {
    call.transcription
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A due date as the model wrote it: an RFC 3339 date-time, or a date (taken as its start, UTC).
fn due_at(raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

fn clip(text: &str, max: usize) -> String {
    text.trim().chars().take(max).collect()
}

#[async_trait::async_trait]
impl Handler for ExtractTodos {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let Some((_, call)) = call_of(&self.db, job).await? else {
            return Ok(Outcome::Skipped("the call no longer exists".into()));
        };
        let Some(transcript) = transcript_of(&call) else {
            return Ok(Outcome::Skipped("the call has no transcript".into()));
        };
        let client = self.client.as_ref().ok_or(
            "no OpenAI API key is configured (LOQUENT_OPENAI_API_KEY), so to-dos cannot be extracted",
        )?;
        let already = todo::Entity::find()
            .filter(todo::Column::JobId.eq(job.id))
            .count(&self.db)
            .await
            .map_err(|e| format!("could not read the call's to-dos: {e}"))?;
        if already > 0 {
            return Ok(Outcome::Done);
        }
        let when = call.started_at.unwrap_or(call.created_at);
        let input = format!(
            "The call took place on {}.\n\nTranscript:\n{transcript}",
            when.format("%Y-%m-%d (%A)")
        );
        let extracted: CallTodos = client
            .complete(&self.model, INSTRUCTIONS, &input)
            .await
            .map_err(|e| format!("the to-do extraction failed: {e}"))?;
        let now = Utc::now();
        let rows: Vec<todo::ActiveModel> = extracted
            .todos
            .iter()
            .filter(|t| !t.title.trim().is_empty())
            .map(|t| todo::ActiveModel {
                id: Set(Uuid::now_v7()),
                organization_id: Set(call.organization_id),
                call_id: Set(Some(call.id)),
                contact_id: Set(call.contact_id),
                title: Set(clip(&t.title, MAX_TITLE_CHARS)),
                details: Set(t
                    .details
                    .as_deref()
                    .map(|d| clip(d, MAX_DETAILS_CHARS))
                    .filter(|d| !d.is_empty())),
                done: Set(false),
                due_at: Set(due_at(t.due.as_deref())),
                completed_at: Set(None),
                status: Set(super::TodoStatus::PendingReview.as_str().to_owned()),
                job_id: Set(Some(job.id)),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect();
        let job_id = job.id;
        crate::db::write_transaction::<_, _, (), sea_orm::DbErr>(&self.db, |tx| {
            Box::pin(async move {
                // Checked again inside the transaction: the rows of a run commit together,
                // so finding one means the whole run is already in.
                let already = todo::Entity::find()
                    .filter(todo::Column::JobId.eq(job_id))
                    .count(tx)
                    .await?;
                if already == 0 {
                    for row in rows {
                        row.insert(tx).await?;
                    }
                }
                Ok(())
            })
        })
        .await
        .map_err(|e| format!("could not save the to-dos: {e}"))?;
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_are_read_as_written_or_dropped() {
        assert_eq!(
            due_at(Some("2026-12-08")).map(|d| d.to_rfc3339()),
            Some("2026-12-08T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            due_at(Some("2026-12-08T15:00:00-05:00")).map(|d| d.to_rfc3339()),
            Some("2026-12-08T20:00:00+00:00".to_owned())
        );
        assert_eq!(due_at(Some("next Tuesday")), None);
        assert_eq!(due_at(None), None);
    }
}
