//! The dashboard's error boundary: a failure shown as a page rather than JSON. Its status and
//! message come from the API mapping (`From<ApiError>`), so a domain error reads the same in the
//! browser as in the API.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::ApiError;

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

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(err: E) -> Self {
        let err: ApiError = err.into();
        let status = err.status();
        let message = if status.is_server_error() {
            // A page never goes through `ApiError::into_response`, so this is the one log line;
            // the page says only this.
            tracing::error!(error = ?err, "page failed");
            "Something went wrong on our side. Try again in a moment.".to_owned()
        } else {
            err.to_string()
        };
        Self { status, message }
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
