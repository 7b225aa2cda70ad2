//! The durable job queue: enqueue, claim, finish, and the runner, on the test's database.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use loquent::entity::job;
use loquent::jobs::{self, Handler, NewJob, Outcome, Runner, status};
use loquent_retry::RetryPolicy;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::json;
use tokio::sync::watch;

use crate::support::TestApp;

const LEASE: Duration = Duration::from_secs(60);

fn new_job(kind: &str, dedupe_key: Option<&str>, max_attempts: i32) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        organization_id: None,
        call_id: None,
        payload: json!({ "call_id": "0190" }),
        dedupe_key: dedupe_key.map(str::to_owned),
        run_at: Utc::now(),
        max_attempts,
    }
}

async fn reload(app: &TestApp, id: uuid::Uuid) -> job::Model {
    job::Entity::find_by_id(id)
        .one(&app.app.db)
        .await
        .expect("read job")
        .expect("job exists")
}

/// A `count` job with `max_attempts`, claimed by worker "dead", whose lease has then expired:
/// what a process that died mid-job leaves behind.
async fn claimed_by_a_dead_worker(app: &TestApp, max_attempts: i32) -> job::Model {
    let db = &app.app.db;
    jobs::enqueue(db, new_job("count", None, max_attempts))
        .await
        .expect("enqueue");
    let claimed = jobs::claim(db, &["count"], "dead", LEASE)
        .await
        .expect("claim")
        .expect("a due job");
    let mut expired = claimed.clone().into_active_model();
    expired.locked_until = Set(Some(Utc::now() - chrono::Duration::seconds(1)));
    expired.update(db).await.expect("expire the lease");
    claimed
}

#[tokio::test]
async fn enqueue_is_idempotent_on_dedupe_key() {
    let app = TestApp::new().await;
    let db = &app.app.db;
    let first = jobs::enqueue(db, new_job("count", Some("call-1"), 3))
        .await
        .expect("enqueue");
    let second = jobs::enqueue(db, new_job("count", Some("call-1"), 3))
        .await
        .expect("enqueue again");
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.id, second.id);
    let without_key = jobs::enqueue(db, new_job("count", None, 3))
        .await
        .expect("enqueue without key");
    assert!(without_key.created);
    assert_eq!(job::Entity::find().all(db).await.expect("jobs").len(), 2);
}

#[tokio::test]
async fn claim_leases_one_job_to_one_worker_and_complete_releases_it() {
    let app = TestApp::new().await;
    let db = &app.app.db;
    let queued = jobs::enqueue(db, new_job("count", None, 3))
        .await
        .expect("enqueue");
    let claimed = jobs::claim(db, &["count"], "w1", LEASE)
        .await
        .expect("claim")
        .expect("a due job");
    assert_eq!(claimed.id, queued.id);
    assert_eq!(claimed.status, status::RUNNING);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.locked_by.as_deref(), Some("w1"));
    let until = claimed.locked_until.expect("a lease");
    assert!(until > Utc::now() + chrono::Duration::seconds(50));
    assert!(
        jobs::claim(db, &["count"], "w2", LEASE)
            .await
            .expect("claim")
            .is_none()
    );
    assert!(
        !jobs::complete(db, claimed.id, "w2")
            .await
            .expect("complete")
    );
    assert!(
        jobs::complete(db, claimed.id, "w1")
            .await
            .expect("complete")
    );
    let done = reload(&app, claimed.id).await;
    assert_eq!(done.status, status::DONE);
    assert_eq!(done.locked_by, None);
    assert_eq!(done.locked_until, None);
}

#[tokio::test]
async fn claim_takes_only_due_jobs_of_the_asked_kinds() {
    let app = TestApp::new().await;
    let db = &app.app.db;
    let mut later = new_job("count", None, 3);
    later.run_at = Utc::now() + chrono::Duration::hours(1);
    jobs::enqueue(db, later).await.expect("enqueue");
    jobs::enqueue(db, new_job("other", None, 3))
        .await
        .expect("enqueue");
    assert!(
        jobs::claim(db, &["count"], "w1", LEASE)
            .await
            .expect("claim")
            .is_none()
    );
    assert!(
        jobs::claim(db, &["count", "other"], "w1", LEASE)
            .await
            .expect("claim")
            .is_some()
    );
}

#[tokio::test]
async fn fail_requeues_with_backoff_then_gives_up_after_max_attempts() {
    let app = TestApp::new().await;
    let db = &app.app.db;
    let policy = RetryPolicy {
        base_delay: Duration::from_secs(3600),
        max_delay: Duration::from_secs(3600),
        ..RetryPolicy::DEFAULT
    };
    let queued = jobs::enqueue(db, new_job("count", None, 2))
        .await
        .expect("enqueue");
    let first = jobs::claim(db, &["count"], "w1", LEASE)
        .await
        .expect("claim")
        .expect("a due job");
    let long_error = "x".repeat(5_000);
    assert!(
        jobs::fail(db, &first, "w1", &long_error, &policy)
            .await
            .expect("fail")
    );
    let requeued = reload(&app, queued.id).await;
    assert_eq!(requeued.status, status::QUEUED);
    assert_eq!(requeued.locked_by, None);
    assert_eq!(
        requeued.last_error.as_deref().map(str::len),
        Some(jobs::MAX_ERROR_CHARS)
    );
    assert!(requeued.run_at >= first.run_at);
    assert!(requeued.run_at <= Utc::now() + chrono::Duration::seconds(3601));

    // Due again (the backoff is jittered, possibly zero): make it due now.
    let mut due = requeued.into_active_model();
    due.run_at = Set(Utc::now() - chrono::Duration::seconds(1));
    due.update(db).await.expect("make due");
    let second = jobs::claim(db, &["count"], "w1", LEASE)
        .await
        .expect("claim")
        .expect("due again");
    assert_eq!(second.attempts, 2);
    assert!(
        jobs::fail(db, &second, "w1", "still broken", &policy)
            .await
            .expect("fail")
    );
    let failed = reload(&app, queued.id).await;
    assert_eq!(failed.status, status::FAILED);
    assert_eq!(failed.last_error.as_deref(), Some("still broken"));
    assert!(
        jobs::claim(db, &["count"], "w1", LEASE)
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn a_job_whose_lease_expired_is_claimed_again() {
    let app = TestApp::new().await;
    let db = &app.app.db;
    let claimed = claimed_by_a_dead_worker(&app, 3).await;
    let again = jobs::claim(db, &["count"], "alive", LEASE)
        .await
        .expect("claim")
        .expect("the dead worker's job");
    assert_eq!(again.id, claimed.id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.locked_by.as_deref(), Some("alive"));
    // The dead worker's late outcome changes nothing.
    assert!(
        !jobs::complete(db, claimed.id, "dead")
            .await
            .expect("complete")
    );
    assert_eq!(reload(&app, claimed.id).await.status, status::RUNNING);
}

#[tokio::test]
async fn a_job_whose_last_attempt_lease_expired_fails() {
    let app = TestApp::new().await;
    let db = &app.app.db;
    let claimed = claimed_by_a_dead_worker(&app, 1).await;
    assert!(
        jobs::claim(db, &["count"], "alive", LEASE)
            .await
            .expect("claim")
            .is_none()
    );
    let failed = reload(&app, claimed.id).await;
    assert_eq!(failed.status, status::FAILED);
    assert!(failed.last_error.is_some());
}

#[tokio::test]
async fn concurrent_claimers_claim_each_job_exactly_once() {
    let app = TestApp::new().await;
    let db = app.app.db.clone();
    for _ in 0..50 {
        jobs::enqueue(&db, new_job("count", None, 3))
            .await
            .expect("enqueue");
    }
    let claimer = |worker: &'static str| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while let Some(job) = jobs::claim(&db, &["count"], worker, LEASE)
                .await
                .expect("claim")
            {
                ids.push(job.id);
            }
            ids
        })
    };
    let (a, b) = (claimer("a"), claimer("b"));
    let (a, b) = (a.await.expect("claimer a"), b.await.expect("claimer b"));
    let all: HashSet<_> = a.iter().chain(&b).copied().collect();
    assert_eq!(a.len() + b.len(), 50, "claimed {} + {}", a.len(), b.len());
    assert_eq!(all.len(), 50);
}

/// Counts runs, tracks the most running at once, and takes `delay` per job.
struct Counting {
    runs: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay: Duration,
}

impl Counting {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            runs: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            delay,
        })
    }
}

#[async_trait::async_trait]
impl Handler for Counting {
    async fn run(&self, _job: &job::Model) -> Result<Outcome, String> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Outcome::Done)
    }
}

async fn count_status(app: &TestApp, wanted: &str) -> usize {
    job::Entity::find()
        .all(&app.app.db)
        .await
        .expect("jobs")
        .iter()
        .filter(|j| j.status == wanted)
        .count()
}

#[tokio::test]
async fn the_runner_runs_every_job_within_the_concurrency_limit() {
    let app = TestApp::new().await;
    let handler = Counting::new(Duration::from_millis(50));
    let runner = Runner::new(app.app.db.clone(), "runner-1")
        .handler_with_limit("count", handler.clone(), 3)
        .poll_interval(Duration::from_millis(50));
    let wake = runner.waker();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(runner.run(stopped, Duration::from_secs(5)));
    for _ in 0..12 {
        jobs::enqueue(&app.app.db, new_job("count", None, 3))
            .await
            .expect("enqueue");
    }
    wake.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count_status(&app, status::DONE).await < 12 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs not done in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).expect("runner listens");
    running.await.expect("runner ends");
    assert_eq!(handler.runs.load(Ordering::SeqCst), 12);
    let max = handler.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} ran at once");
    assert!(max >= 2, "jobs ran one at a time");
}

/// The runner claims across kinds, the longest-waiting job first, but only of kinds with a free
/// slot: a kind at its limit with older jobs waiting does not hold up another kind.
#[tokio::test]
async fn a_kind_at_its_limit_does_not_hold_up_another_kind() {
    let app = TestApp::new().await;
    let slow = Counting::new(Duration::from_millis(400));
    let fast = Counting::new(Duration::from_millis(10));
    let runner = Runner::new(app.app.db.clone(), "runner-1")
        .handler_with_limit("slow", slow.clone(), 1)
        .handler_with_limit("count", fast.clone(), 3)
        .poll_interval(Duration::from_millis(50));
    let wake = runner.waker();
    // The slow kind's jobs are older: claimed by age alone, they would all go first.
    for _ in 0..4 {
        jobs::enqueue(&app.app.db, new_job("slow", None, 3))
            .await
            .expect("enqueue");
    }
    for _ in 0..6 {
        jobs::enqueue(&app.app.db, new_job("count", None, 3))
            .await
            .expect("enqueue");
    }
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(runner.run(stopped, Duration::from_secs(5)));
    wake.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fast.runs.load(Ordering::SeqCst) < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other kind's jobs were not done in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let slow_done = slow.runs.load(Ordering::SeqCst);
    // One slow job at a time, 400 ms each: the other kind's six are done long before the second.
    assert!(
        slow_done <= 1,
        "the other kind waited behind the slow kind ({slow_done} slow jobs done first)"
    );
    assert_eq!(slow.max_in_flight.load(Ordering::SeqCst), 1);
    while slow.runs.load(Ordering::SeqCst) < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow jobs not done in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).expect("runner listens");
    running.await.expect("runner ends");
    assert_eq!(count_status(&app, status::DONE).await, 10);
}

#[tokio::test]
async fn shutdown_waits_for_a_running_job() {
    let app = TestApp::new().await;
    let handler = Counting::new(Duration::from_millis(500));
    let runner = Runner::new(app.app.db.clone(), "runner-1")
        .handler("count", handler.clone())
        .poll_interval(Duration::from_millis(20));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(runner.run(stopped, Duration::from_secs(10)));
    jobs::enqueue(&app.app.db, new_job("count", None, 3))
        .await
        .expect("enqueue");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handler.in_flight.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "job never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).expect("runner listens");
    running.await.expect("runner ends");
    assert_eq!(handler.runs.load(Ordering::SeqCst), 1);
    assert_eq!(count_status(&app, status::DONE).await, 1);
}

#[tokio::test]
async fn an_enqueue_wakes_the_runner_before_its_next_poll() {
    let app = TestApp::new().await;
    let handler = Counting::new(Duration::ZERO);
    let runner = Runner::new(app.app.db.clone(), "runner-1")
        .handler("count", handler.clone())
        .poll_interval(Duration::from_secs(3600));
    let wake = runner.waker();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(runner.run(stopped, Duration::from_secs(5)));
    // Past its first look for jobs (and, on PostgreSQL, listening).
    tokio::time::sleep(Duration::from_millis(300)).await;
    jobs::enqueue(&app.app.db, new_job("count", None, 3))
        .await
        .expect("enqueue");
    // PostgreSQL wakes every runner through NOTIFY; SQLite has one process, whose enqueuer
    // pokes the waker.
    if !app.is_postgres() {
        wake.notify_one();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count_status(&app, status::DONE).await < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runner slept on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).expect("runner listens");
    running.await.expect("runner ends");
}

#[tokio::test]
async fn enqueue_belongs_to_the_callers_transaction() {
    use sea_orm::TransactionTrait;
    let app = TestApp::new().await;
    let db = &app.app.db;
    let txn = db.begin().await.expect("begin");
    jobs::enqueue(&txn, new_job("count", Some("rolled-back"), 3))
        .await
        .expect("enqueue");
    txn.rollback().await.expect("rollback");
    assert!(job::Entity::find().all(db).await.expect("jobs").is_empty());
    let txn = db.begin().await.expect("begin");
    let kept = jobs::enqueue(&txn, new_job("count", Some("committed"), 3))
        .await
        .expect("enqueue");
    txn.commit().await.expect("commit");
    assert_eq!(reload(&app, kept.id).await.status, status::QUEUED);
}

/// A post-call step of `org_id` that exhausted its attempts, as the runner leaves one.
async fn failed_step(app: &TestApp, org_id: uuid::Uuid, error: &str) -> uuid::Uuid {
    let db = &app.app.db;
    let mut new = new_job("report.send", None, 3);
    new.organization_id = Some(org_id);
    let id = jobs::enqueue(db, new).await.unwrap().id;
    let mut row = job::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.status = Set(status::FAILED.to_owned());
    row.attempts = Set(3);
    row.last_error = Set(Some(error.to_owned()));
    row.update(db).await.unwrap();
    id
}

#[tokio::test]
async fn a_failed_step_is_shown_to_its_organization_and_retried_from_the_api_and_the_page() {
    use reqwest::StatusCode;

    // No runner: a retried job must stay `queued` for the test to see it there.
    let app = TestApp::builder()
        .with_setting("LOQUENT_RUN_JOBS", "false")
        .start()
        .await;
    let acme = app.owner("Acme").await;
    let other = app.owner("Other").await;
    let acme_org: uuid::Uuid = acme.org_id().parse().unwrap();
    let id = failed_step(&app, acme_org, "the SMTP server refused the message").await;

    // The API lists it with its error, in words; the other organization sees nothing.
    let listed: Vec<serde_json::Value> = acme.get_json(&app, "/api/jobs").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.to_string());
    assert_eq!(listed[0]["step"], "Call report");
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(
        listed[0]["last_error"],
        "the SMTP server refused the message"
    );
    assert!(listed[0].get("payload").is_none());
    let theirs: Vec<serde_json::Value> = other.get_json(&app, "/api/jobs").await;
    assert!(theirs.is_empty());
    let res = other
        .post_json(&app, &format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    crate::support::api_error(res, StatusCode::NOT_FOUND).await;

    // The calls page points to it, and the page lists it with a Retry button.
    let calls = acme.page(&app, "/calls").await;
    assert!(calls.contains("href=\"/calls/failed-steps\""), "{calls}");
    let page = acme.page(&app, "/calls/failed-steps").await;
    assert!(
        page.contains("the SMTP server refused the message"),
        "{page}"
    );
    assert!(page.contains(&format!("/calls/failed-steps/{id}/retry")));
    assert!(
        !other
            .page(&app, "/calls/failed-steps")
            .await
            .contains("SMTP")
    );

    // A member who may only look cannot retry.
    let viewer = app.member_with(&acme, &["Call:Collection:List"]).await;
    let res = viewer
        .post_json(&app, &format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    crate::support::api_error(res, StatusCode::FORBIDDEN).await;

    // Retried from the API: back in the queue with all its attempts.
    let res = acme
        .post_json(&app, &format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let retried: serde_json::Value = res.json().await.unwrap();
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["attempts"], 0);
    // A job that has not failed is not retried again.
    let res = acme
        .post_json(&app, &format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    let message = crate::support::api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("only a failed job"), "{message}");
    assert!(
        !acme
            .page(&app, "/calls")
            .await
            .contains("/calls/failed-steps")
    );

    // Retried from the page.
    let id = failed_step(&app, acme_org, "Twilio answered 503").await;
    let res = acme
        .post_form(&app, &format!("/calls/failed-steps/{id}/retry"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let row = job::Entity::find_by_id(id)
        .one(&app.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, status::QUEUED);
}
