//! `/api/agents`: the organization's AI voice agents.

use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::agents::{self, AgentInput, AgentView};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};

permissions! {
    ListAgents = "Agent:Collection:List",
    CreateAgent = "Agent:Collection:Create",
    ReadAgent = "Agent:Instance:Read",
    UpdateAgent = "Agent:Instance:Update",
    DeleteAgent = "Agent:Instance:Delete",
}

pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListAgents>,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let all = agents::list(&state.db, member.org_id()).await?;
    Ok(Json(all.into_iter().map(AgentView::from).collect()))
}

/// 201 with the agent; 422 with `error.fields` listing every bad field.
pub async fn create(
    State(state): State<AppState>,
    member: Allowed<CreateAgent>,
    Json(input): Json<AgentInput>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let agent =
        agents::save::create(&state.db, state.agent_rules(), member.org_id(), input).await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadAgent>,
    Path(id): Path<Uuid>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(
        agents::find(&state.db, member.org_id(), id).await?.into(),
    ))
}

/// Replaces name, prompt and config; a lookup sent without `token` keeps the stored one.
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateAgent>,
    Path(id): Path<Uuid>,
    Json(input): Json<AgentInput>,
) -> Result<Json<AgentView>, ApiError> {
    let agent =
        agents::save::update(&state.db, state.agent_rules(), member.org_id(), id, input).await?;
    Ok(Json(agent.into()))
}

/// Numbers the agent answered are left without an agent.
pub async fn delete(
    State(state): State<AppState>,
    member: Allowed<DeleteAgent>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    agents::delete::delete(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
