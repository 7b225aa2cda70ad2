//! The dashboard's list pages. Each shows the organization's most recent items; richer views
//! (call details, editors) build on these as their features arrive.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::entity::{agent, analyzer, call, contact, todo};

/// How many rows a list page shows.
const PAGE_ROWS: u64 = 200;

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    chrome: Chrome,
    title: &'static str,
    intro: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Vec<String>>,
    empty: &'static str,
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn duration(secs: Option<i32>) -> String {
    match secs {
        Some(s) if s >= 0 => format!("{}:{:02}", s / 60, s % 60),
        _ => "—".into(),
    }
}

pub async fn calls(State(state): State<AppState>, page: PageMember) -> Result<Response, PageError> {
    page.member.require("Call:Collection:List")?;
    let rows = call::Entity::find()
        .filter(call::Column::OrganizationId.eq(page.member.org_id()))
        .order_by_desc(call::Column::CreatedAt)
        .limit(PAGE_ROWS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| {
            vec![
                when(c.started_at.as_ref().unwrap_or(&c.created_at)),
                c.direction,
                c.from_number,
                c.to_number,
                c.status,
                duration(c.duration_secs),
                if c.recording_url.is_some() {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ]
        })
        .collect();
    Ok(render(&ListPage {
        chrome: page.chrome("calls"),
        title: "Calls",
        intro: "Calls answered by your agents and calls imported from Twilio.",
        columns: &[
            "When",
            "Direction",
            "From",
            "To",
            "Status",
            "Duration",
            "Recording",
        ],
        rows,
        empty: "No calls yet. Connect Twilio in Settings and calls will appear here.",
    }))
}

pub async fn contacts(
    State(state): State<AppState>,
    page: PageMember,
) -> Result<Response, PageError> {
    page.member.require("Contact:Collection:List")?;
    let rows = contact::Entity::find()
        .filter(contact::Column::OrganizationId.eq(page.member.org_id()))
        .order_by_desc(contact::Column::CreatedAt)
        .limit(PAGE_ROWS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| {
            vec![
                c.name.unwrap_or_else(|| "(unnamed)".into()),
                c.email.unwrap_or_default(),
                c.source,
                c.last_contacted_at.as_ref().map(when).unwrap_or_default(),
            ]
        })
        .collect();
    Ok(render(&ListPage {
        chrome: page.chrome("contacts"),
        title: "Contacts",
        intro: "People who called you or whom you called.",
        columns: &["Name", "E-mail", "Source", "Last contacted"],
        rows,
        empty: "No contacts yet. Callers become contacts automatically.",
    }))
}

pub async fn agents(
    State(state): State<AppState>,
    page: PageMember,
) -> Result<Response, PageError> {
    page.member.require("Agent:Collection:List")?;
    let rows = agent::Entity::find()
        .filter(agent::Column::OrganizationId.eq(page.member.org_id()))
        .order_by_asc(agent::Column::Name)
        .limit(PAGE_ROWS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| {
            let provider = a.realtime_config["provider"]
                .as_str()
                .unwrap_or("—")
                .to_owned();
            let model = a.realtime_config["model"]
                .as_str()
                .unwrap_or("—")
                .to_owned();
            vec![a.name, provider, model, when(&a.updated_at)]
        })
        .collect();
    Ok(render(&ListPage {
        chrome: page.chrome("agents"),
        title: "Agents",
        intro: "The AI voices that answer your numbers.",
        columns: &["Name", "Provider", "Model", "Updated"],
        rows,
        empty: "No agents yet.",
    }))
}

pub async fn analyzers(
    State(state): State<AppState>,
    page: PageMember,
) -> Result<Response, PageError> {
    page.member.require("Analyzer:Collection:List")?;
    let rows = analyzer::Entity::find()
        .filter(analyzer::Column::OrganizationId.eq(page.member.org_id()))
        .order_by_asc(analyzer::Column::Name)
        .limit(PAGE_ROWS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| {
            vec![
                a.name,
                if a.active { "active" } else { "paused" }.into(),
                if a.is_default { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    Ok(render(&ListPage {
        chrome: page.chrome("analyzers"),
        title: "Analyzers",
        intro: "Prompts run over every call transcript.",
        columns: &["Name", "State", "Default for new numbers"],
        rows,
        empty: "No analyzers yet.",
    }))
}

pub async fn todos(State(state): State<AppState>, page: PageMember) -> Result<Response, PageError> {
    page.member.require("Todo:Collection:List")?;
    let rows = todo::Entity::find()
        .filter(todo::Column::OrganizationId.eq(page.member.org_id()))
        .order_by_asc(todo::Column::Done)
        .order_by_desc(todo::Column::CreatedAt)
        .limit(PAGE_ROWS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|t| {
            vec![
                t.title,
                if t.done { "done" } else { "open" }.into(),
                t.due_at.as_ref().map(when).unwrap_or_default(),
                when(&t.created_at),
            ]
        })
        .collect();
    Ok(render(&ListPage {
        chrome: page.chrome("todos"),
        title: "To-dos",
        intro: "Follow-ups taken from your calls.",
        columns: &["Task", "State", "Due", "Created"],
        rows,
        empty: "Nothing to do yet. To-dos are extracted from call transcripts.",
    }))
}
