//! The dashboard's simple list pages (today the agents). Calls and contacts have their own
//! pages with filters and paging (`calls.rs`, `contacts.rs`).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use uuid::Uuid;

use super::{Chrome, PageError, PageMember, render};
use crate::agents::RealtimeConfig;
use crate::app::AppState;
use crate::entity::agent;

/// How many rows a list page shows.
const PAGE_ROWS: u64 = 200;

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    chrome: Chrome,
    title: &'static str,
    intro: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Row>,
    empty: &'static str,
    /// The empty state's link to the first step, when the member may take it (`action`).
    empty_next: &'static str,
    /// A button-like link above the table, e.g. ("New agent", "/agents/new").
    action: Option<(&'static str, &'static str)>,
}

/// One table row; with `href`, its first cell links to the item's page.
struct Row {
    cells: Vec<String>,
    href: Option<String>,
}

/// What one list page is: who may see it and how it reads. The rows are each handler's own.
struct Listing {
    permission: &'static str,
    nav: &'static str,
    title: &'static str,
    intro: &'static str,
    columns: &'static [&'static str],
    empty: &'static str,
    empty_next: &'static str,
}

impl Listing {
    /// The organization to list for, once the member may see this page.
    fn org(&self, page: &PageMember) -> Result<Uuid, PageError> {
        page.member.require(self.permission)?;
        Ok(page.member.org_id())
    }

    fn render_rows(
        &self,
        page: &PageMember,
        rows: Vec<Row>,
        action: Option<(&'static str, &'static str)>,
        flash: Option<String>,
        page_path: Option<&str>,
    ) -> Response {
        let mut chrome = page.chrome(self.nav);
        chrome.flash = flash;
        if let Some(path) = page_path {
            chrome = chrome.at(path);
        }
        render(&ListPage {
            chrome,
            title: self.title,
            intro: self.intro,
            columns: self.columns,
            rows,
            empty: self.empty,
            empty_next: self.empty_next,
            action,
        })
    }
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

const AGENTS: Listing = Listing {
    permission: "Agent:Collection:List",
    nav: "agents",
    title: "Agents",
    intro: "The AI voices that answer your numbers.",
    columns: &["Name", "Provider", "Model", "Voice", "Updated"],
    empty: "No agents yet.",
    empty_next: "Create the first agent: a name and a prompt are enough to answer calls.",
};

/// `?done=` after a form: what just happened, said once above the list.
#[derive(Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

pub async fn agents(
    State(state): State<AppState>,
    page: PageMember,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let org = AGENTS.org(&page)?;
    let rows = agent::Entity::find()
        .filter(agent::Column::OrganizationId.eq(org))
        .order_by_asc(agent::Column::Name)
        .limit(PAGE_ROWS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| {
            let config = RealtimeConfig::from_json(&a.realtime_config);
            Row {
                href: Some(format!("/agents/{}", a.id)),
                cells: vec![
                    a.name,
                    config.provider.label().to_owned(),
                    config.model,
                    config.voice,
                    when(&a.updated_at),
                ],
            }
        })
        .collect();
    let action = page
        .member
        .can("Agent:Collection:Create")
        .then_some(("New agent", "/agents/new"));
    let flash = match done.done.as_deref() {
        Some("created") => Some(
            "Agent created. To let it answer calls, choose it for a number in Settings → Twilio."
                .to_owned(),
        ),
        Some("saved") => Some("Agent saved: the next call it answers uses it.".to_owned()),
        Some("deleted") => Some("Agent deleted.".to_owned()),
        _ => None,
    };
    Ok(AGENTS.render_rows(
        &page,
        rows,
        action,
        flash,
        done.done.is_some().then_some("/agents"),
    ))
}
