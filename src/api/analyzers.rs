//! `/api/analyzers`: prompts run over the transcripts of calls to the numbers they are attached to.

use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::analyzers::{self, AnalyzerInput, AnalyzerView};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};

permissions! {
    ListAnalyzers = "Analyzer:Collection:List",
    CreateAnalyzer = "Analyzer:Collection:Create",
    ReadAnalyzer = "Analyzer:Instance:Read",
    UpdateAnalyzer = "Analyzer:Instance:Update",
    DeleteAnalyzer = "Analyzer:Instance:Delete",
}

pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListAnalyzers>,
) -> Result<Json<Vec<AnalyzerView>>, ApiError> {
    Ok(Json(analyzers::list(&state.db, member.org_id()).await?))
}

/// 201 with the analyzer; 422 with `error.fields` listing every bad field (a number of another
/// organization is one).
pub async fn create(
    State(state): State<AppState>,
    member: Allowed<CreateAnalyzer>,
    Json(input): Json<AnalyzerInput>,
) -> Result<(StatusCode, Json<AnalyzerView>), ApiError> {
    let analyzer = analyzers::save::create(&state.db, member.org_id(), input).await?;
    Ok((StatusCode::CREATED, Json(analyzer)))
}

pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadAnalyzer>,
    Path(id): Path<Uuid>,
) -> Result<Json<AnalyzerView>, ApiError> {
    Ok(Json(analyzers::read(&state.db, member.org_id(), id).await?))
}

/// Replaces every field; the numbers not in `phone_number_ids` are detached.
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateAnalyzer>,
    Path(id): Path<Uuid>,
    Json(input): Json<AnalyzerInput>,
) -> Result<Json<AnalyzerView>, ApiError> {
    Ok(Json(
        analyzers::save::update(&state.db, member.org_id(), id, input).await?,
    ))
}

/// The analyzer's runs on past calls go with it.
pub async fn delete(
    State(state): State<AppState>,
    member: Allowed<DeleteAnalyzer>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    analyzers::delete::delete(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
