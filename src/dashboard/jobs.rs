//! The post-call steps that failed, and retrying them from the dashboard.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::calls::after;
use crate::entity::call;
use crate::error::Path;
use crate::jobs;

/// How many failed steps the page lists, the most recent first.
const SHOWN: u64 = 200;

#[derive(Template)]
#[template(path = "failed_steps.html")]
struct FailedStepsPage {
    chrome: Chrome,
    steps: Vec<FailedStep>,
    can_retry: bool,
}

struct FailedStep {
    id: Uuid,
    /// The call it concerns: its number and time.
    call: String,
    step: &'static str,
    attempts: i32,
    error: String,
    failed_at: String,
}

pub async fn page(State(state): State<AppState>, page: PageMember) -> Result<Response, PageError> {
    page.member.require("Call:Collection:List")?;
    let org = page.member.org_id();
    let failed = jobs::failed(&state.db, org, SHOWN).await?;
    let call_ids: Vec<Uuid> = failed.iter().filter_map(|j| j.call_id).collect();
    let calls: HashMap<Uuid, call::Model> = if call_ids.is_empty() {
        HashMap::new()
    } else {
        call::Entity::find()
            .filter(call::Column::OrganizationId.eq(org))
            .filter(call::Column::Id.is_in(call_ids))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };
    let steps = failed
        .into_iter()
        .map(|job| FailedStep {
            id: job.id,
            call: job.call_id.and_then(|id| calls.get(&id)).map_or_else(
                || "—".to_owned(),
                |c| {
                    let at = c.started_at.unwrap_or(c.created_at);
                    format!(
                        "{} → {}, {}",
                        c.from_number,
                        c.to_number,
                        at.format("%Y-%m-%d %H:%M UTC")
                    )
                },
            ),
            step: after::step_label(&job.kind),
            attempts: job.attempts,
            error: job.last_error.unwrap_or_default(),
            failed_at: job.updated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    Ok(render(&FailedStepsPage {
        chrome: page.chrome("calls"),
        steps,
        can_retry: page.member.can("Call:Instance:Update"),
    }))
}

/// The retry button's form: the call page it was pressed on, if any, to return to.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RetryForm {
    /// An id, so the redirect stays on this site.
    #[serde(default)]
    call: Option<Uuid>,
}

pub async fn retry(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<RetryForm>,
) -> Result<Response, PageError> {
    page.member.require("Call:Instance:Update")?;
    jobs::retry(&state.db, page.member.org_id(), id).await?;
    state.jobs_wake.notify_one();
    let back = match form.call {
        Some(call) => format!("/calls/{call}#steps"),
        None => "/calls/failed-steps".to_owned(),
    };
    Ok(Redirect::to(&back).into_response())
}
