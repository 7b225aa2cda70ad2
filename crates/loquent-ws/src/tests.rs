//! The framing against tungstenite as the peer (an independent implementation of RFC 6455), and
//! against hand-made bytes for what a well-behaved client never sends.

use futures_util::{SinkExt, StreamExt};
use std::task::Poll;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::*;

const MAX: usize = 64 * 1024;

fn pair(read_buffer: usize) -> (WebSocket<DuplexStream>, DuplexStream) {
    let (server, client) = tokio::io::duplex(1 << 20);
    (WebSocket::new(server, read_buffer, MAX), client)
}

async fn tungstenite(client: DuplexStream) -> WebSocketStream<DuplexStream> {
    WebSocketStream::from_raw_socket(client, Role::Client, None).await
}

/// A client frame as bytes: `first` is FIN and opcode, the payload masked with a fixed key.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads what the server wrote so far, as raw bytes.
async fn written(client: &mut DuplexStream) -> Vec<u8> {
    let mut out = vec![0; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), client.read(&mut out))
        .await
        .expect("the server wrote something")
        .unwrap();
    out.truncate(n);
    out
}

#[tokio::test]
async fn text_goes_both_ways_at_every_length_encoding() {
    let (mut server, client) = pair(64);
    let mut client = tungstenite(client).await;
    for len in [0, 1, 125, 126, 300, 65_535, 65_536] {
        let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
        client.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(server.next().await.unwrap().unwrap(), Incoming::Text);
        assert_eq!(server.text(), text, "{len} bytes, client to server");

        assert!(server.queue_text(&text));
        server.flush().await.unwrap();
        let echoed = client.next().await.unwrap().unwrap();
        assert_eq!(echoed, Message::text(text), "{len} bytes, server to client");
    }
}

#[tokio::test]
async fn messages_that_arrive_together_or_byte_by_byte_are_each_read_whole() {
    let (mut server, mut client) = pair(32);
    let mut bytes = Vec::new();
    for i in 0..20 {
        bytes.extend(client_frame(
            0x81,
            format!("{{\"event\":\"media\",\"n\":{i}}}").as_bytes(),
        ));
    }
    // Half at once, the rest one byte per write.
    let trickled = bytes.split_off(bytes.len() / 2);
    client.write_all(&bytes).await.unwrap();
    let trickle = tokio::spawn(async move {
        for byte in trickled {
            client.write_all(&[byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        client
    });
    for i in 0..20 {
        assert_eq!(server.next().await.unwrap().unwrap(), Incoming::Text);
        assert_eq!(server.text(), format!("{{\"event\":\"media\",\"n\":{i}}}"));
    }
    drop(trickle.await.unwrap());
    assert!(
        server.next().await.is_none(),
        "the end of the connection ends the stream"
    );
}

#[tokio::test]
async fn a_fragmented_message_is_reassembled_and_a_ping_between_its_fragments_answered() {
    let (mut server, mut client) = pair(64);
    let mut bytes = client_frame(0x01, b"{\"event\":");
    bytes.extend(client_frame(0x89, b"are you there"));
    bytes.extend(client_frame(0x00, b"\"mark\",\"name\":"));
    bytes.extend(client_frame(0x80, "\"né\"}".as_bytes()));
    bytes.extend(client_frame(0x8A, b"unsolicited pong"));
    bytes.extend(client_frame(0x81, b"after"));
    client.write_all(&bytes).await.unwrap();

    assert_eq!(server.next().await.unwrap().unwrap(), Incoming::Text);
    assert_eq!(server.text(), "{\"event\":\"mark\",\"name\":\"né\"}");
    assert_eq!(server.next().await.unwrap().unwrap(), Incoming::Text);
    assert_eq!(server.text(), "after");
    server.flush().await.unwrap();
    let mut pong = vec![0x8A, 13];
    pong.extend_from_slice(b"are you there");
    assert_eq!(written(&mut client).await, pong);
}

#[tokio::test]
async fn a_close_is_answered_with_the_same_code_and_ends_the_stream() {
    let (mut server, client) = pair(64);
    let mut client = tungstenite(client).await;
    let going_away = CloseFrame {
        code: CloseCode::Away,
        reason: "hung up".into(),
    };
    client.send(Message::Close(Some(going_away))).await.unwrap();
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Incoming::Close(Some(1001))
    );
    assert!(server.next().await.is_none());
    assert!(
        !server.queue_text("too late"),
        "nothing is queued after a close"
    );
    // Closing now sends no second close frame: it ends the connection, which a client waits
    // for after the handshake.
    server.close(NORMAL, "").await.unwrap();
    // tungstenite sees its close answered with its code, and the stream ends cleanly.
    match client.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the close answered, got {other:?}"),
    }
    assert!(client.next().await.is_none());
}

#[tokio::test]
async fn our_close_reaches_the_peer_with_its_code_and_reason() {
    let (mut server, client) = pair(64);
    let mut client = tungstenite(client).await;
    server.close(POLICY, "invalid signature").await.unwrap();
    match client.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "invalid signature");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Each broken frame gets a close with the RFC's code, and the stream ends.
#[tokio::test]
async fn protocol_errors_close_with_the_matching_code() {
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    let mut rsv = client_frame(0x81, b"hi");
    rsv[0] |= 0x40;
    let mut oversize = vec![0x81, 0x80 | 127];
    oversize.extend_from_slice(&(MAX as u64 + 1).to_be_bytes());
    oversize.extend_from_slice(&[0; 4]);
    let mut too_long_when_joined = client_frame(0x01, &vec![b'a'; MAX - 10]);
    too_long_when_joined.extend(client_frame(0x80, &[b'a'; 20]));
    let cases: [(&str, Vec<u8>, u16); 9] = [
        ("unmasked", unmasked, PROTOCOL_ERROR),
        ("reserved bit", rsv, PROTOCOL_ERROR),
        ("unknown opcode", client_frame(0x83, b"x"), PROTOCOL_ERROR),
        ("fragmented ping", client_frame(0x09, b"x"), PROTOCOL_ERROR),
        (
            "stray continuation",
            client_frame(0x80, b"x"),
            PROTOCOL_ERROR,
        ),
        (
            "bad close code",
            client_frame(0x88, &1005u16.to_be_bytes()),
            PROTOCOL_ERROR,
        ),
        ("not UTF-8", client_frame(0x81, &[0xC3, 0x28]), INVALID_DATA),
        ("over the limit", oversize, TOO_BIG),
        ("over the limit joined", too_long_when_joined, TOO_BIG),
    ];
    for (case, bytes, code) in cases {
        let (mut server, mut client) = pair(64);
        client.write_all(&bytes).await.unwrap();
        assert!(
            matches!(server.next().await, Some(Err(_))),
            "{case}: an error"
        );
        assert!(server.next().await.is_none(), "{case}: then nothing more");
        server.flush().await.unwrap();
        let mut close = vec![0x88, 2];
        close.extend_from_slice(&code.to_be_bytes());
        assert_eq!(written(&mut client).await, close, "{case}");
    }
}

#[tokio::test]
async fn text_is_refused_once_the_peer_stops_reading_but_a_close_still_goes() {
    // The pipe holds 1 MiB and the client never reads.
    let (mut server, _client) = pair(64);
    let chunk = "x".repeat(1000);
    let mut queued = 0;
    while server.queue_text(&chunk) {
        queued += 1;
        assert!(queued < 1000, "the write side is bounded");
    }
    assert!(server.has_queued());
    assert_eq!(queued, WRITE_LIMIT / 1004);
    // A message that must not be dropped (a `clear`) still goes in.
    let pending = server.write.len() - server.written;
    server.queue_text_always(r#"{"event":"clear"}"#);
    assert_eq!(server.write.len() - server.written, pending + 2 + 17);
    server.queue_close(NORMAL, "bye");
    server.flush().await.unwrap();
    assert!(!server.has_queued());
}

#[test]
fn the_accept_key_is_the_one_rfc_6455_gives() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn unmasking_matches_the_byte_by_byte_definition_at_every_length() {
    let mask = [0x12, 0x34, 0x56, 0x78];
    for len in 0..40 {
        let plain: Vec<u8> = (0..len as u8).collect();
        let mut masked: Vec<u8> = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        unmask(&mut masked, mask);
        assert_eq!(masked, plain, "{len} bytes");
    }
}

#[tokio::test]
async fn each_ping_is_answered_in_turn_and_a_flood_gets_a_bounded_answer() {
    let (mut server, mut client) = pair(64);
    // A few pings, as a keep-alive or the conformance suite sends them: a pong for each, in order.
    let mut bytes = Vec::new();
    for i in 0..10 {
        bytes.extend(client_frame(0x89, format!("ping {i}").as_bytes()));
    }
    bytes.extend(client_frame(0x81, b"after ten"));
    client.write_all(&bytes).await.unwrap();
    assert_eq!(server.next().await.unwrap().unwrap(), Incoming::Text);
    server.flush().await.unwrap();
    let out = written(&mut client).await;
    let expected: Vec<u8> = (0..10)
        .flat_map(|i| [&[0x8A, 6][..], format!("ping {i}").as_bytes()].concat())
        .collect();
    assert_eq!(out, expected);

    // A flood read while nothing goes out: pongs up to PONG_ROOM, then only the latest.
    let mut bytes = Vec::new();
    for i in 0..10_000 {
        bytes.extend(client_frame(0x89, format!("ping {i:04}").as_bytes()));
    }
    bytes.extend(client_frame(0x81, b"after the flood"));
    let writer = tokio::spawn(async move {
        client.write_all(&bytes).await.unwrap();
        client
    });
    let mut polls = 0;
    std::future::poll_fn(|cx| {
        // Read without writing anything out, as a peer that never reads would leave us.
        polls += 1;
        match server.poll_next(cx) {
            Poll::Ready(Some(Ok(Incoming::Text))) if server.text() == "after the flood" => {
                Poll::Ready(())
            }
            Poll::Ready(other) => panic!("{other:?}"),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    let mut client = writer.await.unwrap();
    server.flush().await.unwrap();
    let mut out = Vec::new();
    while !out.ends_with(b"ping 9999") {
        out.extend(written(&mut client).await);
    }
    let pongs: Vec<&[u8]> = out.chunks(11).collect();
    assert!(
        out.len() % 11 == 0 && out.len() <= PONG_ROOM + 11 * 8,
        "{} bytes of pongs after {polls} polls",
        out.len()
    );
    assert!(pongs.iter().all(|pong| pong.starts_with(&[0x8A, 9])));
    assert_eq!(pongs.last().unwrap()[2..], *b"ping 9999");
}

#[tokio::test]
async fn a_peer_that_reads_slowly_does_not_grow_the_write_buffer_with_sent_bytes() {
    use futures_util::FutureExt as _;
    // A small pipe: each pass the peer takes 900 bytes, a message adds 1004.
    let (server, mut client) = tokio::io::duplex(900);
    let mut server = WebSocket::new(server, 64, MAX);
    let chunk = "x".repeat(1000);
    let mut refused = 0;
    let mut out = vec![0; 900];
    for _ in 0..5_000 {
        if !server.queue_text(&chunk) {
            refused += 1;
        }
        let _ = server.flush().now_or_never();
        let _ = client.read(&mut out).now_or_never();
        assert!(
            server.write.len() <= 2 * WRITE_LIMIT,
            "the buffer holds sent bytes"
        );
    }
    assert!(
        refused > 0,
        "the backlog reached the limit and audio was refused"
    );
}

#[tokio::test]
async fn binary_messages_are_not_text_and_registered_close_codes_are_accepted() {
    let (mut server, client) = pair(64);
    let mut client = tungstenite(client).await;
    client
        .send(Message::binary(b"plain ascii".to_vec()))
        .await
        .unwrap();
    assert_eq!(server.next().await.unwrap().unwrap(), Incoming::Binary);
    assert_eq!(server.text(), "");
    let restart = CloseFrame {
        code: CloseCode::Restart,
        reason: "".into(),
    };
    client.send(Message::Close(Some(restart))).await.unwrap();
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Incoming::Close(Some(1012))
    );
}

#[tokio::test]
async fn a_ping_answered_late_still_goes_before_the_close() {
    let (mut server, mut client) = pair(64);
    let mut bytes = client_frame(0x89, b"hi");
    bytes.extend(client_frame(0x88, &1000u16.to_be_bytes()));
    client.write_all(&bytes).await.unwrap();
    assert_eq!(
        server.poll_next_now(),
        Some(Some(Ok(Incoming::Close(Some(1000)))))
    );
    server.close(NORMAL, "").await.unwrap();
    let mut expected = vec![0x8A, 2, b'h', b'i'];
    expected.extend_from_slice(&[0x88, 2, 0x03, 0xE8]);
    assert_eq!(written(&mut client).await, expected);
}

impl WebSocket<DuplexStream> {
    /// One read with no flush in between, as the bridge's loop does it.
    fn poll_next_now(&mut self) -> Option<Option<Result<Incoming, ()>>> {
        let waker = std::task::Waker::noop();
        match self.poll_next(&mut Context::from_waker(waker)) {
            Poll::Ready(next) => Some(next.map(|r| r.map_err(|_| ()))),
            Poll::Pending => None,
        }
    }
}
