//! `/api/twilio/...`: the organization's Twilio connection and its numbers on Twilio
//! (seeds 002 and 004).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json};
use crate::orgs::twilio::{self, TwilioConnectionView};
use crate::phone_numbers::buy::AvailableNumber;
use crate::phone_numbers::import::{ImportResult, UnsyncedNumber};
use crate::phone_numbers::{self, PhoneNumberSummary, PhoneView};

permissions! {
    ConnectTwilio = "Twilio:Collection:Create",
    DisconnectTwilio = "Twilio:Collection:Delete",
    ListTwilio = "Twilio:Collection:List",
    UpdateTwilioNumber = "Twilio:Instance:Update",
    CreatePhone = "Phone:Collection:Create",
}

#[derive(Deserialize)]
pub struct ConnectRequest {
    account_sid: String,
    auth_token: String,
}

pub async fn connect(
    State(state): State<AppState>,
    member: Allowed<ConnectTwilio>,
    Json(req): Json<ConnectRequest>,
) -> Result<Json<TwilioConnectionView>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        twilio::connect(
            &state.db,
            &state.twilio,
            org,
            &req.account_sid,
            &req.auth_token,
        )
        .await?,
    ))
}

pub async fn disconnect(
    State(state): State<AppState>,
    member: Allowed<DisconnectTwilio>,
) -> Result<Json<TwilioConnectionView>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        twilio::disconnect(&state.db, &state.twilio, org).await?,
    ))
}

pub async fn subaccount(
    State(state): State<AppState>,
    member: Allowed<ConnectTwilio>,
) -> Result<(StatusCode, Json<TwilioConnectionView>), ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok((
        StatusCode::CREATED,
        Json(twilio::provision_subaccount(&state.db, &state.twilio, org).await?),
    ))
}

pub async fn imported_numbers(
    State(state): State<AppState>,
    member: Allowed<ListTwilio>,
) -> Result<Json<Vec<PhoneNumberSummary>>, ApiError> {
    let numbers = phone_numbers::list(&state.db, member.org_id()).await?;
    Ok(Json(numbers.into_iter().map(Into::into).collect()))
}

pub async fn unsynced_numbers(
    State(state): State<AppState>,
    member: Allowed<ListTwilio>,
) -> Result<Json<Vec<UnsyncedNumber>>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        phone_numbers::import::unsynced(&state.db, &state.twilio, &org).await?,
    ))
}

#[derive(Deserialize)]
pub struct SyncRequest {
    numbers: Vec<String>,
}

pub async fn sync_numbers(
    State(state): State<AppState>,
    member: Allowed<CreatePhone>,
    Json(req): Json<SyncRequest>,
) -> Result<Json<ImportResult>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        phone_numbers::import::sync(&state.db, &state.twilio, &org, &req.numbers).await?,
    ))
}

#[derive(Deserialize)]
pub struct SearchRequest {
    area_code: String,
}

pub async fn search_available_numbers(
    State(state): State<AppState>,
    member: Allowed<ListTwilio>,
    Json(req): Json<SearchRequest>,
) -> Result<Json<Vec<AvailableNumber>>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        phone_numbers::buy::search(&state.twilio, &org, &req.area_code).await?,
    ))
}

#[derive(Deserialize)]
pub struct BuyRequest {
    phone_number: String,
}

pub async fn buy_phone_number(
    State(state): State<AppState>,
    member: Allowed<CreatePhone>,
    Json(req): Json<BuyRequest>,
) -> Result<(StatusCode, Json<PhoneView>), ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    let bought = phone_numbers::buy::buy(&state.db, &state.twilio, &org, &req.phone_number).await?;
    Ok((StatusCode::CREATED, Json(bought.into())))
}

#[derive(Deserialize)]
pub struct PhoneNumberRequest {
    phone_number_id: Uuid,
}

#[derive(Serialize)]
pub struct ConfigureVoiceResponse {
    previous_voice_url: Option<String>,
}

pub async fn configure_phone_voice(
    State(state): State<AppState>,
    member: Allowed<UpdateTwilioNumber>,
    Json(req): Json<PhoneNumberRequest>,
) -> Result<Json<ConfigureVoiceResponse>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    let previous_voice_url =
        phone_numbers::voice::configure(&state.db, &state.twilio, &org, req.phone_number_id)
            .await?;
    Ok(Json(ConfigureVoiceResponse { previous_voice_url }))
}

pub async fn restore_phone_voice(
    State(state): State<AppState>,
    member: Allowed<UpdateTwilioNumber>,
    Json(req): Json<PhoneNumberRequest>,
) -> Result<StatusCode, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    phone_numbers::voice::restore(&state.db, &state.twilio, &org, req.phone_number_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
