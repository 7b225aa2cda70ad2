//! A person's verdict on an extracted to-do.
//!
//! Both verdicts are idempotent and can be changed: approving an approved to-do changes
//! nothing, a dismissed one can be approved after all (a mis-click is not final), and an
//! approved one can still be dismissed (it turned out not to matter). What a person cannot do
//! is send a to-do back to `pending_review`: that state means "nobody has looked at it".

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{TodoError, TodoStatus, TodoView, views};
use crate::entity::todo;

/// Marks the organization's to-do `id` approved; another organization's is [`TodoError::NotFound`].
pub async fn approve(
    db: &DatabaseConnection,
    org_id: Uuid,
    id: Uuid,
) -> Result<TodoView, TodoError> {
    set_status(db, org_id, id, TodoStatus::Approved).await
}

/// Marks the organization's to-do `id` dismissed; another organization's is [`TodoError::NotFound`].
pub async fn dismiss(
    db: &DatabaseConnection,
    org_id: Uuid,
    id: Uuid,
) -> Result<TodoView, TodoError> {
    set_status(db, org_id, id, TodoStatus::Dismissed).await
}

async fn set_status(
    db: &DatabaseConnection,
    org_id: Uuid,
    id: Uuid,
    status: TodoStatus,
) -> Result<TodoView, TodoError> {
    todo::Entity::update_many()
        .col_expr(todo::Column::Status, Expr::value(status.as_str()))
        .col_expr(todo::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(todo::Column::OrganizationId.eq(org_id))
        .filter(todo::Column::Id.eq(id))
        .exec(db)
        .await?;
    // Read back rather than trust `rows_affected`: the row is what the caller is answered.
    let row = todo::Entity::find_by_id(id)
        .filter(todo::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(TodoError::NotFound)?;
    Ok(views(db, org_id, vec![row]).await?.remove(0))
}
