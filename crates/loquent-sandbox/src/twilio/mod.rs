//! The Twilio emulator: v2010 REST (`/2010-04-01/...`), Event Streams v1 (`/v1/...`) and the
//! sandbox control API (`/sandbox/...`), all on one listener.

mod accounts;
mod api;
mod caller_script;
mod calls;
mod control;
mod error;
mod events;
mod keys;
pub(crate) mod media_session;
mod mp3;
mod paging;
mod phone_numbers;
mod place_call;
mod recordings;
mod rng;
mod seed;
mod store;
mod streams;
pub(crate) mod webhooks;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{delete, post};

pub use media_session::{StreamError, StreamReport};
pub use place_call::{CallReport, RecordingReport};
pub use seed::{SeedRequest, SeededAccount, SeededNumber};
pub use webhooks::{Callback, EventDelivery};

pub(crate) type Shared = Arc<Mutex<store::Store>>;

/// Every route of the Twilio emulator.
pub(crate) fn router() -> Router {
    let shared: Shared = Arc::new(Mutex::new(store::Store::new()));
    Router::new()
        .route("/sandbox/accounts", post(control::create_account))
        .route("/sandbox/numbers", post(control::add_number))
        .route("/sandbox/calls", post(place_call::place))
        .route(
            "/sandbox/calls/{sid}",
            axum::routing::get(place_call::report),
        )
        .route("/sandbox/live-calls", post(control::add_call))
        .route("/sandbox/messages", post(streams::send_message))
        .route("/sandbox/events", post(streams::deliver_given))
        .route("/sandbox/api-keys", post(control::create_api_key))
        .route(
            "/sandbox/requests",
            axum::routing::get(control::list_requests).delete(control::clear_requests),
        )
        .route(
            "/sandbox/faults",
            post(control::set_faults).delete(control::clear_faults),
        )
        .route(
            "/sandbox/{*rest}",
            delete(not_found).get(not_found).post(not_found),
        )
        .fallback(api::handle)
        .with_state(shared)
}

async fn not_found() -> axum::http::StatusCode {
    axum::http::StatusCode::NOT_FOUND
}
