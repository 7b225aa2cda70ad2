//! Sign-in throttling: every password attempt is counted against the account it names and the
//! address it comes from, in the database, so several server processes share the counts.
//!
//! An attempt is counted before its password is checked (so a burst of parallel guesses is
//! counted in full, not after the fact) and given back when it succeeds. Past a key's free
//! attempts, each counted attempt makes the next one wait, twice as long each time up to a cap;
//! an attempt during the wait is refused with how long is left and is not counted, so hammering
//! does not lengthen it. A key's count starts again after a quiet day.
//!
//! The account key is derived from the e-mail as typed, whether or not an account has it: the
//! answers and the work done are the same for both, so throttling does not reveal which
//! e-mails have accounts.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::entity::sign_in_throttle;

/// How many attempts a key has before they are slowed down, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Attempts without any wait.
    pub free: i32,
    /// The wait after the last free attempt; each attempt after it doubles the wait.
    pub first_wait: Duration,
    /// The longest wait between two attempts.
    pub max_wait: Duration,
}

/// One account: a person mistyping gets five tries at full speed, then waits half a minute.
/// At the cap an attacker gets four guesses an hour.
pub const ACCOUNT: Limit = Limit {
    free: 5,
    first_wait: Duration::seconds(30),
    max_wait: Duration::minutes(15),
};

/// One client address: an office behind one address signs many people in.
pub const ADDRESS: Limit = Limit {
    free: 20,
    first_wait: Duration::seconds(30),
    max_wait: Duration::minutes(15),
};

/// A count is forgotten after this long without an attempt.
const QUIET: Duration = Duration::hours(24);

impl Limit {
    /// The wait after the `attempt`-th counted attempt, if any: [`Limit::first_wait`] after the
    /// last free one, doubling with each attempt up to [`Limit::max_wait`].
    pub fn wait_after(self, attempt: i32) -> Option<Duration> {
        let over = attempt - self.free;
        if over < 0 {
            return None;
        }
        let factor = 1_i32.checked_shl(u32::try_from(over).unwrap_or(u32::MAX).min(20));
        Some(
            factor
                .and_then(|f| self.first_wait.checked_mul(f))
                .map_or(self.max_wait, |w| w.min(self.max_wait)),
        )
    }
}

/// What an attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// The account an e-mail names, as typed (trimmed, lower-cased), whether or not it exists.
    /// Only a hash is stored: the table does not list the e-mails people tried.
    pub fn account(email: &str) -> Self {
        Self::with_purpose("account", email)
    }

    /// A client address; an IPv6 address by its /64, which one host usually holds whole.
    pub fn address(address: IpAddr) -> Self {
        let network = match address {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        };
        Self(format!("address:{network}"))
    }

    /// The account an e-mail names, counted for another kind of attempt than signing in
    /// (`purpose`, such as `reset-account`): its own count and wait.
    pub fn with_purpose(purpose: &str, email: &str) -> Self {
        let digest = crate::auth::session::token_hash(&email.trim().to_lowercase());
        Self(format!("{purpose}:{digest}"))
    }

    /// This key, counted separately for `purpose`.
    #[must_use]
    pub fn for_purpose(self, purpose: &str) -> Self {
        Self(format!("{purpose}-{}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An attempt refused: none is checked before `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds to wait, at least one (`Retry-After`).
    pub fn retry_after_secs(&self) -> i64 {
        let ms = self.retry_after.num_milliseconds().max(1);
        (ms + 999) / 1000
    }
}

/// Counts one attempt against each key, or refuses it when any key is waiting (then nothing is
/// counted). A key counted and then refused by a later one keeps its count: the attempt was
/// made.
pub async fn attempt(
    db: &impl ConnectionTrait,
    keys: &[(&Key, Limit)],
    now: DateTime<Utc>,
) -> Result<Result<(), Throttled>, DbErr> {
    // Checked first for all, so that a key waiting does not cost the others an attempt.
    let mut longest: Option<Duration> = None;
    for (key, _) in keys {
        if let Some(row) = sign_in_throttle::Entity::find_by_id(key.as_str())
            .one(db)
            .await?
            && let Some(wait) = waiting(&row, now)
        {
            longest = Some(longest.map_or(wait, |l| l.max(wait)));
        }
    }
    if let Some(retry_after) = longest {
        return Ok(Err(Throttled { retry_after }));
    }
    for (key, limit) in keys {
        if let Err(throttled) = count(db, key, *limit, now).await? {
            return Ok(Err(throttled));
        }
    }
    Ok(Ok(()))
}

fn waiting(row: &sign_in_throttle::Model, now: DateTime<Utc>) -> Option<Duration> {
    row.blocked_until
        .filter(|until| *until > now)
        .map(|until| until - now)
}

/// Compare-and-swap on the row's `(attempts, updated_at)`, so that concurrent attempts from
/// several processes each count once.
async fn count(
    db: &impl ConnectionTrait,
    key: &Key,
    limit: Limit,
    now: DateTime<Utc>,
) -> Result<Result<(), Throttled>, DbErr> {
    for _ in 0..16 {
        let Some(row) = sign_in_throttle::Entity::find_by_id(key.as_str())
            .one(db)
            .await?
        else {
            let inserted = sign_in_throttle::Entity::insert(sign_in_throttle::ActiveModel {
                key: Set(key.as_str().to_owned()),
                attempts: Set(1),
                blocked_until: Set(limit.wait_after(1).map(|w| now + w)),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(sign_in_throttle::Column::Key)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
            if inserted == 1 {
                return Ok(Ok(()));
            }
            continue;
        };
        if let Some(retry_after) = waiting(&row, now) {
            return Ok(Err(Throttled { retry_after }));
        }
        let attempts = if now - row.updated_at > QUIET {
            1
        } else {
            row.attempts.saturating_add(1)
        };
        let updated = sign_in_throttle::Entity::update_many()
            .col_expr(sign_in_throttle::Column::Attempts, attempts.into())
            .col_expr(
                sign_in_throttle::Column::BlockedUntil,
                limit.wait_after(attempts).map(|w| now + w).into(),
            )
            .col_expr(sign_in_throttle::Column::UpdatedAt, now.into())
            .filter(sign_in_throttle::Column::Key.eq(key.as_str()))
            .filter(sign_in_throttle::Column::Attempts.eq(row.attempts))
            .filter(sign_in_throttle::Column::UpdatedAt.eq(row.updated_at))
            .exec(db)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(Ok(()));
        }
    }
    // Sixteen lost races in a row: the key is under a flood; the caller waits a moment.
    Ok(Err(Throttled {
        retry_after: Duration::seconds(1),
    }))
}

/// A successful sign-in: the account starts again from nothing; the address gets its attempt
/// back but keeps any wait (a success of one's own account does not lift a wait earned on
/// others).
pub async fn succeeded(
    db: &impl ConnectionTrait,
    account: &Key,
    address: Option<&Key>,
) -> Result<(), DbErr> {
    sign_in_throttle::Entity::delete_by_id(account.as_str())
        .exec(db)
        .await?;
    if let Some(address) = address {
        sign_in_throttle::Entity::update_many()
            .col_expr(
                sign_in_throttle::Column::Attempts,
                sea_orm::sea_query::ExprTrait::sub(
                    sea_orm::sea_query::Expr::col(sign_in_throttle::Column::Attempts),
                    1,
                ),
            )
            .filter(sign_in_throttle::Column::Key.eq(address.as_str()))
            .filter(sign_in_throttle::Column::Attempts.gt(0))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Lifts `key`'s count and wait (its password was just reset by someone entitled to).
pub async fn forget(db: &impl ConnectionTrait, key: &Key) -> Result<(), DbErr> {
    sign_in_throttle::Entity::delete_by_id(key.as_str())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the counts nobody has added to for a quiet day (they would start again anyway).
pub async fn purge_quiet(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = sign_in_throttle::Entity::delete_many()
        .filter(sign_in_throttle::Column::UpdatedAt.lt(now - QUIET))
        .filter(
            sea_orm::Condition::any()
                .add(sign_in_throttle::Column::BlockedUntil.is_null())
                .add(sign_in_throttle::Column::BlockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_attempts_and_double_up_to_the_cap() {
        let waits: Vec<_> = (1..=12)
            .map(|n| ACCOUNT.wait_after(n).map(|d| d.num_seconds()))
            .collect();
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900),
                Some(900)
            ]
        );
        assert_eq!(ACCOUNT.wait_after(40), Some(Duration::minutes(15)));
        assert_eq!(ACCOUNT.wait_after(i32::MAX), Some(Duration::minutes(15)));
    }

    #[test]
    fn keys_hide_the_email_and_group_an_ipv6_host() {
        let key = Key::account(" Ann@Example.com ");
        assert_eq!(key, Key::account("ann@example.com"));
        assert!(!key.as_str().contains("example"));
        assert_eq!(
            Key::address("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            Key::address("2001:db8:1:2:ffff::1".parse().unwrap())
        );
        assert_eq!(
            Key::address("::ffff:192.0.2.7".parse().unwrap()).as_str(),
            "address:192.0.2.7"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let t = |ms| Throttled {
            retry_after: Duration::milliseconds(ms),
        };
        assert_eq!(t(1).retry_after_secs(), 1);
        assert_eq!(t(1000).retry_after_secs(), 1);
        assert_eq!(t(1001).retry_after_secs(), 2);
        assert_eq!(t(0).retry_after_secs(), 1);
    }
}
