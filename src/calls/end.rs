//! The end of a live call's media stream, as the bridge saw it.
//!
//! Twilio's status callback is the authority on the final status and the duration; the end of
//! the stream fills in only what it has not written yet. All of it is one transaction, so a
//! reader never sees the call closed without its duration or transcript.

use chrono::Utc;
use loquent_twilio::calls::CallStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::CallError;
use super::status::not_final;
use super::transcript::{Segment, source, to_text};
use crate::entity::call;

/// What the bridge knows when a live call's stream ends.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEnd<'a> {
    pub call_id: Uuid,
    /// From the stream's start to its end, in whole seconds.
    pub duration_secs: i32,
    /// What was said, as the live session transcribed it, in time order; empty when nothing
    /// was.
    pub transcript: &'a [Segment],
}

/// Closes a non-final status as `completed` and sets the duration and the live transcript where
/// they are still empty, in one transaction.
pub async fn end_stream(db: &DatabaseConnection, end: StreamEnd<'_>) -> Result<(), CallError> {
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    call::Entity::update_many()
        .col_expr(
            call::Column::Status,
            Expr::value(CallStatus::Completed.as_str()),
        )
        .col_expr(call::Column::UpdatedAt, Expr::value(now))
        .filter(call::Column::Id.eq(end.call_id))
        .filter(not_final())
        .exec(&txn)
        .await?;
    call::Entity::update_many()
        .col_expr(call::Column::DurationSecs, Expr::value(end.duration_secs))
        .filter(call::Column::Id.eq(end.call_id))
        .filter(call::Column::DurationSecs.is_null())
        .exec(&txn)
        .await?;
    if !end.transcript.is_empty() {
        // The recording's transcription, when it comes, replaces this live one; a transcript
        // already stored (the recording's, or a retried write's) is kept.
        let segments = serde_json::to_value(end.transcript).unwrap_or_default();
        call::Entity::update_many()
            .col_expr(
                call::Column::Transcription,
                Expr::value(to_text(end.transcript)),
            )
            .col_expr(call::Column::TranscriptSegments, Expr::value(segments))
            .col_expr(call::Column::TranscriptSource, Expr::value(source::LIVE))
            .filter(call::Column::Id.eq(end.call_id))
            .filter(call::Column::Transcription.is_null())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}
