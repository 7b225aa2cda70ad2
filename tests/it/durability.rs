//! The job runner across real processes: `loquent serve` binaries sharing the test's database
//! and data directory run the recording pipeline and its post-call steps. One is killed with
//! SIGKILL while recordings are in flight and started again; two run side by side. Either way
//! every recording is processed once, and every call gets one analysis run and no more.
//!
//! The test's own server answers the webhooks but runs no jobs (`LOQUENT_RUN_JOBS=false`), so
//! the recordings wait in the queue for the processes under test.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loquent::calls::after::kind;
use loquent::entity::{call, call_analysis, job};
use loquent_sandbox::CallReport;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::live_calls::{Line, line_with};
use crate::recordings::recording_on_twilio;
use crate::support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_loquent");
const PROMPT: &str = "Was the caller satisfied? Answer in one sentence.";

fn agent() -> Value {
    json!({"provider": "gemini", "tools": {"end_call": true}})
}

fn script() -> Value {
    json!([
        {"wait_for_reply": 5000},
        {"say": "hello", "ms": 800},
        {"wait_for_reply": 5000},
        {"silence": 500}
    ])
}

/// A line whose own server runs no jobs, with one active analyzer on its number, after `n`
/// recorded calls: `n` recording jobs wait in the queue.
async fn recorded_calls(n: usize) -> (Line, Vec<CallReport>) {
    let line = line_with(agent(), true, &[("LOQUENT_RUN_JOBS", "false")]).await;
    let res = line
        .owner
        .post_json(
            &line.app,
            "/api/analyzers",
            &json!({"name": "Satisfaction", "prompt": PROMPT, "phone_number_ids": [line.phone_id]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let calls = futures_util::future::join_all((0..n).map(|_| line.call(script()))).await;
    for report in &calls {
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.recordings.len(), 1, "{report:?}");
    }
    let queued = jobs_of_kind(&line, kind::PROCESS_RECORDING).await;
    assert_eq!(queued.len(), n);
    assert!(queued.iter().all(|j| j.status == "queued"), "{queued:?}");
    (line, calls)
}

/// Every MP3 download from the sandbox takes `ms` longer, so that recording jobs stay in
/// flight long enough to be caught there.
async fn slow_downloads(line: &Line, ms: u64) {
    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/faults", line.sandbox.twilio_api_base()))
        .json(&json!({
            "method": "GET", "path_contains": ".mp3", "rate": 1.0, "statuses": [],
            "latency_ms": ms,
        }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

async fn jobs_of_kind(line: &Line, job_kind: &str) -> Vec<job::Model> {
    job::Entity::find()
        .filter(job::Column::Kind.eq(job_kind))
        .all(&line.app.app.db)
        .await
        .unwrap()
}

/// A `loquent serve` process on the test's database and data directory (so the same secret key
/// and recording storage), talking to the line's sandbox; SIGKILLed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    async fn start(line: &Line, name: &str, settings: &[(&str, &str)]) -> Self {
        let config = &line.app.app.config;
        let port = free_port();
        let log = config.data_dir.join(format!("{name}.log"));
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .current_dir(&config.data_dir)
            .env_remove("LOQUENT_CONFIG")
            .env("LOQUENT_LISTEN", format!("127.0.0.1:{port}"))
            .env("LOQUENT_PUBLIC_URL", line.app.url(""))
            .env("LOQUENT_DATA_DIR", &config.data_dir)
            .env("LOQUENT_DATABASE_URL", config.database.url.expose())
            .env("LOQUENT_TWILIO_API_BASE", line.sandbox.twilio_api_base())
            .env("LOQUENT_TWILIO_EVENTS_BASE", line.sandbox.twilio_api_base())
            .env("LOQUENT_OPENAI_BASE_URL", line.sandbox.openai_base_url())
            .env("LOQUENT_OPENAI_API_KEY", "sk-sandbox")
            .env("LOQUENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in settings {
            cmd.env(key, value);
        }
        let mut server = Self {
            child: cmd.spawn().expect("start loquent serve"),
            port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited with {status}:\n{}", server.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{name} not ready on {} in 60 s:\n{}",
                server.port,
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no grace, the jobs it holds stay `running` under its lease.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until no job of the line's calls is queued or running (every step has ended), calling
/// `each` with the jobs at every look; panics after `secs` with what is left and the logs.
async fn until_all_ended(
    line: &Line,
    secs: u64,
    servers: &[&Server],
    mut each: impl FnMut(&[job::Model]),
) -> Vec<job::Model> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let jobs = job::Entity::find().all(&line.app.app.db).await.unwrap();
        each(&jobs);
        let open: Vec<_> = jobs
            .iter()
            .filter(|j| j.status == "queued" || j.status == "running")
            .collect();
        if open.is_empty() {
            return jobs;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = servers.iter().map(|s| s.log_tail()).collect();
            panic!(
                "jobs still open after {secs} s: {:?}\n{}",
                open.iter()
                    .map(|j| (&j.kind, &j.status, j.attempts, &j.last_error))
                    .collect::<Vec<_>>(),
                logs.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What every recorded call must look like at the end, whoever processed it: the recording
/// stored and transcribed, deleted from Twilio, one analysis run, every step done or skipped,
/// and the model asked for one analysis per call.
async fn assert_each_processed_once(line: &Line, calls: &[CallReport], jobs: &[job::Model]) {
    let org_id: Uuid = line.owner.org_id().parse().unwrap();
    for report in calls {
        let row = call::Entity::find()
            .filter(call::Column::CallSid.eq(&report.call_sid))
            .one(&line.app.app.db)
            .await
            .unwrap()
            .expect("call row");
        let recording_sid = &report.recordings[0].sid;
        assert_eq!(row.recording_sid.as_deref(), Some(recording_sid.as_str()));
        let key = format!("{org_id}/recordings/{}.mp3", report.call_sid);
        assert_eq!(row.recording_url.as_deref(), Some(key.as_str()));
        assert_eq!(row.transcript_source.as_deref(), Some("recording"));
        let stored = line.app.app.config.data_dir.join("storage").join(&key);
        assert!(
            std::fs::metadata(&stored).is_ok_and(|m| m.len() > 1_000),
            "{}",
            stored.display()
        );
        assert!(
            recording_on_twilio(line, recording_sid).await.is_none(),
            "{recording_sid} deleted from Twilio"
        );
        let runs = call_analysis::Entity::find()
            .filter(call_analysis::Column::CallId.eq(row.id))
            .all(&line.app.app.db)
            .await
            .unwrap();
        assert_eq!(runs.len(), 1, "one analysis run for {}", report.call_sid);

        let of_call: Vec<&job::Model> = jobs.iter().filter(|j| j.call_id == Some(row.id)).collect();
        for step in [
            kind::PROCESS_RECORDING,
            kind::RUN_ANALYZER,
            kind::EXTRACT_TODOS,
            kind::ENRICH_CONTACT,
            kind::SEND_REPORT,
        ] {
            let found: Vec<_> = of_call.iter().filter(|j| j.kind == step).collect();
            assert_eq!(found.len(), 1, "{step} of {}: {found:?}", report.call_sid);
            // No SMTP server here: the report is skipped. Every call comes from one caller, so
            // the first enrichment names the contact and the later ones leave it be.
            let want: &[&str] = match step {
                kind::SEND_REPORT => &["skipped"],
                kind::ENRICH_CONTACT => &["done", "skipped"],
                _ => &["done"],
            };
            assert!(
                want.contains(&found[0].status.as_str()),
                "{step}: {} {:?}",
                found[0].status,
                found[0].last_error
            );
        }
    }
    let log: Value = reqwest::get(format!(
        "{}/sandbox/openai/requests",
        line.sandbox.twilio_api_base()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let analyses = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["endpoint"] == "chat/completions"
                && r["body"]["response_format"]["json_schema"]["name"] == "call_analysis"
        })
        .count();
    assert_eq!(analyses, calls.len(), "the model ran each analysis once");
}

/// Twilio's request log: how often each recording was downloaded and deleted.
async fn twilio_requests(line: &Line, recording_sid: &str) -> (usize, usize) {
    let log: Value = reqwest::get(format!(
        "{}/sandbox/requests?account_sid={}",
        line.sandbox.twilio_api_base(),
        line.account.account_sid
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let of = |method: &str, suffix: &str| {
        log["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["method"] == method
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(&format!("{recording_sid}{suffix}")))
            })
            .count()
    };
    (of("GET", ".mp3"), of("DELETE", ".json"))
}

#[tokio::test]
async fn recordings_in_flight_when_the_server_is_killed_are_processed_once_after_a_restart() {
    let (line, calls) = recorded_calls(3).await;
    slow_downloads(&line, 1_500).await;
    // A short lease so the restarted process takes the dead one's jobs back within seconds.
    let settings = [("LOQUENT_JOB_LEASE_SECS", "3")];

    let first = Server::start(&line, "first", &settings).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_flight = loop {
        let running: Vec<_> = jobs_of_kind(&line, kind::PROCESS_RECORDING)
            .await
            .into_iter()
            .filter(|j| j.status == "running")
            .collect();
        if !running.is_empty() {
            break running;
        }
        assert!(
            Instant::now() < deadline,
            "no recording job started:\n{}",
            first.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill();

    // The dead process's jobs are still `running` under its lease: nothing finished them.
    for job in &in_flight {
        let now = job::Entity::find_by_id(job.id)
            .one(&line.app.app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.status, "running", "{now:?}");
    }

    let second = Server::start(&line, "second", &settings).await;
    let jobs = until_all_ended(&line, 120, &[&second], |_| {}).await;
    assert_each_processed_once(&line, &calls, &jobs).await;
    for job in &in_flight {
        let after = jobs.iter().find(|j| j.id == job.id).unwrap();
        assert_eq!(
            after.attempts, 2,
            "claimed again after the crash: {after:?}"
        );
    }
    for report in &calls {
        let (_, deleted) = twilio_requests(&line, &report.recordings[0].sid).await;
        assert_eq!(deleted, 1, "{}", report.call_sid);
    }
}

#[tokio::test]
async fn two_server_processes_share_the_queue_and_run_each_job_once() {
    let (line, calls) = recorded_calls(4).await;
    slow_downloads(&line, 1_000).await;
    // One recording at a time per process: with four waiting, both processes must take some.
    let settings = [("LOQUENT_RECORDING_CONCURRENCY", "1")];
    let (a, b) = tokio::join!(
        Server::start(&line, "a", &settings),
        Server::start(&line, "b", &settings)
    );

    let mut holders = BTreeSet::new();
    let jobs = until_all_ended(&line, 120, &[&a, &b], |jobs| {
        holders.extend(
            jobs.iter()
                .filter(|j| j.kind == kind::PROCESS_RECORDING)
                .filter_map(|j| j.locked_by.clone()),
        );
    })
    .await;
    assert_eq!(
        holders.len(),
        2,
        "both processes ran recordings: {holders:?}"
    );
    assert_each_processed_once(&line, &calls, &jobs).await;
    for job in jobs.iter().filter(|j| j.call_id.is_some()) {
        assert_eq!(job.attempts, 1, "run once: {job:?}");
    }
    for report in &calls {
        assert_eq!(
            twilio_requests(&line, &report.recordings[0].sid).await,
            (1, 1),
            "one download and one delete of {}",
            report.call_sid
        );
    }
}
