//! The calls pages: the filtered, searchable list (`/calls`) and one call in full
//! (`/calls/{id}`). Both read through the same domain functions as `/api/calls`
//! ([`calls::list::list`], [`calls::details::read`]), so a page shows what the API answers.
//! Reading works without JavaScript; `static/app.js` adds playback (one recording at a time per
//! view), transcript seeking and live updates over `/api/realtime`.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use loquent_twilio::calls::CallStatus;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::settings::NoFields;
use super::{Chrome, PageError, PageMember, render};
use crate::api::calls::ListParams;
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::calls::details::{self, AnalysisGroup, PipelineStep};
use crate::calls::list::{self, CallItem};
use crate::calls::rerun;
use crate::calls::transcript::Segment;
use crate::contacts::ContactView;
use crate::entity::phone_number;
use crate::error::Path;
use crate::orgs::getting_started;
use crate::todos::TodoView;

/// Calls per page.
const PAGE_ROWS: u64 = 50;

pub(crate) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(crate) fn duration(secs: Option<i32>) -> String {
    match secs {
        Some(s) if s >= 0 => format!("{}:{:02}", s / 60, s % 60),
        _ => "—".into(),
    }
}

/// A transcript time as `m:ss`.
fn clock(secs: f64) -> String {
    let whole = secs.max(0.0).floor() as u64;
    format!("{}:{:02}", whole / 60, whole % 60)
}

/// One call as a row of the list (and the head of its own page).
pub(crate) struct CallRow {
    pub call: CallItem,
    pub when: String,
    pub duration: String,
}

impl CallRow {
    pub(crate) fn new(call: CallItem) -> Self {
        Self {
            when: when(call.started_at.as_ref().unwrap_or(&call.created_at)),
            duration: duration(call.duration_secs),
            call,
        }
    }

    /// "Inbound" or "Outbound", as a heading starts.
    pub(crate) fn direction_label(&self) -> &'static str {
        if self.call.direction == "outbound" {
            "Outbound"
        } else {
            "Inbound"
        }
    }

    /// The other party's number: the caller of an inbound call, the callee of an outbound one.
    pub(crate) fn their_number(&self) -> &str {
        if self.call.direction == "outbound" {
            &self.call.to_number
        } else {
            &self.call.from_number
        }
    }

    pub(crate) fn contact_name(&self) -> Option<String> {
        self.call.contact.as_ref().map(|c| {
            c.name
                .clone()
                .unwrap_or_else(|| self.their_number().to_owned())
        })
    }

    pub(crate) fn contact_href(&self) -> Option<String> {
        self.call
            .contact
            .as_ref()
            .map(|c| format!("/contacts/{}", c.id))
    }
}

#[derive(Template)]
#[template(path = "calls.html")]
struct CallsPage {
    chrome: Chrome,
    filters: ListParams,
    /// The organization's numbers for the number filter: (id, number, chosen).
    numbers: Vec<(Uuid, String, bool)>,
    statuses: Vec<(&'static str, bool)>,
    rows: Vec<CallRow>,
    /// Any filter set (the empty state then says nothing matched rather than what to set up).
    filtered: bool,
    /// The organization has at least one number (otherwise the empty state says to add one).
    has_numbers: bool,
    older: Option<String>,
    /// The first page with the same filters, when this is a later one.
    newest: Option<String>,
    failed_steps: bool,
    /// The getting-started checklist while a step is left (see [`getting_started`]).
    checklist: Option<getting_started::Checklist>,
}

impl CallsPage {
    fn value(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    fn q(&self) -> &str {
        Self::value(&self.filters.q)
    }
    fn from(&self) -> &str {
        Self::value(&self.filters.from)
    }
    fn to(&self) -> &str {
        Self::value(&self.filters.to)
    }
    fn direction_is(&self, d: &str) -> bool {
        self.filters.direction.as_deref() == Some(d)
    }
    fn recording_is(&self, v: &str) -> bool {
        self.filters.has_recording.as_deref() == Some(v)
    }
}

/// `/calls?…` with `params` (empty values left out).
fn calls_href(params: &ListParams) -> String {
    let mut params = params.clone();
    for value in [
        &mut params.phone_number_id,
        &mut params.direction,
        &mut params.status,
        &mut params.from,
        &mut params.to,
        &mut params.contact_id,
        &mut params.has_recording,
        &mut params.q,
        &mut params.cursor,
        &mut params.limit,
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *value = None;
        }
    }
    match serde_urlencoded::to_string(&params) {
        Ok(query) if !query.is_empty() => format!("/calls?{query}"),
        _ => "/calls".to_owned(),
    }
}

/// `/calls`: newest first, filtered as the query says (the same query as `GET /api/calls`).
pub async fn list(
    State(state): State<AppState>,
    page: PageMember,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, PageError> {
    page.member.require("Call:Collection:List")?;
    // An unknown or malformed parameter is the error page saying which, as the API says it.
    let Query(mut params) = query
        .map_err(|e| PageError::bad_request(format!("invalid query string: {}", e.body_text())))?;
    let org = page.member.org_id();
    if params.limit.is_none() {
        params.limit = Some(PAGE_ROWS.to_string());
    }
    let query = params.parse()?;
    let found = list::list(&state.db, org, &query).await?;
    let numbers: Vec<(Uuid, String)> = phone_number::Entity::find()
        .select_only()
        .column(phone_number::Column::Id)
        .column(phone_number::Column::Number)
        .filter(phone_number::Column::OrganizationId.eq(org))
        .order_by_asc(phone_number::Column::Number)
        .into_tuple()
        .all(&state.db)
        .await?;
    let failed_steps = !crate::jobs::failed(&state.db, org, 1).await?.is_empty();
    let checklist = getting_started::read(
        &state.db,
        org,
        state.sandbox.is_some(),
        page.member.can("Call:Instance:Read"),
    )
    .await?;
    let checklist = Some(checklist).filter(|c| !c.complete);
    let chosen_number = query.phone_number_id;
    let chosen_status = query.status.map(CallStatus::as_str);
    let filtered = query.phone_number_id.is_some()
        || query.direction.is_some()
        || query.status.is_some()
        || query.from.is_some()
        || query.to.is_some()
        || query.contact_id.is_some()
        || query.has_recording.is_some()
        || query.search.is_some();
    let paged = query.cursor.is_some();
    let mut first = params.clone();
    first.cursor = None;
    first.limit = None;
    let older = found.next_cursor.map(|cursor| {
        let mut next = first.clone();
        next.cursor = Some(cursor);
        calls_href(&next)
    });
    Ok(render(&CallsPage {
        chrome: page.chrome("calls"),
        has_numbers: !numbers.is_empty(),
        numbers: numbers
            .into_iter()
            .map(|(id, number)| (id, number, Some(id) == chosen_number))
            .collect(),
        statuses: CallStatus::KNOWN
            .into_iter()
            .map(|s| (s.as_str(), Some(s.as_str()) == chosen_status))
            .collect(),
        rows: found.items.into_iter().map(CallRow::new).collect(),
        filtered,
        older,
        newest: paged.then(|| calls_href(&first)),
        filters: params,
        failed_steps,
        checklist,
    }))
}

struct Line {
    segment: Segment,
    at: String,
}

struct Run {
    id: Uuid,
    text: String,
    at: String,
}

struct Group {
    name: String,
    runs: Vec<Run>,
}

struct Step {
    step: PipelineStep,
    at: String,
}

impl Step {
    fn failed(&self) -> bool {
        self.step.status == "failed"
    }
}

struct Todo {
    todo: TodoView,
    due: String,
}

impl Todo {
    fn pending(&self) -> bool {
        self.todo.status == "pending_review"
    }
}

#[derive(Template)]
#[template(path = "call.html")]
struct CallPage {
    chrome: Chrome,
    row: CallRow,
    lines: Vec<Line>,
    groups: Vec<Group>,
    todos: Vec<Todo>,
    contact: Option<ContactView>,
    contact_last: String,
    steps: Vec<Step>,
    can_update: bool,
    can_review: bool,
}

/// `/calls/{id}`: the call, its player and transcript, analyses, to-dos, contact and steps.
/// Another organization's call is the 404 page.
pub async fn detail(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    page.member.require("Call:Instance:Read")?;
    let found = details::read(&state.db, page.member.org_id(), id).await?;
    let lines = found
        .transcript_segments
        .into_iter()
        .map(|segment| Line {
            at: clock(segment.start),
            segment,
        })
        .collect();
    let groups = found
        .analysis_groups
        .into_iter()
        .map(|g: AnalysisGroup| Group {
            name: g.analyzer_name,
            runs: g
                .runs
                .into_iter()
                .map(|r| Run {
                    id: r.id,
                    text: r.analysis_text,
                    at: when(&r.created_at),
                })
                .collect(),
        })
        .collect();
    let todos = found
        .todos
        .into_iter()
        .map(|todo| Todo {
            due: todo.due_at.as_ref().map(when).unwrap_or_default(),
            todo,
        })
        .collect();
    let steps = found
        .steps
        .into_iter()
        .map(|step| Step {
            at: when(&step.updated_at),
            step,
        })
        .collect();
    let contact_last = found
        .contact_details
        .as_ref()
        .and_then(|c| c.last_contacted_at.as_ref())
        .map(when)
        .unwrap_or_default();
    Ok(render(&CallPage {
        chrome: page.chrome("calls"),
        row: CallRow::new(found.call),
        lines,
        groups,
        todos,
        contact: found.contact_details,
        contact_last,
        steps,
        can_update: page.member.can("Call:Instance:Update"),
        can_review: page.member.can("Todo:Instance:Update"),
    }))
}

/// "Re-run analysis" without JavaScript: queues the runs and comes back to the call, where they
/// appear as they finish. (With JavaScript the button calls `POST /api/calls/{id}/rerun`.)
pub async fn rerun(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    page.member.require("Call:Instance:Update")?;
    rerun::rerun_analyzers(&state.db, page.member.org_id(), id).await?;
    state.jobs_wake.notify_one();
    Ok(Redirect::to(&format!("/calls/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_times_read_as_minutes_and_seconds() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(75.9), "1:15");
        assert_eq!(clock(-1.0), "0:00");
    }

    #[test]
    fn page_links_keep_the_filters_set_and_drop_the_empty_ones() {
        let params = ListParams {
            direction: Some("inbound".into()),
            q: Some("boiler leak".into()),
            status: Some(String::new()),
            cursor: Some("abc".into()),
            ..ListParams::default()
        };
        assert_eq!(
            calls_href(&params),
            "/calls?direction=inbound&q=boiler+leak&cursor=abc"
        );
        assert_eq!(calls_href(&ListParams::default()), "/calls");
    }
}
