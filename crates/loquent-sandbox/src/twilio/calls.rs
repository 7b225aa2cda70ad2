//! `ListCall`, `FetchCall`, `UpdateCall`.

use chrono::{DateTime, NaiveDate, Utc};

use super::api::{ApiRequest, Outcome, Reply};
use super::error::ApiError;
use super::paging::v2010_page;
use super::store::{Account, Call};

const STATUSES: [&str; 8] = [
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
];

/// A `StartTime` filter value: `YYYY-MM-DD` (UTC midnight) or RFC 3339.
fn parse_day(name: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(format!("{name} must be a date (YYYY-MM-DD), got {raw:?}")))
}

pub(crate) fn list(account: &Account, request: &ApiRequest) -> Outcome {
    let to = request.query("To");
    let from = request.query("From");
    let status = request.query("Status");
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(ApiError::invalid(format!(
            "Status {s:?} is not a call status"
        )));
    }
    let on_or_after = request
        .query("StartTime>")
        .map(|v| parse_day("StartTime>", v))
        .transpose()?;
    let before = request
        .query("StartTime<")
        .map(|v| parse_day("StartTime<", v))
        .transpose()?;
    let on_day = request
        .query("StartTime")
        .map(|v| parse_day("StartTime", v))
        .transpose()?;
    let matching: Vec<&Call> = account
        .calls
        .iter()
        .filter(|c| to.is_none_or(|to| c.to == to))
        .filter(|c| from.is_none_or(|from| c.from == from))
        .filter(|c| status.is_none_or(|s| c.status == s))
        .filter(|c| on_or_after.is_none_or(|t| c.start_time >= t))
        .filter(|c| before.is_none_or(|t| c.start_time < t))
        .filter(|c| {
            on_day.is_none_or(|t| c.start_time >= t && c.start_time < t + chrono::Duration::days(1))
        })
        .collect();
    let body = v2010_page(
        request,
        "calls",
        &matching,
        |c| &c.sid,
        |c| c.to_json(&account.sid),
    )?;
    Ok(Reply::Json(200, body))
}

pub(crate) fn fetch(account: &Account, request: &ApiRequest, sid: &str) -> Outcome {
    let call = account
        .calls
        .iter()
        .find(|c| c.sid == sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    Ok(Reply::Json(200, call.to_json(&account.sid)))
}

/// Hang up / cancel (`Status`), or replace what a live call does (`Twiml`, `Url`).
pub(crate) fn update(account: &mut Account, request: &ApiRequest, sid: &str) -> Outcome {
    let now = Utc::now();
    let account_sid = account.sid.clone();
    let call = account
        .calls
        .iter_mut()
        .find(|c| c.sid == sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    let not_live = || ApiError::new(400, 21220, "Call is not in-progress. Cannot redirect.");
    if let Some(status) = request.form("Status") {
        match status {
            "completed" | "canceled" => {
                if call.is_live() {
                    call.status = if status == "canceled" && call.status == "in-progress" {
                        "completed".to_owned()
                    } else {
                        status.to_owned()
                    };
                    call.end_time = Some(now);
                    call.updated = now;
                }
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "Status must be completed or canceled, got {other:?}"
                )));
            }
        }
    } else if let Some(twiml) = request.form("Twiml") {
        if !call.is_live() {
            return Err(not_live());
        }
        call.instructions = Some(twiml.to_owned());
        call.updated = now;
    } else if let Some(url) = request.form("Url") {
        if !call.is_live() {
            return Err(not_live());
        }
        call.instructions = Some(url.to_owned());
        call.updated = now;
    } else {
        return Err(ApiError::invalid("One of Status, Twiml or Url is required"));
    }
    let body = call.to_json(&account_sid);
    if !call_is_live(account, sid) {
        finish_recordings(account, sid, now);
    }
    Ok(Reply::Json(200, body))
}

fn call_is_live(account: &Account, sid: &str) -> bool {
    account.calls.iter().any(|c| c.sid == sid && c.is_live())
}

/// A call ended: its in-progress recordings complete.
fn finish_recordings(account: &mut Account, call_sid: &str, now: DateTime<Utc>) {
    for recording in account
        .recordings
        .iter_mut()
        .filter(|r| r.call_sid == call_sid && r.status == "in-progress")
    {
        recording.status = "completed".to_owned();
        recording.duration = Some((now - recording.start_time).num_seconds().max(1));
        recording.updated = now;
    }
}
