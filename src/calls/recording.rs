//! A call's recording and the transcript made from it.
//!
//! Invariant: `recording_url` (the storage key) and `recording_sid` are set together, once the
//! audio is stored and before it is transcribed; a processing job that runs again finds them and
//! does not download again. The recording's transcript replaces the live one
//! (`transcript_source = "recording"`).

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::CallError;
use crate::entity::call;

/// Where a transcript came from.
pub const SOURCE_RECORDING: &str = "recording";

/// The organization's call `call_id`, if it has one.
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<Option<call::Model>, CallError> {
    Ok(call::Entity::find_by_id(call_id)
        .filter(call::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?)
}

/// Records that the call's recording `recording_sid` is stored under `storage_key`.
pub async fn set_recording(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
    storage_key: &str,
    recording_sid: &str,
) -> Result<(), CallError> {
    call::Entity::update_many()
        .col_expr(call::Column::RecordingUrl, Expr::value(storage_key))
        .col_expr(call::Column::RecordingSid, Expr::value(recording_sid))
        .col_expr(call::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(call::Column::OrganizationId.eq(org_id))
        .filter(call::Column::Id.eq(call_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Saves the recording's transcript (text and `[{speaker, start, end, text}]` segments) as the
/// call's, replacing the live one.
pub async fn save_transcript(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_id: Uuid,
    text: &str,
    segments: serde_json::Value,
) -> Result<(), CallError> {
    call::Entity::update_many()
        .col_expr(call::Column::Transcription, Expr::value(text))
        .col_expr(call::Column::TranscriptSegments, Expr::value(segments))
        .col_expr(
            call::Column::TranscriptSource,
            Expr::value(SOURCE_RECORDING),
        )
        .col_expr(call::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(call::Column::OrganizationId.eq(org_id))
        .filter(call::Column::Id.eq(call_id))
        .exec(db)
        .await?;
    Ok(())
}
