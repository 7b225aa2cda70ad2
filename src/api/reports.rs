//! `/api/report-recipients`: who receives the organization's e-mailed call reports.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};
use crate::reports::recipients::{self, RecipientView};

permissions! {
    ListRecipients = "Report:Collection:List",
    AddRecipient = "Report:Collection:Create",
    RemoveRecipient = "Report:Instance:Delete",
}

#[derive(Debug, Deserialize)]
pub struct RecipientInput {
    pub email: String,
}

pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListRecipients>,
) -> Result<Json<Vec<RecipientView>>, ApiError> {
    let all = recipients::list(&state.db, member.org_id()).await?;
    Ok(Json(all.into_iter().map(RecipientView::from).collect()))
}

/// 201 with the recipient; 422 for an invalid address, 409 when it is already a recipient.
pub async fn add(
    State(state): State<AppState>,
    member: Allowed<AddRecipient>,
    Json(input): Json<RecipientInput>,
) -> Result<(StatusCode, Json<RecipientView>), ApiError> {
    let added = recipients::add(&state.db, member.org_id(), &input.email).await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

pub async fn remove(
    State(state): State<AppState>,
    member: Allowed<RemoveRecipient>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    recipients::remove(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
