//! `/api/twilio/...`: the organization's Twilio connection and its numbers on Twilio
//! (seeds 002 and 004).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized, Upstream};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, ErrorBody, Json};
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConnectRequest {
    account_sid: String,
    auth_token: String,
}

/// Connects the organization's own Twilio account.
///
/// The credentials are checked with Twilio before they are stored.
#[utoipa::path(
    post,
    path = "/api/twilio/connect",
    tag = "twilio",
    operation_id = "twilio_connect",
    request_body = ConnectRequest,
    responses(
        (status = 200, description = "Connected.", body = TwilioConnectionView),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON, \
            credentials of the wrong form or refused by Twilio."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, body = ErrorBody, description = "`conflict`: an account is connected \
            already."),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
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

/// Connects the organization to its own account in the built-in sandbox.
///
/// Only when this server serves the sandbox (`LOQUENT_SANDBOX`). The account is emulated: its
/// numbers ring only through test calls, nothing is charged. It starts with numbers to import
/// and a little past call history; connecting again later brings back the same account.
#[utoipa::path(
    post,
    path = "/api/twilio/connect-sandbox",
    tag = "twilio",
    operation_id = "twilio_connect_sandbox",
    responses(
        (status = 200, description = "Connected.", body = TwilioConnectionView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, body = ErrorBody, description = "`conflict`: an account is connected \
            already."),
        (status = 502, response = Upstream),
    ),
)]
pub async fn connect_sandbox(
    State(state): State<AppState>,
    member: Allowed<ConnectTwilio>,
) -> Result<Json<TwilioConnectionView>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        twilio::connect_sandbox(&state.db, &state.twilio, state.sandbox.as_ref(), org).await?,
    ))
}

/// Forgets the organization's Twilio account.
#[utoipa::path(
    post,
    path = "/api/twilio/disconnect",
    tag = "twilio",
    operation_id = "twilio_disconnect",
    responses(
        (status = 200, description = "Disconnected.", body = TwilioConnectionView),
        (status = 400, description = "`bad_request`: no account is connected.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 502, response = Upstream),
    ),
)]
pub async fn disconnect(
    State(state): State<AppState>,
    member: Allowed<DisconnectTwilio>,
) -> Result<Json<TwilioConnectionView>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        twilio::disconnect(&state.db, &state.twilio, org).await?,
    ))
}

/// Gives the organization a subaccount of this server's platform Twilio account.
#[utoipa::path(
    post,
    path = "/api/twilio/subaccount",
    tag = "twilio",
    operation_id = "twilio_subaccount",
    responses(
        (status = 201, body = TwilioConnectionView, description = "The new subaccount is \
            connected."),
        (status = 400, body = ErrorBody, description = "`bad_request`: this server has no \
            platform account."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, body = ErrorBody, description = "`conflict`: an account is connected \
            already."),
        (status = 502, response = Upstream),
    ),
)]
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

/// The organization's numbers as the voice-webhook section shows them (seed 004).
#[utoipa::path(
    get,
    path = "/api/twilio/imported-numbers",
    tag = "twilio",
    operation_id = "twilio_imported_numbers",
    responses(
        (status = 200, body = Vec<PhoneNumberSummary>, description = "The numbers, with their \
            voice webhook state."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn imported_numbers(
    State(state): State<AppState>,
    member: Allowed<ListTwilio>,
) -> Result<Json<Vec<PhoneNumberSummary>>, ApiError> {
    let numbers = phone_numbers::list(&state.db, member.org_id()).await?;
    Ok(Json(numbers.into_iter().map(Into::into).collect()))
}

/// The numbers on the Twilio account that are not imported yet (read-only on Twilio).
#[utoipa::path(
    post,
    path = "/api/twilio/get-unsynced-numbers",
    tag = "twilio",
    operation_id = "twilio_unsynced_numbers",
    responses(
        (status = 200, description = "The numbers not imported yet.", body = Vec<UnsyncedNumber>),
        (status = 400, body = ErrorBody, description = "`bad_request`: no Twilio account is \
            connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 502, response = Upstream),
    ),
)]
pub async fn unsynced_numbers(
    State(state): State<AppState>,
    member: Allowed<ListTwilio>,
) -> Result<Json<Vec<UnsyncedNumber>>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    Ok(Json(
        phone_numbers::import::unsynced(&state.db, &state.twilio, &org).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SyncRequest {
    numbers: Vec<String>,
}

/// Imports the given numbers (E.164) from the Twilio account.
#[utoipa::path(
    post,
    path = "/api/twilio/sync-numbers",
    tag = "twilio",
    operation_id = "twilio_sync_numbers",
    request_body = SyncRequest,
    responses(
        (status = 200, description = "What the import did.", body = ImportResult),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON, no number \
            given or no account connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    area_code: String,
}

/// US local numbers for sale in an area code.
#[utoipa::path(
    post,
    path = "/api/twilio/search-available-numbers",
    tag = "twilio",
    operation_id = "twilio_search_available_numbers",
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Numbers for sale.", body = Vec<AvailableNumber>),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON, not a \
            3-digit area code or no account connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BuyRequest {
    phone_number: String,
}

/// Buys a number, with its voice webhook set to this server.
#[utoipa::path(
    post,
    path = "/api/twilio/buy-phone-number",
    tag = "twilio",
    operation_id = "twilio_buy_phone_number",
    request_body = BuyRequest,
    responses(
        (status = 201, body = PhoneView, description = "The bought number, its voice webhook \
            pointing here."),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON, not E.164 \
            or no account connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`conflict`: the number is in use here.", body = ErrorBody),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
pub async fn buy_phone_number(
    State(state): State<AppState>,
    member: Allowed<CreatePhone>,
    Json(req): Json<BuyRequest>,
) -> Result<(StatusCode, Json<PhoneView>), ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    let bought = phone_numbers::buy::buy(&state.db, &state.twilio, &org, &req.phone_number).await?;
    Ok((StatusCode::CREATED, Json(bought.into())))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PhoneNumberRequest {
    phone_number_id: Uuid,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConfigureVoiceResponse {
    previous_voice_url: Option<String>,
}

/// Points the number's voice webhook on Twilio at this server, keeping the URL it had.
#[utoipa::path(
    post,
    path = "/api/twilio/configure-phone-voice",
    tag = "twilio",
    operation_id = "twilio_configure_phone_voice",
    request_body = PhoneNumberRequest,
    responses(
        (status = 200, body = ConfigureVoiceResponse, description = "Configured; the URL it had \
            before."),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON, already \
            configured, not the organization's own account, or no account connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
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

/// Gives the number's voice webhook on Twilio back the URL it had before it was configured.
#[utoipa::path(
    post,
    path = "/api/twilio/restore-phone-voice",
    tag = "twilio",
    operation_id = "twilio_restore_phone_voice",
    request_body = PhoneNumberRequest,
    responses(
        (status = 204, description = "Restored."),
        (status = 400, body = ErrorBody, description = "`bad_request`: malformed JSON, not \
            configured here, or no account connected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
        (status = 502, response = Upstream),
    ),
)]
pub async fn restore_phone_voice(
    State(state): State<AppState>,
    member: Allowed<UpdateTwilioNumber>,
    Json(req): Json<PhoneNumberRequest>,
) -> Result<StatusCode, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    phone_numbers::voice::restore(&state.db, &state.twilio, &org, req.phone_number_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
