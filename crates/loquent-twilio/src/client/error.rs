//! What can go wrong talking to Twilio, in terms callers act on.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Twilio's own description of a failed request: its JSON error body
/// (`code`, `message`, `more_info`, `status`) plus the HTTP status.
///
/// When the body was not Twilio's JSON (a proxy's HTML page, an empty 502), `code` and
/// `more_info` are `None` and `message` is the HTTP reason phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response.
    pub status: u16,
    /// Twilio error number, e.g. 20003 (authentication), 20404 (not found), 20429 (rate limit).
    pub code: Option<u32>,
    pub message: String,
    /// Link to `https://www.twilio.com/docs/errors/<code>`.
    pub more_info: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", Twilio error {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The error type of every [`TwilioClient`](super::TwilioClient) operation.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// 401 / error 20003: the Account SID + Auth Token (or API key) were refused.
    #[error("Twilio rejected the credentials ({0})")]
    BadCredentials(ApiError),
    /// 404 / error 20404: no such resource in this account.
    #[error("Twilio resource not found ({0})")]
    NotFound(ApiError),
    /// 429 / error 20429, still failing after the retries the policy allows (or Twilio asked
    /// us to wait longer than [`RetryPolicy::retry_after_ceiling`](super::RetryPolicy)).
    #[error("Twilio rate limit ({error})")]
    RateLimited {
        error: ApiError,
        retry_after: Option<Duration>,
    },
    /// 5xx after retries: Twilio (or something in front of it) is failing.
    #[error("Twilio is unavailable ({0})")]
    Unavailable(ApiError),
    /// The request never got a response: connect failure, timeout, reset — after retries
    /// where retrying was safe.
    #[error("could not reach Twilio")]
    Connection(#[source] reqwest::Error),
    /// Any other refusal (400 validation errors, 403, 409, …), with Twilio's explanation.
    #[error("Twilio refused the request ({0})")]
    Api(ApiError),
    /// A success status with a body that is not what the operation returns.
    #[error("unexpected response from Twilio (HTTP {status}): {detail}")]
    InvalidResponse { status: u16, detail: String },
    /// Rejected before sending: bad configuration or argument.
    #[error("invalid Twilio request: {0}")]
    InvalidRequest(String),
}

impl TwilioError {
    /// Twilio's error details, when the failure came from an HTTP response.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::BadCredentials(e)
            | Self::NotFound(e)
            | Self::RateLimited { error: e, .. }
            | Self::Unavailable(e)
            | Self::Api(e) => Some(e),
            Self::Connection(_) | Self::InvalidResponse { .. } | Self::InvalidRequest(_) => None,
        }
    }

    /// Twilio's error number (`code` in the error body).
    pub fn code(&self) -> Option<u32> {
        self.api_error().and_then(|e| e.code)
    }

    /// HTTP status of the failed response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::InvalidResponse { status, .. } => Some(*status),
            other => other.api_error().map(|e| e.status),
        }
    }

    pub fn is_bad_credentials(&self) -> bool {
        matches!(self, Self::BadCredentials(_))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }

    /// Twilio answered 5xx or could not be reached: worth trying again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Connection(_))
    }

    pub fn is_invalid_response(&self) -> bool {
        matches!(self, Self::InvalidResponse { .. })
    }

    /// How long Twilio asked us to wait (`Retry-After` of a 429).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Twilio's legacy error body. Every field optional: we take what is there.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
}

/// Largest error body we read; Twilio's are a few hundred bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Classify a non-success response.
pub(super) async fn from_response(
    mut response: reqwest::Response,
    retry_after: Option<Duration>,
) -> TwilioError {
    let status = response.status();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    classify(status.as_u16(), &body, retry_after)
}

pub(super) fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> TwilioError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let error = match parsed {
        Some(b) => ApiError {
            status,
            code: b.code,
            message: b.message.unwrap_or_else(|| reason.to_owned()),
            more_info: b.more_info,
        },
        None => ApiError {
            status,
            code: None,
            message: reason.to_owned(),
            more_info: None,
        },
    };
    match (status, error.code) {
        (401, _) | (_, Some(20003)) => TwilioError::BadCredentials(error),
        (404, _) | (_, Some(20404)) => TwilioError::NotFound(error),
        (429, _) | (_, Some(20429)) => TwilioError::RateLimited { error, retry_after },
        (500..=599, _) => TwilioError::Unavailable(error),
        _ => TwilioError::Api(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_error_bodies_are_classified() {
        let e = classify(
            401,
            br#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
            None,
        );
        assert!(e.is_bad_credentials());
        assert_eq!(e.code(), Some(20003));
        assert_eq!(e.api_error().unwrap().message, "Authenticate");

        let e = classify(502, b"<html>bad gateway</html>", None);
        assert!(e.is_unavailable());
        assert_eq!(e.code(), None);
        assert_eq!(e.api_error().unwrap().message, "Bad Gateway");

        let e = classify(
            400,
            br#"{"code":21211,"message":"Invalid 'To' Phone Number","status":400}"#,
            None,
        );
        assert!(matches!(e, TwilioError::Api(_)));
        assert_eq!(
            e.to_string(),
            "Twilio refused the request (HTTP 400, Twilio error 21211: Invalid 'To' Phone Number)"
        );
    }
}
