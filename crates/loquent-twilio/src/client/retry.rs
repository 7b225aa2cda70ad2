//! When and how long to wait before trying a request again.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Bounded retries with exponential backoff and jitter.
///
/// Attempt `n` (1-based) that failed waits a random time in
/// `[d/2, d]` with `d = min(max_backoff, initial_backoff * 2^(n-1))` — unless the response
/// carried `Retry-After`, which is honoured as given up to `max_retry_after` (longer waits
/// are not slept through: the error is returned for the caller to schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            // Twilio's 429s come in bursts; 8 attempts (about 25 s of backoff at most) ride out a
            // burst where 4 would fail one page in a hundred at a 30 % error rate.
            max_attempts: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Wait after failed attempt number `attempt` (1-based), jitter included.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << exp)
            .min(self.max_backoff);
        let half = ceiling / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A number in `[0, 1)`, random enough for jitter (std's randomly keyed SipHash).
fn unit_random() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` in delta-seconds. The HTTP-date form is not used by Twilio and is ignored
/// (we fall back to our own backoff).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(1),
        };
        for (attempt, ceiling) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let wait = policy.backoff(attempt);
            assert!(
                wait >= Duration::from_millis(ceiling / 2),
                "{attempt}: {wait:?}"
            );
            assert!(
                wait <= Duration::from_millis(ceiling),
                "{attempt}: {wait:?}"
            );
        }
        let waits: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(3)).collect();
        assert!(waits.len() > 1, "jitter should vary the wait");
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
