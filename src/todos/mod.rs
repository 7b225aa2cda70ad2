//! Follow-up tasks taken from calls: extracted from a transcript as `pending_review`
//! ([`extract`]), then approved or dismissed by a person ([`review`]), listed newest first
//! ([`list`]).

pub mod extract;
pub mod list;
pub mod review;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{contact, todo};

/// Where a to-do stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TodoStatus {
    /// Extracted from a call; nobody has looked at it yet.
    PendingReview,
    /// A person kept it.
    Approved,
    /// A person threw it away.
    Dismissed,
}

impl TodoStatus {
    pub const ALL: [Self; 3] = [Self::PendingReview, Self::Approved, Self::Dismissed];

    /// The value stored in `todo.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingReview => "pending_review",
            Self::Approved => "approved",
            Self::Dismissed => "dismissed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PendingReview => "Pending review",
            Self::Approved => "Approved",
            Self::Dismissed => "Dismissed",
        }
    }
}

impl std::str::FromStr for TodoStatus {
    type Err = TodoError;

    fn from_str(s: &str) -> Result<Self, TodoError> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| TodoError::InvalidStatus(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TodoError {
    /// No such to-do in the caller's organization.
    #[error("to-do not found")]
    NotFound,
    #[error("`{0}` is not a to-do status: use pending_review, approved or dismissed")]
    InvalidStatus(String),
    #[error("the cursor is not one this list gave out")]
    InvalidCursor,
    #[error("limit must be between 1 and {max}", max = list::MAX_LIMIT)]
    InvalidLimit,
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// A to-do as the API answers it and the page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TodoView {
    pub id: Uuid,
    pub title: String,
    pub details: Option<String>,
    pub status: String,
    pub due_at: Option<DateTime<Utc>>,
    pub call_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub contact_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `rows` with their contacts' names, read in one query scoped to `org_id`.
pub(crate) async fn views(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    rows: Vec<todo::Model>,
) -> Result<Vec<TodoView>, DbErr> {
    let ids: Vec<Uuid> = rows.iter().filter_map(|t| t.contact_id).collect();
    let names: std::collections::HashMap<Uuid, Option<String>> = if ids.is_empty() {
        std::collections::HashMap::new()
    } else {
        contact::Entity::find()
            .filter(contact::Column::OrganizationId.eq(org_id))
            .filter(contact::Column::Id.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|t| TodoView {
            contact_name: t.contact_id.and_then(|c| names.get(&c).cloned().flatten()),
            id: t.id,
            title: t.title,
            details: t.details,
            status: t.status,
            due_at: t.due_at,
            call_id: t.call_id,
            contact_id: t.contact_id,
            created_at: t.created_at,
        })
        .collect())
}
