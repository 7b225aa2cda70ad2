//! What the caller has heard of the agent's audio, as plain state: events and the time go in,
//! what to send comes out. No socket, no timer; the loop in `super` does the I/O.
//!
//! Twilio plays the audio we queue in real time and echoes a `mark` once the audio queued before
//! it has played. A mark follows the first chunk of each reply (when the caller started hearing
//! it) and then every [`MARK_EVERY_MS`] of audio. Between marks, the played position is the last
//! echoed mark plus the time since its echo, never more than was sent. On barge-in a `clear`
//! makes Twilio drop what it holds and echo every pending mark at once: those echoes mean
//! *discarded*, not played.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// Audio between two progress marks. Precision comes from timing since the last echo, so this
/// only bounds the drift of Twilio's playback clock against ours; fewer marks are fewer messages
/// per call-second.
pub const MARK_EVERY_MS: u32 = 500;

/// The agent's audio towards the caller: sent, marked, played.
#[derive(Debug, Default)]
pub struct Playout {
    /// The provider's item the latest audio belongs to (`None` for providers without items).
    item: Option<Arc<str>>,
    /// Milliseconds of `item` queued for Twilio.
    item_sent_ms: u32,
    /// Milliseconds queued since the last mark.
    unmarked_ms: u32,
    /// The id of the latest mark; ids increase by one from 1.
    last_mark: u64,
    /// Marks queued and not yet echoed, oldest first.
    pending: VecDeque<PendingMark>,
    /// Marks up to this id were discarded by a `clear`: their echoes say nothing was played.
    cleared_through: u64,
    /// The latest point the caller has heard, with when Twilio said so.
    played: Option<Played>,
    /// The response the latest audio belongs to.
    response: Option<String>,
    /// Set by barge-in: audio of the interrupted response is dropped until another one starts.
    interrupted: Option<Option<String>>,
}

#[derive(Debug)]
struct PendingMark {
    id: u64,
    item: Option<Arc<str>>,
    /// Milliseconds of `item` queued up to this mark.
    item_ms: u32,
}

#[derive(Debug)]
struct Played {
    item: Arc<str>,
    ms: u32,
    at: Instant,
}

/// What a barge-in asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Clear {
    /// Tell the model the caller heard only this much of this item.
    pub truncate: Option<(Arc<str>, u32)>,
}

impl Playout {
    /// Whether an audio chunk of `response` is to be sent: not while the response the caller
    /// interrupted is still streaming.
    pub fn wants_audio_of(&mut self, response: Option<&str>) -> bool {
        if let Some(interrupted) = &self.interrupted {
            if response.is_none() || interrupted.as_deref() == response {
                return false;
            }
            self.interrupted = None;
        }
        true
    }

    /// A new response started (its first audio comes next).
    pub fn response_started(&mut self, response: Option<String>) {
        if self.interrupted.is_some() && response.is_none() {
            self.interrupted = None;
        }
        self.response = response;
    }

    /// A chunk of `ms` of `item`'s audio went into Twilio's queue. Returns whether a mark should
    /// follow it: after the first chunk of an item, then every [`MARK_EVERY_MS`].
    pub fn audio_queued(&mut self, item: Option<&str>, ms: u32) -> bool {
        self.switch_to(item);
        let first_of_item = self.item_sent_ms == 0;
        self.item_sent_ms = self.item_sent_ms.saturating_add(ms);
        self.unmarked_ms = self.unmarked_ms.saturating_add(ms);
        first_of_item || self.unmarked_ms >= MARK_EVERY_MS
    }

    /// A chunk of `item`'s audio was dropped (Twilio's queue was full): it counts as never sent.
    pub fn audio_dropped(&mut self, item: Option<&str>) {
        self.switch_to(item);
    }

    fn switch_to(&mut self, item: Option<&str>) {
        if item != self.item.as_deref() {
            self.item = item.map(Arc::from);
            self.item_sent_ms = 0;
        }
    }

    /// Whether audio went out since the last mark (a reply that ends wants a mark after it).
    pub fn has_unmarked_audio(&self) -> bool {
        self.unmarked_ms > 0
    }

    /// The id of the next mark, to be sent after the audio queued so far.
    pub fn next_mark(&mut self) -> u64 {
        self.last_mark += 1;
        self.unmarked_ms = 0;
        self.last_mark
    }

    /// The mark [`Playout::next_mark`] gave went into Twilio's queue.
    pub fn mark_queued(&mut self, id: u64) {
        self.pending.push_back(PendingMark {
            id,
            item: self.item.clone(),
            item_ms: self.item_sent_ms,
        });
    }

    /// The latest mark still waiting for its echo.
    pub fn last_pending_mark(&self) -> Option<u64> {
        self.pending.back().map(|mark| mark.id)
    }

    /// Twilio echoed the mark `name` at `now`. Returns its id when it means the audio before it
    /// has played: not for a mark a `clear` discarded, nor for a name we did not send.
    pub fn mark_echoed(&mut self, name: &str, now: Instant) -> Option<u64> {
        let id = name.parse::<u64>().ok()?;
        if id <= self.cleared_through {
            return None;
        }
        // Echoes come in order; an echo also answers any earlier mark whose echo was lost.
        while let Some(mark) = self.pending.pop_front() {
            if mark.id > id {
                self.pending.push_front(mark);
                break;
            }
            if let Some(item) = mark.item {
                self.played = Some(Played {
                    item,
                    ms: mark.item_ms,
                    at: now,
                });
            }
        }
        Some(id)
    }

    /// The caller spoke at `now`. `None` when nothing is left to play (nothing to clear);
    /// otherwise send `clear`, and truncate the model's reply where the caller stopped hearing
    /// it: the last echoed mark of the item plus the time since its echo, at most what was sent.
    pub fn barge_in(&mut self, now: Instant) -> Option<Clear> {
        if self.pending.is_empty() && self.unmarked_ms == 0 {
            return None;
        }
        self.cleared_through = self.last_mark;
        self.pending.clear();
        self.unmarked_ms = 0;
        self.interrupted = Some(self.response.clone());
        let truncate = self.item.clone().map(|item| {
            let played_ms = match &self.played {
                Some(played) if played.item == item => {
                    let since = now.saturating_duration_since(played.at).as_millis();
                    let since = u32::try_from(since).unwrap_or(u32::MAX);
                    played.ms.saturating_add(since).min(self.item_sent_ms)
                }
                // Nothing of this item was heard yet.
                _ => 0,
            };
            (item, played_ms)
        });
        Some(Clear { truncate })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Queues `chunks` chunks of 100 ms of `item`, sending (and queuing) the marks they ask for;
    /// returns those marks' ids.
    fn send(playout: &mut Playout, item: &str, chunks: usize) -> Vec<u64> {
        let mut marks = Vec::new();
        for _ in 0..chunks {
            if playout.audio_queued(Some(item), 100) {
                let id = playout.next_mark();
                playout.mark_queued(id);
                marks.push(id);
            }
        }
        marks
    }

    fn truncation(clear: Option<Clear>) -> (String, u32) {
        let (item, ms) = clear
            .expect("there was audio to clear")
            .truncate
            .expect("an item to truncate");
        (item.to_string(), ms)
    }

    #[test]
    fn marks_follow_the_first_chunk_then_every_half_second() {
        let mut playout = Playout::default();
        // 1.2 s of one reply: after the first chunk (100 ms), then at 600 ms and 1,100 ms.
        assert_eq!(send(&mut playout, "item_a", 12), [1, 2, 3]);
        // A new item is marked from its first chunk again.
        assert_eq!(send(&mut playout, "item_b", 1), [4]);
    }

    #[test]
    fn barge_in_mid_reply_truncates_at_the_last_echo_plus_the_time_since() {
        let t0 = Instant::now();
        let mut playout = Playout::default();
        playout.response_started(Some("resp_1".into()));
        let marks = send(&mut playout, "item_a", 20); // 2 s sent: marks at 100, 600, 1,100, 1,600 ms
        assert_eq!(marks, [1, 2, 3, 4]);
        assert_eq!(playout.mark_echoed("1", t0), Some(1));
        assert_eq!(
            playout.mark_echoed("2", t0 + Duration::from_millis(500)),
            Some(2)
        );
        // The caller speaks 230 ms after the echo of the mark at 600 ms.
        let clear = playout.barge_in(t0 + Duration::from_millis(730));
        assert_eq!(truncation(clear), ("item_a".to_owned(), 830));
        // The rest of the interrupted response is not sent; the next one is.
        assert!(!playout.wants_audio_of(Some("resp_1")));
        assert!(playout.wants_audio_of(Some("resp_2")));
    }

    #[test]
    fn the_played_position_never_passes_what_was_sent() {
        let t0 = Instant::now();
        let mut playout = Playout::default();
        send(&mut playout, "item_a", 7); // 700 ms sent, marks at 100 and 600 ms
        assert_eq!(playout.mark_echoed("2", t0), Some(2));
        send(&mut playout, "item_a", 1); // 800 ms, no mark yet
        // Ten seconds after the last echo the caller has heard all 800 ms, not 10.6 s.
        let clear = playout.barge_in(t0 + Duration::from_secs(10));
        assert_eq!(truncation(clear), ("item_a".to_owned(), 800));
    }

    #[test]
    fn a_late_echo_still_moves_the_played_position() {
        let t0 = Instant::now();
        let mut playout = Playout::default();
        send(&mut playout, "item_a", 11); // marks at 100, 600, 1,100 ms
        // The echo of mark 1 was lost or late: mark 2's echo answers it too.
        assert_eq!(playout.mark_echoed("2", t0), Some(2));
        assert_eq!(playout.last_pending_mark(), Some(3));
        // Mark 1's echo arrives after mark 2's: it says nothing new.
        assert_eq!(
            playout.mark_echoed("1", t0 + Duration::from_millis(50)),
            Some(1)
        );
        let clear = playout.barge_in(t0 + Duration::from_millis(100));
        assert_eq!(truncation(clear), ("item_a".to_owned(), 700));
    }

    #[test]
    fn echoes_answering_a_clear_mean_discarded_not_played() {
        let t0 = Instant::now();
        let mut playout = Playout::default();
        send(&mut playout, "item_a", 12); // marks 1, 2, 3
        assert_eq!(playout.mark_echoed("1", t0), Some(1));
        let clear = playout.barge_in(t0 + Duration::from_millis(200));
        assert_eq!(truncation(clear), ("item_a".to_owned(), 300));
        // Twilio answers the clear by echoing the pending marks at once: none of them played.
        assert_eq!(
            playout.mark_echoed("2", t0 + Duration::from_millis(210)),
            None
        );
        assert_eq!(
            playout.mark_echoed("3", t0 + Duration::from_millis(210)),
            None
        );
        assert_eq!(playout.last_pending_mark(), None);
        // Nothing is left to play, so a second barge-in clears nothing.
        assert_eq!(playout.barge_in(t0 + Duration::from_millis(300)), None);
        // The next reply's marks count again.
        playout.response_started(Some("resp_2".into()));
        assert_eq!(send(&mut playout, "item_b", 1), [4]);
        assert_eq!(
            playout.mark_echoed("4", t0 + Duration::from_secs(1)),
            Some(4)
        );
    }

    #[test]
    fn barge_in_before_any_echo_truncates_the_reply_at_its_start() {
        let t0 = Instant::now();
        let mut playout = Playout::default();
        send(&mut playout, "item_a", 3);
        let clear = playout.barge_in(t0 + Duration::from_secs(1));
        assert_eq!(truncation(clear), ("item_a".to_owned(), 0));
        // The previous item's echoes say nothing about a new item.
        assert_eq!(send(&mut playout, "item_b", 6), [2, 3]);
        assert_eq!(
            playout.mark_echoed("3", t0 + Duration::from_secs(2)),
            Some(3)
        );
        send(&mut playout, "item_c", 1);
        let clear = playout.barge_in(t0 + Duration::from_secs(3));
        assert_eq!(truncation(clear), ("item_c".to_owned(), 0));
    }

    #[test]
    fn silence_is_not_cleared_and_unknown_echoes_are_ignored() {
        let t0 = Instant::now();
        let mut playout = Playout::default();
        assert_eq!(playout.barge_in(t0), None);
        assert_eq!(playout.mark_echoed("not a mark of ours", t0), None);
        // Audio without an item (a provider that has none) is cleared, with nothing to truncate.
        assert!(playout.audio_queued(None, 20));
        assert!(playout.has_unmarked_audio());
        assert_eq!(playout.barge_in(t0), Some(Clear { truncate: None }));
        // Its response had no id: the next response to start ends the interruption.
        assert!(!playout.wants_audio_of(None));
        playout.response_started(None);
        assert!(playout.wants_audio_of(None));
    }
}
