//! An echo server on the live call's WebSocket, for the Autobahn TestSuite's fuzzing client
//! (`scripts/autobahn.sh`): the server's own listener, the `Upgrade` extractor the media stream
//! and web calls open with, and `loquent-ws` framing, echoing every message back as it came.
//!
//!   cargo run --example autobahn_echo -- 127.0.0.1:9001
//!
//! Limits are raised for the suite's large messages (up to 16 MiB); the media stream runs the same
//! code with smaller ones.

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use loquent::listener::{ConnectionSocket, Connections};
use loquent::telephony::media_socket::{CallSocket, Upgrade};

const READ_BUFFER: usize = 4096;
const MAX_MESSAGE: usize = 64 << 20;

async fn open(upgrade: Upgrade) -> Response {
    upgrade.on_upgrade(READ_BUFFER, MAX_MESSAGE, echo)
}

async fn echo(mut socket: CallSocket) {
    socket.set_write_limit(usize::MAX);
    socket.echo_until_closed().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("autobahn echo server on ws://{}", listener.local_addr()?);
    let router = Router::new().route("/", get(open));
    axum::serve(
        Connections(listener),
        router.into_make_service_with_connect_info::<ConnectionSocket>(),
    )
    .await
}
