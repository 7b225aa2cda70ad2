//! Sign-up, sign-in and sign-out pages.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{PageError, render};
use crate::app::AppState;
use crate::auth::csrf::{CsrfForm, CsrfToken};
use crate::auth::{CurrentMember, RequestClient, session};
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    csrf: &'a str,
    email: &'a str,
    organization_name: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    organization_name: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    match session::read_cookie(headers, session::COOKIE) {
        Some(token) if !token.is_empty() => matches!(
            CurrentMember::from_token(&state.db, token).await,
            Ok(Some(_))
        ),
        _ => false,
    }
}

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Redirect {
    if signed_in(&state, &headers).await {
        Redirect::to("/calls")
    } else {
        Redirect::to("/login")
    }
}

pub async fn signup_page(Extension(csrf): Extension<CsrfToken>) -> Response {
    render(&SignupPage {
        csrf: &csrf.0,
        email: "",
        organization_name: "",
        error: None,
    })
}

fn with_session(state: &AppState, token: &str, to: &str) -> Response {
    (
        [(
            header::SET_COOKIE,
            session::session_cookie(&state.config, token),
        )],
        Redirect::to(to),
    )
        .into_response()
}

pub async fn signup(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> Result<Response, PageError> {
    let result = crate::users::signup::sign_up(
        &state.db,
        &form.email,
        &form.password,
        &form.organization_name,
    )
    .await
    .map_err(ApiError::from);
    match result {
        Ok(account) => {
            let token = session::start(
                &state.db,
                &state.config,
                account.user.id,
                account.organization.id,
            )
            .await?;
            Ok(with_session(&state, &token, "/calls"))
        }
        Err(e @ (ApiError::Unprocessable(_) | ApiError::Conflict(_))) => {
            let status = e.status();
            let page = render(&SignupPage {
                csrf: &csrf.0,
                email: &form.email,
                organization_name: &form.organization_name,
                error: Some(e.to_string()),
            });
            Ok((status, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn login_page(Extension(csrf): Extension<CsrfToken>) -> Response {
    render(&LoginPage {
        csrf: &csrf.0,
        email: "",
        error: None,
    })
}

pub async fn login(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RequestClient(client): RequestClient,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let result = crate::users::login::authenticate(&state.db, &form.email, &form.password, &client)
        .await
        .map_err(ApiError::from);
    match result {
        Ok((user, member)) => {
            let token =
                session::start(&state.db, &state.config, user.id, member.organization_id).await?;
            Ok(with_session(&state, &token, "/calls"))
        }
        Err(e @ (ApiError::InvalidCredentials(_) | ApiError::NoOrganization)) => {
            let page = render(&LoginPage {
                csrf: &csrf.0,
                email: &form.email,
                error: Some(e.to_string()),
            });
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(
            e @ ApiError::TooManyRequests {
                retry_after_secs, ..
            },
        ) => {
            let page = render(&LoginPage {
                csrf: &csrf.0,
                email: &form.email,
                error: Some(e.to_string()),
            });
            Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                page,
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct EmptyForm {}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    if let Some(token) = session::read_cookie(&headers, session::COOKIE) {
        session::end(&state.db, token).await?;
    }
    Ok((
        [(
            header::SET_COOKIE,
            session::clear_session_cookie(&state.config),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}
