//! The HTTP error boundary. Handlers return `ApiError`; it becomes
//! `{"error": {"code", "message"}}` with the right status (plus `fields` when input failed field
//! by field). Internal causes are logged once here and never shown to the caller.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::validation::FieldError;
pub use page::PageError;

mod domain;
mod page;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    InvalidCredentials(String),
    #[error("you do not have the permission {0}")]
    Forbidden(String),
    #[error("this account is not a member of any organization")]
    NoOrganization,
    /// A browser request from a page that is not ours (its `Origin`); the payload is ours.
    #[error("requests from other sites are refused; open the dashboard at {0}")]
    CrossOrigin(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    /// Input with one or more bad fields, all reported at once so a form can show each in place.
    #[error("{}", FieldError::summary(.0))]
    InvalidFields(Vec<FieldError>),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Upstream(String),
    /// Something this server is not set up to do (what to set up is in the message).
    #[error("{0}")]
    Unavailable(String),
    /// Too many attempts: none is checked before `retry_after_secs` have passed.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: i64,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::NoOrganization | Self::CrossOrigin(_) => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) | Self::InvalidFields(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials(_) => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NoOrganization => "no_organization",
            Self::CrossOrigin(_) => "cross_origin",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unprocessable(_) | Self::InvalidFields(_) => "invalid_input",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Upstream(_) => "upstream_error",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// Logs server-side causes once, at the boundary.
    fn log(&self) {
        match self {
            Self::Internal(err) => tracing::error!(error = ?err, "request failed"),
            Self::Upstream(msg) => tracing::warn!(%msg, "upstream failure"),
            _ => {}
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(err.into())
    }
}

/// Every error's body: `{"error": {"code", "message"}}`, plus `fields` when input failed field
/// by field.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable and machine-readable: `bad_request`, `unauthorized`, `invalid_credentials`,
    /// `forbidden`, `no_organization`, `cross_origin`, `not_found`, `conflict`, `invalid_input`,
    /// `payload_too_large`, `unsupported_media_type`, `upstream_error` or `internal`.
    #[schema(value_type = String, example = "not_found")]
    code: &'a str,
    /// What went wrong, in words a person can act on.
    message: String,
    /// Every bad field, when the input was checked field by field (`invalid_input`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>)]
    fields: Option<&'a [FieldError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let fields = match &self {
            Self::InvalidFields(errors) => Some(errors.as_slice()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                fields,
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

/// `axum::Json`, but malformed input becomes our error shape with a message a person can act on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            ApiError::Unprocessable(format!("invalid request: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("malformed JSON: {}", e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "expected a JSON body with Content-Type: application/json".into(),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// `axum::extract::Path`, with a malformed id answered as a 400 in our error shape.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "invalid id in the URL: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// `axum::extract::Query` whose rejection is a 400 [`ApiError`] naming the bad parameter.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "invalid query string: {}",
                rejection.body_text()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error body as a client receives it, for the errors no front-door request can provoke
    /// on purpose (the front-door snapshots in `tests/it/snapshots_api.rs` pin the others).
    async fn body_of(err: ApiError) -> (u16, serde_json::Value) {
        let response = err.into_response();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("error body");
        (
            status,
            serde_json::from_slice(&bytes).expect("JSON error body"),
        )
    }

    #[tokio::test]
    async fn a_member_without_an_organization_is_told_so() {
        insta::assert_json_snapshot!(body_of(ApiError::NoOrganization).await);
    }

    #[tokio::test]
    async fn an_internal_error_shows_nothing_of_its_cause() {
        let cause = anyhow::anyhow!("connection to 10.0.0.5:5432 refused (password=hunter2)");
        let (status, body) = body_of(ApiError::internal(cause)).await;
        assert!(!body.to_string().contains("hunter2"));
        insta::assert_json_snapshot!((status, body));
    }
}
