//! Loquent: self-hostable AI phone agents on your own Twilio account.
//!
//! `docs/ARCHITECTURE.md` maps the modules; `router.rs` lists every URL.

pub mod agents;
pub mod analyzers;
pub mod api;
pub mod app;
pub mod auth;
pub mod call_sync;
pub mod calls;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod dashboard;
pub mod db;
pub mod entity;
pub mod error;
pub mod event_streams;
pub mod health;
pub mod jobs;
pub mod listener;
pub mod mail;
pub mod messages;
pub mod migration;
pub mod orgs;
pub mod outbound;
pub mod paging;
pub mod phone_numbers;
pub mod realtime;
pub mod recordings;
pub mod reports;
pub mod router;
pub mod sandbox;
pub mod secrets;
pub mod storage;
pub mod telemetry;
pub mod telephony;
pub mod todos;
pub mod users;
pub mod validation;
pub mod worker;

#[cfg(test)]
mod layering;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use app::{App, AppState};
pub use config::Config;

/// Chooses aws-lc-rs as the process's TLS crypto provider. Our dependencies compile rustls with
/// both ring (sqlx) and aws-lc-rs (reqwest); with two providers and none installed, the first
/// `ClientConfig::builder()` anywhere (e.g. a `wss://` connection) panics. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let jobs = app.config.jobs.run_jobs.then(|| {
        #[expect(
            clippy::disallowed_methods,
            reason = "the runner is what runs durable work; it is awaited at shutdown"
        )]
        tokio::spawn(worker::run(Arc::clone(&app), stopped))
    });
    let state = AppState(app);
    spawn_housekeeping(state.clone());
    let router = router::router(state);
    // Each connection's socket travels with its requests: the media stream tunes it.
    let service = router.into_make_service_with_connect_info::<listener::ConnectionSocket>();
    let served = axum::serve(listener::Connections(listener), service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // The runner stops claiming at the signal, not once every connection has closed.
            let _ = stop.send(true);
        })
        .await;
    if let Some(jobs) = jobs
        && let Err(e) = jobs.await
    {
        tracing::error!(error = %e, "the job runner panicked");
    }
    served
}

/// Periodic clean-up that keeps tables from growing without bound.
fn spawn_housekeeping(state: AppState) {
    let weak = Arc::downgrade(&state.0);
    drop(state);
    #[expect(
        clippy::disallowed_methods,
        reason = "hourly clean-up for as long as the process runs; nothing to resume after a restart"
    )]
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Some(app) = weak.upgrade() else { return };
            match auth::session::purge_expired(&app.db).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired sessions"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
            }
            match users::throttle::purge_quiet(&app.db, chrono::Utc::now()).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "purged quiet sign-in counts"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not purge sign-in counts"),
            }
        }
    });
}
