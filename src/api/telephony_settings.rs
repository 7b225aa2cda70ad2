//! `/api/twilio/telephony-settings`: the organization's recording switches (seed 001).

use axum::extract::State;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json};
use crate::recordings::settings::{self, SettingsChange, TelephonySettings};

permissions! {
    ReadTwilioInstance = "Twilio:Instance:Read",
    UpdateTwilioInstance = "Twilio:Instance:Update",
}

pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadTwilioInstance>,
) -> Result<Json<TelephonySettings>, ApiError> {
    Ok(Json(settings::read(&state.db, member.org_id()).await?))
}

/// Changes the switches given; the others stay. Takes effect on the next call.
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateTwilioInstance>,
    Json(change): Json<SettingsChange>,
) -> Result<Json<TelephonySettings>, ApiError> {
    Ok(Json(
        settings::update(&state.db, member.org_id(), change).await?,
    ))
}
