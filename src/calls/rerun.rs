//! Re-running a call's analyses on request: one `analyzer.run` job per active analyzer attached
//! to the call's number, in a fresh round so every run is appended beside the earlier ones.

use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use uuid::Uuid;

use super::CallLookupError;
use super::after::{AnalyzerJob, STEP_ATTEMPTS, analyzers_of, kind};
use super::details::find;
use crate::jobs::{self, NewJob};

/// What a re-run queued.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rerun {
    pub call_id: Uuid,
    /// The round's name: the suffix of its jobs' dedupe keys.
    pub round: String,
    /// One job per analyzer, in the order of [`analyzers_of`].
    pub job_ids: Vec<Uuid>,
}

/// Queues the re-run of every active analyzer attached to the call's number. The round is new
/// each time (`rerun-{uuid}`), so its dedupe keys are too: two clicks queue two rounds, each
/// appending its runs; the jobs themselves make a round's run once however often they run.
/// Needs a transcript ([`CallLookupError::NoTranscript`]) and at least one analyzer
/// ([`CallLookupError::NoAnalyzers`]). The jobs are queued in one transaction: all or none.
pub async fn rerun_analyzers(
    db: &DatabaseConnection,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<Rerun, CallLookupError> {
    let call = find(db, org_id, call_id).await?;
    if call
        .transcription
        .as_deref()
        .is_none_or(|t| t.trim().is_empty())
    {
        return Err(CallLookupError::NoTranscript);
    }
    let round = format!("rerun-{}", Uuid::now_v7().simple());
    // Reads the attached analyzers, then writes: begun for writing (see `db::begin_write`).
    let txn = crate::db::begin_write(db).await?;
    let analyzers = analyzers_of(&txn, &call).await?;
    if analyzers.is_empty() {
        return Err(CallLookupError::NoAnalyzers);
    }
    let mut job_ids = Vec::with_capacity(analyzers.len());
    for analyzer_id in analyzers {
        let payload = serde_json::to_value(AnalyzerJob {
            call_id: call.id,
            analyzer_id,
            round: round.clone(),
        })
        .unwrap_or_default();
        let enqueued = jobs::enqueue(
            &txn,
            NewJob {
                kind: kind::RUN_ANALYZER.to_owned(),
                organization_id: Some(org_id),
                call_id: Some(call.id),
                payload,
                // The key `after::enqueue_post_call` gives an analyzer's run in a round.
                dedupe_key: Some(format!(
                    "{}:{}:{analyzer_id}:{round}",
                    kind::RUN_ANALYZER,
                    call.id
                )),
                run_at: Utc::now(),
                max_attempts: STEP_ATTEMPTS,
            },
        )
        .await?;
        job_ids.push(enqueued.id);
    }
    txn.commit().await?;
    Ok(Rerun {
        call_id: call.id,
        round,
        job_ids,
    })
}
