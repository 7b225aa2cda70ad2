//! Waking the bridge once per batch of caller frames instead of once per frame.
//!
//! Twilio sends a `media` message every 20 ms, and the bridge sends the caller's audio to the
//! model a batch at a time (by default two frames for OpenAI, three for Gemini), so waking up for the
//! frames before the last of a batch buys nothing: an epoll event, a task wake-up, a `recv` and a
//! trip round the loop each. On Linux, `SO_RCVLOWAT` tells the kernel not to report the socket
//! readable (nor wake its reader) until that many bytes are waiting. Once it has seen a frame the
//! bridge sets it half a frame short of a batch (two and a half frames for three), and from then
//! on sends caller audio when the socket has nothing more to read.
//!
//! The threshold also holds back messages smaller than a frame (a mark's echo, a key press,
//! `stop`, a close frame) until the batch is complete, at most one batch later while the call
//! lasts.
//! When no frame comes, because the call is over, [`QUIET`] after the last frame the bridge puts
//! the threshold back to one byte; setting it makes the kernel re-check at once, so whatever is
//! waiting is read then. Reads through any other path (before `start`, after the loop) run with
//! the threshold at one byte.
//!
//! The option needs the connection's socket, which axum does not hand to a WebSocket handler:
//! [`ConnectionSocket`] is the connection's `ConnectInfo`, through which the upgrade asks for a
//! duplicate of the connection's descriptor (see `crate::listener`). Where the
//! option is missing or refused, or the provider sends every frame as it comes, nothing changes:
//! the bridge reads every frame as it arrives and the provider batches by size.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

pub use crate::listener::ConnectionSocket;

/// How long the caller's socket may stay silent before the threshold is lowered, so a lone small
/// message (`stop` at the end of the call) is read. Twilio sends a frame every 20 ms for the
/// whole call, so in a live call this never fires.
pub const QUIET: Duration = Duration::from_millis(100);

/// The receive threshold of one media-stream socket.
pub struct WakeThreshold {
    socket: Arc<OwnedFd>,
    /// The threshold in bytes while raised.
    bytes: i32,
    raised: bool,
}

impl WakeThreshold {
    /// Raises the threshold on `socket` to half a frame short of `frames` frames of `frame_len`
    /// bytes (the WebSocket frame around a `media` message is a few bytes more: still under the
    /// mark). `None` for a batch of one frame, or when the kernel does not take the option: the
    /// bridge then reads every frame.
    pub fn raise(socket: &ConnectionSocket, frame_len: usize, frames: usize) -> Option<Self> {
        if frames < 2 {
            return None;
        }
        let socket = socket.fd()?.clone();
        let half_frames = frames.saturating_mul(2) - 1;
        let bytes = i32::try_from(frame_len.saturating_mul(half_frames) / 2).ok()?;
        set(&socket, bytes).ok()?;
        Some(Self {
            socket,
            bytes,
            raised: true,
        })
    }

    pub fn is_raised(&self) -> bool {
        self.raised
    }

    /// Back to one byte: the reader is woken at once if anything is waiting.
    pub fn lower(&mut self) {
        if self.raised {
            self.raised = false;
            if let Err(error) = set(&self.socket, 1) {
                tracing::debug!(%error, "could not lower the socket's receive threshold");
            }
        }
    }

    /// Raised again once frames flow after a quiet spell.
    pub fn restore(&mut self) {
        if !self.raised {
            self.raised = set(&self.socket, self.bytes).is_ok();
        }
    }
}

impl Drop for WakeThreshold {
    /// The duplicate descriptor outlives the bridge only as long as the upgraded connection;
    /// leave the socket as it was found for whatever reads it last (the close handshake).
    fn drop(&mut self) {
        self.lower();
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod option {
    // nix has no `SO_RCVLOWAT` accessor; its exported `sockopt_impl!` defines one (the same safe
    // wrapper it generates for its own options), so this crate still writes no `unsafe`.
    use nix::{setsockopt_impl, sockopt_impl};

    sockopt_impl!(
        /// `SO_RCVLOWAT`: bytes that must be waiting before the socket reads as readable.
        RcvLowat,
        SetOnly,
        libc::SOL_SOCKET,
        libc::SO_RCVLOWAT,
        libc::c_int
    );
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set(socket: &OwnedFd, bytes: i32) -> std::io::Result<()> {
    nix::sys::socket::setsockopt(socket, option::RcvLowat, &bytes).map_err(std::io::Error::from)
}

/// Elsewhere the threshold may not gate wake-ups, so it is not used.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set(_socket: &OwnedFd, _bytes: i32) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{ConnectionSocket, WakeThreshold};

    /// Whether `socket` becomes readable within `wait`.
    async fn readable(socket: &TcpStream, wait: Duration) -> bool {
        tokio::time::timeout(wait, socket.readable()).await.is_ok()
    }

    #[tokio::test]
    async fn the_reader_is_woken_once_a_batch_of_frames_waits_or_the_threshold_is_lowered() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut caller = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        caller.set_nodelay(true).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let connection = ConnectionSocket::of(&server, None);
        // A provider that sends every frame as it comes gains nothing from a threshold.
        assert!(WakeThreshold::raise(&connection, 100, 1).is_none());
        let mut threshold = WakeThreshold::raise(&connection, 100, 3).expect("SO_RCVLOWAT taken");
        let quiet = Duration::from_millis(200);
        let mut buf = [0u8; 1024];
        // Tokio may report a fresh socket readable once; a read that finds nothing resets that.
        assert!(server.try_read(&mut [0u8; 16]).is_err());

        // Two frames of a batch of three: below the threshold, the reader is not woken.
        caller.write_all(&[1; 100]).await.unwrap();
        caller.write_all(&[2; 100]).await.unwrap();
        assert!(
            !readable(&server, quiet).await,
            "woken before the batch was complete"
        );
        // The third frame crosses it: all three are read at once.
        caller.write_all(&[3; 100]).await.unwrap();
        assert!(readable(&server, Duration::from_secs(5)).await);
        assert_eq!(server.read(&mut buf).await.unwrap(), 300);

        // A small message alone waits, until the threshold is lowered.
        caller.write_all(b"stop").await.unwrap();
        assert!(!readable(&server, quiet).await, "woken by a small message");
        threshold.lower();
        assert!(!threshold.is_raised());
        assert!(readable(&server, Duration::from_secs(5)).await);
        assert_eq!(server.read(&mut buf).await.unwrap(), 4);

        // Raised again, and put back to one byte when dropped.
        threshold.restore();
        assert!(threshold.is_raised());
        caller.write_all(&[4; 100]).await.unwrap();
        assert!(!readable(&server, quiet).await);
        drop(threshold);
        assert!(readable(&server, Duration::from_secs(5)).await);
        assert_eq!(server.read(&mut buf).await.unwrap(), 100);
    }
}
