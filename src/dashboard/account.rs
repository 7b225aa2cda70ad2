//! The signed-in person's own account page (who they are, their sign-in history) and the
//! header's organization switcher.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::error::ApiError;
use crate::paging;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    email: String,
    sign_ins: Vec<SignInRow>,
    older: Option<String>,
}

struct SignInRow {
    at: String,
    succeeded: bool,
    address: String,
    user_agent: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct AccountParams {
    cursor: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    page: PageMember,
    params: Result<Query<AccountParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let cursor = paging::parse_cursor(params.cursor.as_deref())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (rows, older) = crate::users::sign_ins::of_user(
        &state.db,
        page.member.user.id,
        cursor.as_ref(),
        paging::DEFAULT_LIMIT,
    )
    .await?;
    let sign_ins = rows
        .into_iter()
        .map(|r| SignInRow {
            at: r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            succeeded: r.succeeded,
            address: r.address.unwrap_or_else(|| "unknown".to_owned()),
            user_agent: r.user_agent.unwrap_or_default(),
        })
        .collect();
    Ok(render(&AccountPage {
        chrome: page.chrome("account"),
        email: page.member.user.email.clone(),
        sign_ins,
        older,
    }))
}

#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    organization_id: uuid::Uuid,
}

/// The header's organization switcher: this session acts for the chosen organization from now
/// on, and the person lands on its calls.
pub async fn switch_organization(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<SwitchForm>,
) -> Result<Response, PageError> {
    crate::orgs::membership::switch(
        &state.db,
        page.member.session_id,
        page.member.user.id,
        form.organization_id,
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to("/calls").into_response())
}
