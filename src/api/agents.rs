//! `/api/agents`: the organization's AI voice agents.

use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::agents::{self, AgentInput, AgentView};
use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
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

/// The organization's agents.
#[utoipa::path(
    get,
    path = "/api/agents",
    tag = "agents",
    operation_id = "agents_list",
    responses(
        (status = 200, description = "The agents by name.", body = Vec<AgentView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListAgents>,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let all = agents::list(&state.db, member.org_id()).await?;
    Ok(Json(all.into_iter().map(AgentView::from).collect()))
}

/// Creates an agent.
///
/// 201 with the agent; 422 with `error.fields` listing every bad field.
#[utoipa::path(
    post,
    path = "/api/agents",
    tag = "agents",
    operation_id = "agents_create",
    request_body = AgentInput,
    responses(
        (status = 201, description = "The new agent.", body = AgentView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    member: Allowed<CreateAgent>,
    Json(input): Json<AgentInput>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let agent =
        agents::save::create(&state.db, state.agent_rules(), member.org_id(), input).await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

/// One agent; its lookup token shows only as `config.lookup.has_token`.
#[utoipa::path(
    get,
    path = "/api/agents/{id}",
    tag = "agents",
    operation_id = "agents_read",
    params(("id" = Uuid, Path, description = "The agent's id.")),
    responses(
        (status = 200, description = "The agent.", body = AgentView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadAgent>,
    Path(id): Path<Uuid>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(
        agents::find(&state.db, member.org_id(), id).await?.into(),
    ))
}

/// Replaces an agent.
///
/// Replaces name, prompt and config; a lookup sent without `token` keeps the stored one.
#[utoipa::path(
    put,
    path = "/api/agents/{id}",
    tag = "agents",
    operation_id = "agents_update",
    params(("id" = Uuid, Path, description = "The agent's id.")),
    request_body = AgentInput,
    responses(
        (status = 200, description = "The agent as it now is.", body = AgentView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
    ),
)]
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

/// Deletes an agent.
///
/// Numbers the agent answered are left without an agent.
#[utoipa::path(
    delete,
    path = "/api/agents/{id}",
    tag = "agents",
    operation_id = "agents_delete",
    params(("id" = Uuid, Path, description = "The agent's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    member: Allowed<DeleteAgent>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    agents::delete::delete(&state.db, member.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
