//! `/api/phones`: the organization's numbers, their names and agents.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};
use crate::phone_numbers::{self, PhoneView};

permissions! {
    ListPhones = "Phone:Collection:List",
    ReadPhone = "Phone:Instance:Read",
    UpdatePhone = "Phone:Instance:Update",
    PlaceCall = "Call:Collection:Create",
}

/// The organization's numbers.
#[utoipa::path(
    get,
    path = "/api/phones",
    tag = "phones",
    operation_id = "phones_list",
    responses(
        (status = 200, description = "The numbers.", body = Vec<PhoneView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListPhones>,
) -> Result<Json<Vec<PhoneView>>, ApiError> {
    let numbers = phone_numbers::list(&state.db, member.org_id()).await?;
    Ok(Json(numbers.into_iter().map(Into::into).collect()))
}

/// One number.
#[utoipa::path(
    get,
    path = "/api/phones/{id}",
    tag = "phones",
    operation_id = "phones_read",
    params(("id" = Uuid, Path, description = "The number's id.")),
    responses(
        (status = 200, description = "The number.", body = PhoneView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadPhone>,
    Path(id): Path<Uuid>,
) -> Result<Json<PhoneView>, ApiError> {
    Ok(Json(
        phone_numbers::find(&state.db, member.org_id(), id)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdatePhoneRequest {
    friendly_name: Option<String>,
    /// Absent: unchanged; `null`: no agent; an id: that agent.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    agent_id: Option<Option<Uuid>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

/// Renames the number and/or gives it an agent; what is absent stays.
#[utoipa::path(
    put,
    path = "/api/phones/{id}",
    tag = "phones",
    operation_id = "phones_update",
    params(("id" = Uuid, Path, description = "The number's id.")),
    request_body = UpdatePhoneRequest,
    responses(
        (status = 200, description = "The number as it now is.", body = PhoneView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdatePhone>,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdatePhoneRequest>,
) -> Result<Json<PhoneView>, ApiError> {
    let updated = phone_numbers::assign::update(
        &state.db,
        member.org_id(),
        id,
        req.friendly_name.as_deref(),
        req.agent_id,
    )
    .await?;
    Ok(Json(updated.into()))
}

/// Leaves the number without an agent.
#[utoipa::path(
    delete,
    path = "/api/phones/{id}/agent",
    tag = "phones",
    operation_id = "phones_remove_agent",
    params(("id" = Uuid, Path, description = "The number's id.")),
    responses(
        (status = 204, description = "The number has no agent."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn remove_agent(
    State(state): State<AppState>,
    member: Allowed<UpdatePhone>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    phone_numbers::assign::update(&state.db, member.org_id(), id, None, Some(None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct TestCallRequest {
    /// The scripted caller's steps, as the sandbox's call simulator takes them (`{"say":
    /// "hello", "ms": 900}`, `{"wait_for_reply": 8000}`, `"hangup"`, …); a short conversation
    /// without it.
    #[schema(value_type = Option<Vec<Object>>)]
    script: Option<serde_json::Value>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TestCallPlaced {
    /// The call's Twilio SID: it shows in the calls list as soon as it rings.
    call_sid: String,
}

/// Rings one of the organization's sandbox numbers with a scripted caller.
///
/// Only when this server serves the built-in sandbox, for numbers of the organization's
/// sandbox account. The call reaches the number's voice URL as a Twilio call would, and goes
/// through everything a real one does: the agent, then the recording, transcript, analyses,
/// to-dos and report.
#[utoipa::path(
    post,
    path = "/api/phones/{id}/test-call",
    tag = "phones",
    operation_id = "phones_test_call",
    params(("id" = Uuid, Path, description = "The number's id.")),
    request_body(content = TestCallRequest, description = "Optional.", content_type = "application/json"),
    responses(
        (status = 202, description = "Ringing.", body = TestCallPlaced),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn test_call(
    State(state): State<AppState>,
    member: Allowed<PlaceCall>,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<TestCallPlaced>), ApiError> {
    // The body is optional: none, or a JSON object.
    let request: TestCallRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TestCallRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a test call: {e}")))?
    };
    let sandbox = state
        .sandbox
        .as_ref()
        .ok_or(ApiError::NotFound("API route"))?;
    let org = crate::orgs::twilio::reload(&state.db, member.org_id()).await?;
    let script = request.script;
    let call_sid = phone_numbers::test_call::place(&state.db, sandbox, &org, id, script).await?;
    tracing::info!(org_id = %org.id, %call_sid, "test call placed");
    Ok((StatusCode::ACCEPTED, Json(TestCallPlaced { call_sid })))
}
