//! The client role against tungstenite as the server (an independent implementation of RFC
//! 6455, which refuses unmasked client frames), and against hand-made answers for what a
//! well-behaved server never sends.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request as Upgrade, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::*;
use crate::{Incoming, NORMAL, SocketError};

const MAX: usize = 1 << 20;

const REQUEST: Request<'static> = Request {
    host: "realtime.example:8443",
    target: "/v1/realtime?model=gpt-realtime",
    headers: &[("authorization", "Bearer sk-test")],
};

/// A client over one end of a pipe, tungstenite's server over the other; the server also
/// reports the upgrade request it saw.
async fn connected() -> (
    WebSocket<DuplexStream>,
    tokio_tungstenite::WebSocketStream<DuplexStream>,
    Vec<(String, String)>,
) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        #[expect(
            clippy::result_large_err,
            reason = "the callback signature is tungstenite's"
        )]
        let callback = move |request: &Upgrade, response: Response| {
            let mut seen = vec![("target".to_owned(), request.uri().to_string())];
            for (name, value) in request.headers() {
                seen.push((name.to_string(), value.to_str().unwrap().to_owned()));
            }
            let _ = seen_tx.send(seen);
            Ok(response)
        };
        tokio_tungstenite::accept_hdr_async(theirs, callback)
            .await
            .unwrap()
    });
    let client = handshake(ours, REQUEST, 64, MAX).await.unwrap();
    (client, server.await.unwrap(), seen_rx.await.unwrap())
}

/// Answers the upgrade request on `theirs` with `response`, after reading the request.
async fn answer(response: &'static [u8]) -> Result<WebSocket<DuplexStream>, HandshakeError> {
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut request = Vec::new();
        let mut byte = [0];
        while !request.ends_with(b"\r\n\r\n") {
            theirs.read_exact(&mut byte).await.unwrap();
            request.push(byte[0]);
        }
        let request = String::from_utf8(request).unwrap();
        let key = request
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .to_owned();
        // The answer may end with frames: not text, so `{accept}` is replaced as bytes.
        let mut bytes = response.to_vec();
        if let Some(at) = bytes.windows(8).position(|w| w == b"{accept}") {
            bytes.splice(at..at + 8, accept_key(key.as_bytes()).into_bytes());
        }
        theirs.write_all(&bytes).await.unwrap();
        theirs
    });
    let result = handshake(ours, REQUEST, 64, MAX).await;
    drop(server.await.unwrap());
    result
}

#[tokio::test]
async fn the_upgrade_request_carries_the_target_host_key_and_our_headers() {
    let (_client, _server, seen) = connected().await;
    let get = |name: &str| {
        seen.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("target"), Some("/v1/realtime?model=gpt-realtime"));
    assert_eq!(get("host"), Some("realtime.example:8443"));
    assert_eq!(get("authorization"), Some("Bearer sk-test"));
    assert_eq!(get("sec-websocket-version"), Some("13"));
    assert!(crate::key_is_valid(
        get("sec-websocket-key").unwrap().as_bytes()
    ));
}

#[tokio::test]
async fn messages_go_both_ways_masked_at_every_length_encoding() {
    let (mut client, mut server, _) = connected().await;
    for len in [0, 1, 125, 126, 300, 65_535, 65_536] {
        let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
        // tungstenite's server refuses an unmasked frame: reading it is the check.
        client.queue_text_always(&text);
        client.flush().await.unwrap();
        let got = server.next().await.unwrap().unwrap();
        assert_eq!(
            got,
            Message::text(text.clone()),
            "{len} bytes, client to server"
        );

        server.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), Incoming::Text);
        assert_eq!(client.text(), text, "{len} bytes, server to client");
    }
    server.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(client.next().await.unwrap().unwrap(), Incoming::Binary);
    assert_eq!(client.binary(), [1, 2, 3]);
}

#[test]
fn every_frame_gets_a_fresh_mask() {
    let (ours, _theirs) = tokio::io::duplex(64);
    let mut client = WebSocket::with_role(ours, Role::Client, 64, MAX);
    client.queue_text_always("same text");
    client.queue_text_always("same text");
    let frame = 2 + 4 + 9;
    let (first, second) = client.write.split_at(frame);
    assert_eq!(first[1], 0x80 | 9, "the mask bit is set");
    assert_ne!(first[2..6], second[2..6], "two frames, two keys");
    assert_ne!(first[6..], *b"same text", "the payload is masked");
}

#[tokio::test]
async fn a_server_ping_is_answered_and_its_close_reason_is_read() {
    let (mut client, mut server, _) = connected().await;
    server
        .send(Message::Ping(b"there?".to_vec().into()))
        .await
        .unwrap();
    server
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Again,
            reason: "session expired".into(),
        })))
        .await
        .unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Incoming::Close(Some(1013))
    );
    assert_eq!(client.text(), "session expired");
    client.close(NORMAL, "").await.unwrap();
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Message::Pong(b"there?".to_vec().into())
    );
    match server.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Again),
        other => panic!("expected the close's answer, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_that_come_with_the_answer_are_read_first() {
    let mut client = answer(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
          Sec-WebSocket-Accept: {accept}\r\n\r\n\x81\x05hello\x81\x05world",
    )
    .await
    .unwrap();
    for word in ["hello", "world"] {
        assert_eq!(client.next().await.unwrap().unwrap(), Incoming::Text);
        assert_eq!(client.text(), word);
    }
}

#[tokio::test]
async fn a_masked_server_frame_is_a_protocol_error() {
    let mut client = answer(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: {accept}\r\n\r\n\x81\x81\x00\x00\x00\x00x",
    )
    .await
    .unwrap();
    assert!(matches!(
        client.next().await,
        Some(Err(SocketError::Protocol("a server frame that is masked")))
    ));
}

#[tokio::test]
async fn a_refusal_gives_its_status_and_body() {
    let error = answer(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n\
          {\"error\":{\"message\":\"bad API key\"}}",
    )
    .await
    .err()
    .unwrap();
    assert_eq!(
        error.to_string(),
        "handshake rejected with HTTP 401: {\"error\":{\"message\":\"bad API key\"}}"
    );
}

#[tokio::test]
async fn a_101_that_is_not_a_websocket_upgrade_is_refused() {
    let cases: [(&'static [u8], &str); 4] = [
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            "Sec-WebSocket-Accept does not answer our key",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: {accept}\r\n\r\n",
            "the Upgrade header is not websocket",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            "the server chose an extension we did not offer",
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP response"),
    ];
    for (response, why) in cases {
        match answer(response).await {
            Err(HandshakeError::InvalidResponse(got)) => assert_eq!(got, why),
            other => panic!("expected {why:?}, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn a_header_that_would_split_the_request_is_refused_before_anything_is_sent() {
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let request = Request {
        headers: &[("authorization", "Bearer x\r\nX-Injected: 1")],
        ..REQUEST
    };
    let error = handshake(ours, request, 64, MAX).await.err().unwrap();
    assert!(
        matches!(error, HandshakeError::InvalidRequest(_)),
        "{error}"
    );
    let mut sent = Vec::new();
    theirs.read_to_end(&mut sent).await.unwrap();
    assert!(sent.is_empty());
}
