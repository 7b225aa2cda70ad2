//! Logs and metrics. Logs are human-readable by default and JSON with `LOQUENT_LOG_FORMAT=json`;
//! metrics are served in Prometheus text format at `/metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

#[expect(
    clippy::disallowed_methods,
    reason = "LOQUENT_LOG / RUST_LOG use tracing's own filter syntax, read once here"
)]
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("LOQUENT_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Logs go to stderr so stdout stays for what commands print (the sandbox's JSON line,
    // `user create`'s result) and can be piped.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide metrics recorder. A process has one recorder, so several `App`s (as in the
/// test suite) share it.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    pub fn global() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new().build_recorder();
                let handle = recorder.handle();
                // Fails only if another recorder was installed first; ours then stays private.
                let _ = metrics::set_global_recorder(recorder);
                handle
            })
            .clone();
        Self { handle }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Counts requests and their latency by route pattern (never by raw path: ids would explode the
/// number of series).
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
