//! Operations endpoints and the dashboard's static assets.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::app::AppState;

/// The process is up and serving.
pub async fn live() -> &'static str {
    "ok"
}

/// The process can do useful work: the database answers.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match crate::db::ping(&state.db).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Read when asked: a task that outlives its call (a leak) shows here as a count that does
    // not come back down once the calls are over.
    let runtime = tokio::runtime::Handle::current().metrics();
    metrics::gauge!("loquent_runtime_alive_tasks").set(runtime.num_alive_tasks() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

// Embedded so that `cargo run` from any directory and the release binary alone both work.
const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");
const WEB_CALL_WORKLET: &str = include_str!("../static/web_call_worklet.js");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        JS,
    )
}

/// The audio worklets of a web call (`AudioWorklet.addModule` loads them by URL).
pub async fn web_call_worklet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        WEB_CALL_WORKLET,
    )
}
