//! What the simulated caller and the simulated AI agent "say".
//!
//! There is no speech recogniser here, so the emulators agree on a tiny vocabulary in which every
//! phrase is a pure tone at its own frequency, well inside the telephone band and far enough from
//! its neighbours that µ-law noise and resampling cannot confuse them. The call simulator speaks a
//! script of phrases into the media stream; the AI emulators detect speech by energy, recognise
//! which phrase it was with a Goertzel filter per frequency, and answer as scripted (a spoken
//! reply, or a tool call for [`Phrase::EndCall`], [`Phrase::Transfer`], [`Phrase::LookupCaller`]).
//! The agent's replies are [`AGENT_VOICE_HZ`], which no caller phrase uses, so a test can tell
//! what the caller heard from what it said.

use std::f64::consts::TAU;

use loquent_ai::audio::mulaw;

/// Samples per second of Twilio's µ-law stream.
pub const SAMPLE_RATE: u32 = 8_000;
/// One Media Streams frame: 20 ms of 8 kHz µ-law.
pub const FRAME_BYTES: usize = 160;
/// Frequency of everything the emulated agent says.
pub const AGENT_VOICE_HZ: f64 = 1_800.0;
/// Peak amplitude of synthesized speech: about −10 dBFS, loud enough for any VAD.
const AMPLITUDE: f64 = 10_000.0;

/// Something the caller can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phrase {
    /// Small talk: the agent answers with speech.
    Hello,
    /// A question: the agent answers with speech (a longer reply, handy to barge into).
    Question,
    /// "Goodbye, hang up": the agent calls its `end_call` tool.
    EndCall,
    /// "Put me through": the agent calls `transfer_call`.
    Transfer,
    /// "Do you know who I am?": the agent calls `lookup_caller`.
    LookupCaller,
}

impl Phrase {
    pub const ALL: [Self; 5] = [
        Self::Hello,
        Self::Question,
        Self::EndCall,
        Self::Transfer,
        Self::LookupCaller,
    ];

    /// The tone this phrase is spoken as.
    pub fn frequency_hz(self) -> f64 {
        match self {
            Self::Hello => 400.0,
            Self::Question => 600.0,
            Self::EndCall => 850.0,
            Self::Transfer => 1_100.0,
            Self::LookupCaller => 1_400.0,
        }
    }

    /// Its name in call scripts (`"say": "end_call"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Question => "question",
            Self::EndCall => "end_call",
            Self::Transfer => "transfer",
            Self::LookupCaller => "lookup_caller",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The tool the emulated agent calls when it hears this phrase, if any.
    pub fn tool(self) -> Option<&'static str> {
        match self {
            Self::Hello | Self::Question => None,
            Self::EndCall => Some("end_call"),
            Self::Transfer => Some("transfer_call"),
            Self::LookupCaller => Some("lookup_caller"),
        }
    }
}

/// A continuous sine wave, generated 20 ms at a time without phase jumps between frames.
#[derive(Debug, Clone)]
pub struct Tone {
    step: f64,
    phase: f64,
}

impl Tone {
    pub fn new(frequency_hz: f64, sample_rate: u32) -> Self {
        Self {
            step: TAU * frequency_hz / f64::from(sample_rate),
            phase: 0.0,
        }
    }

    /// The next `n` samples as PCM16.
    pub fn pcm(&mut self, n: usize, out: &mut Vec<i16>) {
        out.reserve(n);
        for _ in 0..n {
            out.push((AMPLITUDE * self.phase.sin()) as i16);
            self.phase = (self.phase + self.step) % TAU;
        }
    }

    /// The next 20 ms at 8 kHz as µ-law.
    pub fn mulaw_frame(&mut self) -> Vec<u8> {
        let mut pcm = Vec::with_capacity(FRAME_BYTES);
        self.pcm(FRAME_BYTES, &mut pcm);
        let mut out = Vec::with_capacity(FRAME_BYTES);
        mulaw::encode_into(&pcm, &mut out);
        out
    }
}

/// 20 ms of µ-law silence.
pub fn silence_frame() -> Vec<u8> {
    vec![mulaw::SILENCE; FRAME_BYTES]
}

/// Mean power of `pcm` (PCM16 units squared); silence is near zero, speech here about 5·10⁷.
pub fn power(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    pcm.iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / pcm.len() as f64
}

/// Whether `pcm` is loud enough to be speech rather than line noise (about −40 dBFS).
pub fn is_speech(pcm: &[i16]) -> bool {
    power(pcm) > 100_000.0
}

/// Power of `pcm` at `frequency_hz` (Goertzel), normalised like [`power`].
pub fn power_at(pcm: &[i16], frequency_hz: f64, sample_rate: u32) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let coefficient = 2.0 * (TAU * frequency_hz / f64::from(sample_rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &sample in pcm {
        let s0 = f64::from(sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let magnitude = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    // A full-scale-consistent sine of power P yields magnitude ≈ P·N²/2.
    2.0 * magnitude / (pcm.len() as f64 * pcm.len() as f64)
}

/// Which phrase `pcm` (at `sample_rate`) is, if it clearly is one.
///
/// Judged 20 ms at a time over the frames that are speech, then by majority: a window may hold
/// several bursts of a phrase with silence between them (a whole recording, say), and one
/// Goertzel over all of it would let the bursts' phases cancel.
pub fn recognise(pcm: &[i16], sample_rate: u32) -> Option<Phrase> {
    let mut votes = [0usize; Phrase::ALL.len()];
    let speech_frames = vote(pcm, sample_rate, |frame| {
        if let Some(i) = recognise_frame(frame, sample_rate)
            .and_then(|p| Phrase::ALL.iter().position(|q| *q == p))
        {
            votes[i] += 1;
        }
    });
    let (best, count) = votes.iter().enumerate().max_by_key(|(_, n)| **n)?;
    (speech_frames > 0 && *count * 10 > speech_frames * 6).then_some(Phrase::ALL[best])
}

/// Whether `pcm` is mostly the agent's voice ([`AGENT_VOICE_HZ`]), judged like [`recognise`].
pub fn is_agent_voice(pcm: &[i16], sample_rate: u32) -> bool {
    let mut agent = 0usize;
    let speech_frames = vote(pcm, sample_rate, |frame| {
        let total = power(frame);
        if power_at(frame, AGENT_VOICE_HZ, sample_rate) > total * 0.6 {
            agent += 1;
        }
    });
    speech_frames > 0 && agent * 10 > speech_frames * 6
}

/// Calls `judge` with every 20 ms frame of `pcm` that is speech; returns how many there were.
fn vote(pcm: &[i16], sample_rate: u32, mut judge: impl FnMut(&[i16])) -> usize {
    let frame = (sample_rate / 50).max(1) as usize;
    let mut speech_frames = 0;
    for chunk in pcm.chunks(frame) {
        if is_speech(chunk) {
            speech_frames += 1;
            judge(chunk);
        }
    }
    speech_frames
}

/// The phrase whose tone carries most (over 60 %) of one frame's power.
fn recognise_frame(pcm: &[i16], sample_rate: u32) -> Option<Phrase> {
    let total = power(pcm);
    if total <= 0.0 {
        return None;
    }
    let (best, at) = Phrase::ALL
        .into_iter()
        .map(|p| (p, power_at(pcm, p.frequency_hz(), sample_rate)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (at > total * 0.6).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoken(phrase_hz: f64, frames: usize) -> Vec<i16> {
        let mut tone = Tone::new(phrase_hz, SAMPLE_RATE);
        let mut pcm = Vec::new();
        for _ in 0..frames {
            let frame = tone.mulaw_frame();
            pcm.extend(frame.iter().map(|&c| mulaw::decode(c)));
        }
        pcm
    }

    #[test]
    fn every_phrase_survives_mulaw_and_is_recognised() {
        for phrase in Phrase::ALL {
            let pcm = spoken(phrase.frequency_hz(), 10);
            assert!(is_speech(&pcm), "{phrase:?} is loud enough");
            assert_eq!(recognise(&pcm, SAMPLE_RATE), Some(phrase));
            assert!(!is_agent_voice(&pcm, SAMPLE_RATE));
            assert_eq!(Phrase::from_name(phrase.name()), Some(phrase));
        }
        // Even a single 20 ms frame is enough.
        let one = spoken(Phrase::Transfer.frequency_hz(), 1);
        assert_eq!(recognise(&one, SAMPLE_RATE), Some(Phrase::Transfer));
    }

    #[test]
    fn bursts_separated_by_silence_are_still_one_phrase() {
        let mut pcm = Vec::new();
        for _ in 0..3 {
            pcm.extend(spoken(Phrase::Hello.frequency_hz(), 7));
            pcm.extend(vec![0i16; 1_234]);
        }
        assert_eq!(recognise(&pcm, SAMPLE_RATE), Some(Phrase::Hello));
        let mut agent = spoken(AGENT_VOICE_HZ, 9);
        agent.extend(vec![0i16; 4_000]);
        agent.extend(spoken(AGENT_VOICE_HZ, 3));
        assert!(is_agent_voice(&agent, SAMPLE_RATE));
    }

    #[test]
    fn agent_voice_silence_and_noise_are_not_phrases() {
        let agent = spoken(AGENT_VOICE_HZ, 5);
        assert!(is_agent_voice(&agent, SAMPLE_RATE));
        assert_eq!(recognise(&agent, SAMPLE_RATE), None);

        let silence: Vec<i16> = silence_frame().iter().map(|&c| mulaw::decode(c)).collect();
        assert!(!is_speech(&silence));

        // Two phrases at once: neither carries most of the power.
        let mixed: Vec<i16> = spoken(400.0, 5)
            .iter()
            .zip(spoken(1_400.0, 5))
            .map(|(a, b)| a / 2 + b / 2)
            .collect();
        assert_eq!(recognise(&mixed, SAMPLE_RATE), None);
    }
}
