//! The to-do page: the organization's to-dos by review state (pending review, approved,
//! dismissed), newest first a page at a time, with Approve and Dismiss buttons for members who
//! may update to-dos. The rules are `todos::review`'s; this page only shows and posts them.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::error::Path;
use crate::todos::list::TodoQuery;
use crate::todos::{self, TodoStatus, TodoView};

/// To-dos per page.
const PAGE_ROWS: u64 = 50;

#[derive(Template)]
#[template(path = "todos.html")]
struct TodosPage {
    chrome: Chrome,
    /// Every state, each a tab: (value, label, is the one shown).
    tabs: Vec<(&'static str, &'static str, bool)>,
    status: &'static str,
    rows: Vec<Row>,
    /// The link to the next (older) page, if there is one.
    older: Option<String>,
    /// Whether this is a later page (then "Newest" leads back to the first).
    paged: bool,
    can_review: bool,
}

struct Row {
    todo: TodoView,
    due: String,
    created: String,
}

impl Row {
    fn can_approve(&self) -> bool {
        self.todo.status != TodoStatus::Approved.as_str()
    }

    fn can_dismiss(&self) -> bool {
        self.todo.status != TodoStatus::Dismissed.as_str()
    }
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    status: Option<String>,
    cursor: Option<String>,
}

/// The state a tab or a post names; an unknown one is pending review.
fn status_of(raw: Option<&str>) -> TodoStatus {
    raw.and_then(|s| s.parse().ok())
        .unwrap_or(TodoStatus::PendingReview)
}

pub async fn page(
    State(state): State<AppState>,
    page: PageMember,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    page.member.require("Todo:Collection:List")?;
    let status = status_of(params.status.as_deref());
    let cursor = params.cursor.filter(|c| !c.is_empty());
    let paged = cursor.is_some();
    let found = todos::list::list(
        &state.db,
        page.member.org_id(),
        TodoQuery {
            status: Some(status),
            cursor,
            limit: Some(PAGE_ROWS),
        },
    )
    .await?;
    let rows = found
        .items
        .into_iter()
        .map(|todo| Row {
            due: todo.due_at.as_ref().map(when).unwrap_or_default(),
            created: when(&todo.created_at),
            todo,
        })
        .collect();
    Ok(render(&TodosPage {
        chrome: page.chrome("todos"),
        tabs: TodoStatus::ALL
            .into_iter()
            .map(|s| (s.as_str(), s.label(), s == status))
            .collect(),
        status: status.as_str(),
        rows,
        older: found
            .next_cursor
            .map(|c| format!("/todos?status={}&cursor={c}", status.as_str())),
        paged,
        can_review: page.member.can("Todo:Instance:Update"),
    }))
}

/// The form of the review buttons: the tab to return to, or the call page they were pressed on.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    back: Option<String>,
    /// Set by the call page: return there. An id, so the redirect stays on this site.
    #[serde(default)]
    call: Option<Uuid>,
}

fn back_to(form: &ReviewForm) -> Response {
    if let Some(call) = form.call {
        return Redirect::to(&format!("/calls/{call}#todos")).into_response();
    }
    let status = status_of(form.back.as_deref());
    Redirect::to(&format!("/todos?status={}", status.as_str())).into_response()
}

pub async fn approve(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReviewForm>,
) -> Result<Response, PageError> {
    page.member.require("Todo:Instance:Update")?;
    todos::review::approve(&state.db, page.member.org_id(), id).await?;
    Ok(back_to(&form))
}

pub async fn dismiss(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReviewForm>,
) -> Result<Response, PageError> {
    page.member.require("Todo:Instance:Update")?;
    todos::review::dismiss(&state.db, page.member.org_id(), id).await?;
    Ok(back_to(&form))
}
