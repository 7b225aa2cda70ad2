//! `ListCallRecording`, `CreateCallRecording`, `FetchRecording`, `DeleteRecording` and the
//! recording media (`…/Recordings/{Sid}.mp3`).

use chrono::Utc;

use super::api::{ApiRequest, Outcome, Reply};
use super::error::ApiError;
use super::mp3;
use super::paging::v2010_page;
use super::rng::Rng;
use loquent_twilio::twiml::RecordingEvent;

use super::store::{Account, ApiCallback, Recording};

pub(crate) fn list_for_call(account: &Account, request: &ApiRequest, call_sid: &str) -> Outcome {
    if !account.calls.iter().any(|c| c.sid == call_sid) {
        return Err(ApiError::not_found(&request.path));
    }
    let of_call: Vec<&Recording> = account
        .recordings
        .iter()
        .filter(|r| r.call_sid == call_sid)
        .collect();
    let body = v2010_page(
        request,
        "recordings",
        &of_call,
        |r| &r.sid,
        |r| r.to_call_json(&account.sid),
    )?;
    Ok(Reply::Json(200, body))
}

/// Start recording a live call.
pub(crate) fn create_for_call(
    account: &mut Account,
    rng: &mut Rng,
    request: &ApiRequest,
    call_sid: &str,
) -> Outcome {
    let call = account
        .calls
        .iter()
        .find(|c| c.sid == call_sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    if call.status != "in-progress" {
        return Err(ApiError::new(
            400,
            21220,
            "Requested resource is not eligible for recording",
        ));
    }
    let channels = match request.form("RecordingChannels").unwrap_or("mono") {
        "mono" => 1,
        "dual" => 2,
        other => {
            return Err(ApiError::invalid(format!(
                "RecordingChannels must be mono or dual, got {other:?}"
            )));
        }
    };
    let track = request.form("RecordingTrack").unwrap_or("both");
    if !["inbound", "outbound", "both"].contains(&track) {
        return Err(ApiError::invalid(format!(
            "RecordingTrack must be inbound, outbound or both, got {track:?}"
        )));
    }
    let mut events = Vec::new();
    for event in request.form_all("RecordingStatusCallbackEvent") {
        for name in event.split(' ').filter(|n| !n.is_empty()) {
            events.push(match name {
                "in-progress" => RecordingEvent::InProgress,
                "completed" => RecordingEvent::Completed,
                "absent" => RecordingEvent::Absent,
                other => {
                    return Err(ApiError::invalid(format!(
                        "RecordingStatusCallbackEvent must be in-progress, completed or absent, got {other:?}"
                    )));
                }
            });
        }
    }
    if events.is_empty() {
        events.push(RecordingEvent::Completed);
    }
    let api_callback = ApiCallback {
        url: request
            .form("RecordingStatusCallback")
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
        method: request
            .form("RecordingStatusCallbackMethod")
            .unwrap_or("POST")
            .to_owned(),
        events,
    };
    let now = Utc::now();
    let recording = Recording {
        sid: rng.sid("RE"),
        call_sid: call_sid.to_owned(),
        channels,
        status: "in-progress".to_owned(),
        source: "StartCallRecordingAPI".to_owned(),
        track: track.to_owned(),
        start_time: now,
        updated: now,
        duration: None,
        api_callback: Some(api_callback),
    };
    let body = recording.to_call_json(&account.sid);
    account.recordings.push(recording);
    Ok(Reply::Json(201, body))
}

fn find<'a>(
    account: &'a Account,
    request: &ApiRequest,
    sid: &str,
) -> Result<&'a Recording, ApiError> {
    account
        .recordings
        .iter()
        .find(|r| r.sid == sid)
        .ok_or_else(|| ApiError::not_found(&request.path))
}

pub(crate) fn fetch(account: &Account, request: &ApiRequest, sid: &str) -> Outcome {
    let recording = find(account, request, sid)?;
    Ok(Reply::Json(
        200,
        recording.to_json(&account.sid, &request.origin),
    ))
}

pub(crate) fn delete(account: &mut Account, request: &ApiRequest, sid: &str) -> Outcome {
    let before = account.recordings.len();
    account.recordings.retain(|r| r.sid != sid);
    if account.recordings.len() == before {
        return Err(ApiError::not_found(&request.path));
    }
    Ok(Reply::NoContent)
}

/// The audio: a caller-and-agent loop as long as the recording, mono or dual as `RequestedChannels` asks.
pub(crate) fn media(account: &Account, request: &ApiRequest, sid: &str) -> Outcome {
    let recording = find(account, request, sid)?;
    if recording.status != "completed" {
        // Twilio serves media only once the recording is processed.
        return Err(ApiError::not_found(&request.path));
    }
    let channels = match request.query("RequestedChannels") {
        None => recording.channels,
        Some("1") => 1,
        Some("2") if recording.channels == 2 => 2,
        Some("2") => {
            return Err(ApiError::invalid(
                "RequestedChannels=2 needs a dual-channel recording",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "RequestedChannels must be 1 or 2, got {other:?}"
            )));
        }
    };
    let seconds = recording.duration.unwrap_or(1).max(1) as u64;
    Ok(Reply::Mp3(mp3::recording(seconds, channels)))
}
