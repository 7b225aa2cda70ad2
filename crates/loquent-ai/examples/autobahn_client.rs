//! A client on the provider sockets' WebSocket, for the Autobahn TestSuite's fuzzing server
//! (`scripts/autobahn.sh`): the sessions' own opening (TCP, the `loquent-ws` handshake) and
//! `loquent-ws` framing in its client role, echoing every message back as it came.
//!
//!   cargo run -p loquent-ai --example autobahn_client -- ws://127.0.0.1:9001 loquent-ws-client
//!
//! It asks the server how many cases there are, runs each, then asks it to write the report.
//! Messages are sent the way a session sends them: queued whatever waits, then written out.

use loquent_ai::realtime::{Socket, open_for_conformance};
use loquent_ws::{Incoming, NORMAL};

async fn open(url: &str) -> Socket {
    open_for_conformance(url)
        .await
        .unwrap_or_else(|error| panic!("{url}: {error}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args
        .next()
        .unwrap_or_else(|| "loquent-ws-client".to_owned());

    let mut socket = open(&format!("{base}/getCaseCount")).await;
    let count: u32 = match socket.next().await {
        Some(Ok(Incoming::Text)) => socket.text().trim().parse().expect("a case count"),
        other => panic!("no case count: {other:?}"),
    };
    let _ = socket.close(NORMAL, "").await;
    eprintln!("{count} cases");

    for case in 1..=count {
        let mut socket = open(&format!("{base}/runCase?case={case}&agent={agent}")).await;
        socket.set_write_limit(usize::MAX);
        socket.echo_until_closed().await;
    }

    let mut socket = open(&format!("{base}/updateReports?agent={agent}")).await;
    while let Some(Ok(incoming)) = socket.next().await {
        if let Incoming::Close(_) = incoming {
            break;
        }
    }
    let _ = socket.close(NORMAL, "").await;
}
