//! Settings → Reports: who receives the e-mailed call reports.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::settings::NoFields;
use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::error::{ApiError, Path};
use crate::reports::recipients::{self, RecipientView};

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    chrome: Chrome,
    recipients: Vec<RecipientView>,
    /// Whether `LOQUENT_SMTP_URL` is set: without it nothing is sent, and the page says so.
    smtp: bool,
    can_add: bool,
    can_remove: bool,
    error: Option<String>,
}

async fn page_of(
    state: &AppState,
    page: &PageMember,
    error: Option<String>,
) -> Result<ReportsPage, PageError> {
    Ok(ReportsPage {
        recipients: recipients::list(&state.db, page.member.org_id())
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(RecipientView::from)
            .collect(),
        smtp: state.mailer.is_some(),
        can_add: page.member.can("Report:Collection:Create"),
        can_remove: page.member.can("Report:Instance:Delete"),
        error,
        chrome: page.chrome("settings"),
    })
}

pub async fn page(State(state): State<AppState>, page: PageMember) -> Result<Response, PageError> {
    page.member.require("Report:Collection:List")?;
    Ok(render(&page_of(&state, &page, None).await?))
}

/// Back to the page, or the page again with the reason shown in place.
async fn act(
    state: &AppState,
    page: &PageMember,
    result: Result<(), ApiError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to("/settings/reports").into_response()),
        Err(e) if !e.status().is_server_error() => {
            let status = e.status();
            let mut body = page_of(state, page, Some(e.to_string())).await?;
            body.chrome = body.chrome.at("/settings/reports");
            Ok((status, render(&body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    email: String,
}

pub async fn add(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Report:Collection:Create")?;
        recipients::add(&state.db, page.member.org_id(), &form.email).await?;
        Ok(())
    }
    .await;
    act(&state, &page, result).await
}

pub async fn remove(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Report:Instance:Delete")?;
        recipients::remove(&state.db, page.member.org_id(), id).await?;
        Ok(())
    }
    .await;
    act(&state, &page, result).await
}
