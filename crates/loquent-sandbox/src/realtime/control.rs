//! `/sandbox/realtime/*`: queue faults for the next connections, read what connections did.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{FaultRule, Shared, lock};

/// `POST /sandbox/realtime/faults`: later connections take the first rule for their provider.
pub(crate) async fn add_faults(
    State(shared): State<Shared>,
    Json(rule): Json<FaultRule>,
) -> StatusCode {
    lock(&shared.faults).push(rule);
    StatusCode::NO_CONTENT
}

/// `DELETE /sandbox/realtime/faults`.
pub(crate) async fn clear_faults(State(shared): State<Shared>) -> StatusCode {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT
}

/// `GET /sandbox/realtime/connections`: every logged connection, oldest first.
pub(crate) async fn list_connections(State(shared): State<Shared>) -> Json<Value> {
    let connections: Vec<Value> = lock(&shared.connections)
        .iter()
        .map(|entry| serde_json::to_value(&*lock(entry)).unwrap_or(Value::Null))
        .collect();
    Json(json!({ "connections": connections }))
}

/// `DELETE /sandbox/realtime/connections`.
pub(crate) async fn clear_connections(State(shared): State<Shared>) -> StatusCode {
    lock(&shared.connections).clear();
    StatusCode::NO_CONTENT
}
