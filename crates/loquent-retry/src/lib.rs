//! The one retry policy both HTTP clients (Twilio REST, OpenAI REST) follow: a bounded number of
//! attempts, exponential backoff with full jitter between them, and a server's `Retry-After`
//! honoured when it is no longer than one ceiling.
//!
//! Which failures are worth retrying is the client's business (a create that may have run is
//! not repeated, a 401 never is); this crate only says how long to wait and when to stop.

use std::time::{Duration, SystemTime};

/// Bounded retries with exponential backoff and full jitter.
///
/// After `n` failed attempts (1-based) the wait is uniform in `[0, min(max_delay,
/// base_delay · 2^(n-1))]`, so clients rate-limited together do not come back together. A
/// `Retry-After` from the server replaces the backoff when it is at most `retry_after_ceiling`;
/// a longer one ends the retries: sleeping less than the server asked would only fail again, and
/// sleeping longer belongs to the caller (a job scheduled later), which gets the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 (or 0) disables retries.
    pub max_attempts: u32,
    /// Ceiling of the wait after the first failure; it doubles with every further one.
    pub base_delay: Duration,
    /// Cap on the doubling ceiling.
    pub max_delay: Duration,
    /// The longest `Retry-After` waited for in place of the backoff.
    pub retry_after_ceiling: Duration,
}

impl RetryPolicy {
    /// 8 attempts, backoff ceilings 0.5, 1, 2 … 16 s (about 24 s of waiting in all on average,
    /// 48 s at most): rides out a burst of 429s or a failing-over upstream, where 4 attempts
    /// fail one request in a hundred at a 30 % error rate. `Retry-After` up to a minute is
    /// waited for, which covers per-minute rate-limit windows.
    pub const DEFAULT: Self = Self {
        max_attempts: 8,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(16),
        retry_after_ceiling: Duration::from_secs(60),
    };

    /// One attempt, no retries.
    pub const NONE: Self = Self {
        max_attempts: 1,
        ..Self::DEFAULT
    };

    /// One attempt, no retries (the same as [`RetryPolicy::NONE`]).
    pub const fn none() -> Self {
        Self::NONE
    }

    /// How long to wait before trying again after `failed` attempts failed (`failed` ≥ 1), the
    /// last one with the server's `retry_after`, if it sent one; `None` when there is no further
    /// attempt: the budget is spent, or the server asked for more than the ceiling.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if failed >= self.max_attempts.max(1) {
            return None;
        }
        match retry_after {
            Some(wait) if wait > self.retry_after_ceiling => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(failed)),
        }
    }

    /// The jittered backoff after `failed` failures: uniform in `[0, backoff_ceiling(failed)]`.
    pub fn backoff(&self, failed: u32) -> Duration {
        let ceiling = self.backoff_ceiling(failed);
        // A ceiling beyond u64 nanoseconds (584 years) is not a wait anyone configures.
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(0..=nanos))
    }

    /// The longest backoff after `failed` failures: `base_delay · 2^(failed-1)`, capped at
    /// `max_delay`. Never decreases as `failed` grows.
    pub fn backoff_ceiling(&self, failed: u32) -> Duration {
        // 2^31 already overflows any Duration built from milliseconds; saturate instead.
        let doublings = failed.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The wait a `Retry-After` header value asks for, measured from now; see [`retry_after_at`].
pub fn retry_after(value: &str) -> Option<Duration> {
    retry_after_at(value, SystemTime::now())
}

/// The wait a `Retry-After` header value asks for at `now`: delta-seconds (a decimal fraction is
/// accepted too) or an HTTP-date (a date already past asks for no wait). `None` for anything
/// else, so the caller falls back to its backoff.
pub fn retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Too many digits for u64 is a wait far beyond any ceiling.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base_delay: 100 * MS,
            max_delay: 1000 * MS,
            retry_after_ceiling: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_ceiling_doubles_then_stays_capped() {
        let policy = policy();
        let ceilings: Vec<_> = [1, 2, 3, 4, 5, 6, 40, u32::MAX]
            .into_iter()
            .map(|failed| policy.backoff_ceiling(failed))
            .collect();
        assert_eq!(
            ceilings,
            [100, 200, 400, 800, 1000, 1000, 1000, 1000].map(|ms: u32| ms * MS)
        );
        // `failed` 0 is treated as the first failure rather than halving the base.
        assert_eq!(policy.backoff_ceiling(0), 100 * MS);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let policy = policy();
        let waits: Vec<_> = (0..2000).map(|_| policy.backoff(4)).collect();
        assert!(waits.iter().all(|w| *w <= 800 * MS));
        // Full, not half, jitter: short waits occur, and the values vary.
        assert!(waits.iter().any(|w| *w < 200 * MS), "no wait below 200 ms");
        assert!(waits.iter().any(|w| *w > 600 * MS), "no wait above 600 ms");
        assert!(waits.iter().collect::<HashSet<_>>().len() > 100);
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..policy
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn the_attempt_budget_counts_the_first_attempt() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..policy()
        };
        assert!(policy.delay(1, None).is_some());
        assert!(policy.delay(2, None).is_some());
        assert_eq!(policy.delay(3, None), None);
        assert_eq!(policy.delay(3, Some(Duration::ZERO)), None);
        for none in [RetryPolicy::NONE, RetryPolicy::none()] {
            assert_eq!(none.delay(1, None), None);
        }
        let zero = RetryPolicy {
            max_attempts: 0,
            ..policy
        };
        assert_eq!(
            zero.delay(1, None),
            None,
            "0 attempts means one, not endless"
        );
    }

    #[test]
    fn retry_after_replaces_the_backoff_up_to_the_ceiling() {
        let policy = policy();
        let five = Duration::from_secs(5);
        assert_eq!(policy.delay(1, Some(Duration::ZERO)), Some(Duration::ZERO));
        assert_eq!(policy.delay(1, Some(3 * five / 5)), Some(3 * five / 5));
        assert_eq!(policy.delay(1, Some(five)), Some(five));
        assert_eq!(policy.delay(1, Some(five + MS)), None);
        assert_eq!(policy.delay(9, Some(Duration::MAX)), None);
    }

    #[test]
    fn the_default_is_the_documented_one() {
        let policy = RetryPolicy::default();
        assert_eq!(policy, RetryPolicy::DEFAULT);
        assert_eq!(policy.max_attempts, 8);
        let worst: Duration = (1..policy.max_attempts)
            .map(|failed| policy.backoff_ceiling(failed))
            .sum();
        assert_eq!(worst, Duration::from_millis(47_500));
    }

    #[test]
    fn retry_after_reads_delta_seconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let at = |value| retry_after_at(value, now);
        assert_eq!(at("0"), Some(Duration::ZERO));
        assert_eq!(at(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(at("1.5"), Some(1500 * MS));
        assert_eq!(at("99999999999999999999999"), Some(Duration::MAX));
        assert_eq!(at("1e300"), Some(Duration::MAX));
        for bad in ["", "-1", "-0.5", "NaN", "inf", "soon", "1 s"] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_reads_http_dates() {
        // 2015-10-21T07:28:00Z
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let now = date - Duration::from_secs(90);
        for value in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                retry_after_at(value, now),
                Some(Duration::from_secs(90)),
                "{value}"
            );
        }
        let later = date + Duration::from_secs(10);
        assert_eq!(
            retry_after_at("Wed, 21 Oct 2015 07:28:00 GMT", later),
            Some(Duration::ZERO),
            "a past date asks for no wait"
        );
        assert_eq!(retry_after_at("Wed, 32 Oct 2015 07:28:00 GMT", now), None);
    }

    proptest! {
        #[test]
        fn every_delay_is_bounded(
            failed in 0u32..100,
            base_ms in 0u64..10_000,
            max_ms in 0u64..100_000,
            attempts in 0u32..20,
            retry_after_ms in proptest::option::of(0u64..200_000),
        ) {
            let policy = RetryPolicy {
                max_attempts: attempts,
                base_delay: Duration::from_millis(base_ms),
                max_delay: Duration::from_millis(max_ms),
                retry_after_ceiling: Duration::from_secs(60),
            };
            let ceiling = policy.backoff_ceiling(failed);
            prop_assert!(ceiling <= policy.max_delay);
            prop_assert!(ceiling <= policy.backoff_ceiling(failed.saturating_add(1)));
            match policy.delay(failed, retry_after_ms.map(Duration::from_millis)) {
                None => prop_assert!(
                    failed >= attempts.max(1)
                        || retry_after_ms.is_some_and(|ms| ms > 60_000)
                ),
                Some(wait) => {
                    prop_assert!(failed < attempts.max(1));
                    match retry_after_ms {
                        Some(ms) => prop_assert_eq!(wait, Duration::from_millis(ms)),
                        None => prop_assert!(wait <= ceiling),
                    }
                }
            }
        }
    }
}
