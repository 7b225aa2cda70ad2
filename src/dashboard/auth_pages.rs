//! Sign-up, sign-in and sign-out pages.

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
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
    /// Where to go after signing in (a path of ours), or empty for the calls.
    next: &'a str,
    error: Option<String>,
    notice: Option<&'static str>,
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
    #[serde(default)]
    next: String,
}

/// `next` when it is a path on this server, else nothing: a sign-in link must not send the
/// person to another site (an open redirect), so `//host`, `/\host` and full URLs are refused;
/// so is anything but ASCII, which a `Location` header cannot carry.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.is_ascii()
        && next.len() <= 2_048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

/// The calls for a member who may list them; the account page for one whose roles give no
/// such page (a new member without roles yet); the sign-in page for everyone else.
pub async fn home(current: Option<CurrentMember>) -> Redirect {
    match current {
        Some(member) if member.can("Call:Collection:List") => Redirect::to("/calls"),
        Some(_) => Redirect::to("/account"),
        None => Redirect::to("/login"),
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

pub(super) fn with_session(state: &AppState, token: &str, to: &str) -> Response {
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

#[derive(Debug, Default, Deserialize)]
pub struct LoginParams {
    reset: Option<String>,
    #[serde(default)]
    next: String,
}

pub async fn login_page(
    Extension(csrf): Extension<CsrfToken>,
    Query(params): Query<LoginParams>,
) -> Response {
    render(&LoginPage {
        csrf: &csrf.0,
        email: "",
        next: local_path(&params.next).unwrap_or_default(),
        error: None,
        notice: params
            .reset
            .is_some()
            .then_some("Your password is changed. Sign in with the new one."),
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
            Ok(with_session(
                &state,
                &token,
                local_path(&form.next).unwrap_or("/calls"),
            ))
        }
        Err(e @ (ApiError::InvalidCredentials(_) | ApiError::NoOrganization)) => {
            let page = render(&LoginPage {
                csrf: &csrf.0,
                email: &form.email,
                next: local_path(&form.next).unwrap_or_default(),
                error: Some(e.to_string()),
                notice: None,
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
                next: local_path(&form.next).unwrap_or_default(),
                error: Some(e.to_string()),
                notice: None,
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
pub struct LogoutForm {
    /// Where to go once signed out (a path of ours), else the sign-in page.
    #[serde(default)]
    next: String,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LogoutForm>,
) -> Result<Response, PageError> {
    if let Some(token) = session::read_cookie(&headers, session::COOKIE) {
        session::end(&state.db, token).await?;
    }
    Ok((
        [(
            header::SET_COOKIE,
            session::clear_session_cookie(&state.config),
        )],
        Redirect::to(local_path(&form.next).unwrap_or("/login")),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    email: &'a str,
    /// Whether this server can mail links; without, the page says what an operator runs.
    can_mail: bool,
    sent: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub async fn forgot_page(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
) -> Response {
    render(&ForgotPage {
        csrf: &csrf.0,
        email: "",
        can_mail: state.mailer.is_some(),
        sent: false,
        error: None,
    })
}

pub async fn forgot(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RequestClient(client): RequestClient,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Result<Response, PageError> {
    let page = |sent: bool, error: Option<String>| ForgotPage {
        csrf: &csrf.0,
        email: &form.email,
        can_mail: state.mailer.is_some(),
        sent,
        error,
    };
    if state.mailer.is_none() {
        return Ok((StatusCode::SERVICE_UNAVAILABLE, render(&page(false, None))).into_response());
    }
    let result = crate::users::reset::request(&state.db, &form.email, &client, chrono::Utc::now())
        .await
        .map_err(ApiError::from);
    match result {
        Ok(()) => {
            state.jobs_wake.notify_one();
            Ok(render(&page(true, None)))
        }
        Err(
            e @ ApiError::TooManyRequests {
                retry_after_secs, ..
            },
        ) => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            render(&page(false, Some(e.to_string()))),
        )
            .into_response()),
        Err(e @ ApiError::Unprocessable(_)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&page(false, Some(e.to_string()))),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    csrf: &'a str,
    token: &'a str,
    /// False: the link does not work; the page says so and offers a new one.
    open: bool,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResetParams {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn reset_page(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(params): Query<ResetParams>,
) -> Result<Response, PageError> {
    let open = crate::users::reset::is_open(&state.db, &params.token, chrono::Utc::now()).await?;
    let page = render(&ResetPage {
        csrf: &csrf.0,
        token: &params.token,
        open,
        error: None,
    });
    Ok(if open {
        page
    } else {
        (StatusCode::BAD_REQUEST, page).into_response()
    })
}

pub async fn reset(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Result<Response, PageError> {
    let again = |status: StatusCode, open: bool, error: String| {
        (
            status,
            render(&ResetPage {
                csrf: &csrf.0,
                token: &form.token,
                open,
                error: Some(error),
            }),
        )
            .into_response()
    };
    if form.password != form.confirm {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            true,
            "the two passwords differ: type the same one twice".to_owned(),
        ));
    }
    let result =
        crate::users::reset::complete(&state.db, &form.token, &form.password, chrono::Utc::now())
            .await
            .map_err(ApiError::from);
    match result {
        Ok(_) => Ok(Redirect::to("/login?reset=done").into_response()),
        Err(e @ ApiError::Unprocessable(_)) => {
            Ok(again(StatusCode::UNPROCESSABLE_ENTITY, true, e.to_string()))
        }
        Err(e @ ApiError::BadRequest(_)) => {
            Ok(again(StatusCode::BAD_REQUEST, false, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_is_a_path_of_ours_or_nothing() {
        for ours in ["/calls", "/invitation?token=abc", "/"] {
            assert_eq!(local_path(ours), Some(ours));
        }
        for foreign in [
            "",
            "calls",
            "https://evil.example.com/",
            "//evil.example.com",
            "/\\evil.example.com",
            "/ok\r\nSet-Cookie: x",
            "javascript:alert(1)",
            "/é",
        ] {
            assert_eq!(local_path(foreign), None, "{foreign:?}");
        }
    }
}
