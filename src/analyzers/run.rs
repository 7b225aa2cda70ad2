//! One analyzer's run over one call's transcript: the [`calls::after::kind::RUN_ANALYZER`] job.
//!
//! The job carries ids ([`AnalyzerJob`]) and re-reads the call and the analyzer, scoped to the
//! job's organization. Its run is appended as a new `call_analysis` row whose `job_id` is the
//! job's: the unique index on `job_id` makes a job that runs twice (its worker died after the
//! insert) append one run, while every new job (a new recording, a re-run) appends another.
//! Earlier runs are never overwritten.
//!
//! [`calls::after::kind::RUN_ANALYZER`]: crate::calls::after::kind::RUN_ANALYZER

use chrono::Utc;
use loquent_ai::structured::{Prompt, StrictSchema, StructuredClient};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::calls::after::AnalyzerJob;
use crate::config::Ai;
use crate::entity::{analyzer, call, call_analysis, job};
use crate::jobs::{Handler, Outcome};
use crate::realtime::EventHub;

/// What frames every analyzer's prompt: the material, and the shape of the answer.
const FRAME: &str = "You analyze the transcript of a phone call between a caller and a \
business's AI agent. Each line of the transcript starts with `Caller:` or `Agent:`. Follow the \
instructions below and put your whole answer, as plain text, in `analysis`. Base it only on \
the transcript.";

/// The answer asked of the model.
#[derive(Debug, Deserialize)]
struct Answer {
    analysis: String,
}

fn answer_schema() -> Result<StrictSchema, String> {
    StrictSchema::new(
        "call_analysis",
        json!({
            "type": "object",
            "properties": {
                "analysis": {
                    "type": "string",
                    "description": "The analysis the instructions ask for, as plain text."
                }
            },
            "required": ["analysis"],
            "additionalProperties": false
        }),
    )
    .map_err(|e| format!("the analysis request could not be built: {e}"))
}

/// The system message: the frame, then the analyzer's own prompt.
pub fn instructions(prompt: &str) -> String {
    format!("{FRAME}\n\nInstructions:\n{prompt}")
}

/// Runs analyzers over transcripts with the configured chat model.
pub struct RunAnalyzer {
    db: DatabaseConnection,
    /// `None` without an OpenAI API key: every run then fails and says so.
    client: Option<StructuredClient>,
    model: String,
    /// Where browsers hear that a run was stored (`call.analysis.completed`); none in tests
    /// that do not listen.
    events: Option<EventHub>,
}

impl RunAnalyzer {
    pub fn new(db: DatabaseConnection, client: Option<StructuredClient>, model: &str) -> Self {
        Self {
            db,
            client,
            model: model.to_owned(),
            events: None,
        }
    }

    /// Publishes `call.analysis.completed` to the organization's browsers after each stored run.
    #[must_use]
    pub fn with_events(mut self, events: EventHub) -> Self {
        self.events = Some(events);
        self
    }

    /// Tells the organization's browsers that the run of `job` is stored. Best effort: the run
    /// is saved either way, and a page that missed the event shows it on its next load.
    async fn announce(
        &self,
        org_id: Uuid,
        call_id: Uuid,
        analyzer: &analyzer::Model,
        job_id: Uuid,
    ) {
        let Some(events) = &self.events else { return };
        let payload = json!({
            "call_id": call_id,
            "analyzer_id": analyzer.id,
            "analyzer_name": analyzer.name,
            "job_id": job_id,
        });
        if let Err(e) = events
            .publish(org_id, "call.analysis.completed", payload)
            .await
        {
            tracing::warn!(error = %e, "could not publish call.analysis.completed");
        }
    }

    /// With the OpenAI base URL, key and analysis model of `ai`.
    pub fn from_config(db: DatabaseConnection, ai: &Ai) -> Self {
        let client = ai
            .openai_api_key
            .as_ref()
            .map(|key| StructuredClient::new(ai.openai_base_url.as_str(), key.expose().as_str()));
        Self::new(db, client, &ai.analysis_model)
    }

    async fn analyzer_exists(&self, org_id: Uuid, id: Uuid) -> Result<bool, DbErr> {
        Ok(analyzer::Entity::find_by_id(id)
            .filter(analyzer::Column::OrganizationId.eq(org_id))
            .count(&self.db)
            .await?
            > 0)
    }
}

/// A database failure as the step's error: the organization sees it, so it says what failed.
fn database(e: &DbErr) -> String {
    tracing::warn!(error = %e, "analyzer run: database error");
    "the database could not be read or written; the run will be tried again".to_owned()
}

#[async_trait::async_trait]
impl Handler for RunAnalyzer {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let payload: AnalyzerJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| format!("this job does not name a call and an analyzer: {e}"))?;
        let org_id = job
            .organization_id
            .ok_or("this job does not name an organization")?;
        let found = call::Entity::find_by_id(payload.call_id)
            .filter(call::Column::OrganizationId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(|e| database(&e))?;
        let Some(call) = found else {
            return Ok(Outcome::Skipped("the call was deleted".into()));
        };
        let found = analyzer::Entity::find_by_id(payload.analyzer_id)
            .filter(analyzer::Column::OrganizationId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(|e| database(&e))?;
        let Some(analyzer) = found else {
            return Ok(Outcome::Skipped("the analyzer was deleted".into()));
        };
        if !analyzer.active {
            return Ok(Outcome::Skipped("the analyzer is paused".into()));
        }
        // This job's run is stored already: it ran before, and its worker died before the job
        // was marked done.
        let stored = call_analysis::Entity::find()
            .filter(call_analysis::Column::JobId.eq(job.id))
            .count(&self.db)
            .await
            .map_err(|e| database(&e))?;
        if stored > 0 {
            return Ok(Outcome::Done);
        }
        let Some(transcript) = call
            .transcription
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        else {
            return Ok(Outcome::Skipped("the call has no transcript".into()));
        };
        let client = self.client.as_ref().ok_or(
            "no OpenAI API key is configured (LOQUENT_OPENAI_API_KEY), so analyzers cannot run",
        )?;
        let system = instructions(&analyzer.prompt);
        let answer = client
            .complete_json(
                &Prompt {
                    model: &self.model,
                    system: &system,
                    user: transcript,
                },
                &answer_schema()?,
            )
            .await
            .map_err(|e| format!("the analysis model ({}) failed: {e}", self.model))?;
        let text = serde_json::from_value::<Answer>(answer)
            .map_err(|_| "the analysis model's answer had no analysis text".to_owned())?
            .analysis
            .trim()
            .to_owned();
        if text.is_empty() {
            return Err("the analysis model gave an empty analysis".into());
        }
        let row = call_analysis::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(org_id),
            call_id: Set(call.id),
            analyzer_id: Set(analyzer.id),
            analysis_text: Set(text),
            job_id: Set(Some(job.id)),
            created_at: Set(Utc::now()),
        };
        let inserted = call_analysis::Entity::insert(row)
            // No conflict target, as in `jobs::enqueue`: the only unique columns are the fresh
            // id and `job_id`, and SQLite resolves a target against a connection's schema that
            // may predate the index. A second insert for this job is dropped.
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await;
        match inserted {
            Ok(_) | Err(DbErr::RecordNotInserted) => {
                tracing::info!(%org_id, call_id = %call.id, analyzer_id = %analyzer.id, "analyzer ran");
                self.announce(org_id, call.id, &analyzer, job.id).await;
                Ok(Outcome::Done)
            }
            // Deleted while the model answered: its runs went with it, and so does this one.
            Err(e) => match self.analyzer_exists(org_id, analyzer.id).await {
                Ok(false) => Ok(Outcome::Skipped("the analyzer was deleted".into())),
                _ => Err(database(&e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_schema_is_strict_and_the_prompt_follows_the_frame() {
        let schema = answer_schema().expect("a strict schema");
        assert_eq!(schema.name(), "call_analysis");
        assert_eq!(schema.schema()["required"], json!(["analysis"]));
        let system = instructions("Was the caller satisfied?");
        assert!(system.starts_with(FRAME));
        assert!(system.ends_with("Instructions:\nWas the caller satisfied?"));
    }
}
