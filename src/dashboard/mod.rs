//! Server-rendered dashboard pages (askama templates in `templates/`).

pub mod agents;
pub mod auth_pages;
pub mod lists;
pub mod settings;
pub mod twilio;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::auth::CurrentMember;
use crate::auth::csrf::CsrfToken;
use crate::error::ApiError;

/// What every signed-in page's layout needs.
pub struct Chrome {
    pub csrf: String,
    pub user_email: String,
    pub org_name: String,
    pub active: &'static str,
    pub flash: Option<String>,
}

/// A signed-in member on a dashboard page: without a session the browser is sent to sign in.
pub struct PageMember {
    pub member: CurrentMember,
    pub csrf: String,
}

impl PageMember {
    pub fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            csrf: self.csrf.clone(),
            user_email: self.member.user.email.clone(),
            org_name: self.member.organization.name.clone(),
            active,
            flash: None,
        }
    }
}

pub fn csrf_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for PageMember {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match CurrentMember::from_request_parts(parts, state).await {
            Ok(member) => Ok(Self {
                member,
                csrf: csrf_of(parts),
            }),
            Err(ApiError::Unauthorized) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// A dashboard failure, shown as a page rather than JSON.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// What the person is told (server-side details stay in the log).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "There is nothing at this address.".into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let message = if status.is_server_error() {
            // Logged by the API error's own conversion below; the page says only this.
            tracing::error!(error = ?err, "page failed");
            "Something went wrong on our side. Try again in a moment.".to_owned()
        } else {
            err.to_string()
        };
        Self { status, message }
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage {
            status: self.status.as_u16(),
            title,
            message: &self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// Renders a template, turning a rendering failure into a 500 page.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => PageError::from(ApiError::internal(e)).into_response(),
    }
}

pub async fn not_found() -> PageError {
    PageError::not_found()
}
