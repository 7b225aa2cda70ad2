//! The job-runner benchmark: how many empty jobs per second the durable runner gets through,
//! on SQLite with one process and on PostgreSQL with one and with two processes sharing the
//! queue. An empty job measures the runner's own cost: claiming with a lease, running, and
//! recording the outcome, each a round trip to the database.
//!
//! ```text
//! cargo bench -p loquent --bench jobs
//! JOBS=20000 CONCURRENCY=10 cargo bench -p loquent --bench jobs
//! ```
//!
//! Settings (environment): `JOBS` (5000 per run), `CONCURRENCY` (jobs run at a time per process,
//! 5 as the post-call steps' default), `PG_URL` (`postgres://postgres@127.0.0.1:5432`; each run
//! makes and drops its own database).
//!
//! Each run enqueues every job first (in transactions of 500, timed as the enqueue rate), then
//! starts the worker processes, this binary again, each with a `Runner` whose handler does
//! nothing; a worker exits once no job is left. The rate is the jobs divided by the time from the
//! first job finished to the last (from the rows' `updated_at`), so process start-up is not
//! counted. Every job must end `done` after exactly one attempt: a job run twice fails the run.

#![expect(
    clippy::disallowed_methods,
    reason = "the benchmark reads its own settings (JOBS, CONCURRENCY, PG_URL)"
)]

mod support;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{drop_pg, fresh_pg};

use chrono::Utc;
use loquent::entity::job;
use loquent::jobs::{self, Handler, NewJob, Outcome, Runner};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use tokio::sync::watch;

const KIND: &str = "bench.empty";
/// Set on a worker process: the database URL it works on.
const WORKER_ENV: &str = "LOQUENT_BENCH_JOBS_DB";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn open(url: &str, dir: &std::path::Path) -> DatabaseConnection {
    let env = BTreeMap::from([
        ("LOQUENT_DATABASE_URL".to_owned(), url.to_owned()),
        ("LOQUENT_DATA_DIR".to_owned(), dir.display().to_string()),
    ]);
    let config = loquent::Config::from_sources(None, &env).expect("benchmark configuration");
    loquent::db::open(&config).await.expect("open the database")
}

struct Empty;

#[async_trait::async_trait]
impl Handler for Empty {
    async fn run(&self, _job: &job::Model) -> Result<Outcome, String> {
        Ok(Outcome::Done)
    }
}

/// A worker process: runs jobs until none is queued or running, then exits.
async fn work(url: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(url, dir.path()).await;
    let concurrency = setting("CONCURRENCY", 5);
    let runner = Runner::new(db.clone(), format!("bench-{}", std::process::id()))
        .handler_with_limit(KIND, Arc::new(Empty), concurrency);
    let (stop, stopped) = watch::channel(false);
    let watcher = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let left = job::Entity::find()
                .filter(job::Column::Status.is_in([jobs::status::QUEUED, jobs::status::RUNNING]))
                .count(&db)
                .await
                .unwrap_or(1);
            if left == 0 {
                let _ = stop.send(true);
                return;
            }
        }
    };
    tokio::join!(runner.run(stopped, Duration::from_secs(10)), watcher);
}

struct Figures {
    enqueue_per_sec: f64,
    run_per_sec: f64,
}

async fn run(url: &str, processes: usize, total: usize) -> Result<Figures, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(url, dir.path()).await;
    let started = Instant::now();
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let txn = db.begin().await.map_err(|e| e.to_string())?;
        for i in chunk {
            jobs::enqueue(
                &txn,
                NewJob {
                    kind: KIND.to_owned(),
                    organization_id: None,
                    call_id: None,
                    payload: serde_json::json!({ "n": i }),
                    dedupe_key: Some(format!("bench:{i}")),
                    run_at: Utc::now(),
                    max_attempts: 3,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        txn.commit().await.map_err(|e| e.to_string())?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut workers = Vec::new();
    for _ in 0..processes {
        workers.push(
            Command::new(&exe)
                .env(WORKER_ENV, url)
                .spawn()
                .map_err(|e| format!("start a worker: {e}"))?,
        );
    }
    for mut worker in workers {
        let status = worker.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("a worker exited with {status}"));
        }
    }
    let rows: Vec<(String, i32, chrono::DateTime<Utc>)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column(job::Column::Attempts)
        .column(job::Column::UpdatedAt)
        .into_tuple()
        .all(&db)
        .await
        .map_err(|e| e.to_string())?;
    if rows.len() != total
        || rows
            .iter()
            .any(|(status, attempts, _)| status != jobs::status::DONE || *attempts != 1)
    {
        return Err("a job did not end done after exactly one attempt".to_owned());
    }
    let first = rows.iter().map(|r| r.2).min().expect("jobs");
    let last = rows.iter().map(|r| r.2).max().expect("jobs");
    let window = (last - first).as_seconds_f64().max(0.001);
    #[expect(clippy::cast_precision_loss, reason = "job counts are far below 2^52")]
    let total = total as f64;
    Ok(Figures {
        enqueue_per_sec: total / enqueue_secs,
        run_per_sec: total / window,
    })
}

async fn bench() -> Result<(), String> {
    let total = setting("JOBS", 5000);
    let concurrency = setting("CONCURRENCY", 5);
    let pg =
        std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    println!("| database | processes | jobs | concurrency/process | enqueue jobs/s | run jobs/s |");
    println!("|---|---|---|---|---|---|");
    let sqlite_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        sqlite_dir.path().join("bench.db").display()
    );
    let f = run(&sqlite, 1, total).await?;
    println!(
        "| SQLite | 1 | {total} | {concurrency} | {:.0} | {:.0} |",
        f.enqueue_per_sec, f.run_per_sec
    );
    for processes in [1, 2] {
        let (url, name) = fresh_pg(&pg).await?;
        let figures = run(&url, processes, total).await;
        drop_pg(&pg, &name).await;
        let f = figures?;
        println!(
            "| PostgreSQL | {processes} | {total} | {concurrency} | {:.0} | {:.0} |",
            f.enqueue_per_sec, f.run_per_sec
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let runtime = support::runtime();
    if let Ok(url) = std::env::var(WORKER_ENV) {
        runtime.block_on(work(&url));
        return ExitCode::SUCCESS;
    }
    support::exit("jobs benchmark", runtime.block_on(bench()))
}
