//! The recording pipeline end to end: the sandbox's call simulator records a call when the
//! organization wants it and reports the completed recording to `/twilio/recording`; one job
//! downloads it, stores it, transcribes it with the OpenAI emulator, saves the transcript, queues
//! the post-call steps and deletes the recording from Twilio. Also the telephony-settings API and
//! page, and recordings on S3 (a moto server).

use std::time::Duration;

use loquent::calls::after::kind;
use loquent::config::StorageLocation;
use loquent::entity::{call, job, organization_twilio_settings};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::live_calls::{Line, line, line_with};
use crate::support::{self, ServerProcess, TestApp, api_error, venv_program};

fn agent() -> Value {
    json!({
        "provider": "gemini",
        "tools": {"end_call": true, "transfer_call": true},
        "transfer_numbers": ["+15550001111"],
    })
}

/// A short conversation; the caller hangs up at the end of the script.
fn script() -> Value {
    json!([
        {"wait_for_reply": 5000},
        {"say": "hello", "ms": 800},
        {"wait_for_reply": 5000},
        {"silence": 500}
    ])
}

fn org_of(line: &Line) -> Uuid {
    line.owner.org_id().parse().unwrap()
}

async fn call_row(app: &TestApp, call_sid: &str) -> call::Model {
    for _ in 0..100 {
        if let Some(row) = call::Entity::find()
            .filter(call::Column::CallSid.eq(call_sid))
            .one(&app.app.db)
            .await
            .unwrap()
        {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no call row for {call_sid}");
}

async fn recording_jobs(app: &TestApp) -> Vec<job::Model> {
    job::Entity::find()
        .filter(job::Column::Kind.eq(kind::PROCESS_RECORDING))
        .all(&app.app.db)
        .await
        .unwrap()
}

/// The recording job of `call_id` once it has ended (done, failed or skipped).
async fn finished_job(app: &TestApp, call_id: Uuid) -> job::Model {
    for _ in 0..600 {
        let found = job::Entity::find()
            .filter(job::Column::Kind.eq(kind::PROCESS_RECORDING))
            .filter(job::Column::CallId.eq(call_id))
            .one(&app.app.db)
            .await
            .unwrap();
        if let Some(job) = found
            && ["done", "failed", "skipped"].contains(&job.status.as_str())
        {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the recording job of call {call_id} did not finish in 60 s");
}

/// The recording as Twilio (the sandbox) has it: `None` once deleted.
pub async fn recording_on_twilio(line: &Line, recording_sid: &str) -> Option<Value> {
    let res = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{recording_sid}.json",
            line.sandbox.twilio_api_base(),
            line.account.account_sid
        ))
        .basic_auth(&line.account.account_sid, Some(&line.account.auth_token))
        .send()
        .await
        .unwrap();
    match res.status() {
        StatusCode::OK => Some(res.json().await.unwrap()),
        StatusCode::NOT_FOUND => None,
        other => panic!("fetching the recording: {other}"),
    }
}

/// Whether the default local storage directory holds anything (it must not when S3 is used).
fn local_dir_has_recordings(app: &TestApp) -> bool {
    let data = match &app.app.config.storage {
        StorageLocation::S3 { .. } => app.app.config.data_dir.join("storage"),
        StorageLocation::Local(dir) => dir.clone(),
    };
    std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_some())
}

fn local_dir(app: &TestApp) -> std::path::PathBuf {
    match &app.app.config.storage {
        StorageLocation::Local(dir) => dir.clone(),
        StorageLocation::S3 { .. } => panic!("expected local storage"),
    }
}

/// Checks what a user sees once a recorded call is processed; returns the recording SID.
async fn assert_processed(line: &Line, report: &loquent_sandbox::CallReport) -> call::Model {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.twiml[0].contains("<Recording"),
        "{}",
        report.twiml[0]
    );
    let recording = report.recordings.first().expect("the call was recorded");
    let delivered: Vec<_> = report
        .callbacks
        .iter()
        .filter(|c| c.kind == "recording")
        .collect();
    assert_eq!(delivered.len(), 1, "{:?}", report.callbacks);
    assert_eq!(delivered[0].status, Some(200), "{delivered:?}");
    let row = call_row(&line.app, &report.call_sid).await;
    let job = finished_job(&line.app, row.id).await;
    assert_eq!(job.status, "done", "{:?}", job.last_error);
    let row = call_row(&line.app, &report.call_sid).await;
    let org_id = org_of(line);
    assert_eq!(row.recording_sid.as_deref(), Some(recording.sid.as_str()));
    assert_eq!(
        row.recording_url.as_deref(),
        Some(format!("{org_id}/recordings/{}.mp3", report.call_sid).as_str())
    );
    assert_eq!(row.transcript_source.as_deref(), Some("recording"));
    let segments = row.transcript_segments.clone().expect("segments");
    let speakers: Vec<&str> = segments
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert!(speakers.contains(&"Caller"), "{segments}");
    assert!(speakers.contains(&"Agent"), "{segments}");
    for s in segments.as_array().unwrap() {
        assert!(
            s["start"].as_f64().unwrap() <= s["end"].as_f64().unwrap(),
            "{s}"
        );
        assert!(!s["text"].as_str().unwrap().is_empty(), "{s}");
    }
    let text = row.transcription.clone().expect("transcript text");
    assert!(
        text.contains("Caller: ") && text.contains("Agent: "),
        "{text}"
    );
    // The post-call steps of this recording are queued (their handlers are not this test's).
    let steps: Vec<String> = job::Entity::find()
        .filter(job::Column::CallId.eq(row.id))
        .filter(job::Column::Kind.ne(kind::PROCESS_RECORDING))
        .all(&line.app.app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.kind)
        .collect();
    for step in [kind::ENRICH_CONTACT, kind::EXTRACT_TODOS, kind::SEND_REPORT] {
        assert!(steps.iter().any(|k| k == step), "{step} missing: {steps:?}");
    }
    row
}

#[tokio::test]
async fn a_recorded_call_is_stored_transcribed_and_deleted_from_twilio() {
    let line = line(agent(), true).await;
    let report = line.call(script()).await;
    let row = assert_processed(&line, &report).await;
    let stored = local_dir(&line.app).join(row.recording_url.clone().unwrap());
    let mp3 = std::fs::read(&stored).expect("the MP3 is stored");
    assert!(mp3.len() > 1_000, "{} bytes", mp3.len());
    assert!(
        mp3.starts_with(b"ID3") || (mp3[0] == 0xFF && mp3[1] & 0xE0 == 0xE0),
        "not an MP3"
    );
    let sid = row.recording_sid.clone().unwrap();
    assert!(
        recording_on_twilio(&line, &sid).await.is_none(),
        "deleted from Twilio"
    );
    // The transcription asked for both channels separately.
    let log: Value = reqwest::get(format!(
        "{}/sandbox/openai/requests",
        line.sandbox.twilio_api_base()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let uploads = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == "audio/transcriptions" && r["status"] == 200)
        .count();
    assert!(uploads >= 2, "{log}");
}

#[tokio::test]
async fn a_recording_is_kept_on_twilio_when_the_organization_says_so() {
    let line = line(agent(), true).await;
    let res = line
        .owner
        .client
        .patch(line.app.url("/api/twilio/telephony-settings"))
        .json(&json!({"delete_recordings_from_twilio": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report = line.call(script()).await;
    let row = assert_processed(&line, &report).await;
    let kept = recording_on_twilio(&line, row.recording_sid.as_deref().unwrap()).await;
    assert!(kept.is_some(), "kept on Twilio");
}

#[tokio::test]
async fn a_call_is_not_recorded_when_recording_is_off() {
    let line = line(agent(), false).await;
    let report = line.call(script()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        !report.twiml[0].contains("<Recording"),
        "{}",
        report.twiml[0]
    );
    assert!(!report.twiml[0].contains("record"), "{}", report.twiml[0]);
    assert!(report.recordings.is_empty());
    call_row(&line.app, &report.call_sid).await;
    assert!(recording_jobs(&line.app).await.is_empty());
}

/// Recording stays off, whatever else goes wrong in reading the switch (seed 001: fail-closed).
#[tokio::test]
async fn recording_is_off_without_a_settings_row_or_when_it_cannot_be_read() {
    let line = line(agent(), true).await;
    let db = &line.app.app.db;

    // A number that is not ours: the caller is told so and nothing is recorded.
    let form_for = |to: &str| {
        vec![
            ("AccountSid".to_owned(), line.account.account_sid.clone()),
            (
                "CallSid".to_owned(),
                "CA00000000000000000000000000000009".to_owned(),
            ),
            ("From".to_owned(), "+15557654321".to_owned()),
            ("To".to_owned(), to.to_owned()),
            ("CallStatus".to_owned(), "ringing".to_owned()),
        ]
    };
    let url = line.app.url("/twilio/voice");
    let form = form_for("+15550109999");
    let signature = loquent_twilio::signature::sign(
        &line.account.auth_token,
        &url,
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let res = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let twiml = res.text().await.unwrap();
    assert!(!twiml.contains("<Recording"), "{twiml}");

    // No settings row.
    organization_twilio_settings::Entity::delete_by_id(org_of(&line))
        .exec(db)
        .await
        .unwrap();
    let report = line.call(script()).await;
    assert!(
        !report.twiml[0].contains("<Recording"),
        "{}",
        report.twiml[0]
    );
    assert!(report.recordings.is_empty());

    // The settings table cannot be read.
    support::set_recording(&line.app, org_of(&line), true).await;
    db.execute_unprepared(
        "ALTER TABLE organization_twilio_settings RENAME TO organization_twilio_settings_gone",
    )
    .await
    .unwrap();
    let report = line.call(script()).await;
    assert!(
        !report.twiml[0].contains("<Recording"),
        "{}",
        report.twiml[0]
    );
    assert!(report.recordings.is_empty());
    assert!(recording_jobs(&line.app).await.is_empty());
}

async fn post_recording_callback(
    line: &Line,
    form: &[(&str, &str)],
    token: Option<&str>,
) -> reqwest::Response {
    let url = line.app.url("/twilio/recording");
    let mut req = reqwest::Client::new().post(&url).form(form);
    if let Some(token) = token {
        let signature = loquent_twilio::signature::sign(token, &url, form.iter().copied());
        req = req.header("x-twilio-signature", signature);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_retried_callback_makes_one_job_and_a_forged_one_none() {
    let line = line(agent(), false).await;
    let report = line.call(script()).await;
    call_row(&line.app, &report.call_sid).await;
    let recording_sid = "RE0123456789abcdef0123456789abcdef";
    let form = [
        ("AccountSid", line.account.account_sid.as_str()),
        ("CallSid", report.call_sid.as_str()),
        ("RecordingSid", recording_sid),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE",
        ),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "3"),
        ("RecordingChannels", "2"),
    ];

    // Forged, unsigned, or for an account nobody here has: refused, nothing written.
    let res = post_recording_callback(&line, &form, Some("not-the-token")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post_recording_callback(&line, &form, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let mut stranger = form;
    stranger[0].1 = "AC0123456789abcdef0123456789abcdef";
    let res = post_recording_callback(&line, &stranger, Some(&line.account.auth_token)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(recording_jobs(&line.app).await.is_empty());

    // A status other than completed is acknowledged and ignored.
    let mut failed = form;
    failed[4].1 = "failed";
    let res = post_recording_callback(&line, &failed, Some(&line.account.auth_token)).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert!(recording_jobs(&line.app).await.is_empty());

    // Twilio retries: three deliveries, one job, each answered at once.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let res = post_recording_callback(&line, &form, Some(&line.account.auth_token)).await;
        assert!(res.status().is_success(), "{}", res.status());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    let jobs = recording_jobs(&line.app).await;
    assert_eq!(jobs.len(), 1);
    let row = call_row(&line.app, &report.call_sid).await;
    assert_eq!(jobs[0].call_id, Some(row.id));
    assert_eq!(jobs[0].organization_id, Some(org_of(&line)));
    assert_eq!(
        jobs[0].dedupe_key.as_deref(),
        Some(format!("recording.process:{recording_sid}").as_str())
    );
    assert_eq!(jobs[0].payload["recording_sid"], recording_sid);
}

#[tokio::test]
async fn a_download_that_fails_with_503_is_retried_and_finishes() {
    let line = line(agent(), true).await;
    let api = line.sandbox.twilio_api_base();
    let res = reqwest::Client::new()
        .post(format!("{api}/sandbox/faults"))
        .json(&json!({"method": "GET", "path_contains": ".mp3", "rate": 1.0, "statuses": [503]}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let report = line.call(script()).await;
    let row = call_row(&line.app, &report.call_sid).await;
    // The first attempt fails with a message a person understands.
    let mut failed_once = None;
    for _ in 0..600 {
        let job = job::Entity::find()
            .filter(job::Column::CallId.eq(row.id))
            .filter(job::Column::Kind.eq(kind::PROCESS_RECORDING))
            .one(&line.app.app.db)
            .await
            .unwrap();
        if let Some(job) = job.filter(|j| j.last_error.is_some()) {
            failed_once = Some(job);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed_once = failed_once.expect("a failed attempt");
    let error = failed_once.last_error.unwrap();
    assert!(
        error.contains("Twilio answered 503 while downloading the recording RE"),
        "{error}"
    );
    reqwest::Client::new()
        .delete(format!("{api}/sandbox/faults"))
        .send()
        .await
        .unwrap();
    let job = finished_job(&line.app, row.id).await;
    assert_eq!(job.status, "done", "{:?}", job.last_error);
    assert!(job.attempts >= 2);
    assert_processed(&line, &report).await;
}

#[tokio::test]
async fn a_transcription_rate_limited_with_429_is_retried_and_finishes() {
    let line = line(agent(), true).await;
    let res = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/openai/faults",
            line.sandbox.twilio_api_base()
        ))
        .json(&json!({"status": 429, "count": 2, "retry_after": 0, "endpoint": "audio/transcriptions"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let report = line.call(script()).await;
    assert_processed(&line, &report).await;
    let log: Value = reqwest::get(format!(
        "{}/sandbox/openai/requests",
        line.sandbox.twilio_api_base()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let limited = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 429)
        .count();
    assert_eq!(limited, 2, "{log}");
}

#[tokio::test]
async fn without_an_openai_key_the_job_fails_saying_so_and_keeps_the_mp3() {
    let line = line_with(agent(), true, &[("LOQUENT_OPENAI_API_KEY", "")]).await;
    let report = line.call(script()).await;
    let row = call_row(&line.app, &report.call_sid).await;
    let mut seen = None;
    for _ in 0..600 {
        let job = job::Entity::find()
            .filter(job::Column::CallId.eq(row.id))
            .filter(job::Column::Kind.eq(kind::PROCESS_RECORDING))
            .one(&line.app.app.db)
            .await
            .unwrap();
        if let Some(job) = job.filter(|j| j.last_error.is_some()) {
            seen = Some(job);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = seen.expect("a failed attempt").last_error.unwrap();
    assert!(error.contains("no OpenAI API key is configured"), "{error}");
    let row = call_row(&line.app, &report.call_sid).await;
    let key = row.recording_url.expect("stored before transcribing");
    assert!(local_dir(&line.app).join(key).exists());
    assert!(row.transcript_source.as_deref() != Some("recording"));
}

#[tokio::test]
async fn telephony_settings_are_read_and_changed_by_permission_and_per_organization() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme Plumbing").await;
    let other = app.owner("Other Co").await;
    let path = "/api/twilio/telephony-settings";
    let defaults = json!({"call_recording_enabled": false, "delete_recordings_from_twilio": true});
    let got: Value = owner.get_json(&app, path).await;
    assert_eq!(got, defaults);

    let res = owner
        .client
        .patch(app.url(path))
        .json(&json!({"call_recording_enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got: Value = res.json().await.unwrap();
    assert_eq!(
        got,
        json!({"call_recording_enabled": true, "delete_recordings_from_twilio": true})
    );
    let res = owner
        .client
        .patch(app.url(path))
        .json(&json!({"delete_recordings_from_twilio": false}))
        .send()
        .await
        .unwrap();
    let got: Value = res.json().await.unwrap();
    assert_eq!(
        got,
        json!({"call_recording_enabled": true, "delete_recordings_from_twilio": false})
    );
    let got: Value = owner.get_json(&app, path).await;
    assert_eq!(
        got,
        json!({"call_recording_enabled": true, "delete_recordings_from_twilio": false})
    );
    // Another organization is not affected.
    let got: Value = other.get_json(&app, path).await;
    assert_eq!(got, defaults);

    // Bad input: a plain message, nothing changed.
    for body in [
        json!({"call_recording_enabled": "yes"}),
        json!({"record": true}),
    ] {
        let res = owner
            .client
            .patch(app.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&res.status()),
            "{}",
            res.status()
        );
    }
    let res = owner
        .client
        .patch(app.url(path))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert!(
        [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&status),
        "{status}"
    );
    assert!(!api_error(res, status).await.is_empty());

    // Permissions: reading needs Twilio:Instance:Read, changing Twilio:Instance:Update.
    let reader = app.member_with(&owner, &["Twilio:Instance:Read"]).await;
    let got: Value = reader.get_json(&app, path).await;
    assert_eq!(got["delete_recordings_from_twilio"], false);
    let res = reader
        .client
        .patch(app.url(path))
        .json(&json!({"call_recording_enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let nobody = app.member_with(&owner, &["Agent:Collection:List"]).await;
    let res = nobody.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let got: Value = owner.get_json(&app, path).await;
    assert_eq!(got["call_recording_enabled"], true);
}

#[tokio::test]
async fn the_twilio_page_shows_and_saves_the_telephony_switches() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme Plumbing").await;
    let html = owner.page(&app, "/settings/twilio").await;
    assert!(html.contains("<h2>Telephony</h2>"), "{html}");
    assert!(html.contains("name=\"call_recording_enabled\" id=\"call_recording_enabled\">"));
    assert!(html.contains(
        "name=\"delete_recordings_from_twilio\" id=\"delete_recordings_from_twilio\" checked>"
    ));

    // Recording on, deletion off (its box not ticked).
    let res = owner
        .post_form(
            &app,
            "/settings/twilio/telephony",
            &[("call_recording_enabled", "on")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let got: Value = owner.get_json(&app, "/api/twilio/telephony-settings").await;
    assert_eq!(
        got,
        json!({"call_recording_enabled": true, "delete_recordings_from_twilio": false})
    );
    let html = owner.page(&app, "/settings/twilio?done=telephony").await;
    assert!(html.contains("The telephony settings apply from the next call."));
    assert!(html.contains("id=\"call_recording_enabled\" checked>"));

    // Without the CSRF token: refused, nothing changed.
    let res = owner
        .client
        .post(app.url("/settings/twilio/telephony"))
        .form(&[("delete_recordings_from_twilio", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A reader sees the switches but cannot save them.
    let reader = app.member_with(&owner, &["Twilio:Instance:Read"]).await;
    let html = reader.page(&app, "/settings/twilio").await;
    assert!(html.contains("<h2>Telephony</h2>"));
    assert!(!html.contains("Save telephony settings"));
    let res = reader
        .post_form(&app, "/settings/twilio/telephony", &[])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let got: Value = owner.get_json(&app, "/api/twilio/telephony-settings").await;
    assert_eq!(got["call_recording_enabled"], true);
}

#[tokio::test]
async fn a_recording_is_stored_on_s3() {
    let moto = ServerProcess::start(&venv_program("moto_server"), &["-p", "{port}"]).await;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    // moto takes unsigned requests: create the bucket the operator would have created.
    let res = reqwest::Client::new()
        .put(format!("{endpoint}/call-audio"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let line = line_with(
        agent(),
        true,
        &[
            ("LOQUENT_STORAGE_URL", "s3://call-audio/loquent/prod"),
            ("LOQUENT_S3_ENDPOINT", endpoint.as_str()),
            ("LOQUENT_S3_REGION", "us-east-1"),
            ("LOQUENT_S3_ACCESS_KEY_ID", "testing"),
            ("LOQUENT_S3_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .await;
    let report = line.call(script()).await;
    let row = assert_processed(&line, &report).await;
    let key = row.recording_url.unwrap();
    // The object is in the bucket under the prefix (moto's listing, unsigned), and the app
    // streams it back in ranges, as the calls API will.
    let listing = reqwest::get(format!("{endpoint}/call-audio?prefix=loquent/prod/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains(&format!("<Key>loquent/prod/{key}</Key>")),
        "{listing}"
    );
    let object = line.app.app.storage.get(&key, Some(0..10)).await.unwrap();
    assert!(object.size > 1_000, "{} bytes", object.size);
    assert_eq!(object.range, 0..10);
    let part = line.app.app.storage.get_range(&key, 0..10).await.unwrap();
    assert_eq!(part.len(), 10);
    assert!(!local_dir_has_recordings(&line.app));
}
