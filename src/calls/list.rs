//! The organization's calls, newest first, a page at a time, filtered and searched.
//!
//! Paging is by keyset on `(created_at, id)` (see [`crate::paging`]): calls that arrive while a
//! member pages are newer than every cursor, so they show on a fresh first page and never shift
//! the pages that follow.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use loquent_twilio::calls::CallStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::CallLookupError;
use super::search::{self, SearchTerms};
use crate::entity::{call, call_analysis, contact, phone_number};
use crate::paging::{Cursor, DEFAULT_LIMIT};

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

impl FromStr for Direction {
    type Err = CallLookupError;

    fn from_str(s: &str) -> Result<Self, CallLookupError> {
        match s {
            "inbound" => Ok(Self::Inbound),
            "outbound" => Ok(Self::Outbound),
            _ => Err(CallLookupError::InvalidQuery(format!(
                "direction `{s}` is not one of inbound, outbound"
            ))),
        }
    }
}

/// A call status filter: one of Twilio's documented statuses.
pub fn parse_status(s: &str) -> Result<CallStatus, CallLookupError> {
    CallStatus::KNOWN
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| {
            let known: Vec<&str> = CallStatus::KNOWN.iter().map(|s| s.as_str()).collect();
            CallLookupError::InvalidQuery(format!(
                "status `{s}` is not one of {}",
                known.join(", ")
            ))
        })
}

/// Which end of a date range a bound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `from`: inclusive; a date means its first instant (00:00 UTC).
    From,
    /// `to`: exclusive; a date means the whole day is included (up to the next day's 00:00 UTC).
    To,
}

/// A date range bound: an RFC 3339 timestamp (`2026-12-06T18:00:00Z`) or a date (`2026-12-06`,
/// a day in UTC).
pub fn parse_bound(
    name: &str,
    value: &str,
    bound: Bound,
) -> Result<DateTime<Utc>, CallLookupError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        CallLookupError::InvalidQuery(format!(
            "{name} `{value}` is neither a date (2026-12-06) nor an RFC 3339 time \
             (2026-12-06T18:00:00Z)"
        ))
    })?;
    let day = match bound {
        Bound::From => day,
        Bound::To => day.succ_opt().ok_or_else(|| {
            CallLookupError::InvalidQuery(format!("{name} `{value}` is out of range"))
        })?,
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// What to list. Every filter is optional; together they all apply.
#[derive(Debug, Clone)]
pub struct CallQuery {
    pub phone_number_id: Option<Uuid>,
    pub direction: Option<Direction>,
    pub status: Option<CallStatus>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    pub contact_id: Option<Uuid>,
    pub has_recording: Option<bool>,
    /// Words the transcript must hold (see [`search`]).
    pub search: Option<SearchTerms>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<Cursor>,
    /// 1 to [`crate::paging::MAX_LIMIT`].
    pub limit: u64,
}

impl Default for CallQuery {
    fn default() -> Self {
        Self {
            phone_number_id: None,
            direction: None,
            status: None,
            from: None,
            to: None,
            contact_id: None,
            has_recording: None,
            search: None,
            cursor: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A call's contact, as lists show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CallContact {
    pub id: Uuid,
    pub name: Option<String>,
}

/// The organization's number a call came in on (or went out from).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CallNumber {
    pub id: Uuid,
    /// E.164.
    pub number: String,
}

/// One call in a list: seed 003's `Call` and what a list shows beside it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallItem {
    pub id: Uuid,
    /// `"{from} -> {to}"`: the caller's number, then the callee's, as Twilio reports them (for
    /// an inbound call the contact's number comes first, for an outbound call ours does), the
    /// same whether the call was live, synced from history or made by a Twilio event.
    pub from_to_number: String,
    pub from_number: String,
    pub to_number: String,
    pub call_sid: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Twilio's status: `ringing`, `in-progress`, `completed`, `no-answer`, ...
    pub status: String,
    /// `phone` (answered by an agent) or `imported` (known from Twilio: history sync, Event
    /// Streams); `null` for calls stored before Loquent kept it.
    pub source: Option<String>,
    pub duration_secs: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The recording is stored here (`GET /api/calls/{id}/recording` serves it).
    pub has_recording: bool,
    /// At least one analyzer run is stored for the call.
    pub has_analysis: bool,
    pub contact: Option<CallContact>,
    pub phone_number: Option<CallNumber>,
}

/// One page of calls.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallPage {
    pub items: Vec<CallItem>,
    /// Where the next page starts (the `cursor` of the next request); `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The page of the organization's calls that `query` asks for.
pub async fn list(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    query: &CallQuery,
) -> Result<CallPage, CallLookupError> {
    // A search brings its own scope, matching and paging columns (see `search::Reading`); a
    // plain list pages on the call's own.
    let (mut select, created_at, id) = match &query.search {
        Some(terms) => {
            let reading = search::plan(db, terms).await?;
            search::calls(db.get_database_backend(), org_id, terms, reading)
        }
        None => (
            call::Entity::find().filter(call::Column::OrganizationId.eq(org_id)),
            Expr::col((call::Entity, call::Column::CreatedAt)),
            Expr::col((call::Entity, call::Column::Id)),
        ),
    };
    if let Some(id) = query.phone_number_id {
        select = select.filter(call::Column::PhoneNumberId.eq(id));
    }
    if let Some(direction) = query.direction {
        select = select.filter(call::Column::Direction.eq(direction.as_str()));
    }
    if let Some(status) = query.status {
        select = select.filter(call::Column::Status.eq(status.as_str()));
    }
    if let Some(from) = query.from {
        select = select.filter(call::Column::CreatedAt.gte(from));
    }
    if let Some(to) = query.to {
        select = select.filter(call::Column::CreatedAt.lt(to));
    }
    if let Some(id) = query.contact_id {
        select = select.filter(call::Column::ContactId.eq(id));
    }
    match query.has_recording {
        Some(true) => select = select.filter(call::Column::RecordingUrl.is_not_null()),
        Some(false) => select = select.filter(call::Column::RecordingUrl.is_null()),
        None => {}
    }
    if let Some(cursor) = &query.cursor {
        select = select.filter(cursor.before_columns(created_at.clone(), id.clone()));
    }
    let rows = select
        .order_by_desc(created_at)
        .order_by_desc(id)
        .limit(query.limit + 1)
        .all(db)
        .await?;
    let (rows, next_cursor) = crate::paging::page_of(rows, query.limit, |c| (c.created_at, c.id));
    Ok(CallPage {
        items: items(db, org_id, rows).await?,
        next_cursor,
    })
}

/// `rows` as list items, their contacts, numbers and analyses read in one query each, scoped to
/// `org_id`.
pub(crate) async fn items(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    rows: Vec<call::Model>,
) -> Result<Vec<CallItem>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let contact_ids: HashSet<Uuid> = rows.iter().filter_map(|c| c.contact_id).collect();
    let contacts: HashMap<Uuid, Option<String>> = if contact_ids.is_empty() {
        HashMap::new()
    } else {
        // Read by primary key, the organization checked on the rows read: with both in the
        // query SQLite, which keeps no statistics, walked every contact of the organization
        // through `idx_contact_org_last_contacted` to find the page's few (about 10 ms a page at
        // 20,000 contacts; docs/PERFORMANCE.md, "Calls list").
        contact::Entity::find()
            .select_only()
            .column(contact::Column::Id)
            .column(contact::Column::OrganizationId)
            .column(contact::Column::Name)
            .filter(contact::Column::Id.is_in(contact_ids))
            .into_tuple::<(Uuid, Uuid, Option<String>)>()
            .all(db)
            .await?
            .into_iter()
            .filter(|(_, org, _)| *org == org_id)
            .map(|(id, _, name)| (id, name))
            .collect()
    };
    let number_ids: HashSet<Uuid> = rows.iter().filter_map(|c| c.phone_number_id).collect();
    let numbers: HashMap<Uuid, String> = if number_ids.is_empty() {
        HashMap::new()
    } else {
        phone_number::Entity::find()
            .select_only()
            .column(phone_number::Column::Id)
            .column(phone_number::Column::Number)
            .filter(phone_number::Column::OrganizationId.eq(org_id))
            .filter(phone_number::Column::Id.is_in(number_ids))
            .into_tuple::<(Uuid, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let analysed: HashSet<Uuid> = call_analysis::Entity::find()
        .select_only()
        .column(call_analysis::Column::CallId)
        .distinct()
        .filter(call_analysis::Column::OrganizationId.eq(org_id))
        .filter(call_analysis::Column::CallId.is_in(rows.iter().map(|c| c.id)))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|c| CallItem {
            from_to_number: from_to_number(&c.from_number, &c.to_number),
            has_recording: c.recording_url.is_some(),
            has_analysis: analysed.contains(&c.id),
            contact: c.contact_id.and_then(|id| {
                contacts.get(&id).map(|name| CallContact {
                    id,
                    name: name.clone(),
                })
            }),
            phone_number: c.phone_number_id.and_then(|id| {
                numbers.get(&id).map(|number| CallNumber {
                    id,
                    number: number.clone(),
                })
            }),
            id: c.id,
            from_number: c.from_number,
            to_number: c.to_number,
            call_sid: c.call_sid,
            direction: c.direction,
            status: c.status,
            source: c.source,
            duration_secs: c.duration_secs,
            started_at: c.started_at,
            created_at: c.created_at,
        })
        .collect())
}

/// Seed 003's `from_to_number`: `"{caller} -> {callee}"`.
pub fn from_to_number(from: &str, to: &str) -> String {
    format!("{from} -> {to}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bounds_take_days_and_times() {
        let from = parse_bound("from", "2026-12-06", Bound::From).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-12-06T00:00:00+00:00");
        let to = parse_bound("to", "2026-12-06", Bound::To).unwrap();
        assert_eq!(to.to_rfc3339(), "2026-12-07T00:00:00+00:00");
        let at = parse_bound("to", "2026-12-06T18:30:00+01:00", Bound::To).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-06T17:30:00+00:00");
        let err = parse_bound("from", "yesterday", Bound::From).unwrap_err();
        assert!(
            err.to_string().starts_with("from `yesterday` is neither"),
            "{err}"
        );
    }

    #[test]
    fn filters_parse_or_say_what_is_allowed() {
        assert_eq!("inbound".parse::<Direction>().unwrap(), Direction::Inbound);
        assert!("sideways".parse::<Direction>().is_err());
        assert_eq!(parse_status("no-answer").unwrap(), CallStatus::NoAnswer);
        let err = parse_status("done").unwrap_err().to_string();
        assert!(
            err.contains("queued, ringing, in-progress, completed"),
            "{err}"
        );
        assert_eq!(from_to_number("+1555", "+1666"), "+1555 -> +1666");
    }
}
