//! A scriptable WebSocket server on loopback for the provider tests: it records the handshake,
//! hands each connection to the test, and lets the test read what the client sent and push
//! server events.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const PATIENCE: Duration = Duration::from_secs(5);

pub(crate) struct FakeServer {
    addr: SocketAddr,
    connections: mpsc::UnboundedReceiver<FakeConnection>,
}

pub(crate) struct FakeConnection {
    /// Path and query of the upgrade request.
    pub uri: String,
    pub headers: HeaderMap,
    ws: WebSocketStream<TcpStream>,
}

impl FakeServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, connections) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut seen = None;
                #[expect(
                    clippy::result_large_err,
                    reason = "the callback signature is tungstenite's"
                )]
                let callback = |request: &Request, response: Response| {
                    seen = Some((request.uri().to_string(), request.headers().clone()));
                    Ok(response)
                };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    continue;
                };
                let (uri, headers) = seen.expect("the handshake callback ran");
                if tx.send(FakeConnection { uri, headers, ws }).is_err() {
                    return;
                }
            }
        });
        Self { addr, connections }
    }

    /// `http://127.0.0.1:<port><path>`: a base URL as an operator would configure it.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn accept(&mut self) -> FakeConnection {
        tokio::time::timeout(PATIENCE, self.connections.recv())
            .await
            .expect("no connection in time")
            .expect("server stopped")
    }
}

impl FakeConnection {
    /// The next data frame, as (text, was it binary).
    pub async fn recv_text(&mut self) -> String {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("client sent nothing in time")
                .expect("client disconnected")
                .expect("read failed");
            match message {
                Message::Text(text) => return text.as_str().to_owned(),
                Message::Binary(bytes) => return String::from_utf8(bytes.to_vec()).unwrap(),
                Message::Close(frame) => panic!("client closed: {frame:?}"),
                _ => {}
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        serde_json::from_str(&self.recv_text().await).expect("client sent JSON")
    }

    /// Asserts the client sends no data frame for `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        if let Ok(Some(Ok(message))) = tokio::time::timeout(wait, self.ws.next()).await {
            panic!("unexpected message from client: {message:?}");
        }
    }

    /// Waits for the client's close frame and finishes the closing handshake.
    pub async fn expect_close(mut self) {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("client did not close in time");
            match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(Message::Text(text))) => panic!("unexpected message before close: {text}"),
                Some(Ok(_)) => {}
            }
        }
        // Drive the stream to its end so tungstenite sends the close reply.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, self.ws.next()).await {}
    }

    pub async fn send(&mut self, value: Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_binary(&mut self, value: Value) {
        self.ws
            .send(Message::binary(value.to_string().into_bytes()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    pub async fn close_with(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        let _ = self.ws.close(Some(frame)).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, self.ws.next()).await {}
    }

    /// Drops the TCP connection without a close frame.
    pub fn vanish(self) {
        drop(self);
    }
}
