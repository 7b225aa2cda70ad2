//! How loaded the server is, as the live path decides it: by the calls it bridges per core.
//!
//! Batching the caller's audio (two 20 ms frames per message to the provider, one wake-up per
//! batch) saves CPU only when CPU is short, and it costs every other frame a 20 ms wait. So while
//! the server is lightly loaded each frame goes on as it comes, and past the threshold in
//! batches. Calls per core is what the cost tracks (each call is the same 50 frames a second each
//! way), it is known without measuring anything, and it changes only when a call starts or ends;
//! the bridge asks once per frame, an atomic load.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The live calls of this process, against how many of them count as light load.
#[derive(Clone)]
pub struct Load {
    live: Arc<AtomicUsize>,
    /// Calls up to which the load is light: calls per core × the cores this process may run on.
    light_up_to: usize,
}

impl Load {
    /// Light up to `calls_per_core` for each core the process may run on (its CPU affinity, so
    /// a server pinned to one core counts one); `0` is never light.
    pub fn new(calls_per_core: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            live: Arc::new(AtomicUsize::new(0)),
            light_up_to: calls_per_core.saturating_mul(cores),
        }
    }

    /// Counts a call as live until the guard is dropped.
    pub fn enter(&self) -> LiveCall {
        self.live.fetch_add(1, Ordering::Relaxed);
        LiveCall(self.live.clone())
    }

    /// Whether the live calls, this one included, are within the light load.
    pub fn is_light(&self) -> bool {
        self.live.load(Ordering::Relaxed) <= self.light_up_to
    }
}

/// One live call, counted while it is held.
pub struct LiveCall(Arc<AtomicUsize>);

impl Drop for LiveCall {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_up_to_the_threshold_and_again_when_calls_end() {
        let mut load = Load::new(1);
        load.light_up_to = 2;
        let first = load.enter();
        let second = load.enter();
        assert!(load.is_light());
        let third = load.enter();
        assert!(!load.is_light());
        drop(third);
        assert!(load.is_light());
        drop((first, second));
        assert!(Load::new(1).is_light());
        let never = Load::new(0);
        let _call = never.enter();
        assert!(!never.is_light());
    }
}
