//! The emulated agent's voice: [`AGENT_VOICE_HZ`] in the session's output format.

use loquent_ai::audio::mulaw;

use crate::speech::{AGENT_VOICE_HZ, Tone};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VoiceFormat {
    /// G.711 µ-law at 8 kHz (OpenAI `audio/pcmu`).
    Mulaw8k,
    /// PCM16 little-endian at 24 kHz (OpenAI `audio/pcm`, Gemini's output).
    Pcm24k,
}

impl VoiceFormat {
    fn rate(self) -> u32 {
        match self {
            Self::Mulaw8k => 8_000,
            Self::Pcm24k => 24_000,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AgentVoice {
    tone: Tone,
    format: VoiceFormat,
    pcm: Vec<i16>,
}

impl AgentVoice {
    pub fn new(format: VoiceFormat) -> Self {
        Self {
            tone: Tone::new(AGENT_VOICE_HZ, format.rate()),
            format,
            pcm: Vec::new(),
        }
    }

    /// The next `ms` of speech, encoded.
    pub fn speak(&mut self, ms: u64) -> Vec<u8> {
        let samples = (ms * u64::from(self.format.rate()) / 1_000) as usize;
        self.pcm.clear();
        self.tone.pcm(samples, &mut self.pcm);
        let mut out = Vec::with_capacity(samples * 2);
        match self.format {
            VoiceFormat::Mulaw8k => mulaw::encode_into(&self.pcm, &mut out),
            VoiceFormat::Pcm24k => out.extend(self.pcm.iter().flat_map(|s| s.to_le_bytes())),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::is_agent_voice;

    #[test]
    fn both_formats_are_the_agent_voice_at_the_right_length() {
        let mut mulaw_voice = AgentVoice::new(VoiceFormat::Mulaw8k);
        let bytes = mulaw_voice.speak(100);
        assert_eq!(bytes.len(), 800);
        let pcm: Vec<i16> = bytes.iter().map(|&c| mulaw::decode(c)).collect();
        assert!(is_agent_voice(&pcm, 8_000));

        let mut pcm_voice = AgentVoice::new(VoiceFormat::Pcm24k);
        let bytes = pcm_voice.speak(100);
        assert_eq!(bytes.len(), 4_800);
        let pcm: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        assert!(is_agent_voice(&pcm, 24_000));
    }
}
