//! `/invitation?token=…`: the page an invitation's link opens. It says who invites whom to
//! what, then offers what fits the visitor: choose a password (no account yet), sign in (an
//! account exists), join (signed in as the invited person), or sign out (signed in as someone
//! else).

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::auth_pages::with_session;
use super::{PageError, render};
use crate::app::AppState;
use crate::auth::csrf::{CsrfForm, CsrfToken};
use crate::auth::{CurrentMember, RequestClient, session};
use crate::error::ApiError;
use crate::orgs::invitations::{self, Accepted, Acceptor, Preview};

/// What the page offers.
enum Offer {
    /// No account has the e-mail: choose a password.
    ChoosePassword,
    /// An account has it and nobody is signed in: its password, then join.
    SignIn,
    /// Signed in as the invited person: join.
    Join,
    /// Signed in as someone else (their e-mail).
    SignOut(String),
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage<'a> {
    csrf: &'a str,
    token: &'a str,
    /// `None`: the link does not work.
    preview: Option<Preview>,
    offer: Offer,
    /// This page's own path, for coming back after signing in or out.
    here: String,
    error: Option<String>,
}

impl InvitationPage<'_> {
    fn offer_is(&self, what: &str) -> bool {
        matches!(
            (&self.offer, what),
            (Offer::ChoosePassword, "password")
                | (Offer::SignIn, "sign-in")
                | (Offer::Join, "join")
                | (Offer::SignOut(_), "sign-out")
        )
    }

    fn signed_in_as(&self) -> &str {
        match &self.offer {
            Offer::SignOut(email) => email,
            _ => "",
        }
    }

    fn expires(&self) -> String {
        self.preview
            .as_ref()
            .map(|p| p.expires_at.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct InvitationParams {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn here(token: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("token", token);
    format!("/invitation?{}", query.finish())
}

async fn page<'a>(
    state: &AppState,
    csrf: &'a str,
    token: &'a str,
    current: Option<&CurrentMember>,
    error: Option<String>,
) -> Result<InvitationPage<'a>, PageError> {
    let preview = match invitations::preview(&state.db, token, Utc::now()).await {
        Ok(preview) => Some(preview),
        Err(crate::orgs::OrgError::InvalidInvitation) => None,
        Err(e) => return Err(ApiError::from(e).into()),
    };
    let offer = match (&preview, current) {
        (Some(p), Some(m)) if m.user.email == p.email.as_str() => Offer::Join,
        (_, Some(m)) => Offer::SignOut(m.user.email.clone()),
        (Some(p), None) if p.has_account => Offer::SignIn,
        _ => Offer::ChoosePassword,
    };
    Ok(InvitationPage {
        csrf,
        token,
        preview,
        offer,
        here: here(token),
        error,
    })
}

fn respond(page: &InvitationPage<'_>, status: StatusCode) -> Response {
    let status = if page.preview.is_none() {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    (status, render(page)).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    current: Option<CurrentMember>,
    Query(params): Query<InvitationParams>,
) -> Result<Response, PageError> {
    let page = page(&state, &csrf.0, &params.token, current.as_ref(), None).await?;
    Ok(respond(&page, StatusCode::OK))
}

pub async fn accept(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RequestClient(client): RequestClient,
    current: Option<CurrentMember>,
    CsrfForm(form): CsrfForm<AcceptForm>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let result: Result<(Accepted, bool), ApiError> = async {
        if let Some(member) = &current {
            let accepted =
                invitations::accept(&state.db, &form.token, Acceptor::Account(&member.user), now)
                    .await?;
            crate::orgs::membership::switch(
                &state.db,
                member.session_id,
                accepted.user_id,
                accepted.organization_id,
            )
            .await?;
            return Ok((accepted, false));
        }
        let preview = invitations::preview(&state.db, &form.token, now).await?;
        if preview.has_account {
            let user = crate::users::login::check_credentials(
                &state.db,
                preview.email.as_str(),
                &form.password,
                &client,
            )
            .await?;
            let accepted =
                invitations::accept(&state.db, &form.token, Acceptor::Account(&user), now).await?;
            return Ok((accepted, true));
        }
        if form.password != form.confirm {
            return Err(ApiError::Unprocessable(
                "the two passwords differ: type the same one twice".to_owned(),
            ));
        }
        let accepted = invitations::accept(
            &state.db,
            &form.token,
            Acceptor::NewAccount {
                password: &form.password,
            },
            now,
        )
        .await?;
        Ok((accepted, true))
    }
    .await;
    match result {
        // Home sends the new member where their roles let them in.
        Ok((_, false)) => Ok(Redirect::to("/").into_response()),
        Ok((accepted, true)) => {
            let token = session::start(
                &state.db,
                &state.config,
                accepted.user_id,
                accepted.organization_id,
            )
            .await?;
            Ok(with_session(&state, &token, "/"))
        }
        Err(e) if e.status().is_client_error() => {
            let status = e.status();
            let page = page(
                &state,
                &csrf.0,
                &form.token,
                current.as_ref(),
                Some(e.to_string()),
            )
            .await?;
            let mut response = respond(&page, status);
            if let ApiError::TooManyRequests {
                retry_after_secs, ..
            } = e
                && let Ok(value) = retry_after_secs.to_string().parse()
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
