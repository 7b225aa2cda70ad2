//! `/api/twilio/sync-call-history` and `/api/twilio/call-syncs`: importing a number's call
//! history from Twilio (seed 000), and where each number's latest sync is.

use axum::extract::State;
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{Forbidden, InvalidInput, NotFound, Unauthorized, Upstream};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::call_sync::start::{SyncRequest, SyncResult, Syncer};
use crate::call_sync::{MAX_BATCH, Progress};
use crate::entity::call_sync;
use crate::error::{ApiError, ErrorBody, Json};
use crate::validation::FieldError;

permissions! {
    SyncCallHistory = "Twilio:Collection:Create",
    ListTwilio = "Twilio:Collection:List",
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    phone_number_id: Uuid,
    /// `YYYY-MM-DD`: only calls that started on or after that day (UTC).
    #[serde(default)]
    since: Option<String>,
    /// How many recordings are processed at a time; 5 when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 50)]
    recording_batch_size: Option<i32>,
}

impl SyncBody {
    fn check(self) -> Result<SyncRequest, ApiError> {
        let mut errors = Vec::new();
        let since = match self
            .since
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(day) => Some(day),
                Err(_) => {
                    errors.push(FieldError::new(
                        "since",
                        "must be a date written YYYY-MM-DD, e.g. 2025-01-31",
                    ));
                    None
                }
            },
        };
        if let Some(n) = self.recording_batch_size
            && !(1..=MAX_BATCH).contains(&n)
        {
            errors.push(FieldError::new(
                "recording_batch_size",
                format!("must be a whole number from 1 to {MAX_BATCH}"),
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::InvalidFields(errors));
        }
        Ok(SyncRequest {
            phone_number_id: self.phone_number_id,
            since,
            recording_batch_size: self.recording_batch_size,
        })
    }
}

/// Imports a number's call history from Twilio.
///
/// Imports the number's completed calls; answers once they are in (recordings go on in the
/// background, reported over `/api/realtime`).
#[utoipa::path(
    post,
    path = "/api/twilio/sync-call-history",
    tag = "twilio",
    operation_id = "call_sync_sync_call_history",
    request_body = SyncBody,
    responses(
        (status = 200, body = SyncResult, description = "The calls are in; recordings continue \
            in the background."),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON or no \
            Twilio account connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: a sync of this number is \
            under way."),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
pub async fn sync_call_history(
    State(state): State<AppState>,
    member: Allowed<SyncCallHistory>,
    Json(body): Json<SyncBody>,
) -> Result<Json<SyncResult>, ApiError> {
    let request = body.check()?;
    let syncer = Syncer {
        db: &state.db,
        accounts: &state.twilio,
        events: &state.events,
        wake: &state.jobs_wake,
    };
    Ok(Json(syncer.sync_number(member.org_id(), &request).await?))
}

/// Each number's latest call-history sync.
///
/// The latest sync of each of the organization's numbers, newest first: what a page shows before
/// the live events arrive.
#[utoipa::path(
    get,
    path = "/api/twilio/call-syncs",
    tag = "twilio",
    operation_id = "call_sync_call_syncs",
    responses(
        (status = 200, description = "Each number's latest sync.", body = Vec<Progress>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn call_syncs(
    State(state): State<AppState>,
    member: Allowed<ListTwilio>,
) -> Result<Json<Vec<Progress>>, ApiError> {
    Ok(Json(latest(&state.db, member.org_id()).await?))
}

/// The latest sync of each number of `org_id`.
pub async fn latest(
    db: &sea_orm::DatabaseConnection,
    org_id: Uuid,
) -> Result<Vec<Progress>, sea_orm::DbErr> {
    let rows = call_sync::Entity::find()
        .filter(call_sync::Column::OrganizationId.eq(org_id))
        .order_by_desc(call_sync::Column::CreatedAt)
        .all(db)
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    Ok(rows
        .iter()
        .filter(|r| seen.insert(r.phone_number_id))
        .map(Progress::of)
        .collect())
}
