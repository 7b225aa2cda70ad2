//! The Event Streams ingest benchmark (issue target: p99 ≤ 50 ms per batch of 50 events at
//! 1,000 events/s): signed batches of call-completed events POSTed to `/twilio/events` at a
//! steady rate, on SQLite and on PostgreSQL, with the server's job runner acting on the events
//! meanwhile, as in production.
//!
//! ```text
//! cargo bench -p loquent --bench event_ingest
//! RATE=2000 SECONDS=30 DATABASES=postgresql cargo bench -p loquent --bench event_ingest
//! ```
//!
//! Settings (environment): `RATE` (events per second, 1,000), `BATCH` (events per delivery, 50),
//! `SECONDS` (how long the load lasts, 20), `JOBS=off` (no job runner: the ingest alone), `PG_URL` (`postgres://postgres@127.0.0.1:5432`; each
//! run makes and drops its own database), `DATABASES` (`sqlite`, `postgresql`; both when unset).
//!
//! The load is open-loop: each batch leaves at its scheduled time whatever the answers to the
//! earlier ones, so a slow answer cannot hide the ones queued behind it. Half the events name
//! calls the organization has (their status and duration are written), half calls it does not
//! (skipped). Reported: events accepted per second, the p50 / p99 / max response time per batch,
//! and how long the job runner took to act on every event after the last batch.

#![expect(
    clippy::disallowed_methods,
    reason = "the benchmark reads its own settings (RATE, BATCH, SECONDS, PG_URL, DATABASES) \
              and sends its batches from tasks"
)]

mod support;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{drop_pg, fresh_pg};

use chrono::Utc;
use loquent::entity::{call, job};
use loquent::event_streams::handle::kind;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Calls the organization has; events name these and as many unknown ones.
const KNOWN_CALLS: usize = 5_000;

fn call_sid(n: usize) -> String {
    format!("CA{n:032x}")
}

/// One signed delivery: `batch` call-completed events, ids unique over the run.
fn delivery(account: &str, first: usize, batch: usize) -> Vec<u8> {
    let events: Vec<Value> = (first..first + batch)
        .map(|n| {
            // Even events name a known call, odd ones an unknown call.
            let sid = if n % 2 == 0 {
                call_sid(n / 2 % KNOWN_CALLS)
            } else {
                call_sid(KNOWN_CALLS + n)
            };
            json!({
                "specversion": "1.0",
                "type": "com.twilio.voice.status-callback.call.completed",
                "source": format!("/2010-04-01/Accounts/{account}/Calls/{sid}.json"),
                "id": format!("EV{n:032x}"),
                "dataschema": "https://events-schemas.twilio.com/Voice.WebhookEvent/2",
                "datacontenttype": "application/json",
                "time": Utc::now().to_rfc3339(),
                "data": {
                    "sid": sid,
                    "timestamp": Utc::now().to_rfc3339(),
                    "request": {"method": "POST", "url": "https://example.com/status", "parameters": {
                        "AccountSid": account, "CallSid": sid, "From": "+15557654321",
                        "To": "+15550001234", "CallStatus": "completed", "CallDuration": "42",
                        "Direction": "inbound",
                    }},
                },
            })
        })
        .collect();
    serde_json::to_vec(&events).unwrap_or_default()
}

struct Figures {
    accepted_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    failed: usize,
    drained_secs: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(name: &str, url: &str) -> Result<Figures, String> {
    // `JOBS=off`: no job runner, to see the ingest alone.
    let run_jobs = std::env::var("JOBS").map_or(true, |v| v != "off");
    let (rate, batch, seconds) = (
        setting("RATE", 1_000),
        setting("BATCH", 50) as usize,
        setting("SECONDS", 20),
    );
    let sandbox = loquent_sandbox::Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let account: Value = reqwest::Client::new()
        .post(format!("{}/sandbox/accounts", sandbox.twilio_api_base()))
        .json(&json!({"numbers": 1, "seed": 7}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let account_sid = account["account_sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = account["auth_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let base = format!("http://{addr}");
    let env = BTreeMap::from([
        ("LOQUENT_DATABASE_URL".to_owned(), url.to_owned()),
        (
            "LOQUENT_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("LOQUENT_LISTEN".to_owned(), addr.to_string()),
        ("LOQUENT_PUBLIC_URL".to_owned(), base.clone()),
        (
            "LOQUENT_TWILIO_API_BASE".to_owned(),
            sandbox.twilio_api_base(),
        ),
        (
            "LOQUENT_LOG".to_owned(),
            std::env::var("LOQUENT_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ),
        ("LOQUENT_RUN_JOBS".to_owned(), run_jobs.to_string()),
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
        &account_sid,
        &token,
    )
    .await
    .map_err(|e| e.to_string())?;
    seed_calls(&app.db, org_id).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(loquent::serve(Arc::clone(&app), listener, async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let endpoint = format!("{base}/twilio/events");
    let batches = (rate * seconds) as usize / batch;
    let every = Duration::from_secs_f64(batch as f64 / rate as f64);
    // Warm the pool and the server's statements with one batch that is not counted.
    let warm = delivery(&account_sid, usize::MAX / 2, batch);
    let (warm_url, warm_sig) = loquent_twilio::signature::sign_json(&token, &endpoint, &warm);
    client
        .post(warm_url)
        .header("x-twilio-signature", warm_sig)
        .header("content-type", "application/json")
        .body(warm)
        .send()
        .await
        .map_err(|e| e.to_string())?;

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(batches);
    for b in 0..batches {
        let at = started + every * b as u32;
        tokio::time::sleep_until(at.into()).await;
        let body = delivery(&account_sid, b * batch, batch);
        let (signed, signature) = loquent_twilio::signature::sign_json(&token, &endpoint, &body);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let res = client
                .post(signed)
                .header("x-twilio-signature", signature)
                .header("content-type", "application/json")
                .body(body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let ok = res.is_ok_and(|r| r.status().is_success());
            (sent.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut times = Vec::with_capacity(batches);
    let mut failed = 0;
    for task in tasks {
        let (ms, ok) = task.await.map_err(|e| e.to_string())?;
        times.push(ms);
        if !ok {
            failed += 1;
        }
    }
    let load_secs = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let events = (batches - failed) * batch;

    // The runner acts on every event: wait until none is left open.
    let open = || {
        job::Entity::find()
            .filter(job::Column::Kind.eq(kind::EVENTS))
            .filter(job::Column::Status.is_in(["queued", "running"]))
            .count(&app.db)
    };
    while run_jobs && open().await.map_err(|e| e.to_string())? > 0 {
        if started.elapsed() > Duration::from_secs(seconds * 20 + 120) {
            return Err("the jobs did not drain".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained_secs = started.elapsed().as_secs_f64() - load_secs;
    let updated = call::Entity::find()
        .filter(call::Column::OrganizationId.eq(org_id))
        .filter(call::Column::Status.eq("completed"))
        .count(&app.db)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{name}: {batches} batches of {batch} at {rate} events/s; {failed} failed; \
         {updated} known calls completed"
    );
    let _ = stop.send(());
    sandbox.shutdown().await;
    Ok(Figures {
        accepted_per_sec: events as f64 / load_secs,
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
        max_ms: times.last().copied().unwrap_or(f64::NAN),
        failed,
        drained_secs,
    })
}

/// The organization's known calls, in progress.
async fn seed_calls(db: &sea_orm::DatabaseConnection, org_id: Uuid) -> Result<(), String> {
    let txn = db.begin().await.map_err(|e| e.to_string())?;
    let now = Utc::now();
    for chunk in (0..KNOWN_CALLS).collect::<Vec<_>>().chunks(500) {
        call::Entity::insert_many(chunk.iter().map(|n| call::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(org_id),
            phone_number_id: Set(None),
            call_sid: Set(call_sid(*n)),
            direction: Set("inbound".into()),
            from_number: Set("+15557654321".into()),
            to_number: Set("+15550001234".into()),
            from_to_number: Set("+15557654321".into()),
            contact_id: Set(None),
            status: Set("in-progress".into()),
            started_at: Set(Some(now)),
            duration_secs: Set(None),
            recording_sid: Set(None),
            recording_url: Set(None),
            transcription: Set(None),
            transcript_segments: Set(None),
            transcript_source: Set(None),
            source: Set(Some("phone".to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await
        .map_err(|e| e.to_string())?;
    }
    txn.commit().await.map_err(|e| e.to_string())
}

async fn bench() -> Result<(), String> {
    let wanted = std::env::var("DATABASES").unwrap_or_else(|_| "sqlite,postgresql".into());
    let pg_server =
        std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut rows = Vec::new();
    if wanted.contains("sqlite") {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        rows.push(("SQLite", run("SQLite", &url).await?));
    }
    if wanted.contains("postgresql") {
        let (url, name) = fresh_pg(&pg_server).await?;
        let figures = run("PostgreSQL", &url).await;
        drop_pg(&pg_server, &name).await;
        rows.push(("PostgreSQL", figures?));
    }
    println!();
    println!(
        "{:<11} {:>12} {:>9} {:>9} {:>9} {:>7} {:>12}",
        "database", "events/s", "p50 ms", "p99 ms", "max ms", "failed", "drained in"
    );
    for (name, f) in rows {
        println!(
            "{:<11} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>7} {:>10.1} s",
            name, f.accepted_per_sec, f.p50_ms, f.p99_ms, f.max_ms, f.failed, f.drained_secs
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let runtime = support::runtime();
    support::exit("event ingest benchmark", runtime.block_on(bench()))
}
