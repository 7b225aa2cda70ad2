//! The live call's WebSocket (loquent-ws): as the server, the first code a media stream's or a
//! web call's bytes reach, before any signature or session is checked; as the client, what reads
//! the AI provider's frames. Whatever the peer sends, cut into whatever pieces and with the socket
//! sometimes not writable, reading never panics, hands out only whole messages within the limit
//! (text as UTF-8), and what we write is well-formed frames of our role (masked as a client, not
//! as a server) with nothing after a close.
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use loquent_ws::{Incoming, Role, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const MAX_MESSAGE: usize = 4096;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Bytes the client sends.
    bytes: Vec<u8>,
    /// How many bytes each read gets (0: the read is pending this time).
    reads: Vec<u8>,
    /// How many bytes each write takes (0: the socket is not writable this time).
    writes: Vec<u8>,
    read_buffer: u8,
    /// Echo what is read back (exercising the write side and its limit).
    echo: bool,
    /// Our socket is the client (the provider's side) rather than the server.
    client: bool,
}

struct Peer {
    input: Vec<u8>,
    at: usize,
    reads: Vec<u8>,
    read: usize,
    writes: Vec<u8>,
    write: usize,
    written: Vec<u8>,
    /// Pending answers given so far: a bounded number, so the run always ends.
    pending: usize,
}

impl Peer {
    /// The next step of `steps`; `None` for "pending this time".
    fn step(&mut self, reading: bool) -> Option<usize> {
        let (steps, i) = if reading {
            (&self.reads, &mut self.read)
        } else {
            (&self.writes, &mut self.write)
        };
        let step = steps.get(*i % steps.len().max(1)).copied().unwrap_or(255);
        *i += 1;
        if step == 0 && self.pending < 256 {
            self.pending += 1;
            return None;
        }
        Some(usize::from(step.max(1)))
    }
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(step) = this.step(true) else {
            return Poll::Pending;
        };
        let n = step.min(this.input.len() - this.at).min(buf.remaining());
        buf.put_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(step) = this.step(false) else {
            return Poll::Pending;
        };
        let n = step.min(data.len());
        this.written.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Checks that `bytes` are whole or partial frames of our role: FIN set (we never fragment),
/// masked when we are the client and not when we are the server, a known opcode, and nothing
/// after a close frame.
fn check_frames(mut bytes: &[u8], client: bool) {
    let mut closed = false;
    while let [b0, b1, rest @ ..] = bytes {
        assert!(!closed, "a frame after the close frame");
        assert_eq!(b0 & 0xF0, 0x80, "FIN without reserved bits");
        assert!(matches!(b0 & 0x0F, 0x1 | 0x2 | 0x8 | 0xA), "opcode {b0:#x}");
        let masked = b1 & 0x80 != 0;
        assert_eq!(masked, client, "a client masks every frame, a server none");
        let (len, rest) = match b1 & 0x7F {
            126 if rest.len() >= 2 => (usize::from(u16::from_be_bytes([rest[0], rest[1]])), &rest[2..]),
            127 if rest.len() >= 8 => (
                usize::try_from(u64::from_be_bytes(rest[..8].try_into().unwrap())).unwrap(),
                &rest[8..],
            ),
            126 | 127 => return,
            len => (usize::from(len), rest),
        };
        let rest = match (client, rest) {
            (true, [_, _, _, _, rest @ ..]) => rest,
            (true, _) => return,
            (false, rest) => rest,
        };
        if b0 & 0x08 != 0 {
            assert!(len <= 125, "a control frame of {len} bytes");
        }
        if b0 & 0x0F == 0x8 {
            closed = true;
        }
        if rest.len() < len {
            return;
        }
        bytes = &rest[len..];
    }
}

fuzz_target!(|input: Input| {
    let peer = Peer {
        input: input.bytes,
        at: 0,
        reads: input.reads,
        read: 0,
        writes: input.writes,
        write: 0,
        written: Vec::new(),
        pending: 0,
    };
    let role = if input.client { Role::Client } else { Role::Server };
    let mut socket =
        WebSocket::with_role(peer, role, usize::from(input.read_buffer), MAX_MESSAGE);
    socket.set_write_limit(8192);
    let mut cx = Context::from_waker(Waker::noop());
    // Every poll consumes input, ends the stream or is one of the peer's few pending answers: the
    // bound only stops a socket that would loop without reading.
    for _ in 0..100_000 {
        match socket.poll_next(&mut cx) {
            Poll::Ready(Some(Ok(Incoming::Text))) => {
                let text = socket.text().to_owned();
                assert!(text.len() <= MAX_MESSAGE);
                if input.echo {
                    socket.queue_text(&text);
                }
            }
            Poll::Ready(Some(Ok(Incoming::Binary))) => {
                let bytes = socket.binary().to_vec();
                assert!(bytes.len() <= MAX_MESSAGE);
                if input.echo {
                    socket.queue_binary(&bytes);
                }
            }
            Poll::Ready(Some(Ok(Incoming::Close(_)))) | Poll::Ready(Some(Err(_))) => {}
            Poll::Ready(None) => break,
            Poll::Pending => {}
        }
        let _ = socket.poll_flush(&mut cx);
    }
    socket.queue_close(1000, "done");
    for _ in 0..10_000 {
        if let Poll::Ready(_) = socket.poll_flush(&mut cx) {
            break;
        }
    }
    check_frames(&socket.get_ref().written, input.client);
});
