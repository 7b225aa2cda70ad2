//! Running claimed jobs with their handlers, a bounded number per kind at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use loquent_retry::RetryPolicy;
use sea_orm::{DatabaseBackend, DatabaseConnection};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::{CHANNEL, claim, complete, fail, later, skip, status};
use crate::entity::job;
use crate::realtime::EventHub;

/// The longest error a `call.step` event carries, in characters.
const EVENT_ERROR_CHARS: usize = 500;

/// What runs the jobs of one kind. Handlers are idempotent and re-read state from the ids in
/// the payload: a job may run more than once.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Runs `job`; an `Err` is stored as its `last_error` (keep secrets out of it) and the job
    /// retried after a backoff while attempts remain.
    async fn run(&self, job: &job::Model) -> Result<Outcome, String>;
}

/// What a handler's run came to, short of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The work is done.
    Done,
    /// There was nothing to do, for the reason given (no report recipients, no SMTP server):
    /// the job ends `skipped` with the reason kept where its error would be.
    Skipped(String),
    /// The work cannot be done yet (it waits for other jobs): run it again after this long,
    /// without counting this attempt.
    Later(Duration),
}

struct Kind {
    handler: Arc<dyn Handler>,
    slots: Arc<Semaphore>,
}

/// Claims due jobs of the kinds it has handlers for and runs them, at most a kind's
/// concurrency limit at a time.
///
/// It polls every `poll_interval`, earlier when [`Runner::waker`] is notified or, on
/// PostgreSQL, when [`super::enqueue`] notifies the `loquent_jobs` channel. Leases are not
/// renewed: `lease` must exceed the longest run of any job, or a second worker claims a job
/// still running.
pub struct Runner {
    db: DatabaseConnection,
    worker: String,
    kinds: HashMap<String, Kind>,
    lease: Duration,
    poll_interval: Duration,
    retry: RetryPolicy,
    wake: Arc<Notify>,
    /// Where the browsers of a job's organization hear that a step of a call moved on.
    events: Option<EventHub>,
}

impl Runner {
    /// The concurrency limit of a kind registered without one.
    pub const DEFAULT_CONCURRENCY: usize = 5;

    /// A runner named `worker` (stored in `locked_by`; unique per process) with no handlers, a
    /// 15-minute lease, a 1-second poll and [`RetryPolicy::DEFAULT`]'s backoff.
    pub fn new(db: DatabaseConnection, worker: impl Into<String>) -> Self {
        Self {
            db,
            worker: worker.into(),
            kinds: HashMap::new(),
            lease: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicy::DEFAULT,
            wake: Arc::new(Notify::new()),
            events: None,
        }
    }

    /// Publishes `call.step` to the organization's browsers whenever a job of one of its calls
    /// is done, skipped, failed or back in the queue after a failed attempt, so a call's page
    /// follows its pipeline without reloading.
    #[must_use]
    pub fn events(mut self, events: EventHub) -> Self {
        self.events = Some(events);
        self
    }

    /// Runs jobs of `kind` with `handler`, at most [`Self::DEFAULT_CONCURRENCY`] at a time.
    #[must_use]
    pub fn handler(self, kind: &str, handler: Arc<dyn Handler>) -> Self {
        self.handler_with_limit(kind, handler, Self::DEFAULT_CONCURRENCY)
    }

    /// Runs jobs of `kind` with `handler`, at most `limit` (at least 1) at a time.
    #[must_use]
    pub fn handler_with_limit(
        mut self,
        kind: &str,
        handler: Arc<dyn Handler>,
        limit: usize,
    ) -> Self {
        self.kinds.insert(
            kind.to_owned(),
            Kind {
                handler,
                slots: Arc::new(Semaphore::new(limit.max(1))),
            },
        );
        self
    }

    /// How long a claimed job is the runner's; it must exceed the job's longest run.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often the runner looks for due jobs when nothing wakes it.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The backoff between a job's attempts (its `max_attempts` is the job's own).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Uses `wake` (shared with whoever enqueues in this process) as its waker.
    #[must_use]
    pub fn waker_from(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Notify it after enqueuing to have the runner look for jobs now rather than at its next
    /// poll.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Runs until `shutdown` turns true (or its sender is dropped), then stops claiming and
    /// waits up to `grace` for running jobs. Jobs still running after `grace` are dropped
    /// mid-run and run again once their lease expires.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        let this = Arc::new(self);
        let mut listener = this.listen().await;
        // The runner's own tasks: each holds one claimed job, and a job that does not finish
        // here (a crash, a shutdown past `grace`) runs again after its lease, so none of them
        // must survive the process.
        let mut running: JoinSet<()> = JoinSet::new();
        while !*shutdown.borrow() {
            this.claim_what_fits(&mut running).await;
            tokio::select! {
                () = this.wake.notified() => {}
                () = tokio::time::sleep(this.poll_interval) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    if let Err(e) = joined {
                        // Its slot is free again; the job stays `running` until its lease
                        // expires, then runs again (or fails, if that was its last attempt).
                        tracing::error!(error = %e, "a job handler panicked");
                    }
                }
                woken = next_notification(&mut listener) => {
                    if let Err(e) = woken {
                        tracing::warn!(error = %e, "job listener failed; polling only");
                        listener = None;
                    }
                }
            }
        }
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                jobs = running.len(),
                "jobs still running at shutdown; they run again after their lease"
            );
            running.shutdown().await;
        }
    }

    /// Claims due jobs while one is due of a kind with a free slot, the longest-waiting first,
    /// across every such kind at once: an idle poll is one claim (two statements) whatever the
    /// number of kinds, not one per kind.
    async fn claim_what_fits(self: &Arc<Self>, running: &mut JoinSet<()>) {
        loop {
            let free: Vec<&str> = self
                .kinds
                .iter()
                .filter(|(_, kind)| kind.slots.available_permits() > 0)
                .map(|(name, _)| name.as_str())
                .collect();
            let job = match claim(&self.db, &free, &self.worker, self.lease).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    break;
                }
            };
            // Only kinds with a free slot are claimed and only this loop takes slots, so neither
            // `else` is taken; were one, the job would run again once its lease expired.
            let Some(Kind { handler, slots }) = self.kinds.get(&job.kind) else {
                tracing::error!(kind = %job.kind, "claimed a job of a kind this runner has no handler for");
                continue;
            };
            let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
                tracing::error!(kind = %job.kind, "claimed a job of a kind with no free slot");
                continue;
            };
            let this = Arc::clone(self);
            let handler = Arc::clone(handler);
            running.spawn(async move {
                this.execute(handler.as_ref(), &job).await;
                drop(slot);
            });
        }
    }

    /// Runs `job` and records its outcome.
    async fn execute(&self, handler: &dyn Handler, job: &job::Model) {
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
        tracing::Instrument::instrument(
            async {
                let (recorded, step) = match handler.run(job).await {
                    Ok(Outcome::Done) => (
                        complete(&self.db, job.id, &self.worker).await,
                        Some((status::DONE, None)),
                    ),
                    Ok(Outcome::Later(wait)) => {
                        (later(&self.db, job.id, &self.worker, wait).await, None)
                    }
                    Ok(Outcome::Skipped(reason)) => {
                        tracing::info!(reason = %reason, "job skipped");
                        let recorded = skip(&self.db, job.id, &self.worker, &reason).await;
                        (recorded, Some((status::SKIPPED, Some(reason))))
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "job attempt failed");
                        let recorded = fail(&self.db, job, &self.worker, &error, &self.retry).await;
                        // As `fail` decides: attempts left means queued again.
                        let now = if job.attempts < job.max_attempts {
                            status::QUEUED
                        } else {
                            status::FAILED
                        };
                        (recorded, Some((now, Some(error))))
                    }
                };
                match recorded {
                    Ok(true) => {
                        if let Some((now, error)) = step {
                            self.announce(job, now, error).await;
                        }
                    }
                    Ok(false) => tracing::warn!(
                        "the job's lease expired before it finished; another worker has it"
                    ),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "recording a job's outcome failed; it runs again after its lease"
                    ),
                }
            },
            span,
        )
        .await;
    }

    /// Publishes `call.step` for `job` when it concerns a call and events are wired. Best effort:
    /// the outcome is stored either way, and a page that missed the event reads it on reload.
    async fn announce(&self, job: &job::Model, now: &str, error: Option<String>) {
        let (Some(events), Some(org_id), Some(call_id)) =
            (&self.events, job.organization_id, job.call_id)
        else {
            return;
        };
        // Events travel through PostgreSQL's NOTIFY (under 8,000 bytes): a long error is cut
        // here; the whole one is on the job.
        let error: Option<String> = error.map(|e| e.chars().take(EVENT_ERROR_CHARS).collect());
        let payload = serde_json::json!({
            "call_id": call_id,
            "job_id": job.id,
            "kind": job.kind,
            "status": now,
            "attempts": job.attempts,
            "last_error": error,
        });
        if let Err(e) = events.publish(org_id, "call.step", payload).await {
            tracing::warn!(error = %e, "could not publish call.step");
        }
    }

    /// On PostgreSQL, a listener on [`CHANNEL`]; `None` elsewhere or when it cannot connect
    /// (polling still finds the jobs).
    async fn listen(&self) -> Option<sea_orm::sqlx::postgres::PgListener> {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return None;
        }
        let pool = self.db.get_postgres_connection_pool().clone();
        let connected = async {
            let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for jobs; polling only");
                None
            }
        }
    }
}

/// The next notification on `listener`; never, without one.
async fn next_notification(
    listener: &mut Option<sea_orm::sqlx::postgres::PgListener>,
) -> Result<(), sea_orm::sqlx::Error> {
    match listener {
        Some(listener) => listener.recv().await.map(drop),
        None => std::future::pending().await,
    }
}
