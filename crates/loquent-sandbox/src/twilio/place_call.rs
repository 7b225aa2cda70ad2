//! The call simulator: an inbound call placed the way Twilio places one.
//!
//! `POST /sandbox/calls {account_sid, to, from, script?, wait?}`: the call rings on `to` (a number
//! of the account); the sandbox POSTs the number's voice URL with Twilio's parameters and a valid
//! `X-Twilio-Signature`, parses the TwiML (invalid TwiML fails the call with error 12100, as on
//! Twilio) and runs it: `<Start><Recording>` starts a recording, `<Say>` and `<Pause>` take their
//! time, `<Dial>` is recorded as a transfer, `<Redirect>` fetches the next document, `<Hangup>`
//! ends the call and `<Connect><Stream>` opens the media stream and plays the caller's script
//! ([`super::caller_script`]) over it. When the stream ends the `<Connect action>` URL is
//! requested (with `CallStatus` and, once the call is over, `CallDuration`). At the end the
//! recordings complete and their status callbacks are sent, the number's own `StatusCallback`
//! gets the final status, and the account's Event Streams sinks receive the events they
//! subscribed to. Hanging up or redirecting the call through the REST API while it runs ends the
//! stream, as it does on Twilio.
//!
//! The answer is a report of what the call saw ([`CallReport`]). With `wait: false` the call runs
//! in the background and `GET /sandbox/calls/{CallSid}` returns the report once it has ended.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use loquent_twilio::twiml::{self, RecordingEvent, StartNoun, Verb};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Shared;
use super::caller_script::{self, Step};
use super::error::ApiError;
use super::media_session::{self, StreamContext, StreamEnd, StreamError, StreamReport};
use super::store::{API_VERSION, Call, Recording, Store, rfc2822};
use super::webhooks::{self, Callback, EventDelivery};

/// TwiML documents one call may fetch before the sandbox calls it a loop.
const MAX_DOCUMENTS: usize = 10;
/// `<Say>` takes this long per character (about twice as fast as Twilio speaks: tests wait less).
const SAY_MS_PER_CHAR: u64 = 30;
const SAY_MAX_MS: u64 = 3_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceCall {
    account_sid: String,
    from: String,
    to: String,
    script: Option<Value>,
    /// Answer once the call has ended (default), or at once with `202` and the call SID.
    #[serde(default = "yes")]
    wait: bool,
    /// The call reaches the number through a SIP trunk or a Studio flow: Twilio does not ask
    /// the number's voice URL, the call is simply connected for `hold_ms` and then ends.
    #[serde(default)]
    bypass: bool,
    /// How long a `bypass` call stays connected (default 500 ms).
    #[serde(default)]
    hold_ms: Option<u64>,
    /// The status-callback events the call asked for (`answered`, `completed`), as a Studio
    /// flow or a REST-created call can: Event Streams has voice status-callback events only for
    /// those. A call through the voice URL asks for `completed` when its number has a
    /// `StatusCallback`.
    #[serde(default)]
    status_callback_events: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A recording the call made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordingReport {
    pub sid: String,
    pub channels: u8,
    pub duration_secs: i64,
    pub url: String,
}

/// Everything a simulated call saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallReport {
    pub call_sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    /// Final call status: `completed`, or `failed` when the application could not be reached or
    /// answered with something that is not TwiML.
    pub status: String,
    pub duration_secs: i64,
    /// Every TwiML document the call ran, as received.
    pub twiml: Vec<String>,
    pub said: Vec<String>,
    /// Numbers a `<Dial>` connected the caller to.
    pub dialed: Vec<String>,
    pub streams: Vec<StreamReport>,
    /// Totals over `streams`.
    pub media_frames_sent: u64,
    pub media_frames_received: u64,
    pub recordings: Vec<RecordingReport>,
    pub callbacks: Vec<Callback>,
    pub events: Vec<EventDelivery>,
    pub errors: Vec<StreamError>,
    pub warnings: Vec<String>,
}

pub(crate) async fn place(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(request): Json<PlaceCall>,
) -> Response {
    let steps = match caller_script::parse(request.script.as_ref()) {
        Ok(steps) => steps,
        Err(message) => return ApiError::invalid(message).into_response(),
    };
    let origin = origin(&headers);
    let call = match ring(&shared, &request) {
        Ok(call) => call,
        Err(e) => return e.into_response(),
    };
    let call_sid = call.call.sid.clone();
    let run = simulate(shared.clone(), origin, call, steps, how(&request));
    if request.wait {
        let report = run.await;
        return (StatusCode::OK, Json(report)).into_response();
    }
    tokio::spawn(run);
    (
        StatusCode::ACCEPTED,
        Json(json!({ "call_sid": call_sid, "report": format!("/sandbox/calls/{call_sid}") })),
    )
        .into_response()
}

/// `GET /sandbox/calls/{CallSid}`: the report of a finished call, or 202 while it runs.
pub(crate) async fn report(State(shared): State<Shared>, Path(sid): Path<String>) -> Response {
    let store = lock(&shared);
    if let Some(report) = store.call_reports.get(&sid) {
        return (StatusCode::OK, Json(report.clone())).into_response();
    }
    let live = store
        .accounts
        .values()
        .any(|a| a.calls.iter().any(|c| c.sid == sid));
    if live {
        return (
            StatusCode::ACCEPTED,
            Json(json!({ "call_sid": sid, "status": "in-progress" })),
        )
            .into_response();
    }
    ApiError::not_found(&format!("/sandbox/calls/{sid}")).into_response()
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Store> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the application can fetch recordings: this sandbox, as the caller addressed it.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// How the call is answered.
#[derive(Debug, Clone)]
struct How {
    /// `Some(hold)`: connected without TwiML for this long.
    bypass: Option<std::time::Duration>,
    /// Status-callback stages the call asked for.
    status_events: Vec<String>,
}

fn how(request: &PlaceCall) -> How {
    How {
        bypass: request
            .bypass
            .then(|| std::time::Duration::from_millis(request.hold_ms.unwrap_or(500))),
        status_events: request.status_callback_events.clone(),
    }
}

/// A call that has started ringing.
struct Ringing {
    call: Call,
    account_sid: String,
    auth_token: String,
    voice_url: Option<String>,
    voice_method: String,
    status_callback: String,
    status_callback_method: String,
}

fn ring(shared: &Shared, request: &PlaceCall) -> Result<Ringing, ApiError> {
    let mut store = lock(shared);
    let sid = store.new_sid("CA");
    let account = store
        .accounts
        .get_mut(&request.account_sid)
        .ok_or_else(|| ApiError::not_found(&request.account_sid))?;
    let number = account
        .numbers
        .iter()
        .find(|n| n.phone_number == request.to)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{} is not a number of account {}",
                request.to, request.account_sid
            ))
        })?;
    let now = Utc::now();
    let call = Call {
        sid,
        phone_number_sid: Some(number.sid.clone()),
        from: request.from.clone(),
        to: request.to.clone(),
        status: "ringing".to_owned(),
        direction: "inbound".to_owned(),
        created: now,
        updated: now,
        start_time: now,
        end_time: None,
        instructions: None,
    };
    let ringing = Ringing {
        call: call.clone(),
        account_sid: account.sid.clone(),
        auth_token: account.auth_token.clone(),
        voice_url: number.voice_url.clone().filter(|u| !u.is_empty()),
        voice_method: number.voice_method.clone(),
        status_callback: number.status_callback.clone(),
        status_callback_method: number.status_callback_method.clone(),
    };
    account.calls.push(call);
    account.sort_calls();
    Ok(ringing)
}

/// Where the next TwiML comes from.
enum Next {
    Fetch {
        kind: &'static str,
        url: String,
        method: String,
        extra: Vec<(String, String)>,
    },
    Inline(String),
}

/// A recording the call started.
struct Started {
    sid: String,
    channels: u8,
    callback: Option<(String, String)>,
    events: Vec<RecordingEvent>,
    start: DateTime<Utc>,
}

struct Simulation {
    shared: Shared,
    origin: String,
    how: How,
    ringing: Ringing,
    report: CallReport,
    recordings: Vec<Started>,
    callbacks_sent: u32,
}

async fn simulate(
    shared: Shared,
    origin: String,
    ringing: Ringing,
    steps: Vec<Step>,
    mut how: How,
) -> CallReport {
    let report = CallReport {
        call_sid: ringing.call.sid.clone(),
        account_sid: ringing.account_sid.clone(),
        from: ringing.call.from.clone(),
        to: ringing.call.to.clone(),
        ..CallReport::default()
    };
    if how.bypass.is_none()
        && !ringing.status_callback.is_empty()
        && !how.status_events.iter().any(|e| e == "completed")
    {
        how.status_events.push("completed".to_owned());
    }
    let mut simulation = Simulation {
        shared,
        origin,
        how,
        ringing,
        report,
        recordings: Vec::new(),
        callbacks_sent: 0,
    };
    let outcome = match simulation.how.bypass {
        Some(hold) => simulation.run_bypass(hold).await,
        None => simulation.run_twiml(&steps).await,
    };
    simulation.finish(outcome).await;
    let report = simulation.report;
    let mut store = lock(&simulation.shared);
    if let Ok(json) = serde_json::to_value(&report) {
        store.call_reports.insert(report.call_sid.clone(), json);
    }
    report
}

/// How the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
}

impl Simulation {
    fn call_params(&self, status: &str) -> Vec<(String, String)> {
        let call = &self.ringing.call;
        webhooks::call_params(
            &self.ringing.account_sid,
            &call.sid,
            &call.from,
            &call.to,
            status,
        )
    }

    async fn form(
        &mut self,
        kind: &'static str,
        method: &str,
        url: &str,
        params: &[(String, String)],
    ) -> Option<webhooks::Answer> {
        self.callbacks_sent += 1;
        let token = format!("{}-{kind}-{}", self.ringing.call.sid, self.callbacks_sent);
        let (callback, answer) =
            webhooks::send_form(kind, &self.ringing.auth_token, method, url, params, &token).await;
        self.report.callbacks.push(callback);
        answer
    }

    fn error(&mut self, code: u32, message: impl Into<String>) {
        self.report.errors.push(StreamError {
            code,
            message: message.into(),
        });
    }

    /// Fetch and parse one TwiML document; `None` (with the error reported) fails the call.
    async fn fetch(&mut self, next: Next, status: &str) -> Option<twiml::Response> {
        let body = match next {
            Next::Inline(body) => body,
            Next::Fetch {
                kind,
                url,
                method,
                extra,
            } => {
                let mut params = self.call_params(status);
                params.extend(extra);
                let answer = self.form(kind, &method, &url, &params).await;
                let Some(answer) = answer else {
                    self.error(
                        11200,
                        format!("HTTP retrieval failure: {url} could not be reached"),
                    );
                    return None;
                };
                if !(200..300).contains(&answer.status) {
                    self.error(
                        11200,
                        format!("HTTP retrieval failure: {url} answered {}", answer.status),
                    );
                    return None;
                }
                if !answer.content_type.is_empty()
                    && !answer.content_type.contains("xml")
                    && !answer.content_type.starts_with("text/plain")
                {
                    self.report.warnings.push(format!(
                        "{url} answered Content-Type {:?}; TwiML should be text/xml",
                        answer.content_type
                    ));
                }
                answer.body
            }
        };
        self.report.twiml.push(body.clone());
        match twiml::Response::parse(&body) {
            Ok(document) => Some(document),
            Err(e) => {
                self.error(
                    u32::from(e.twilio_error_code()),
                    format!("invalid TwiML: {e}"),
                );
                None
            }
        }
    }

    /// A call Twilio connects without asking us (SIP trunk, Studio): answered at once, over
    /// after `hold` or when the REST API ends it.
    async fn run_bypass(&mut self, hold: std::time::Duration) -> Outcome {
        self.set_status("in-progress");
        self.deliver_status_event("answered").await;
        let until = tokio::time::Instant::now() + hold;
        while tokio::time::Instant::now() < until {
            let live = {
                let store = lock(&self.shared);
                store
                    .accounts
                    .get(&self.ringing.account_sid)
                    .and_then(|a| a.calls.iter().find(|c| c.sid == self.ringing.call.sid))
                    .is_some_and(Call::is_live)
            };
            if !live {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Outcome::Completed
    }

    async fn run_twiml(&mut self, steps: &[Step]) -> Outcome {
        let Some(voice_url) = self.ringing.voice_url.clone() else {
            self.error(
                11200,
                format!(
                    "{} has no voice URL: nothing answers the call",
                    self.ringing.call.to
                ),
            );
            return Outcome::Failed;
        };
        let mut next = Some(Next::Fetch {
            kind: "voice",
            url: voice_url,
            method: self.ringing.voice_method.clone(),
            extra: Vec::new(),
        });
        let mut status = "ringing";
        let mut documents = 0;
        // The caller's script is spoken on the first stream only.
        let mut script = Some(steps);
        while let Some(source) = next.take() {
            documents += 1;
            if documents > MAX_DOCUMENTS {
                self.error(
                    11200,
                    format!("more than {MAX_DOCUMENTS} TwiML documents: a redirect loop?"),
                );
                return Outcome::Failed;
            }
            let Some(document) = self.fetch(source, status).await else {
                return Outcome::Failed;
            };
            if status == "ringing" {
                status = "in-progress";
                self.set_status("in-progress");
            }
            for verb in document.verbs {
                match verb {
                    Verb::Start(start) => self.start(start.nouns),
                    Verb::Say(say) => {
                        let ms =
                            (say.text.chars().count() as u64 * SAY_MS_PER_CHAR).min(SAY_MAX_MS);
                        self.report.said.push(say.text);
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                    Verb::Pause(pause) => {
                        let secs = pause.length.unwrap_or(1);
                        tokio::time::sleep(std::time::Duration::from_secs(u64::from(secs))).await;
                    }
                    Verb::Hangup => return Outcome::Completed,
                    Verb::Redirect(redirect) => {
                        next = Some(Next::Fetch {
                            kind: "redirect",
                            url: redirect.url,
                            method: method_name(redirect.method),
                            extra: Vec::new(),
                        });
                        break;
                    }
                    Verb::Dial(dial) => {
                        self.report
                            .dialed
                            .extend(dial.numbers.iter().map(|n| n.as_str().to_owned()));
                        if let Some(action) = dial.action {
                            next = Some(Next::Fetch {
                                kind: "dial_action",
                                url: action,
                                method: method_name(dial.method),
                                extra: vec![
                                    ("DialCallStatus".into(), "completed".into()),
                                    ("DialCallDuration".into(), "0".into()),
                                ],
                            });
                            break;
                        }
                    }
                    Verb::Connect(connect) => {
                        let end = self
                            .stream(&connect.stream, script.take().unwrap_or(&[]))
                            .await;
                        let action = connect.action.clone();
                        let method = method_name(connect.method);
                        match end {
                            StreamEnd::CallerHungUp | StreamEnd::CallEnded => {
                                self.end_call();
                                if let Some(url) = action {
                                    let mut params = self.call_params("completed");
                                    params
                                        .push(("CallDuration".into(), self.duration().to_string()));
                                    self.form("action", &method, &url, &params).await;
                                }
                                return Outcome::Completed;
                            }
                            StreamEnd::Redirected(instructions) => {
                                next = Some(if instructions.trim_start().starts_with('<') {
                                    Next::Inline(instructions)
                                } else {
                                    Next::Fetch {
                                        kind: "redirect",
                                        url: instructions,
                                        method: "POST".into(),
                                        extra: Vec::new(),
                                    }
                                });
                                break;
                            }
                            StreamEnd::ServerClosed | StreamEnd::Failed => {
                                if let Some(url) = action {
                                    next = Some(Next::Fetch {
                                        kind: "action",
                                        url,
                                        method,
                                        extra: Vec::new(),
                                    });
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
        Outcome::Completed
    }

    fn start(&mut self, nouns: Vec<StartNoun>) {
        for noun in nouns {
            match noun {
                StartNoun::Recording(recording) => {
                    let channels = match recording.channels {
                        Some(twiml::RecordingChannels::Mono) => 1,
                        _ => 2,
                    };
                    let track = recording.track.map_or("both", |t| t.as_str()).to_owned();
                    let now = Utc::now();
                    let mut store = lock(&self.shared);
                    let sid = store.new_sid("RE");
                    if let Some(account) = store.accounts.get_mut(&self.ringing.account_sid) {
                        account.recordings.push(Recording {
                            sid: sid.clone(),
                            call_sid: self.ringing.call.sid.clone(),
                            channels,
                            status: "in-progress".into(),
                            source: "StartCallRecordingTwiML".into(),
                            track,
                            start_time: now,
                            updated: now,
                            duration: None,
                            api_callback: None,
                        });
                    }
                    drop(store);
                    let events = if recording.recording_status_callback_event.is_empty() {
                        vec![RecordingEvent::Completed]
                    } else {
                        recording.recording_status_callback_event.clone()
                    };
                    self.recordings.push(Started {
                        sid,
                        channels,
                        callback: recording.recording_status_callback.map(|url| {
                            (url, method_name(recording.recording_status_callback_method))
                        }),
                        events,
                        start: now,
                    });
                }
                StartNoun::Stream { stream, .. } => self.report.warnings.push(format!(
                    "<Start><Stream url={:?}>: unidirectional streams are not simulated",
                    stream.url
                )),
            }
        }
    }

    async fn stream(&mut self, stream: &twiml::Stream, steps: &[Step]) -> StreamEnd {
        let stream_sid = lock(&self.shared).new_sid("MZ");
        let parameters: BTreeMap<String, String> = stream
            .parameters
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        let context = StreamContext {
            shared: &self.shared,
            account_sid: &self.ringing.account_sid,
            auth_token: &self.ringing.auth_token,
            call_sid: &self.ringing.call.sid,
            url: &stream.url,
            without_tls: self
                .ringing
                .voice_url
                .as_deref()
                .is_some_and(webhooks::stream_without_tls),
            parameters,
            stream_sid,
        };
        let (report, end) = media_session::run(context, steps).await;
        self.report.media_frames_sent += report.media_frames_sent;
        self.report.media_frames_received += report.media_frames_received;
        self.report.streams.push(report);
        end
    }

    fn set_status(&self, status: &str) {
        let mut store = lock(&self.shared);
        if let Some(call) = store
            .accounts
            .get_mut(&self.ringing.account_sid)
            .and_then(|a| a.calls.iter_mut().find(|c| c.sid == self.ringing.call.sid))
        {
            call.status = status.to_owned();
            call.updated = Utc::now();
        }
    }

    /// Mark the call ended (if the REST API did not already) and return its final state.
    fn end_call(&mut self) {
        let now = Utc::now();
        let mut store = lock(&self.shared);
        if let Some(call) = store
            .accounts
            .get_mut(&self.ringing.account_sid)
            .and_then(|a| a.calls.iter_mut().find(|c| c.sid == self.ringing.call.sid))
        {
            if call.is_live() {
                call.status = if call.status == "ringing" && self.report.twiml.is_empty() {
                    "failed".into()
                } else {
                    "completed".into()
                };
                call.end_time = Some(now);
                call.updated = now;
            }
            self.ringing.call = call.clone();
        }
    }

    fn duration(&self) -> i64 {
        self.ringing.call.duration().unwrap_or(0).max(0)
    }

    async fn finish(&mut self, outcome: Outcome) {
        if outcome == Outcome::Failed {
            self.set_status("failed");
        }
        self.end_call();
        let duration = self.duration();
        self.report.status = self.ringing.call.status.clone();
        self.report.duration_secs = duration;
        self.complete_recordings(duration).await;
        self.final_status_callback().await;
        self.deliver_events().await;
    }

    async fn complete_recordings(&mut self, duration: i64) {
        let now = Utc::now();
        let mut recordings = std::mem::take(&mut self.recordings);
        // Recordings started through the REST API while the call ran.
        {
            let store = lock(&self.shared);
            if let Some(account) = store.accounts.get(&self.ringing.account_sid) {
                recordings.extend(
                    account
                        .recordings
                        .iter()
                        .filter(|r| r.call_sid == self.ringing.call.sid)
                        .filter(|r| r.status == "in-progress")
                        .filter_map(|r| {
                            let api = r.api_callback.as_ref()?;
                            Some(Started {
                                sid: r.sid.clone(),
                                channels: r.channels,
                                callback: api.url.clone().map(|url| (url, api.method.clone())),
                                events: api.events.clone(),
                                start: r.start_time,
                            })
                        }),
                );
            }
        }
        for started in recordings {
            let length = (now - started.start)
                .num_seconds()
                .clamp(1, duration.max(1));
            {
                let mut store = lock(&self.shared);
                if let Some(recording) = store
                    .accounts
                    .get_mut(&self.ringing.account_sid)
                    .and_then(|a| a.recordings.iter_mut().find(|r| r.sid == started.sid))
                {
                    recording.status = "completed".into();
                    recording.duration = Some(length);
                    recording.updated = now;
                }
            }
            let url = format!(
                "{}/{API_VERSION}/Accounts/{}/Recordings/{}",
                self.origin, self.ringing.account_sid, started.sid
            );
            self.report.recordings.push(RecordingReport {
                sid: started.sid.clone(),
                channels: started.channels,
                duration_secs: length,
                url: url.clone(),
            });
            let Some((callback, method)) = started.callback.clone() else {
                continue;
            };
            if !started.events.contains(&RecordingEvent::Completed) {
                continue;
            }
            let params: Vec<(String, String)> = vec![
                ("AccountSid".into(), self.ringing.account_sid.clone()),
                ("CallSid".into(), self.ringing.call.sid.clone()),
                ("RecordingSid".into(), started.sid.clone()),
                ("RecordingUrl".into(), url),
                ("RecordingStatus".into(), "completed".into()),
                ("RecordingDuration".into(), length.to_string()),
                ("RecordingChannels".into(), started.channels.to_string()),
                ("RecordingStartTime".into(), rfc2822(started.start)),
                ("RecordingSource".into(), "StartCallRecordingTwiML".into()),
                ("RecordingTrack".into(), "both".into()),
                ("ErrorCode".into(), "0".into()),
            ];
            self.form("recording", &method, &callback, &params).await;
        }
    }

    /// The number's own `StatusCallback` hears the final state only.
    async fn final_status_callback(&mut self) {
        if self.ringing.status_callback.is_empty() {
            return;
        }
        let params = self.status_callback_params();
        let url = self.ringing.status_callback.clone();
        let method = self.ringing.status_callback_method.clone();
        self.form("status", &method, &url, &params).await;
    }

    fn status_callback_params(&self) -> Vec<(String, String)> {
        let mut params = self.call_params(&self.ringing.call.status);
        params.extend([
            ("CallDuration".into(), self.duration().to_string()),
            ("Duration".into(), ((self.duration() + 59) / 60).to_string()),
            ("Timestamp".into(), rfc2822(Utc::now())),
            ("CallbackSource".into(), "call-progress-events".into()),
            ("SequenceNumber".into(), "0".into()),
            ("SipResponseCode".into(), "200".into()),
        ]);
        params
    }

    /// Event Streams: the call's events to every webhook sink subscribed to their types.
    async fn deliver_events(&mut self) {
        let mut events = vec![self.insights_summary()];
        // Voice status-callback events exist only for calls that asked for status callbacks.
        if self.how.status_events.iter().any(|e| e == "completed") {
            events.push(self.status_callback_event("completed"));
        }
        let deliveries =
            super::streams::deliver(&self.shared, &self.ringing.account_sid, &events, false).await;
        self.report.events.extend(deliveries);
    }

    /// The status-callback event of `stage`, when the call asked for it.
    async fn deliver_status_event(&mut self, stage: &str) {
        if !self.how.status_events.iter().any(|e| e == stage) {
            return;
        }
        let event = self.status_callback_event(stage);
        let deliveries =
            super::streams::deliver(&self.shared, &self.ringing.account_sid, &[event], false).await;
        self.report.events.extend(deliveries);
    }

    fn event_id(&self, kind: &str) -> String {
        format!("EV{}{kind}", &self.ringing.call.sid[2..])
    }

    fn status_callback_event(&self, stage: &str) -> Value {
        let now = Utc::now();
        let params = if stage == "completed" {
            self.status_callback_params()
        } else {
            let mut params = self.call_params("in-progress");
            params.push(("Timestamp".into(), rfc2822(now)));
            params
        };
        let parameters: serde_json::Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        json!({
            "specversion": "1.0",
            "type": format!("com.twilio.voice.status-callback.call.{stage}"),
            "source": format!("/2010-04-01/Accounts/{}/Calls/{}.json", self.ringing.account_sid, self.ringing.call.sid),
            "id": self.event_id(&stage[..2]),
            "dataschema": "https://events-schemas.twilio.com/Voice.WebhookEvent/2",
            "datacontenttype": "application/json",
            "time": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": {
                "sid": self.ringing.call.sid,
                "eventSid": format!("VW{}", &self.ringing.call.sid[2..]),
                "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "requestDateCreated": rfc2822(now),
                "request": {
                    "method": "POST",
                    "url": self.ringing.status_callback,
                    "parameters": parameters,
                },
            },
        })
    }

    fn insights_summary(&self) -> Value {
        let call = &self.ringing.call;
        let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let end = call.end_time.unwrap_or_else(Utc::now);
        let state = match call.status.as_str() {
            "completed" => "completed",
            "busy" => "busy",
            "no-answer" => "noanswer",
            "canceled" => "canceled",
            _ => "fail",
        };
        json!({
            "specversion": "1.0",
            "type": "com.twilio.voice.insights.call-summary.complete",
            "source": format!("/v1/Voice/{}/Summary", call.sid),
            "id": self.event_id("cs"),
            "dataschema": "https://events-schemas.twilio.com/VoiceInsights.CallSummary/1",
            "datacontenttype": "application/json",
            "time": iso(Utc::now()),
            "data": {
                "account_sid": self.ringing.account_sid,
                "call_sid": call.sid,
                "call_type": if self.how.bypass.is_some() { "trunking" } else { "carrier" },
                "call_state": state,
                "answered_by": "unknown",
                "processing_state": "complete",
                "created_time": iso(call.created),
                "start_time": iso(call.start_time),
                "end_time": iso(end),
                "duration": self.duration(),
                "connect_duration": self.duration(),
                "from": {"caller": call.from, "connection": "mobile", "country_code": "US"},
                "to": {"callee": call.to, "connection": "voip", "country_code": "US"},
                "tags": [],
                "attributes": {"conference_participant": false},
                "properties": {"direction": "inbound", "disconnected_by": "caller"},
                "url": format!("https://insights.twilio.com/v1/Voice/{}/Summary", call.sid),
            },
        })
    }
}

fn method_name(method: Option<twiml::Method>) -> String {
    method.map_or("POST", |m| m.as_str()).to_owned()
}
