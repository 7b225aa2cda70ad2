//! The caller's audio on its way to the provider: while the server is lightly loaded (see
//! [`Load`]) every frame as it comes; under load, waking once per batch of frames (see [`wake`])
//! and sending a held-back batch once the caller's socket is drained; and how long the provider
//! may take to accept it.

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use loquent_ai::realtime::RealtimeError;
use tokio::time::Sleep;

use super::super::load::Load;
use super::super::wake::{self, ConnectionSocket, WakeThreshold};
use super::End;

/// Longest wait for the provider to take one caller frame.
const PROVIDER_SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// A client WebSocket frame around a `media` message: 2 bytes, a 2-byte length, a 4-byte mask.
const WS_FRAME_OVERHEAD: usize = 8;

pub struct Uplink {
    /// The connection's socket until the first frame under load sets its threshold.
    connection: Option<ConnectionSocket>,
    load: Load,
    wake: Option<WakeThreshold>,
    /// Caller audio was forwarded since the caller's socket was last drained, and the provider
    /// may be holding it back: the threshold is raised, or the load is light (every frame goes on
    /// as it comes).
    flush_due: bool,
    /// Fires when the caller's socket has been silent for [`wake::QUIET`].
    quiet: Pin<Box<Sleep>>,
}

impl Uplink {
    pub fn new(connection: Option<ConnectionSocket>, load: Load) -> Self {
        Self {
            connection,
            load,
            wake: None,
            flush_due: false,
            quiet: Box::pin(tokio::time::sleep(wake::QUIET)),
        }
    }

    /// Whether the provider may hold caller audio back until the socket is drained.
    pub fn flush_due(&self) -> bool {
        self.flush_due
    }

    /// Whether the socket's threshold is raised (so a quiet spell should lower it).
    pub fn is_raised(&self) -> bool {
        self.wake.as_ref().is_some_and(WakeThreshold::is_raised)
    }

    /// After a caller `media` message of `text_len` bytes, with the provider sending
    /// `frames_per_send()` frames at a time (asked once, on the first frame under load).
    ///
    /// Light load: the frame is sent as soon as the socket is drained, and a raised threshold is
    /// lowered. Under load, the first frame sets the socket's threshold; later ones keep it
    /// raised. The quiet timer is pushed back once the batch is read (see [`Uplink::drained`]),
    /// not per frame: a timer reset is a clock read and a move in the timer wheel.
    pub fn frame_forwarded(&mut self, text_len: usize, frames_per_send: impl FnOnce() -> usize) {
        if self.load.is_light() {
            if let Some(wake) = &mut self.wake {
                wake.lower();
            }
            self.flush_due = true;
            return;
        }
        match (&mut self.wake, self.connection.take()) {
            (None, Some(connection)) => {
                let frame_len = text_len + WS_FRAME_OVERHEAD;
                self.wake = WakeThreshold::raise(&connection, frame_len, frames_per_send());
                if self.wake.is_some() {
                    metrics::counter!("loquent_receive_threshold_raised_total").increment(1);
                }
            }
            (Some(wake), _) => wake.restore(),
            (None, None) => {}
        }
        self.flush_due = self.is_raised();
    }

    /// The caller's socket has nothing more to read after frames that arrived with the threshold
    /// raised: the quiet spell, if one comes, starts now.
    pub fn drained(&mut self) {
        self.flush_due = false;
        let at = tokio::time::Instant::now() + wake::QUIET;
        self.quiet.as_mut().reset(at);
    }

    /// Fires after [`wake::QUIET`] without a drained batch.
    pub fn quiet_spell(&mut self) -> &mut Pin<Box<Sleep>> {
        &mut self.quiet
    }

    /// No frame for a while: the call is ending, and a lone `stop` may sit under the threshold.
    /// Lowering it makes the kernel report whatever is waiting.
    pub fn lower(&mut self) {
        if let Some(wake) = &mut self.wake {
            wake.lower();
        }
    }

    /// Whatever reads the socket from here on (`stop`, the close) reads every byte.
    pub fn forget(&mut self) {
        self.wake = None;
    }
}

/// Caller audio handed to the provider, bounded by [`PROVIDER_SEND_TIMEOUT`]; `Some` ends the
/// call.
pub async fn provider_took(sent: impl Future<Output = Result<(), RealtimeError>>) -> Option<End> {
    // Most frames only join a batch and are taken at once: no clock read, no timer for those.
    let mut sent = std::pin::pin!(sent);
    let at_once = std::future::poll_fn(|cx| Poll::Ready(sent.as_mut().poll(cx))).await;
    let taken = match at_once {
        Poll::Ready(taken) => Ok(taken),
        Poll::Pending => tokio::time::timeout(PROVIDER_SEND_TIMEOUT, sent).await,
    };
    match taken {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(End::ProviderGone(e.to_string())),
        Err(_) => Some(End::ProviderGone(
            "the provider stopped taking audio".to_owned(),
        )),
    }
}
