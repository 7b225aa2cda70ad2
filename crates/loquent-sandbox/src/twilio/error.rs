//! Twilio's error responses: the legacy four-field JSON body
//! (`code`, `message`, `more_info`, `status`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failed request, answered the way Twilio answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: u32,
    pub(crate) message: String,
    /// `Retry-After` seconds, for 429s.
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 / 20003.
    pub(crate) fn authenticate() -> Self {
        Self::new(401, 20003, "Authenticate")
    }

    /// 404 / 20404.
    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    /// 400 / 21200-style: a parameter is missing or invalid.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, 20001, message)
    }

    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(405, 20004, format!("Method {method} not allowed"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == 401 {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
