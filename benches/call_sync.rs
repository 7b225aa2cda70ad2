//! The call-history sync benchmark (issue target: 100,000 calls in ≤ 5 s and ≤ 200 MB): the
//! request-bound part of two numbers' syncs run at once ("Sync all numbers"), from the first
//! page fetched to the last call inserted, against a sandbox account with 2 numbers × 50,000
//! completed calls, 30 % recorded, 10,000 distinct other parties. Recording processing is left
//! out (no job runner runs; the recordings' jobs are only enqueued, which is counted).
//!
//! ```text
//! cargo bench -p loquent --bench call_sync
//! CALLS_PER_NUMBER=20000 cargo bench -p loquent --bench call_sync
//! ```
//!
//! Settings (environment): `CALLS_PER_NUMBER` (50,000), `PARTIES` (10,000), `PG_URL`
//! (`postgres://postgres@127.0.0.1:5432`; each run makes and drops its own database),
//! `DATABASES` (`sqlite`, `postgresql`; both when unset).
//!
//! The sandbox runs as its own process (`loquent sandbox`), and each sync runs in a fresh child
//! process of this benchmark, so the peak RSS reported (the child's `VmHWM`) is the server's
//! alone: the runtime, the database pool, and the sync's working set.

#![expect(
    clippy::disallowed_methods,
    reason = "the benchmark reads its own settings (CALLS_PER_NUMBER, PARTIES, PG_URL, DATABASES)"
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use support::{drop_pg, fresh_pg};

use chrono::Utc;
use loquent::call_sync::start::{SyncRequest, Syncer};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

/// Set on a child: the JSON of what it is to sync.
const CHILD_ENV: &str = "LOQUENT_BENCH_SYNC";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The child: a server's state on `job["db"]`, then both numbers' syncs at once, timed.
async fn child(job: Value) -> Result<Value, String> {
    let text = |k: &str| job[k].as_str().unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let env = BTreeMap::from([
        ("LOQUENT_DATABASE_URL".to_owned(), text("db")),
        (
            "LOQUENT_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("LOQUENT_TWILIO_API_BASE".to_owned(), text("api")),
        ("LOQUENT_LOG".to_owned(), "warn".to_owned()),
    ]);
    let config = loquent::Config::from_sources(None, &env).map_err(|e| e.to_string())?;
    let app = loquent::App::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let owner =
        loquent::users::signup::sign_up(&app.db, "bench@example.com", "bench pw 123", "Bench")
            .await
            .map_err(|e| e.to_string())?;
    let org_id = owner.organization.id;
    loquent::orgs::twilio::connect(
        &app.db,
        &app.twilio,
        owner.organization,
        &text("account_sid"),
        &text("auth_token"),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut ids = Vec::new();
    for number in job["numbers"].as_array().ok_or("no numbers")? {
        let now = Utc::now();
        let id = Uuid::now_v7();
        loquent::entity::phone_number::ActiveModel {
            id: Set(id),
            organization_id: Set(org_id),
            number: Set(number["phone_number"]
                .as_str()
                .unwrap_or_default()
                .to_owned()),
            twilio_sid: Set(number["sid"].as_str().map(str::to_owned)),
            friendly_name: Set("bench".to_owned()),
            agent_id: Set(None),
            previous_voice_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .map_err(|e| e.to_string())?;
        ids.push(id);
    }
    let syncer = Syncer {
        db: &app.db,
        accounts: &app.twilio,
        events: &app.events,
        wake: &app.jobs_wake,
    };
    let started = Instant::now();
    let results = futures_util::future::join_all(ids.iter().map(|id| async move {
        let request = SyncRequest {
            phone_number_id: *id,
            since: None,
            recording_batch_size: None,
        };
        syncer.sync_number(org_id, &request).await
    }))
    .await;
    let secs = started.elapsed().as_secs_f64();
    let mut imported = 0;
    for result in results {
        imported += result.map_err(|e| e.to_string())?.imported;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok(json!({"secs": secs, "imported": imported, "peak_kb": peak_kb}))
}

fn run_child(job: &Value) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env(CHILD_ENV, job.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("the sync process exited with {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).map_err(|e| e.to_string())
}

async fn bench() -> Result<(), String> {
    let per_number = setting("CALLS_PER_NUMBER", 50_000);
    let parties = setting("PARTIES", 10_000);
    let pg =
        std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());

    // The sandbox in a process of its own, so its memory is not the server's.
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_loquent"))
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("LOQUENT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start the sandbox: {e}"))?;
    let mut line = String::new();
    BufReader::new(sandbox.stdout.take().ok_or("no sandbox output")?)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let urls: Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
    let api = urls["twilio_api_base"]
        .as_str()
        .ok_or("no API base")?
        .to_owned();

    let result = async {
        let seeded: Value = reqwest::Client::new()
            .post(format!("{api}/sandbox/accounts"))
            .json(&json!({
                "numbers": 2, "calls_per_number": per_number, "recording_share": 0.3,
                "parties": parties, "seed": 9,
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "| database | calls | distinct parties | imported | seconds | calls/s | peak RSS MB |"
        );
        println!("|---|---|---|---|---|---|---|");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let (pg_url, pg_name) = fresh_pg(&pg).await?;
        let only = std::env::var("DATABASES")
            .unwrap_or_default()
            .to_lowercase();
        for (name, url) in [("SQLite", sqlite.as_str()), ("PostgreSQL", pg_url.as_str())] {
            if !only.is_empty() && !only.contains(&name.to_lowercase()) {
                continue;
            }
            let job = json!({
                "db": url, "api": api, "account_sid": seeded["account_sid"],
                "auth_token": seeded["auth_token"], "numbers": seeded["numbers"],
            });
            let figures = tokio::task::block_in_place(|| run_child(&job))?;
            let secs = figures["secs"].as_f64().unwrap_or(0.0);
            let imported = figures["imported"].as_u64().unwrap_or(0);
            #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
            let rate = imported as f64 / secs.max(0.001);
            #[expect(clippy::cast_precision_loss, reason = "kilobytes far below 2^52")]
            let peak = figures["peak_kb"].as_u64().unwrap_or(0) as f64 / 1024.0;
            println!(
                "| {name} | {} | {parties} | {imported} | {secs:.2} | {rate:.0} | {peak:.0} |",
                2 * per_number
            );
        }
        drop_pg(&pg, &pg_name).await;
        Ok::<(), String>(())
    }
    .await;
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    result
}

fn main() -> ExitCode {
    let runtime = support::runtime();
    if let Ok(job) = std::env::var(CHILD_ENV) {
        // `SYNC_TRACE=1` shows the sync's own log (its phase times) on stderr.
        if std::env::var_os("SYNC_TRACE").is_some() {
            loquent::telemetry::init_logging(loquent::config::LogFormat::Human);
        }
        let job: Value = serde_json::from_str(&job).expect("the job's JSON");
        return match runtime.block_on(child(job)) {
            Ok(figures) => {
                println!("{figures}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("call sync benchmark (child): {e}");
                ExitCode::from(2)
            }
        };
    }
    support::exit("call sync benchmark", runtime.block_on(bench()))
}
