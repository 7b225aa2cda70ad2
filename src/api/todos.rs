//! `/api/todos`: the organization's to-dos and their review.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json, Path};
use crate::todos::list::{TodoPage, TodoQuery};
use crate::todos::{self, TodoView};

permissions! {
    ListTodos = "Todo:Collection:List",
    UpdateTodo = "Todo:Instance:Update",
}

/// The query of `GET /api/todos`; every field optional.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// `pending_review`, `approved` or `dismissed`; all when absent.
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 200; 50 when absent.
    limit: Option<String>,
}

/// Newest first; `next_cursor` is `null` on the last page.
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

/// The to-do, approved (also from dismissed; approving twice changes nothing).
pub async fn approve(
    State(state): State<AppState>,
    member: Allowed<UpdateTodo>,
    Path(id): Path<Uuid>,
) -> Result<Json<TodoView>, ApiError> {
    Ok(Json(
        todos::review::approve(&state.db, member.org_id(), id).await?,
    ))
}

/// The to-do, dismissed (also from approved; dismissing twice changes nothing).
pub async fn dismiss(
    State(state): State<AppState>,
    member: Allowed<UpdateTodo>,
    Path(id): Path<Uuid>,
) -> Result<Json<TodoView>, ApiError> {
    Ok(Json(
        todos::review::dismiss(&state.db, member.org_id(), id).await?,
    ))
}
