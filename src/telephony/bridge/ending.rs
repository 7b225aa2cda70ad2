//! How a live call ends when the bridge ends it: the goodbye after `end_call` or
//! `transfer_call`, the hand-back to Twilio's REST API, and the apology when the agent's service
//! fails.
//!
//! After `end_call` the agent says goodbye, and the call is hung up (or transferred) once that
//! goodbye has played, known from the echo of the mark after its audio, or after
//! [`END_CALL_HARD_STOP`] at the latest. Twilio then stops the stream itself; the bridge waits
//! [`STOP_GRACE`] for that `stop` before it gives up on it.

use std::time::Duration;

use loquent_twilio::E164;
use tokio::time::Instant;

use super::super::media_socket::{CallSocket, Incoming};
use super::super::tools;
use crate::entity::organization;
use crate::orgs::twilio::TwilioAccounts;

/// After `end_call`, the call ends when the goodbye has played, or after this at the latest.
pub const END_CALL_HARD_STOP: Duration = Duration::from_secs(15);
/// After we hang up or transfer through the REST API, Twilio stops the stream; if it does not,
/// we stop waiting after this.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// What the caller hears when the agent's service fails.
const APOLOGY: &str = "Sorry, we have been disconnected. Please call again. Goodbye.";

/// What ends the call once the agent's last words have played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Farewell {
    HangUp,
    Transfer(E164),
}

/// A call the agent decided to end, waiting for its goodbye to play.
#[derive(Debug)]
pub struct Ending {
    pub farewell: Farewell,
    /// A response started after the tool's result went back: that one is the goodbye. (The
    /// response that called the tool ends after the call, so "the next `ResponseDone`" would be
    /// the wrong one.)
    goodbye_started: bool,
    /// The mark that follows the goodbye's audio.
    goodbye_mark: Option<u64>,
    /// The call ends then even if the goodbye has not played.
    pub deadline: Instant,
}

impl Ending {
    pub fn new(farewell: Farewell, now: Instant) -> Self {
        Self {
            farewell,
            goodbye_started: false,
            goodbye_mark: None,
            deadline: now + END_CALL_HARD_STOP,
        }
    }

    /// A response started: from now on, responses are the goodbye.
    pub fn response_started(&mut self) {
        self.goodbye_started = true;
    }

    /// A response ended; `last_mark` is the mark after the audio queued so far (`None`: nothing
    /// is left to play). Returns whether the goodbye is over already.
    pub fn response_done(&mut self, last_mark: Option<u64>) -> bool {
        if self.goodbye_mark.is_some() || !self.goodbye_started {
            return false;
        }
        match last_mark {
            Some(id) => {
                self.goodbye_mark = Some(id);
                false
            }
            None => true,
        }
    }

    /// The audio before mark `id` has played; returns whether that includes the goodbye.
    pub fn played_through(&self, id: u64) -> bool {
        self.goodbye_mark.is_some_and(|goodbye| id >= goodbye)
    }

    /// The caller interrupted the goodbye: only the deadline ends the call now, unless a later
    /// response ends.
    pub fn interrupted(&mut self) {
        self.goodbye_mark = None;
    }
}

/// The goodbye has played (or time is up): hang up or transfer through the REST API, in a task
/// of its own so the loop keeps reading until Twilio stops the stream.
pub fn hand_back(
    accounts: &TwilioAccounts,
    org: &organization::Model,
    call_sid: &str,
    farewell: Farewell,
) {
    let accounts = accounts.clone();
    let org = org.clone();
    let call_sid = call_sid.to_owned();
    #[expect(
        clippy::disallowed_methods,
        reason = "the hang-up belongs to the live call: after a restart the call is gone"
    )]
    tokio::spawn(async move {
        let done = match &farewell {
            Farewell::HangUp => tools::hang_up(&accounts, &org, &call_sid).await,
            Farewell::Transfer(number) => tools::transfer(&accounts, &org, &call_sid, number).await,
        };
        match done {
            Ok(()) => tracing::info!(?farewell, "call handed back to Twilio"),
            Err(why) => tracing::error!(why, "could not end the call"),
        }
    });
}

/// The agent is gone: tell the caller and end the call, rather than leave them in silence.
pub async fn apologise(accounts: &TwilioAccounts, org: &organization::Model, call_sid: &str) {
    let twiml = loquent_twilio::twiml::Response::new()
        .say(loquent_twilio::twiml::Say::new(APOLOGY))
        .hangup();
    let update = loquent_twilio::calls::CallUpdate::twiml(&twiml);
    if let Err(why) = tools::update_call(accounts, org, call_sid, update).await {
        tracing::warn!(why, "could not play the apology");
    }
}

/// After we redirect the call, Twilio ends the stream itself; closing our side first would cut
/// the redirect short on some edges. Waits for `stop` or the socket's end, at most
/// [`STOP_GRACE`].
pub async fn wait_for_stop(socket: &mut CallSocket) {
    let _ = tokio::time::timeout(STOP_GRACE, async {
        while let Some(Ok(frame)) = socket.next().await {
            match frame {
                Incoming::Text if socket.text().contains("\"event\":\"stop\"") => return,
                Incoming::Close(_) => return,
                _ => {}
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::time::Instant as StdInstant;

    use super::super::playout::Playout;
    use super::*;

    /// The loop's part on a `ResponseDone`: a mark after the reply's last audio, if any.
    fn response_done(playout: &mut Playout, ending: &mut Ending) -> bool {
        let mark = playout.has_unmarked_audio().then(|| {
            let id = playout.next_mark();
            playout.mark_queued(id);
            id
        });
        ending.response_done(mark.or(playout.last_pending_mark()))
    }

    fn speak(playout: &mut Playout, item: &str, chunks: usize) {
        for _ in 0..chunks {
            if playout.audio_queued(Some(item), 100) {
                let id = playout.next_mark();
                playout.mark_queued(id);
            }
        }
    }

    #[test]
    fn the_call_ends_once_the_goodbye_has_played() {
        let t0 = StdInstant::now();
        let mut playout = Playout::default();
        // The reply that calls `end_call` is still playing when the tool runs.
        speak(&mut playout, "item_reply", 3); // mark 1
        let mut ending = Ending::new(Farewell::HangUp, Instant::now());
        // The calling response ends after the tool call: not the goodbye.
        assert!(!response_done(&mut playout, &mut ending)); // mark 2
        assert!(!ending.played_through(2));
        // The goodbye: 1.2 s of audio (marks 3, 4, 5), then a mark after its end (6).
        ending.response_started();
        playout.response_started(Some("resp_goodbye".into()));
        speak(&mut playout, "item_goodbye", 12);
        assert!(!response_done(&mut playout, &mut ending));
        for id in ["2", "3", "4", "5"] {
            let id = playout.mark_echoed(id, t0).expect("played");
            assert!(
                !ending.played_through(id),
                "mark {id} is not the goodbye's end"
            );
        }
        let id = playout.mark_echoed("6", t0).expect("played");
        assert!(ending.played_through(id));
    }

    #[test]
    fn a_goodbye_with_nothing_left_to_play_is_over_when_it_ends() {
        let mut playout = Playout::default();
        let mut ending = Ending::new(Farewell::HangUp, Instant::now());
        ending.response_started();
        // The goodbye had no audio, and everything before it has played.
        assert!(response_done(&mut playout, &mut ending));
    }

    #[test]
    fn an_interrupted_goodbye_is_not_played_by_the_echoes_of_its_clear() {
        let t0 = StdInstant::now();
        let mut playout = Playout::default();
        let mut ending = Ending::new(Farewell::HangUp, Instant::now());
        ending.response_started();
        speak(&mut playout, "item_goodbye", 3); // mark 1
        assert!(!response_done(&mut playout, &mut ending)); // mark 2, the goodbye's end
        assert!(playout.barge_in(t0).is_some());
        ending.interrupted();
        // Twilio echoes the discarded marks: that is not the goodbye playing.
        assert_eq!(playout.mark_echoed("2", t0), None);
        assert!(!ending.played_through(2));
        // The agent's answer to the interruption is the goodbye now.
        speak(&mut playout, "item_after", 2); // mark 3
        assert!(!response_done(&mut playout, &mut ending)); // mark 4
        let id = playout.mark_echoed("4", t0).expect("played");
        assert!(ending.played_through(id));
    }
}
