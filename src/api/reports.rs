//! `/api/report-recipients`: who receives the organization's e-mailed call reports.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, ErrorBody, Json, Path};
use crate::reports::recipients::{self, RecipientView};

permissions! {
    ListRecipients = "Report:Collection:List",
    AddRecipient = "Report:Collection:Create",
    RemoveRecipient = "Report:Instance:Delete",
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RecipientInput {
    pub email: String,
}

/// Who receives the organization's call reports.
#[utoipa::path(
    get,
    path = "/api/report-recipients",
    tag = "reports",
    operation_id = "reports_list",
    responses(
        (status = 200, body = Vec<RecipientView>, description = "The recipients, in the order \
            they were added."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListRecipients>,
) -> Result<Json<Vec<RecipientView>>, ApiError> {
    let all = recipients::list(&state.db, member.org_id()).await?;
    Ok(Json(all.into_iter().map(RecipientView::from).collect()))
}

/// Adds a report recipient.
///
/// 201 with the recipient; 422 for an invalid address, 409 when it is already a recipient.
#[utoipa::path(
    post,
    path = "/api/report-recipients",
    tag = "reports",
    operation_id = "reports_add",
    request_body = RecipientInput,
    responses(
        (status = 201, description = "The new recipient.", body = RecipientView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`conflict`: already a recipient.", body = ErrorBody),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    member: Allowed<AddRecipient>,
    Json(input): Json<RecipientInput>,
) -> Result<(StatusCode, Json<RecipientView>), ApiError> {
    let added = recipients::add(&state.db, member.org_id(), &input.email).await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// Stops sending reports to the recipient.
#[utoipa::path(
    delete,
    path = "/api/report-recipients/{id}",
    tag = "reports",
    operation_id = "reports_remove",
    params(("id" = Uuid, Path, description = "The recipient's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    member: Allowed<RemoveRecipient>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    recipients::remove(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
