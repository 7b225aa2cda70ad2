//! Seeded accounts: numbers and a call history generated from a seed, so the same request
//! always produces the same SIDs, numbers, calls and recordings.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::phone_numbers::PLACES;
use super::rng::Rng;
use super::store::{Account, Call, Number, Recording, Store};

/// `POST /sandbox/accounts`.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedRequest {
    /// Phone numbers to give the account.
    #[serde(default = "one")]
    pub numbers: u32,
    /// Completed calls per number, inbound and outbound mixed.
    #[serde(default)]
    pub calls_per_number: u32,
    /// Share of calls (0.0..=1.0) that have a recording.
    #[serde(default)]
    pub recording_share: f64,
    #[serde(default)]
    pub seed: u64,
    /// Calls start on or after this instant (`YYYY-MM-DD` or RFC 3339); default 2025-01-01.
    pub since: Option<String>,
    /// …and before this one; default 2025-04-01.
    pub until: Option<String>,
    pub friendly_name: Option<String>,
    /// The other parties are drawn from this many numbers (repeat callers), instead of a new
    /// random number for almost every call.
    #[serde(default)]
    pub parties: Option<u32>,
}

fn one() -> u32 {
    1
}

/// What `POST /sandbox/accounts` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeededAccount {
    pub account_sid: String,
    pub auth_token: String,
    pub numbers: Vec<SeededNumber>,
    /// Total calls generated.
    pub calls: usize,
    /// Total recordings generated.
    pub recordings: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeededNumber {
    pub sid: String,
    pub phone_number: String,
}

/// Most calls one seeding may create (memory guard).
const MAX_CALLS: u64 = 500_000;

pub(crate) fn parse_instant(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(format!("{raw:?} is not a date or RFC 3339 instant")))
}

fn random_party(rng: &mut Rng) -> String {
    let area = PLACES[rng.below(PLACES.len() as u64) as usize].0;
    format!("+1{area}{}{:06}", 2 + rng.below(8), rng.below(1_000_000))
}

/// Create (or re-create, if the seed was used before) a seeded main account.
pub(crate) fn seed(store: &mut Store, request: &SeedRequest) -> Result<SeededAccount, ApiError> {
    let since = parse_instant(request.since.as_deref().unwrap_or("2025-01-01"))?;
    let until = parse_instant(request.until.as_deref().unwrap_or("2025-04-01"))?;
    if until <= since {
        return Err(ApiError::invalid("until must be after since"));
    }
    if !(0.0..=1.0).contains(&request.recording_share) {
        return Err(ApiError::invalid("recording_share must be within 0..=1"));
    }
    if u64::from(request.numbers) * u64::from(request.calls_per_number) > MAX_CALLS
        || request.numbers > 10_000
    {
        return Err(ApiError::invalid(format!(
            "at most {MAX_CALLS} calls and 10000 numbers per seeded account"
        )));
    }
    let mut rng = Rng::new(request.seed);
    let sid = rng.sid("AC");
    let token = rng.hex32();
    // Re-seeding replaces the account, so the same seed always means the same data.
    store.accounts.remove(&sid);
    let mut account = Account::new(
        sid.clone(),
        token.clone(),
        None,
        request
            .friendly_name
            .clone()
            .unwrap_or_else(|| format!("Sandbox seed {}", request.seed)),
        since,
    );
    let span = (until - since).num_seconds().max(1) as u64;
    let pool: Vec<String> = (0..request.parties.unwrap_or(0))
        .map(|_| random_party(&mut rng))
        .collect();
    for _ in 0..request.numbers {
        let area = PLACES[rng.below(PLACES.len() as u64) as usize].0;
        let phone_number = loop {
            let candidate = format!("+1{area}555{:04}", 1000 + rng.below(9000));
            if !store.number_is_owned(&candidate)
                && !account.numbers.iter().any(|n| n.phone_number == candidate)
            {
                break candidate;
            }
        };
        let number = Number::new(rng.sid("PN"), phone_number, since);
        for _ in 0..request.calls_per_number {
            let start = since + Duration::seconds(rng.below(span) as i64);
            let seconds = 5 + rng.below(600) as i64;
            let end = start + Duration::seconds(seconds);
            let inbound = rng.below(2) == 0;
            let other = if pool.is_empty() {
                random_party(&mut rng)
            } else {
                pool[rng.below(pool.len() as u64) as usize].clone()
            };
            let call_sid = rng.sid("CA");
            let (from, to) = if inbound {
                (other, number.phone_number.clone())
            } else {
                (number.phone_number.clone(), other)
            };
            if rng.unit() < request.recording_share {
                let channels = 1 + rng.below(2) as u8;
                let recording_start = start + Duration::seconds(1);
                account.recordings.push(Recording {
                    sid: rng.sid("RE"),
                    call_sid: call_sid.clone(),
                    channels,
                    status: "completed".to_owned(),
                    source: "StartCallRecordingAPI".to_owned(),
                    track: "both".to_owned(),
                    start_time: recording_start,
                    updated: end,
                    duration: Some((seconds - 1).max(1)),
                    api_callback: None,
                });
            }
            account.calls.push(Call {
                sid: call_sid,
                from,
                to,
                status: "completed".to_owned(),
                direction: if inbound { "inbound" } else { "outbound-api" }.to_owned(),
                phone_number_sid: Some(number.sid.clone()),
                created: start,
                updated: end,
                start_time: start,
                end_time: Some(end),
                instructions: None,
            });
        }
        account.numbers.push(number);
    }
    account.sort_calls();
    let seeded = SeededAccount {
        account_sid: sid.clone(),
        auth_token: token,
        numbers: account
            .numbers
            .iter()
            .map(|n| SeededNumber {
                sid: n.sid.clone(),
                phone_number: n.phone_number.clone(),
            })
            .collect(),
        calls: account.calls.len(),
        recordings: account.recordings.len(),
    };
    store.accounts.insert(sid, account);
    Ok(seeded)
}
