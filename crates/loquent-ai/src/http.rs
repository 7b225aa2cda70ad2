//! What the OpenAI REST clients (transcription, structured output) share: the API key, the retry
//! policy, and the failures of one HTTP exchange with an OpenAI-compatible server.
//!
//! Every request goes through [`Api::send`], which retries connection errors, 429 and 5xx as the
//! [`RetryPolicy`] says (exponential backoff with full jitter, `Retry-After` / `retry-after-ms`
//! honoured up to its ceiling), and turns everything else into a typed [`ApiError`] carrying
//! OpenAI's `error.message`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;

/// An OpenAI API key. `Debug` and `Display` never show it; only the `Authorization` header does.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl<T: Into<String>> From<T> for ApiKey {
    fn from(key: T) -> Self {
        Self::new(key)
    }
}

/// How hard to try before giving up on a request that failed transiently (connection error, 429,
/// 5xx): the workspace's one policy, shared with the Twilio client. 4xx other than 429 are never
/// retried: sending the same request again cannot fix them.
pub use loquent_retry::RetryPolicy;

/// A request to an OpenAI-compatible API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTP 413: the body exceeded the server's limit (25 MB for OpenAI uploads).
    #[error("request too large (HTTP 413): {message}")]
    TooLarge { message: String },
    /// HTTP 400: the server says the request is malformed or a value is not accepted.
    #[error("invalid request (HTTP 400): {message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<String>,
    },
    /// HTTP 401: the API key was missing, wrong or revoked.
    #[error("not authenticated (HTTP 401): {message}")]
    Unauthorized { message: String },
    /// HTTP 429 on every attempt, or a 429 whose `Retry-After` exceeds the policy's ceiling: rate
    /// limit or exhausted quota.
    #[error("rate limited (HTTP 429) after {attempts} attempts: {message}")]
    RateLimited { message: String, attempts: u32 },
    /// HTTP 5xx on every attempt.
    #[error("server error (HTTP {status}) after {attempts} attempts: {message}")]
    Server {
        status: u16,
        message: String,
        attempts: u32,
    },
    /// Any other unsuccessful status (403, 404, 422...).
    #[error("request failed (HTTP {status}): {message}")]
    Status { status: u16, message: String },
    /// The server could not be reached, or the connection broke, on every attempt.
    #[error("could not reach the API after {attempts} attempts: {source}")]
    Connection {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// The request could not be built (e.g. an invalid base URL).
    #[error("could not build the request: {0}")]
    Request(#[source] reqwest::Error),
    /// A 2xx answer whose body is not what the API documents.
    #[error("unexpected response body: {0}")]
    UnexpectedBody(String),
}

impl ApiError {
    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::TooLarge { .. } => Some(413),
            Self::InvalidRequest { .. } => Some(400),
            Self::Unauthorized { .. } => Some(401),
            Self::RateLimited { .. } => Some(429),
            Self::Server { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::Connection { .. } | Self::Request(_) | Self::UnexpectedBody(_) => None,
        }
    }
}

/// `{"error": {"message", "type", "param", "code"}}`, all endpoints.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
    /// A string in OpenAI's answers, but some compatible servers send numbers.
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// An OpenAI-compatible REST API: base URL, key, retry policy and one connection pool.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base_url: String,
    key: ApiKey,
    pub(crate) retry: RetryPolicy,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Api {
    pub(crate) fn new(base_url: impl Into<String>, key: impl Into<ApiKey>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            key: key.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// `{base}/{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// A POST to `path` with the bearer key; the caller adds the body.
    pub(crate) fn post(&self, path: &str) -> RequestBuilder {
        self.http
            .post(self.url(path))
            .header(reqwest::header::AUTHORIZATION, self.key.bearer())
    }

    /// Send the request `build` makes, retrying transient failures; `build` runs once per
    /// attempt because a multipart body cannot be replayed.
    pub(crate) async fn send(
        &self,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = build().build().map_err(ApiError::Request)?;
            let (failure, retry_after) = match self.http.execute(request).await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let request_id =
                        header_str(response.headers(), "x-request-id").map(str::to_owned);
                    let body = response.text().await.unwrap_or_default();
                    let failure = classify(status, &body, attempt);
                    tracing::warn!(
                        status = status.as_u16(),
                        attempt,
                        request_id,
                        "OpenAI API request failed"
                    );
                    if !retryable(status) {
                        return Err(failure);
                    }
                    (failure, retry_after)
                }
                Err(e) if e.is_builder() => return Err(ApiError::Request(e)),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "OpenAI API unreachable");
                    (
                        ApiError::Connection {
                            attempts: attempt,
                            source: e,
                        },
                        None,
                    )
                }
            };
            let Some(delay) = self.retry.delay(attempt, retry_after) else {
                return Err(failure);
            };
            tokio::time::sleep(delay).await;
        }
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Turn an unsuccessful answer into an [`ApiError`], with OpenAI's `error.message` when the body
/// has one, or the start of the body (a proxy's HTML 413, say) when it does not.
fn classify(status: StatusCode, body: &str, attempts: u32) -> ApiError {
    let detail = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let message = detail
        .as_ref()
        .and_then(|d| d.message.clone())
        .unwrap_or_else(|| {
            let text: String = body.trim().chars().take(200).collect();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("").to_owned()
            } else {
                text
            }
        });
    match status.as_u16() {
        400 => ApiError::InvalidRequest {
            message,
            param: detail.as_ref().and_then(|d| d.param.clone()),
            code: detail.and_then(|d| {
                d.code.map(|c| match c {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
            }),
        },
        401 => ApiError::Unauthorized { message },
        413 => ApiError::TooLarge { message },
        429 => ApiError::RateLimited { message, attempts },
        s if status.is_server_error() => ApiError::Server {
            status: s,
            message,
            attempts,
        },
        s => ApiError::Status { status: s, message },
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `retry-after-ms` (OpenAI's, precise) or else `Retry-After` (seconds or an HTTP-date).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) =
        header_str(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX));
    }
    loquent_retry::retry_after(header_str(headers, RETRY_AFTER.as_str())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        let api = Api::new("http://x/v1/", "sk-secret-123");
        assert!(!format!("{api:?}").contains("sk-secret"));
        assert_eq!(
            api.url("/audio/transcriptions"),
            "http://x/v1/audio/transcriptions"
        );
    }

    #[test]
    fn retry_after_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.insert("retry-after-ms", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        // An HTTP-date already past asks for no wait.
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "later".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn errors_carry_openai_messages() {
        let body = r#"{"error":{"message":"Invalid file format.","type":"invalid_request_error","param":"file","code":"invalid_value"}}"#;
        match classify(StatusCode::BAD_REQUEST, body, 1) {
            ApiError::InvalidRequest {
                message,
                param,
                code,
            } => {
                assert_eq!(message, "Invalid file format.");
                assert_eq!(param.as_deref(), Some("file"));
                assert_eq!(code.as_deref(), Some("invalid_value"));
            }
            other => panic!("{other:?}"),
        }
        let html = "<html><body>413 Request Entity Too Large</body></html>";
        let e = classify(StatusCode::PAYLOAD_TOO_LARGE, html, 1);
        assert!(matches!(&e, ApiError::TooLarge { message } if message.contains("413")));
        assert_eq!(e.status(), Some(413));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, "", 3),
            ApiError::Server {
                status: 502,
                attempts: 3,
                ..
            }
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, "{}", 1),
            ApiError::Status { status: 403, .. }
        ));
    }
}
