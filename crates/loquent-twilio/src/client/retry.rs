//! Which Twilio failures are worth another attempt. How long to wait, and when to stop, is the
//! workspace's one [`RetryPolicy`].

use std::time::Duration;

pub use loquent_retry::RetryPolicy;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::Idempotency;

/// A `429` always (Twilio did not run the request), a `5xx` only for operations that may run
/// twice: a create that failed with a 500 may still have happened.
pub(super) fn status_is_retryable(status: StatusCode, idempotency: Idempotency) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && idempotency == Idempotency::Idempotent)
}

/// A failed connect never reached Twilio; a timeout or a broken exchange may have, so only
/// operations that may run twice try again.
pub(super) fn error_is_retryable(error: &reqwest::Error, idempotency: Idempotency) -> bool {
    error.is_connect()
        || (idempotency == Idempotency::Idempotent && (error.is_timeout() || error.is_request()))
}

/// The wait Twilio asks for in `Retry-After` (delta-seconds in practice; an HTTP-date is read
/// too).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    loquent_retry::retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn creates_are_retried_only_when_they_did_not_run() {
        use Idempotency::*;
        let cases = [
            (429, Idempotent, true),
            (429, Creates, true),
            (503, Idempotent, true),
            (500, Creates, false),
            (404, Idempotent, false),
            (401, Idempotent, false),
        ];
        for (status, idempotency, retryable) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                status_is_retryable(status, idempotency),
                retryable,
                "{status} {idempotency:?}"
            );
        }
    }
}
