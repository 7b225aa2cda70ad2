//! The organization's to-dos, newest first, a page at a time.
//!
//! Paging is by keyset on `(created_at, id)`: the cursor is the id of the last to-do of a page,
//! and the next page holds what was created before it. Unlike an offset, a to-do added or
//! reviewed meanwhile neither repeats nor skips a row of the pages that follow.

use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::{TodoError, TodoStatus, TodoView, views};
use crate::entity::todo;

/// The most to-dos one page holds.
pub const MAX_LIMIT: u64 = 200;
/// A page's size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 50;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct TodoQuery {
    /// Only to-dos in this state; all when `None`.
    pub status: Option<TodoStatus>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when `None`.
    pub limit: Option<u64>,
}

/// One page of to-dos.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TodoPage {
    pub items: Vec<TodoView>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

pub async fn list(
    db: &DatabaseConnection,
    org_id: Uuid,
    query: TodoQuery,
) -> Result<TodoPage, TodoError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(TodoError::InvalidLimit);
    }
    let mut select = todo::Entity::find().filter(todo::Column::OrganizationId.eq(org_id));
    if let Some(status) = query.status {
        select = select.filter(todo::Column::Status.eq(status.as_str()));
    }
    if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let id: Uuid = cursor.parse().map_err(|_| TodoError::InvalidCursor)?;
        // Another organization's id is as unknown as a made-up one.
        let last = todo::Entity::find_by_id(id)
            .filter(todo::Column::OrganizationId.eq(org_id))
            .one(db)
            .await?
            .ok_or(TodoError::InvalidCursor)?;
        select = select.filter(
            Condition::any()
                .add(todo::Column::CreatedAt.lt(last.created_at))
                .add(
                    Condition::all()
                        .add(todo::Column::CreatedAt.eq(last.created_at))
                        .add(todo::Column::Id.lt(last.id)),
                ),
        );
    }
    // One more than asked tells whether another page follows.
    let mut rows = select
        .order_by_desc(todo::Column::CreatedAt)
        .order_by_desc(todo::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(TodoPage {
        items: views(db, org_id, rows).await?,
        next_cursor,
    })
}
