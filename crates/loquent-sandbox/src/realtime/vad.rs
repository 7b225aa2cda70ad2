//! Energy-based voice-activity detection on 20 ms frames, as both emulators' turn detection.

use crate::speech::{self, Phrase};

/// Speech must last this long before it counts: a click is not a caller.
const ONSET_MS: u64 = 40;
/// Enough of an utterance to recognise its phrase; the rest is not kept.
const RECOGNISED_MS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VadEvent {
    /// Caller speech began; `audio_start_ms` counts input audio from the session start and
    /// includes the prefix padding, as OpenAI reports it.
    Started { audio_start_ms: u64 },
    /// The caller stopped: `audio_end_ms` is where the silence that ended the turn ran out.
    Stopped {
        audio_end_ms: u64,
        phrase: Option<Phrase>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Vad {
    rate: u32,
    prefix_ms: u64,
    silence_ms: u64,
    /// Samples waiting to complete a frame.
    pending: Vec<i16>,
    /// Samples heard so far, whole frames only.
    heard: u64,
    speaking: bool,
    /// Consecutive speech frames (before onset) or silent frames (while speaking), in ms.
    run_ms: u64,
    onset_at: u64,
    utterance: Vec<i16>,
}

impl Vad {
    pub fn new(rate: u32, prefix_ms: u64, silence_ms: u64) -> Self {
        Self {
            rate,
            prefix_ms,
            silence_ms,
            pending: Vec::new(),
            heard: 0,
            speaking: false,
            run_ms: 0,
            onset_at: 0,
            utterance: Vec::new(),
        }
    }

    /// New prefix padding and silence duration (a `session.update`), keeping what was heard.
    pub fn set_timing(&mut self, prefix_ms: u64, silence_ms: u64) {
        self.prefix_ms = prefix_ms;
        self.silence_ms = silence_ms;
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    fn frame_len(&self) -> usize {
        (self.rate / 50) as usize
    }

    fn ms(&self, samples: u64) -> u64 {
        samples * 1_000 / u64::from(self.rate)
    }

    /// Milliseconds of input audio heard so far.
    pub fn heard_ms(&self) -> u64 {
        self.ms(self.heard)
    }

    pub fn push(&mut self, samples: &[i16], out: &mut Vec<VadEvent>) {
        self.pending.extend_from_slice(samples);
        let frame_len = self.frame_len();
        let mut start = 0;
        while self.pending.len() - start >= frame_len {
            let frame: Vec<i16> = self.pending[start..start + frame_len].to_vec();
            start += frame_len;
            self.frame(&frame, out);
        }
        self.pending.drain(..start);
    }

    fn frame(&mut self, frame: &[i16], out: &mut Vec<VadEvent>) {
        let speech = speech::is_speech(frame);
        let frame_start = self.heard;
        self.heard += frame.len() as u64;
        if !self.speaking {
            if !speech {
                self.run_ms = 0;
                self.utterance.clear();
                return;
            }
            if self.run_ms == 0 {
                self.onset_at = frame_start;
            }
            self.run_ms += 20;
            self.keep(frame);
            if self.run_ms >= ONSET_MS {
                self.speaking = true;
                self.run_ms = 0;
                let audio_start_ms = self.ms(self.onset_at).saturating_sub(self.prefix_ms);
                out.push(VadEvent::Started { audio_start_ms });
            }
            return;
        }
        if speech {
            self.run_ms = 0;
            self.keep(frame);
        } else {
            self.run_ms += 20;
            if self.run_ms >= self.silence_ms {
                out.push(self.stop());
            }
        }
    }

    fn keep(&mut self, frame: &[i16]) {
        let limit = (RECOGNISED_MS * u64::from(self.rate) / 1_000) as usize;
        if self.utterance.len() < limit {
            self.utterance.extend_from_slice(frame);
        }
    }

    fn stop(&mut self) -> VadEvent {
        self.speaking = false;
        self.run_ms = 0;
        let phrase = speech::recognise(&self.utterance, self.rate);
        self.utterance.clear();
        VadEvent::Stopped {
            audio_end_ms: self.heard_ms(),
            phrase,
        }
    }

    /// Ends the current utterance now (a manual commit, `audioStreamEnd`), if there is one.
    pub fn finish(&mut self) -> Option<VadEvent> {
        self.speaking.then(|| self.stop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::Tone;

    fn tone(hz: f64, rate: u32, ms: usize) -> Vec<i16> {
        let mut pcm = Vec::new();
        Tone::new(hz, rate).pcm(ms * rate as usize / 1_000, &mut pcm);
        pcm
    }

    #[test]
    fn a_phrase_between_silences_is_one_turn() {
        for rate in [8_000, 16_000, 24_000] {
            let mut vad = Vad::new(rate, 300, 200);
            let mut events = Vec::new();
            vad.push(&vec![0; rate as usize / 2], &mut events); // 500 ms of silence
            assert!(events.is_empty());
            vad.push(
                &tone(Phrase::EndCall.frequency_hz(), rate, 300),
                &mut events,
            );
            assert_eq!(
                events,
                [VadEvent::Started {
                    audio_start_ms: 200
                }]
            );
            vad.push(&vec![0; rate as usize / 10], &mut events); // 100 ms: not yet
            assert_eq!(events.len(), 1);
            vad.push(&vec![0; rate as usize / 10], &mut events);
            assert_eq!(
                events[1],
                VadEvent::Stopped {
                    audio_end_ms: 1_000,
                    phrase: Some(Phrase::EndCall)
                },
                "at {rate} Hz"
            );
        }
    }

    #[test]
    fn clicks_are_not_speech_and_odd_chunk_sizes_work() {
        let mut vad = Vad::new(8_000, 0, 200);
        let mut events = Vec::new();
        let click = tone(400.0, 8_000, 20);
        vad.push(&click, &mut events);
        vad.push(&[0; 1_600], &mut events);
        assert!(events.is_empty(), "{events:?}");
        for chunk in tone(600.0, 8_000, 100).chunks(37) {
            vad.push(chunk, &mut events);
        }
        assert!(matches!(events[..], [VadEvent::Started { .. }]));
        assert_eq!(
            vad.finish(),
            Some(VadEvent::Stopped {
                audio_end_ms: 320,
                phrase: Some(Phrase::Question)
            })
        );
        assert_eq!(vad.finish(), None);
    }
}
