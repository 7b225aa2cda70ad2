//! `/api/phones`: the organization's numbers, their names and agents.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};
use crate::phone_numbers::{self, PhoneView};

permissions! {
    ListPhones = "Phone:Collection:List",
    ReadPhone = "Phone:Instance:Read",
    UpdatePhone = "Phone:Instance:Update",
}

pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListPhones>,
) -> Result<Json<Vec<PhoneView>>, ApiError> {
    let numbers = phone_numbers::list(&state.db, member.org_id()).await?;
    Ok(Json(numbers.into_iter().map(Into::into).collect()))
}

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

#[derive(Deserialize)]
pub struct UpdatePhoneRequest {
    friendly_name: Option<String>,
    /// Absent: unchanged; `null`: no agent; an id: that agent.
    #[serde(default, deserialize_with = "present")]
    agent_id: Option<Option<Uuid>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

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

pub async fn remove_agent(
    State(state): State<AppState>,
    member: Allowed<UpdatePhone>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    phone_numbers::assign::update(&state.db, member.org_id(), id, None, Some(None)).await?;
    Ok(StatusCode::NO_CONTENT)
}
