//! `/api/analyzers`: prompts run over the transcripts of calls to the numbers they are attached to.

use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::analyzers::{self, AnalyzerInput, AnalyzerView};
use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
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

/// The organization's analyzers, each with its numbers.
#[utoipa::path(
    get,
    path = "/api/analyzers",
    tag = "analyzers",
    operation_id = "analyzers_list",
    responses(
        (status = 200, description = "The analyzers by name.", body = Vec<AnalyzerView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListAnalyzers>,
) -> Result<Json<Vec<AnalyzerView>>, ApiError> {
    Ok(Json(analyzers::list(&state.db, member.org_id()).await?))
}

/// Creates an analyzer.
///
/// 201 with the analyzer; 422 with `error.fields` listing every bad field (a number of another
/// organization is one).
#[utoipa::path(
    post,
    path = "/api/analyzers",
    tag = "analyzers",
    operation_id = "analyzers_create",
    request_body = AnalyzerInput,
    responses(
        (status = 201, description = "The new analyzer.", body = AnalyzerView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    member: Allowed<CreateAnalyzer>,
    Json(input): Json<AnalyzerInput>,
) -> Result<(StatusCode, Json<AnalyzerView>), ApiError> {
    let analyzer = analyzers::save::create(&state.db, member.org_id(), input).await?;
    Ok((StatusCode::CREATED, Json(analyzer)))
}

/// One analyzer.
#[utoipa::path(
    get,
    path = "/api/analyzers/{id}",
    tag = "analyzers",
    operation_id = "analyzers_read",
    params(("id" = Uuid, Path, description = "The analyzer's id.")),
    responses(
        (status = 200, description = "The analyzer.", body = AnalyzerView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadAnalyzer>,
    Path(id): Path<Uuid>,
) -> Result<Json<AnalyzerView>, ApiError> {
    Ok(Json(analyzers::read(&state.db, member.org_id(), id).await?))
}

/// Replaces an analyzer.
///
/// Replaces every field; the numbers not in `phone_number_ids` are detached.
#[utoipa::path(
    put,
    path = "/api/analyzers/{id}",
    tag = "analyzers",
    operation_id = "analyzers_update",
    params(("id" = Uuid, Path, description = "The analyzer's id.")),
    request_body = AnalyzerInput,
    responses(
        (status = 200, description = "The analyzer as it now is.", body = AnalyzerView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
    ),
)]
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

/// Deletes an analyzer.
///
/// The analyzer's runs on past calls go with it.
#[utoipa::path(
    delete,
    path = "/api/analyzers/{id}",
    tag = "analyzers",
    operation_id = "analyzers_delete",
    params(("id" = Uuid, Path, description = "The analyzer's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    member: Allowed<DeleteAnalyzer>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    analyzers::delete::delete(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
