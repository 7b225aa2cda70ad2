//! `/api/twilio/telephony-settings`: the organization's recording switches (seed 001).

use axum::extract::State;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json};
use crate::recordings::settings::{self, SettingsChange, TelephonySettings};

permissions! {
    ReadTwilioInstance = "Twilio:Instance:Read",
    UpdateTwilioInstance = "Twilio:Instance:Update",
}

/// The organization's recording switches.
#[utoipa::path(
    get,
    path = "/api/twilio/telephony-settings",
    tag = "settings",
    operation_id = "telephony_settings_read",
    responses(
        (status = 200, description = "The switches.", body = TelephonySettings),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadTwilioInstance>,
) -> Result<Json<TelephonySettings>, ApiError> {
    Ok(Json(settings::read(&state.db, member.org_id()).await?))
}

/// Changes some of the recording switches.
///
/// Changes the switches given; the others stay. Takes effect on the next call.
#[utoipa::path(
    patch,
    path = "/api/twilio/telephony-settings",
    tag = "settings",
    operation_id = "telephony_settings_update",
    request_body = SettingsChange,
    responses(
        (status = 200, description = "The switches as they now are.", body = TelephonySettings),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateTwilioInstance>,
    Json(change): Json<SettingsChange>,
) -> Result<Json<TelephonySettings>, ApiError> {
    Ok(Json(
        settings::update(&state.db, member.org_id(), change).await?,
    ))
}
