//! The recording-pipeline benchmark: recordings processed per second by one process's runner at
//! recording concurrency 5 (the default) and 20, against the sandbox (Twilio and OpenAI
//! emulated in this process), so the figure is our own overhead plus the emulators', never a
//! network's.
//!
//! ```text
//! cargo bench -p loquent --bench recordings
//! RECORDINGS=400 cargo bench -p loquent --bench recordings
//! ```
//!
//! Settings (environment): `RECORDINGS` (200 per run), `PG_URL`
//! (`postgres://postgres@127.0.0.1:5432`; each run makes and drops its own database).
//!
//! Each run seeds a Twilio account in the sandbox with that many recorded calls, connects an
//! organization to it, inserts the call rows and enqueues one `recording.process` job per
//! recording through the webhook's own function, then starts a runner with only that handler.
//! Every job downloads the dual-channel MP3, stores it on the local disk, transcribes both
//! channels, saves the transcript with the post-call steps' jobs (which nothing runs here) and
//! deletes the recording from Twilio. The rate is the recordings divided by the time from the
//! runner's start until the last job is done; every job must end `done` after one attempt.

#![expect(
    clippy::disallowed_methods,
    reason = "the benchmark reads its own settings (RECORDINGS, PG_URL)"
)]

mod support;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{drop_pg, fresh_pg};

use chrono::Utc;
use loquent::calls::after::kind;
use loquent::entity::{call, job};
use loquent::jobs::{self, Runner};
use loquent::recordings::completed::recording_completed;
use loquent::recordings::process::{ProcessRecording, transcriber};
use loquent_sandbox::{Sandbox, SandboxHandle, SeededAccount};
use loquent_twilio::CallSid;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh account with `3n` recorded calls (seeding again resets it, so each run starts equal).
async fn seed(sandbox: &SandboxHandle, n: usize) -> Result<SeededAccount, String> {
    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/accounts", sandbox.twilio_api_base()))
        // About half the seeded recordings are dual-channel: seed enough of them.
        .json(&json!({"numbers": 1, "calls_per_number": 3 * n, "recording_share": 1.0, "seed": 7}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("seeding the sandbox: {}", res.status()));
    }
    res.json().await.map_err(|e| e.to_string())
}

/// `(recording SID, call SID)` of every recording of the account: its calls through Twilio's
/// paging, then each call's recordings.
async fn recordings(
    sandbox: &SandboxHandle,
    account: &SeededAccount,
) -> Result<Vec<(String, String)>, String> {
    let base = sandbox.twilio_api_base();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http
            .get(format!("{base}{path}"))
            .basic_auth(&account.account_sid, Some(&account.auth_token));
        async move {
            let page: Value = request
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<Value, String>(page)
        }
    };
    let mut calls = Vec::new();
    let mut next = Some(format!(
        "/2010-04-01/Accounts/{}/Calls.json?PageSize=1000",
        account.account_sid
    ));
    while let Some(path) = next {
        let page = get(path).await?;
        for c in page["calls"].as_array().ok_or("no calls page")? {
            calls.push(c["sid"].as_str().unwrap_or_default().to_owned());
        }
        next = page["next_page_uri"].as_str().map(str::to_owned);
    }
    let mut out = Vec::new();
    for call in calls {
        let page = get(format!(
            "/2010-04-01/Accounts/{}/Calls/{call}/Recordings.json",
            account.account_sid
        ))
        .await?;
        // Calls answered here are recorded with a channel per side; the seeded history mixes
        // in mono ones, which the webhook's pipeline never sees.
        if let Some(first) = page["recordings"]
            .as_array()
            .and_then(|r| r.first())
            .filter(|r| r["channels"].as_u64() == Some(2))
        {
            out.push((
                first["sid"].as_str().unwrap_or_default().to_owned(),
                call.clone(),
            ));
        }
    }
    Ok(out)
}

struct Figures {
    recordings: usize,
    secs: f64,
}

async fn run(
    sandbox: &SandboxHandle,
    url: &str,
    n: usize,
    concurrency: usize,
) -> Result<Figures, String> {
    let account = seed(sandbox, n).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let env = BTreeMap::from([
        ("LOQUENT_DATABASE_URL".to_owned(), url.to_owned()),
        (
            "LOQUENT_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        (
            "LOQUENT_TWILIO_API_BASE".to_owned(),
            sandbox.twilio_api_base(),
        ),
        (
            "LOQUENT_OPENAI_BASE_URL".to_owned(),
            sandbox.openai_base_url(),
        ),
        ("LOQUENT_OPENAI_API_KEY".to_owned(), "sk-sandbox".to_owned()),
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
    let org = owner.organization.clone();
    let org_id = org.id;
    loquent::orgs::twilio::connect(
        &app.db,
        &app.twilio,
        org,
        &account.account_sid,
        &account.auth_token,
    )
    .await
    .map_err(|e| e.to_string())?;

    let mut recordings = recordings(sandbox, &account).await?;
    if recordings.len() < n {
        return Err(format!(
            "{} dual-channel recordings seeded, {n} wanted",
            recordings.len()
        ));
    }
    recordings.truncate(n);
    let now = Utc::now();
    for (_, call_sid) in &recordings {
        call::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(org_id),
            phone_number_id: Set(None),
            call_sid: Set(call_sid.clone()),
            direction: Set("inbound".to_owned()),
            from_number: Set("+15557654321".to_owned()),
            to_number: Set(account.numbers[0].phone_number.clone()),
            from_to_number: Set("+15557654321".to_owned()),
            contact_id: Set(None),
            status: Set("completed".to_owned()),
            started_at: Set(Some(now)),
            duration_secs: Set(Some(60)),
            recording_sid: Set(None),
            recording_url: Set(None),
            transcription: Set(None),
            transcript_segments: Set(None),
            transcript_source: Set(None),
            source: Set(Some("phone".to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .map_err(|e| e.to_string())?;
    }
    for (recording_sid, call_sid) in &recordings {
        let call_sid: CallSid = call_sid.parse().map_err(|_| "a bad Call SID")?;
        recording_completed(&app.db, org_id, &call_sid, recording_sid, None)
            .await
            .map_err(|e| e.to_string())?;
    }

    let handler = ProcessRecording::new(
        app.db.clone(),
        app.twilio.clone(),
        app.storage.clone(),
        transcriber(&app.config.ai),
        Arc::clone(&app.jobs_wake),
    );
    let runner = Runner::new(app.db.clone(), "bench".to_owned()).handler_with_limit(
        kind::PROCESS_RECORDING,
        Arc::new(handler),
        concurrency,
    );
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let db = app.db.clone();
    let watcher = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let left = job::Entity::find()
                .filter(job::Column::Kind.eq(kind::PROCESS_RECORDING))
                .filter(job::Column::Status.is_in([jobs::status::QUEUED, jobs::status::RUNNING]))
                .count(&db)
                .await
                .unwrap_or(1);
            if left == 0 {
                let secs = started.elapsed().as_secs_f64();
                let _ = stop.send(true);
                return secs;
            }
        }
    };
    let ((), secs) = tokio::join!(runner.run(stopped, Duration::from_secs(30)), watcher);
    let done = job::Entity::find()
        .filter(job::Column::Kind.eq(kind::PROCESS_RECORDING))
        .filter(job::Column::Status.eq(jobs::status::DONE))
        .filter(job::Column::Attempts.eq(1))
        .count(&app.db)
        .await
        .map_err(|e| e.to_string())?;
    if usize::try_from(done).unwrap_or(0) != n {
        return Err(format!("{done} of {n} recordings done after one attempt"));
    }
    Ok(Figures {
        recordings: n,
        secs,
    })
}

fn row(database: &str, concurrency: usize, f: &Figures) {
    #[expect(
        clippy::cast_precision_loss,
        reason = "recording counts are far below 2^52"
    )]
    let rate = f.recordings as f64 / f.secs.max(0.001);
    println!(
        "| {database} | {concurrency} | {} | {:.2} | {rate:.1} |",
        f.recordings, f.secs
    );
}

async fn bench() -> Result<(), String> {
    let n = setting("RECORDINGS", 200);
    let pg =
        std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("an address"))
        .await
        .map_err(|e| e.to_string())?;
    println!("| database | concurrency | recordings | seconds | recordings/s |");
    println!("|---|---|---|---|---|");
    for concurrency in [5, 20] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        row(
            "SQLite",
            concurrency,
            &run(&sandbox, &sqlite, n, concurrency).await?,
        );
        let (url, name) = fresh_pg(&pg).await?;
        let figures = run(&sandbox, &url, n, concurrency).await;
        drop_pg(&pg, &name).await;
        row("PostgreSQL", concurrency, &figures?);
    }
    Ok(())
}

fn main() -> ExitCode {
    let runtime = support::runtime();
    support::exit("recordings benchmark", runtime.block_on(bench()))
}
