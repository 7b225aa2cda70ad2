//! OpenAI's error responses: `{"error": {"message", "type", "param", "code"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failed request, answered the way OpenAI answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenAiError {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) kind: &'static str,
    pub(crate) param: Option<&'static str>,
    pub(crate) code: Option<&'static str>,
    /// `Retry-After` seconds, for injected 429s.
    pub(crate) retry_after: Option<u64>,
}

impl OpenAiError {
    /// 400 `invalid_request_error`.
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
            retry_after: None,
        }
    }

    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 401, as OpenAI answers a missing key.
    pub(crate) fn unauthenticated() -> Self {
        Self {
            status: 401,
            message: "You didn't provide an API key. You need to provide your API key in an \
                      Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 413 with the message and type OpenAI's upload limit answers with.
    pub(crate) fn too_large(read: usize) -> Self {
        Self {
            status: 413,
            message: format!(
                "Maximum content size limit ({}) exceeded ({read} bytes read)",
                super::MAX_BODY_BYTES
            ),
            kind: "server_error",
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// What an injected fault with `status` looks like.
    pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> Self {
        let (message, kind, code) = match status {
            429 => (
                "Rate limit reached for requests (sandbox fault). Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            413 => (
                "Maximum content size limit exceeded (sandbox fault)",
                "server_error",
                None,
            ),
            503 => (
                "The server is overloaded or not ready yet (sandbox fault).",
                "server_error",
                None,
            ),
            s if s >= 500 => (
                "The server had an error while processing your request (sandbox fault).",
                "server_error",
                None,
            ),
            _ => ("Injected sandbox fault.", "invalid_request_error", None),
        };
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
            retry_after: if status == 429 { retry_after } else { None },
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
