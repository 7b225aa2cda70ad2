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
    /// The socket failed or the server closed it: the pacer drops the call at its next frame.
    pub(super) closed: bool,
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
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(format!(
            "stream URL {url}: the load generator streams over plain TCP (ws://); measure a \
             server through an http:// voice URL"
        ));
    }
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(80);
    let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect((host, port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(format!("cannot connect to {url}: {e}")),
        Err(_) => return Err(media_session::handshake_timed_out(url)),
    };
    // Nagle off, as Twilio: each 20 ms frame leaves when it is due, not after the previous
    // one's (delayed) ACK.
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
            Ok(Ok((ws, _response))) => Ok(ws),
            Ok(Err(e)) => Err(media_session::handshake_failed(url, e)),
            Err(_) => Err(media_session::handshake_timed_out(url)),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, LineState> {
        // A panic while holding the lock leaves plain data behind; the call's figures are
        // still worth reporting.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write what is queued, as far as the socket takes it now. False when the socket failed
    /// (the line is then closed).
    pub(super) fn flush(&self, state: &mut LineState) -> bool {
        match state.out.write_to(&self.tcp) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(_) => {
                state.closed = true;
                false
            }
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
            self.flush(&mut state);
            return false;
        };
        let at = Instant::now();
        if !self.flush(&mut state) {
            return false;
        }
        state.stream.frame_sent(stamped, at);
        true
    }
}

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

    /// Frames tungstenite wrote (control frames, its close): already formatted and masked.
    fn raw(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
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
                Err(e) => return Err(e),
            }
        }
        self.bytes.clear();
        self.written = 0;
        Ok(())
    }
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
        let tcp = &self.0.tcp;
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
        state.out.raw(buf);
        match state.out.write_to(&line.tcp) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                state.closed = true;
                Poll::Ready(Err(e))
            }
            _ => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let line = &self.0;
        loop {
            {
                let mut state = line.lock();
                match state.out.write_to(&line.tcp) {
                    Ok(()) => return Poll::Ready(Ok(())),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        state.closed = true;
                        return Poll::Ready(Err(e));
                    }
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
