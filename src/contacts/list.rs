//! The organization's contacts, newest first, a page at a time, searched by name, e-mail,
//! company or number. Paging is by keyset on `(created_at, id)` (see [`crate::paging`]).

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::{ContactError, ContactView, views};
use crate::entity::{contact, contact_phone};
use crate::paging::{Cursor, DEFAULT_LIMIT};

/// The longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// What to list.
#[derive(Debug, Clone)]
pub struct ContactQuery {
    /// Text the name, e-mail or company contains (any case), or digits a number contains.
    pub search: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u64,
}

impl Default for ContactQuery {
    fn default() -> Self {
        Self {
            search: None,
            cursor: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// One page of contacts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactPage {
    pub items: Vec<ContactView>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// `text` as a `LIKE` pattern that matches it anywhere, its own `%`, `_` and `\` taken
/// literally.
fn contains(text: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

/// The search condition: the text in the name, e-mail or company, ignoring case; and, when the
/// text has digits and nothing but what phone numbers are written with (`+1 (555) 010-0200`),
/// those digits in one of the contact's numbers.
fn matching(org_id: Uuid, text: &str) -> Condition {
    let lower = text.to_lowercase();
    let mut any = Condition::any();
    for column in [
        contact::Column::Name,
        contact::Column::Email,
        contact::Column::Company,
    ] {
        any = any.add(Expr::expr(Func::lower(Expr::col(column))).like(contains(&lower)));
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let phone_like = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !digits.is_empty() && phone_like {
        any = any.add(
            contact::Column::Id.in_subquery(
                Query::select()
                    .column(contact_phone::Column::ContactId)
                    .from(contact_phone::Entity)
                    .and_where(contact_phone::Column::OrganizationId.eq(org_id))
                    .and_where(Expr::col(contact_phone::Column::Number).like(contains(&digits)))
                    .to_owned(),
            ),
        );
    }
    any
}

pub async fn list(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    query: &ContactQuery,
) -> Result<ContactPage, ContactError> {
    let mut select = contact::Entity::find().filter(contact::Column::OrganizationId.eq(org_id));
    if let Some(text) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(ContactError::InvalidQuery(format!(
                "q is too long: at most {MAX_SEARCH_CHARS} characters"
            )));
        }
        select = select.filter(matching(org_id, text));
    }
    if let Some(cursor) = &query.cursor {
        select = select.filter(cursor.before(contact::Column::CreatedAt, contact::Column::Id));
    }
    let rows = select
        .order_by_desc(contact::Column::CreatedAt)
        .order_by_desc(contact::Column::Id)
        .limit(query.limit + 1)
        .all(db)
        .await?;
    let (rows, next_cursor) = crate::paging::page_of(rows, query.limit, |c| (c.created_at, c.id));
    Ok(ContactPage {
        items: views(db, org_id, rows).await?,
        next_cursor,
    })
}
