//! One call's Media Stream socket, written from two places: the [pacer](super::pace) sends the
//! caller's frames (for every call, on one clock), the call's own task sends `connected`,
//! `start`, mark echoes and `stop` and reads what the server sends, through tungstenite.
//!
//! Both write through one [`Outbox`] under the line's lock, whole frames at a time, so frames
//! never interleave and sequence numbers go out in order. A write never waits: what the socket
//! does not take now stays queued and goes with the next write (the pacer's, twenty
//! milliseconds later at most) or when tungstenite flushes, which waits for the socket.
//!
//! Why not one task per call sending through tungstenite, as before: a thousand calls are fifty
//! thousand frames a second, and each one cost a timer, a task wake-up, a poll of the read half
//! and tungstenite's sink on the same core that also runs the OpenAI emulator. The generator,
//! not the server, ran out of CPU first.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::Stream;
use crate::twilio::media_session;

/// The call's end of the WebSocket, as tungstenite reads and closes it.
pub(super) type Socket = WebSocketStream<LineIo>;

/// A call's socket and everything both of its writers touch.
pub(super) struct Line {
    tcp: TcpStream,
    state: Mutex<LineState>,
    /// The pacer is done with this call: its audio and drain are over, or a write failed.
    pub(super) done: Notify,
}

pub(super) struct LineState {
    pub(super) out: Outbox,
    pub(super) stream: Stream,
    /// The socket failed, the server closed it or our Close is queued: the pacer drops the
    /// call at its next frame.
    pub(super) closed: bool,
    /// The WebSocket handshake is done: what tungstenite writes from now on are frames.
    upgraded: bool,
}

/// Connect to the stream URL's host (plain TCP, Nagle off) and build Twilio's signed upgrade
/// request for it. A `wss://` URL that needs TLS is refused: the pacer writes frames to the
/// socket itself.
pub(super) async fn connect(
    url: &str,
    auth_token: &str,
    without_tls: bool,
    deadline: Instant,
) -> Result<(TcpStream, Request), String> {
    let request = media_session::signed_request(url, auth_token, without_tls)?;
    open_tcp(
        url,
        request,
        "stream URL",
        "; measure a server through an http:// voice URL",
        deadline,
    )
    .await
}

/// Connect to a web call's URL (plain TCP, Nagle off), with an upgrade request carrying the
/// member's session cookie.
pub(super) async fn connect_web(
    url: &str,
    cookie: &str,
    deadline: Instant,
) -> Result<(TcpStream, Request), String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("web call URL {url}: {e}"))?;
    let cookie = cookie
        .parse()
        .map_err(|e| format!("the session cookie is not a header value: {e}"))?;
    request.headers_mut().insert("cookie", cookie);
    open_tcp(url, request, "web call URL", "", deadline).await
}

/// The TCP connection `request` is to be sent on: plain TCP only, Nagle off, as Twilio (each
/// 20 ms frame leaves when it is due, not after the previous one's delayed ACK).
async fn open_tcp(
    url: &str,
    request: Request,
    what: &str,
    hint: &str,
    deadline: Instant,
) -> Result<(TcpStream, Request), String> {
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(format!(
            "{what} {url}: the load generator streams over plain TCP (ws://){hint}"
        ));
    }
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(80);
    let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect((host, port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(format!("cannot connect to {url}: {e}")),
        Err(_) => return Err(media_session::handshake_timed_out(url)),
    };
    tcp.set_nodelay(true)
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    Ok((tcp, request))
}

impl Line {
    pub(super) fn new(tcp: TcpStream, stream: Stream) -> Arc<Self> {
        Arc::new(Self {
            tcp,
            state: Mutex::new(LineState {
                out: Outbox::new(stream.mask_seed()),
                stream,
                closed: false,
                upgraded: false,
            }),
            done: Notify::new(),
        })
    }

    /// The WebSocket upgrade, by tungstenite, on this line.
    pub(super) async fn upgrade(
        self: &Arc<Self>,
        url: &str,
        request: Request,
        deadline: Instant,
    ) -> Result<Socket, String> {
        let upgrading = tokio_tungstenite::client_async_with_config(
            request,
            LineIo(self.clone()),
            Some(media_session::config()),
        );
        match tokio::time::timeout_at(deadline, upgrading).await {
            Ok(Ok((ws, _response))) => {
                self.lock().upgraded = true;
                Ok(ws)
            }
            Ok(Err(e)) => Err(media_session::handshake_failed(url, e)),
            Err(_) => Err(media_session::handshake_timed_out(url)),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, LineState> {
        // A panic while holding the lock leaves plain data behind; the call's figures are
        // still worth reporting.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write what is queued, as far as the socket takes it now (what it does not take stays
    /// queued). An error means the socket failed, and the line is then closed.
    pub(super) fn flush(&self, state: &mut LineState) -> io::Result<()> {
        match state.out.write_to(&self.tcp) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => {
                state.closed = true;
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// One frame of the caller's audio, due at `deadline`. False when the pacer should drop
    /// the call (it hung up, or the socket failed); the call's task is told either way.
    pub(super) fn pace(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        let LineState { out, stream, .. } = &mut *state;
        let Some(stamped) = stream.frame_due(deadline, out) else {
            // Hanging up: whatever is queued still goes, `stop` follows from the call's task.
            let _ = self.flush(&mut state);
            return false;
        };
        let at = Instant::now();
        if self.flush(&mut state).is_err() {
            return false;
        }
        state.stream.frame_sent(stamped, at);
        true
    }
}

/// Written bytes are dropped from the outbox's front once there are this many.
const COMPACT_AFTER: usize = 64 * 1024;

/// Bytes on their way to the socket: whole WebSocket frames, in the order they were queued.
pub(super) struct Outbox {
    bytes: Vec<u8>,
    /// How much of `bytes` the socket has taken.
    written: usize,
    /// Scratch for the next message's JSON.
    json: String,
    /// xorshift32 state for the masking keys a client must put on every frame (RFC 6455 §5.3);
    /// unpredictable enough for a server under test, and free.
    mask: u32,
}

impl Outbox {
    fn new(seed: u32) -> Self {
        Self {
            bytes: Vec::with_capacity(1024),
            written: 0,
            json: String::with_capacity(512),
            mask: seed | 1,
        }
    }

    /// Queue one text message, written into `json` by `write`.
    pub(super) fn text(&mut self, write: impl FnOnce(&mut String)) {
        self.json.clear();
        write(&mut self.json);
        let key = self.next_mask();
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Text),
            mask: Some(key),
            ..FrameHeader::default()
        };
        // Formatting into a Vec cannot fail.
        let _ = header.format(self.json.len() as u64, &mut self.bytes);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(self.json.as_bytes());
        for (i, byte) in self.bytes[start..].iter_mut().enumerate() {
            *byte ^= key[i & 3];
        }
    }

    /// Queue one binary message.
    pub(super) fn binary(&mut self, payload: &[u8]) {
        let key = self.next_mask();
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Binary),
            mask: Some(key),
            ..FrameHeader::default()
        };
        let _ = header.format(payload.len() as u64, &mut self.bytes);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        for (i, byte) in self.bytes[start..].iter_mut().enumerate() {
            *byte ^= key[i & 3];
        }
    }

    /// Frames tungstenite wrote (the upgrade request, then control frames: pongs, its close),
    /// already formatted and masked. True when they include a Close frame: nothing may follow
    /// it (RFC 6455 §5.5.1).
    fn raw(&mut self, bytes: &[u8], upgraded: bool) -> bool {
        self.bytes.extend_from_slice(bytes);
        upgraded && has_close(bytes)
    }

    fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask = x;
        x.to_ne_bytes()
    }

    fn is_empty(&self) -> bool {
        self.written == self.bytes.len()
    }

    /// Write without waiting; `WouldBlock` leaves the rest queued.
    fn write_to(&mut self, tcp: &TcpStream) -> io::Result<()> {
        while !self.is_empty() {
            match tcp.try_write(&self.bytes[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) => {
                    // A socket that never quite drains must not keep what it took.
                    if self.written >= COMPACT_AFTER {
                        self.bytes.drain(..self.written);
                        self.written = 0;
                    }
                    return Err(e);
                }
            }
        }
        self.bytes.clear();
        self.written = 0;
        Ok(())
    }
}

/// Whether whole client frames `bytes` include a Close (opcode 0x8).
fn has_close(mut bytes: &[u8]) -> bool {
    while bytes.len() >= 2 {
        if bytes[0] & 0x0F == 0x8 {
            return true;
        }
        let (len, header): (usize, usize) = match bytes[1] & 0x7F {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() >= 10 => {
                let mut len = [0; 8];
                len.copy_from_slice(&bytes[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(len)).unwrap_or(usize::MAX),
                    10,
                )
            }
            126 | 127 => return false,
            len => (usize::from(len), 2),
        };
        let mask = if bytes[1] & 0x80 != 0 { 4 } else { 0 };
        let Some(next) = bytes.get(header.saturating_add(mask).saturating_add(len)..) else {
            return false;
        };
        bytes = next;
    }
    false
}

/// The line as tungstenite's stream: reads straight from the socket, writes through the
/// outbox (so its frames queue behind the pacer's, never inside one).
pub(super) struct LineIo(Arc<Line>);

impl AsyncRead for LineIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let line = &self.0;
        let tcp = &line.tcp;
        // Bytes left queued (the upgrade request or a pong the socket did not take at once)
        // must go out even if nobody flushes: wake for room as well as for data.
        {
            let mut state = line.lock();
            if !state.out.is_empty() {
                line.flush(&mut state)?;
                if !state.out.is_empty() {
                    let _ = tcp.poll_write_ready(cx);
                }
            }
        }
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            match tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // The readiness was stale; `try_read` cleared it, so the next poll waits.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for LineIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let line = &self.0;
        let mut state = line.lock();
        let upgraded = state.upgraded;
        if state.out.raw(buf, upgraded) {
            // Our Close is queued: the pacer must not add a frame after it.
            state.closed = true;
        }
        Poll::Ready(line.flush(&mut state).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let line = &self.0;
        loop {
            {
                let mut state = line.lock();
                line.flush(&mut state)?;
                if state.out.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
            // `try_write` cleared the write readiness: this waits until the socket drains.
            ready!(line.tcp.poll_write_ready(cx))?;
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_is_found_among_whole_frames() {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::Control;
        let frame = |opcode: OpCode, len: usize| {
            let mut bytes = Vec::new();
            let header = FrameHeader {
                opcode,
                mask: Some([1, 2, 3, 4]),
                ..FrameHeader::default()
            };
            header.format(len as u64, &mut bytes).unwrap();
            bytes.extend(std::iter::repeat_n(b'x', len));
            bytes
        };
        let pong = frame(OpCode::Control(Control::Pong), 4);
        let close = frame(OpCode::Control(Control::Close), 2);
        let text = frame(OpCode::Data(Data::Text), 300);
        let huge = frame(OpCode::Data(Data::Text), 70_000);
        assert!(!has_close(&pong));
        assert!(has_close(&close));
        assert!(has_close(&[pong.clone(), close.clone()].concat()));
        assert!(has_close(&[text.clone(), huge.clone(), close].concat()));
        assert!(!has_close(&[text, huge, pong].concat()));
        // Not a whole frame: nothing is read past the end.
        assert!(!has_close(&[0x81, 0xFE, 0x01]));
    }

    #[test]
    fn outbox_frames_are_masked_text_frames() {
        let mut out = Outbox::new(7);
        let long = "x".repeat(300);
        out.text(|json| json.push_str("{\"event\":\"mark\"}"));
        out.text(|json| json.push_str(&long));
        let bytes = out.bytes.clone();
        // FIN + text; masked, 16 bytes.
        assert_eq!(&bytes[..2], &[0x81, 0x80 | 16]);
        let key = [bytes[2], bytes[3], bytes[4], bytes[5]];
        let first: Vec<u8> = bytes[6..22]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i & 3])
            .collect();
        assert_eq!(first, b"{\"event\":\"mark\"}");
        // The second frame: 126 then a 16-bit length, a different key.
        let second = &bytes[22..];
        assert_eq!(&second[..4], &[0x81, 0x80 | 126, 1, 44]);
        let key2 = [second[4], second[5], second[6], second[7]];
        assert_ne!(key, key2);
        assert!(
            second[8..]
                .iter()
                .enumerate()
                .all(|(i, b)| b ^ key2[i & 3] == b'x')
        );
        assert_eq!(second.len(), 8 + 300);
    }
}
