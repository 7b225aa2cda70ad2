//! `/api/todos`: the organization's to-dos and their review.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, ErrorBody, Json, Path};
use crate::todos::list::{TodoPage, TodoQuery};
use crate::todos::{self, TodoView};

permissions! {
    ListTodos = "Todo:Collection:List",
    UpdateTodo = "Todo:Instance:Update",
}

/// The query of `GET /api/todos`; every field optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `pending_review`, `approved` or `dismissed`; all when absent.
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 200; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// The organization's to-dos, a page at a time.
///
/// Newest first; `next_cursor` is `null` on the last page.
#[utoipa::path(
    get,
    path = "/api/todos",
    tag = "todos",
    operation_id = "todos_list",
    params(ListParams),
    responses(
        (status = 200, description = "A page of to-dos.", body = TodoPage),
        (status = 400, body = ErrorBody, description = "`bad_request`: an unknown status, or a \
            cursor or limit that cannot be used."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListTodos>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TodoPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = params
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .transpose()?;
    let limit = params
        .limit
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<u64>().map_err(|_| todos::TodoError::InvalidLimit))
        .transpose()?;
    let query = TodoQuery {
        status,
        cursor: params.cursor,
        limit,
    };
    Ok(Json(
        todos::list::list(&state.db, member.org_id(), query).await?,
    ))
}

/// Approves a to-do.
///
/// The to-do, approved (also from dismissed; approving twice changes nothing).
#[utoipa::path(
    post,
    path = "/api/todos/{id}/approve",
    tag = "todos",
    operation_id = "todos_approve",
    params(("id" = Uuid, Path, description = "The to-do's id.")),
    responses(
        (status = 200, description = "The to-do, approved.", body = TodoView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn approve(
    State(state): State<AppState>,
    member: Allowed<UpdateTodo>,
    Path(id): Path<Uuid>,
) -> Result<Json<TodoView>, ApiError> {
    Ok(Json(
        todos::review::approve(&state.db, member.org_id(), id).await?,
    ))
}

/// Dismisses a to-do.
///
/// The to-do, dismissed (also from approved; dismissing twice changes nothing).
#[utoipa::path(
    post,
    path = "/api/todos/{id}/dismiss",
    tag = "todos",
    operation_id = "todos_dismiss",
    params(("id" = Uuid, Path, description = "The to-do's id.")),
    responses(
        (status = 200, description = "The to-do, dismissed.", body = TodoView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn dismiss(
    State(state): State<AppState>,
    member: Allowed<UpdateTodo>,
    Path(id): Path<Uuid>,
) -> Result<Json<TodoView>, ApiError> {
    Ok(Json(
        todos::review::dismiss(&state.db, member.org_id(), id).await?,
    ))
}
