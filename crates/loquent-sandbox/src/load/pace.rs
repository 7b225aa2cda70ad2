//! One clock for every call's caller audio.
//!
//! Twilio sends each call's frames on that call's own 20 ms clock. Here one task keeps all of
//! them: a heap of next deadlines, one timer, and when it fires every frame due is written
//! straight to its call's socket (see [`super::line`]). A frame is due at `start + n × 20 ms`;
//! when the generator falls behind, the frames missed are sent late, back to back, and the
//! deadlines do not move, as Twilio keeps real time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::FRAME;
use super::line::Line;

/// Where calls join the clock.
#[derive(Clone)]
pub(super) struct Pacer {
    join: mpsc::UnboundedSender<(Instant, Arc<Line>)>,
}

impl Pacer {
    /// Start the clock. It stops once every `Pacer` is dropped and every call it has was
    /// done.
    pub(super) fn start() -> (Self, JoinHandle<()>) {
        let (join, joining) = mpsc::unbounded_channel();
        (Self { join }, tokio::spawn(tick(joining)))
    }

    /// Send `line`'s frames from `first` on, until it hangs up; then wake its `done`.
    pub(super) fn add(&self, first: Instant, line: Arc<Line>) {
        if let Err(mpsc::error::SendError((_, line))) = self.join.send((first, line)) {
            // The clock is gone (the run is ending): the call ends now.
            line.lock().closed = true;
            line.done.notify_one();
        }
    }
}

/// The calls on the clock. Dropped with calls still on it (the clock task panicked or was
/// aborted), it ends them, so no call's task waits forever for its `done`.
#[derive(Default)]
struct Lines(Vec<Option<Arc<Line>>>);

impl Drop for Lines {
    fn drop(&mut self) {
        for line in self.0.iter().flatten() {
            line.lock().closed = true;
            line.done.notify_one();
        }
    }
}

async fn tick(mut joining: mpsc::UnboundedReceiver<(Instant, Arc<Line>)>) {
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut lines = Lines::default();
    let lines = &mut lines.0;
    let mut free: Vec<usize> = Vec::new();
    let mut open = true;
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    loop {
        let next = due.peek().map(|Reverse((at, _))| *at);
        if let Some(at) = next {
            sleep.as_mut().reset(at);
        }
        tokio::select! {
            biased;
            () = &mut sleep, if next.is_some() => {}
            joined = joining.recv(), if open => {
                match joined {
                    Some((first, line)) => {
                        let slot = free.pop().unwrap_or_else(|| {
                            lines.push(None);
                            lines.len() - 1
                        });
                        lines[slot] = Some(line);
                        due.push(Reverse((first, slot)));
                    }
                    None => open = false,
                }
                continue;
            }
            else => return,
        }
        // Every frame due by now; frames that fall due while these are written wait for the
        // next pass, after the calls' own tasks have had their turn.
        let now = Instant::now();
        while let Some(&Reverse((at, slot))) = due.peek() {
            if at > now {
                break;
            }
            due.pop();
            let Some(line) = lines[slot].as_ref() else {
                continue;
            };
            if line.pace(at) {
                due.push(Reverse((at + FRAME, slot)));
            } else {
                line.done.notify_one();
                lines[slot] = None;
                free.push(slot);
            }
        }
        tokio::task::yield_now().await;
    }
}
