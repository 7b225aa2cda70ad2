//! Keyset paging, newest first, on `(created_at, id)`.
//!
//! A page's `next_cursor` names its last row's `created_at` and `id`; the next page holds the rows
//! strictly before it in that order. Unlike an offset, rows added meanwhile (they are newer)
//! neither repeat nor skip a row of the pages that follow, and a deep page costs what the first
//! does (an index on `(organization_id, created_at)` serves it). The cursor carries the values
//! themselves rather than an id to look up, so it still works when its row is deleted.
//!
//! Cursors are opaque to clients: `{created_at as nanoseconds since 1970}.{id as 32 hex}`. A
//! forged one only moves the window within the caller's own organization (every query that uses
//! one is scoped to it).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, Value};
use uuid::Uuid;

/// The most rows one page holds.
pub const MAX_LIMIT: u64 = 200;
/// A page's size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 50;

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PagingError {
    #[error("the cursor is not one this list gave out")]
    InvalidCursor,
    #[error("limit must be a whole number from 1 to {MAX_LIMIT}")]
    InvalidLimit,
}

impl Cursor {
    /// The cursor after `created_at`, `id`: the last row of a page.
    pub fn after(created_at: DateTime<Utc>, id: Uuid) -> Self {
        Self { created_at, id }
    }

    /// Rows strictly before the cursor in `(created_at DESC, id DESC)` order.
    ///
    /// The leading `created_at <= cursor` adds no row and takes none away: it is the bound an
    /// index on `(…, created_at)` can seek to. Without it neither database starts the scan at
    /// the cursor (the `OR` hides the range), and a page 10,000 rows deep first reads and drops
    /// the 10,000 rows above it (see docs/PERFORMANCE.md, "Calls list").
    pub fn before<C: ColumnTrait>(&self, created_at: C, id: C) -> Condition {
        self.before_columns(
            Expr::col(created_at.as_column_ref()),
            Expr::col(id.as_column_ref()),
        )
    }

    /// [`Self::before`] on any two expressions, such as another table's copy of the columns.
    pub fn before_columns(&self, created_at: Expr, id: Expr) -> Condition {
        Condition::all()
            .add(created_at.clone().lte(Value::from(self.created_at)))
            .add(
                Condition::any()
                    .add(created_at.clone().lt(Value::from(self.created_at)))
                    .add(
                        Condition::all()
                            .add(created_at.eq(Value::from(self.created_at)))
                            .add(id.lt(self.id)),
                    ),
            )
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Nanoseconds since 1970 fit an i64 until the year 2262.
        let nanos = self.created_at.timestamp_nanos_opt().unwrap_or(i64::MAX);
        write!(f, "{nanos}.{}", self.id.simple())
    }
}

impl FromStr for Cursor {
    type Err = PagingError;

    fn from_str(s: &str) -> Result<Self, PagingError> {
        let (nanos, id) = s.split_once('.').ok_or(PagingError::InvalidCursor)?;
        let nanos: i64 = nanos.parse().map_err(|_| PagingError::InvalidCursor)?;
        if id.len() != 32 {
            return Err(PagingError::InvalidCursor);
        }
        let id = Uuid::try_parse(id).map_err(|_| PagingError::InvalidCursor)?;
        Ok(Self {
            created_at: DateTime::from_timestamp_nanos(nanos),
            id,
        })
    }
}

/// A page size from a query string: [`DEFAULT_LIMIT`] when absent or empty.
/// A page from `rows`, read with `limit + 1` (one more than asked tells whether another page
/// follows): the first `limit` rows, and the cursor after the last of them when more follow.
pub fn page_of<T>(
    mut rows: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = more
        .then(|| {
            rows.last().map(|r| {
                let (created_at, id) = key(r);
                Cursor::after(created_at, id).to_string()
            })
        })
        .flatten();
    (rows, next)
}

pub fn parse_limit(value: Option<&str>) -> Result<u64, PagingError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or(PagingError::InvalidLimit),
    }
}

/// A cursor from a query string: none when absent or empty.
pub fn parse_cursor(value: Option<&str>) -> Result<Option<Cursor>, PagingError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::parse)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_to_the_nanosecond() {
        let at = DateTime::from_timestamp_nanos(1_765_000_000_123_456_789);
        let cursor = Cursor::after(at, Uuid::now_v7());
        assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
        for bad in ["", "abc", "12.xyz", "12", ".0190", "1.0190ab"] {
            assert_eq!(
                bad.parse::<Cursor>(),
                Err(PagingError::InvalidCursor),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("")), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("200")), Ok(200));
        for bad in ["0", "201", "-1", "ten", "1.5"] {
            assert_eq!(
                parse_limit(Some(bad)),
                Err(PagingError::InvalidLimit),
                "{bad}"
            );
        }
    }
}
