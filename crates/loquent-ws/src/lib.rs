//! The live call's WebSocket (RFC 6455): the framing of Twilio's Media Streams socket and of a
//! web call's (server side), and of the AI provider's socket (client side, [`client`]), in a
//! crate of its own so that the conformance suite, the fuzz target and the server run exactly the
//! same code.
//!
//! A call's Twilio socket carries about 75 small messages a second each way, and at a thousand
//! calls the general-purpose stack's work per message was a seventh of the server's time: the
//! compat layer registering two wakers on every poll, a zero-filled read buffer, an owned
//! `Bytes`/`String` per message in and out, a queue of messages in front of its own write buffer.
//! Here a message is read into one buffer, unmasked in place and handed out as a borrowed `&str`;
//! outgoing messages are framed straight into one write buffer that goes out in one `write`.
//!
//! What the protocol requires is all here: client frames must be masked and server frames must
//! not be (a client masks what it sends with a random key per frame), reserved bits and unknown
//! opcodes are errors, control frames are short and unfragmented and may come
//! between the fragments of a message, a ping is answered with a pong, a close is answered with a
//! close, text must be UTF-8. A protocol error queues a close frame with the RFC's code (1002,
//! 1007 or 1009) and ends the stream.
//!
//! Drop policy for the write side: [`WebSocket::queue_text`] refuses a message that would put
//! more than [`WRITE_LIMIT`] bytes in wait for the peer, so a socket that stops reading costs a
//! bounded amount of memory. Every ping is answered while fewer than [`PONG_ROOM`] bytes wait for
//! the peer; beyond that only the latest (RFC 6455 §5.5.3 allows it), so a ping flood from a peer
//! that does not read queues a few kilobytes of pongs, not one per ping.

pub mod client;

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes waiting for the peer beyond which messages are refused, unless the socket is given
/// another limit: about 10 s of agent audio for Twilio (8 kB/s of µ-law, a third more as base64,
/// plus the JSON around each chunk).
pub const WRITE_LIMIT: usize = 128 * 1024;

/// Bytes waiting for the peer up to which each ping gets its own pong; past it, only the latest
/// ping is answered.
pub const PONG_ROOM: usize = 4096;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Close codes (RFC 6455 §7.4.1).
pub const NORMAL: u16 = 1000;
pub const POLICY: u16 = 1008;
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_DATA: u16 = 1007;
const TOO_BIG: u16 = 1009;

/// What [`WebSocket::poll_next`] read. A text message's content is [`WebSocket::text`] until
/// the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    Text,
    Binary,
    /// The peer's close frame, with its code if it gave one; its reason is
    /// [`WebSocket::text`]. The answer is queued: the next flush (or [`WebSocket::close`])
    /// writes it.
    Close(Option<u16>),
}

/// Which end of the connection this socket is: what it must mask, and what it must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads masked frames, writes unmasked ones.
    Server,
    /// Reads unmasked frames, writes frames masked with a random key each.
    Client,
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("WebSocket: {0}")]
    Io(#[from] io::Error),
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    #[error("WebSocket message over {0} bytes")]
    TooBig(usize),
    #[error("WebSocket text message is not UTF-8")]
    NotUtf8,
}

/// Where the message last handed out lives.
#[derive(Debug, Clone)]
enum Held {
    None,
    /// In the read buffer (one frame, the usual case); whether it is text.
    Buffer(Range<usize>, bool),
    /// Reassembled from fragments; whether it is text.
    Fragments(bool),
}

pub struct WebSocket<S> {
    io: S,
    /// Bytes read: `start..end` are not consumed yet. Zeroed once, when allocated or grown; reads
    /// land on it as it is.
    read: Vec<u8>,
    /// The read buffer's size when not holding a larger frame.
    read_size: usize,
    start: usize,
    end: usize,
    /// Bytes of the frame last handed out, released at the next read.
    consumed: usize,
    held: Held,
    /// A fragmented message being reassembled: its opcode, and its bytes in `fragments`.
    fragmented: Option<u8>,
    fragments: Vec<u8>,
    /// Framed bytes for the peer: `written..` have not gone out yet.
    write: Vec<u8>,
    written: usize,
    /// The answer to the latest ping not answered yet: its payload (at most 125 bytes).
    pong: Option<([u8; 125], u8)>,
    /// A `flush` of `io` is owed after bytes were written.
    unflushed: bool,
    max_message: usize,
    /// Bytes waiting for the peer beyond which messages are refused.
    write_limit: usize,
    close_sent: bool,
    /// The peer closed, broke the protocol, or the connection ended: nothing more is read.
    done: bool,
    role: Role,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// The server's socket over an upgraded connection, taking messages up to `max_message`
    /// bytes; reads start with a `read_buffer` of that many bytes, grown when a frame needs more.
    pub fn new(io: S, read_buffer: usize, max_message: usize) -> Self {
        Self::with_role(io, Role::Server, read_buffer, max_message)
    }

    /// A socket for either end ([`client::handshake`] makes a client's).
    pub fn with_role(io: S, role: Role, read_buffer: usize, max_message: usize) -> Self {
        Self {
            io,
            read: vec![0; read_buffer.max(16)],
            read_size: read_buffer.max(16),
            start: 0,
            end: 0,
            consumed: 0,
            held: Held::None,
            fragmented: None,
            fragments: Vec::new(),
            write: Vec::with_capacity(1024),
            written: 0,
            pong: None,
            unflushed: false,
            max_message,
            write_limit: WRITE_LIMIT,
            close_sent: false,
            done: false,
            role,
        }
    }

    /// Bytes that arrived with the handshake, after its end: the first frames, read as if they
    /// had come now.
    pub(crate) fn preload(&mut self, bytes: &[u8]) {
        if self.read.len() < bytes.len() {
            self.read.resize(bytes.len(), 0);
        }
        self.read[..bytes.len()].copy_from_slice(bytes);
        self.start = 0;
        self.end = bytes.len();
    }

    /// The connection underneath.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Refuse messages beyond `bytes` waiting for the peer instead of [`WRITE_LIMIT`].
    pub fn set_write_limit(&mut self, bytes: usize) {
        self.write_limit = bytes;
    }

    /// The binary message last read (empty unless the last read was [`Incoming::Binary`]).
    pub fn binary(&self) -> &[u8] {
        match &self.held {
            Held::Buffer(range, false) => &self.read[range.clone()],
            Held::Fragments(false) => &self.fragments,
            _ => &[],
        }
    }

    /// The text message last read, or the reason of the close frame last read (empty otherwise).
    pub fn text(&self) -> &str {
        let bytes = match &self.held {
            Held::Buffer(range, true) => &self.read[range.clone()],
            Held::Fragments(true) => &self.fragments,
            _ => &[],
        };
        // Checked when read; a failure here cannot happen and would only give "".
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Reads the next message. `None` once the connection is over: after a close (whose answer
    /// is queued), an error, or the peer's end of the connection.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, SocketError>>> {
        self.release();
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match self.next_frame() {
                Ok(Some(incoming)) => return Poll::Ready(Some(Ok(incoming))),
                Ok(None) => {}
                Err(error) => return Poll::Ready(Some(Err(self.fail(error)))),
            }
            match ready!(self.fill(cx)) {
                Ok(0) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Ok(_) => {}
                Err(error) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
            }
        }
    }

    /// Queues a text message; `false` (and nothing queued) when it would put more than the
    /// write limit in wait, or after a close.
    pub fn queue_text(&mut self, text: &str) -> bool {
        self.queue(TEXT, text.as_bytes())
    }

    /// Queues a binary message, as [`WebSocket::queue_text`] does a text one.
    pub fn queue_binary(&mut self, bytes: &[u8]) -> bool {
        self.queue(BINARY, bytes)
    }

    fn queue(&mut self, opcode: u8, payload: &[u8]) -> bool {
        if self.close_sent || self.write.len() - self.written + payload.len() > self.write_limit {
            return false;
        }
        self.push_frame(opcode, payload);
        true
    }

    /// Queues a text message whatever is waiting (not after a close): for the few messages that
    /// must not be dropped, like a `clear`, which is what empties the backlog at Twilio's end.
    pub fn queue_text_always(&mut self, text: &str) {
        if !self.close_sent {
            self.push_frame(TEXT, text.as_bytes());
        }
    }

    /// Queues a close frame (once; later calls do nothing). The reason is cut to fit a control
    /// frame.
    pub fn queue_close(&mut self, code: u16, reason: &str) {
        if self.close_sent {
            return;
        }
        // Nothing may follow a close frame: an answer to a ping goes before it.
        self.push_pong();
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut payload = [0; 125];
        payload[..2].copy_from_slice(&code.to_be_bytes());
        payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
        self.push_frame(CLOSE, &payload[..2 + cut]);
        self.close_sent = true;
    }

    /// Writes out what is queued, as far as the socket takes it; `Pending` (with `cx` woken when
    /// there is room) while some is left. Everything queued goes out in one write when it can.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.push_pong();
        while self.written < self.write.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.write[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
            self.unflushed = true;
        }
        self.write.clear();
        self.written = 0;
        if self.write.capacity() > 64 * 1024 {
            // A backlog once queued a lot; a live call needs a few kB.
            self.write.shrink_to(16 * 1024);
        }
        if self.unflushed {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Whether anything queued has not gone out yet.
    pub fn has_queued(&self) -> bool {
        self.written < self.write.len() || self.pong.is_some()
    }

    /// The next message, writing out what is queued (a pong, a close's answer) meanwhile.
    pub async fn next(&mut self) -> Option<Result<Incoming, SocketError>> {
        std::future::poll_fn(|cx| {
            let polled = self.poll_next(cx);
            // After the read: what it queued (a pong) goes out now, not at the next message.
            if !self.done
                && let Poll::Ready(Err(error)) = self.poll_flush(cx)
            {
                self.done = true;
                return Poll::Ready(Some(Err(error.into())));
            }
            polled
        })
        .await
    }

    /// Writes out everything queued, waiting for room.
    pub async fn flush(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Sends a close frame (unless one was sent), writes out what is queued and ends our side of
    /// the connection.
    pub async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        self.queue_close(code, reason);
        self.flush().await?;
        std::future::poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await
    }

    /// Echoes every message back as it came until the peer closes or the connection fails, then
    /// answers the close: what the Autobahn TestSuite asks of the peer it tests. For the
    /// conformance examples (`examples/autobahn_echo.rs`, `loquent-ai`'s `autobahn_client`), so
    /// both roles are tested with the same loop.
    #[doc(hidden)]
    pub async fn echo_until_closed(&mut self) {
        while let Some(Ok(incoming)) = self.next().await {
            match incoming {
                // A message is borrowed from the read buffer: copied out to be queued.
                Incoming::Text => {
                    let text = self.text().to_owned();
                    self.queue_text_always(&text);
                }
                Incoming::Binary => {
                    let bytes = self.binary().to_vec();
                    self.queue_binary(&bytes);
                }
                Incoming::Close(_) => break,
            }
            if self.flush().await.is_err() {
                return;
            }
        }
        // The close's answer (or a protocol error's close frame) goes out and our side of the
        // connection ends (first as a server, as RFC 6455 §7.1.1 asks).
        let _ = self.close(NORMAL, "").await;
    }

    /// Forgets the message last handed out.
    fn release(&mut self) {
        let consumed = std::mem::take(&mut self.consumed);
        self.consume_to(self.start + consumed);
        if let Held::Fragments(_) = self.held {
            self.fragments.clear();
            if self.fragments.capacity() > self.read_size {
                self.fragments = Vec::new();
            }
        }
        self.held = Held::None;
        if self.end == 0 && self.read.len() > self.read_size {
            // A large frame grew the buffer; the call goes on with small ones.
            self.read.truncate(self.read_size);
            self.read.shrink_to_fit();
        }
    }

    /// Reads more bytes after `end`, first making room: moving the unconsumed bytes to the front,
    /// or growing the buffer for a frame larger than it.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.end == self.read.len() {
            if self.start > 0 {
                self.read.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // Not reached: `frame_in_buffer` makes room for a whole frame, and the buffer
                // holds any header. Growing beats reading into no room (read as the end).
                self.read.resize(self.read.len() * 2, 0);
            }
        }
        let mut buf = ReadBuf::new(&mut self.read[self.end..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }

    /// Parses the frames already read: `Some` for a message (or close) to hand out, `None` when
    /// more bytes are needed. Pings are answered and pongs skipped on the way.
    fn next_frame(&mut self) -> Result<Option<Incoming>, SocketError> {
        loop {
            let Some((opcode, fin, payload)) = self.frame_in_buffer()? else {
                return Ok(None);
            };
            let frame_end = payload.end;
            match opcode {
                PING => {
                    if !self.close_sent {
                        let mut pong = [0; 125];
                        pong[..payload.len()].copy_from_slice(&self.read[payload.clone()]);
                        if self.write.len() - self.written + 2 + payload.len() <= PONG_ROOM {
                            // Answered in turn; an older ping still waiting is answered by this.
                            self.pong = None;
                            self.push_frame(PONG, &pong[..payload.len()]);
                        } else {
                            // Replaces an answer not sent yet: only the latest ping is answered.
                            self.pong = Some((pong, payload.len() as u8));
                        }
                    }
                    self.consume_to(frame_end);
                }
                PONG => self.consume_to(frame_end),
                CLOSE => {
                    let code = close_code(&self.read[payload.clone()])?;
                    // The reason stays in the buffer for `text` until the next read.
                    self.consumed = frame_end - self.start;
                    let reason = payload.start + payload.len().min(2)..payload.end;
                    self.held = Held::Buffer(reason, true);
                    self.queue_close(code.unwrap_or(NORMAL), "");
                    self.done = true;
                    return Ok(Some(Incoming::Close(code)));
                }
                TEXT | BINARY if self.fragmented.is_some() => {
                    return Err(SocketError::Protocol(
                        "a new message began before the fragmented one ended",
                    ));
                }
                TEXT | BINARY if fin => {
                    if opcode == TEXT && std::str::from_utf8(&self.read[payload.clone()]).is_err() {
                        return Err(SocketError::NotUtf8);
                    }
                    self.consumed = frame_end - self.start;
                    self.held = Held::Buffer(payload, opcode == TEXT);
                    return Ok(Some(if opcode == TEXT {
                        Incoming::Text
                    } else {
                        Incoming::Binary
                    }));
                }
                TEXT | BINARY => {
                    self.fragmented = Some(opcode);
                    self.fragments.clear();
                    self.fragments.extend_from_slice(&self.read[payload]);
                    self.consume_to(frame_end);
                }
                CONTINUATION => {
                    let Some(first) = self.fragmented else {
                        return Err(SocketError::Protocol(
                            "a continuation frame with no message",
                        ));
                    };
                    if self.fragments.len() + payload.len() > self.max_message {
                        return Err(SocketError::TooBig(self.max_message));
                    }
                    self.fragments.extend_from_slice(&self.read[payload]);
                    self.consume_to(frame_end);
                    if fin {
                        self.fragmented = None;
                        if first == TEXT && std::str::from_utf8(&self.fragments).is_err() {
                            return Err(SocketError::NotUtf8);
                        }
                        self.held = Held::Fragments(first == TEXT);
                        return Ok(Some(if first == TEXT {
                            Incoming::Text
                        } else {
                            Incoming::Binary
                        }));
                    }
                }
                _ => return Err(SocketError::Protocol("unknown opcode")),
            }
        }
    }

    /// The frame at `start`, unmasked in place (a client's): its opcode, FIN bit and payload's
    /// range in the buffer. `None` when it has not all arrived.
    fn frame_in_buffer(&mut self) -> Result<Option<(u8, bool, Range<usize>)>, SocketError> {
        let bytes = &self.read[self.start..self.end];
        let [b0, b1, ..] = *bytes else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(SocketError::Protocol(
                "reserved bits set with no extension agreed",
            ));
        }
        let masked = b1 & 0x80 != 0;
        match self.role {
            Role::Server if !masked => {
                return Err(SocketError::Protocol("a client frame that is not masked"));
            }
            Role::Client if masked => {
                return Err(SocketError::Protocol("a server frame that is masked"));
            }
            _ => {}
        }
        let (opcode, fin) = (b0 & 0x0F, b0 & 0x80 != 0);
        let (len, len_bytes) = match b1 & 0x7F {
            126 => match bytes.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 2),
                _ => return Ok(None),
            },
            127 => match bytes.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(len) => (u64::from_be_bytes(len), 8),
                None => return Ok(None),
            },
            len => (u64::from(len), 0),
        };
        if opcode >= CLOSE && (!fin || len > 125) {
            return Err(SocketError::Protocol(
                "a control frame that is fragmented or too long",
            ));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.max_message)
            .ok_or(SocketError::TooBig(self.max_message))?;
        let header = 2 + len_bytes + if masked { 4 } else { 0 };
        if bytes.len() < header + len {
            if self.start + header + len > self.read.len() {
                // Room for the whole frame: `fill` moves or grows the buffer once it is full.
                let needed = header + len;
                if needed > self.read.len() {
                    self.read.resize(needed, 0);
                }
            }
            return Ok(None);
        }
        let payload = self.start + header..self.start + header + len;
        if masked {
            let mask_at = payload.start - 4;
            let mask: [u8; 4] = self.read[mask_at..payload.start]
                .try_into()
                .expect("four bytes");
            unmask(&mut self.read[payload.clone()], mask);
        }
        Ok(Some((opcode, fin, payload)))
    }

    /// Marks the buffer read up to `end`; an emptied buffer starts again at its front.
    fn consume_to(&mut self, end: usize) {
        self.start = end;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// After a protocol error: tell the peer why, and read no more.
    fn fail(&mut self, error: SocketError) -> SocketError {
        let code = match error {
            SocketError::TooBig(_) => TOO_BIG,
            SocketError::NotUtf8 => INVALID_DATA,
            _ => PROTOCOL_ERROR,
        };
        self.queue_close(code, "");
        self.done = true;
        error
    }

    /// Frames the pending answer to a ping, if there is one.
    fn push_pong(&mut self) {
        if let Some((payload, len)) = self.pong.take() {
            self.push_frame(PONG, &payload[..usize::from(len)]);
        }
    }

    /// Appends a frame (FIN set; masked if we are the client) to the write buffer.
    fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        // Drop what went out once it is half the buffer, so a peer that reads slowly but never
        // catches up does not grow it with bytes already sent.
        if self.written > 0 && self.written * 2 >= self.write.len() {
            self.write.drain(..self.written);
            self.written = 0;
        }
        let mask_bit = if self.role == Role::Client { 0x80 } else { 0 };
        self.write.push(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => self.write.push(mask_bit | len as u8),
            len @ 126..=0xFFFF => {
                self.write.push(mask_bit | 126);
                self.write.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                self.write.push(mask_bit | 127);
                self.write.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if self.role == Role::Client {
            // RFC 6455 §5.3: a fresh, unpredictable key for every frame (so that a page's script
            // cannot choose the bytes an intermediary sees); the thread's CSPRNG gives it.
            let mask: [u8; 4] = rand::random();
            self.write.extend_from_slice(&mask);
            let at = self.write.len();
            self.write.extend_from_slice(payload);
            unmask(&mut self.write[at..], mask);
        } else {
            self.write.extend_from_slice(payload);
        }
    }
}

/// XORs `payload` with the repeated 4-byte `mask`, eight bytes at a time (masking and unmasking
/// are the same).
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("eight bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // A chunk is a multiple of 4 bytes, so the tail starts at mask byte 0.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// A close frame's code, checked as RFC 6455 §7.4 requires.
fn close_code(payload: &[u8]) -> Result<Option<u16>, SocketError> {
    match payload {
        [] => Ok(None),
        [_] => Err(SocketError::Protocol("a close frame with a one-byte body")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            // 1004–1006 and 1015 are reserved: never sent in a close frame.
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !allowed {
                return Err(SocketError::Protocol("a close code that may not be sent"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(SocketError::NotUtf8);
            }
            Ok(Some(code))
        }
    }
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: 16 bytes in base64 (RFC 6455 §4.2.1).
pub fn key_is_valid(key: &[u8]) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|bytes| bytes.len() == 16)
}

#[cfg(test)]
mod tests;
