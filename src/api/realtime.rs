//! `GET /api/realtime`: the signed-in member's WebSocket of organization events.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use std::time::Duration;

use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::api::openapi::Unauthorized;
use crate::app::AppState;
use crate::auth::{CurrentMember, SameOrigin};
use crate::error::ErrorBody;

/// Close code for "you fell behind": the browser reconnects and reloads what it shows.
const TOO_SLOW: u16 = 4008;
/// A browser that cannot take one message in this long is gone or hopelessly slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings keep idle connections open through proxies that cut silent ones.
const PING_EVERY: Duration = Duration::from_secs(30);

/// The organization's live events (WebSocket).
///
/// Upgrades to the member's event socket. `SameOrigin` comes first: a foreign page's upgrade is
/// refused (403) before its cookie is even looked at.
#[utoipa::path(
    get,
    path = "/api/realtime",
    tag = "realtime",
    operation_id = "realtime_subscribe",
    description = "The GET that opens a WebSocket (an RFC 6455 upgrade). OpenAPI describes \
        HTTP exchanges, not socket messages, so this operation documents the handshake's \
        answers; what the socket then carries is in the 101's description and the `Event` \
        schema. A browser's upgrade must come from the server's public origin (its `Origin` \
        header), else it is refused with 403 `cross_origin`.",
    responses(
        (status = 101, description = "Switched to the WebSocket: each text message is one \
            `Event` (`{\"type\", \"payload\"}`) of the member's organization, the state of each \
            call-history sync under way first. Pings every 30 s; a client that falls behind is \
            closed with code 4008 and should reconnect and reload."),
        (status = 400, content_type = "text/plain", body = String, description = "Not a \
            WebSocket upgrade (the handshake's own plain-text answer; also 426 when the \
            connection cannot be upgraded)."),
        (status = 401, response = Unauthorized),
        (status = 403, body = ErrorBody, description = "`cross_origin`: the `Origin` header is \
            not this server's public origin; or `forbidden`/`no_organization`."),
    ),
)]
pub async fn subscribe(
    _: SameOrigin,
    State(state): State<AppState>,
    member: CurrentMember,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Subscribe before the upgrade completes so no event published meanwhile is missed.
    let events = state.events.subscribe(member.org_id());
    // Then what is under way now, so a browser that arrives mid-sync starts from the current
    // phase (an event published between the two arrives twice; each is a whole state).
    let current = crate::call_sync::unfinished_events(&state.db, member.org_id())
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the syncs under way");
            Vec::new()
        });
    upgrade.on_upgrade(move |socket| relay(socket, current, events))
}

async fn relay(
    socket: WebSocket,
    current: Vec<String>,
    mut events: tokio::sync::broadcast::Receiver<std::sync::Arc<str>>,
) {
    let (mut tx, mut rx) = socket.split();
    for text in current {
        let sent = tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Text(text.into()))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = ping.tick() => {
                let sent = tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(text) => {
                    let sent = tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Text(text.as_ref().into()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = tx.send(Message::Close(Some(CloseFrame {
                        code: TOO_SLOW,
                        reason: "too slow; reconnect".into(),
                    }))).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = rx.next() => match incoming {
                // Browsers only ever send pings/closes here; axum answers pings itself.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
