//! Telephone audio: G.711 µ-law, sample-rate conversion, and the per-call converters between
//! Twilio's µ-law 8 kHz and the PCM rates speech models use.

pub mod mulaw;
pub mod resample;
pub mod transcode;

pub use resample::{Resampler, SampleRate};
pub use transcode::{MulawToPcm16k, Pcm24kTo16k, Pcm24kToMulaw};

/// µ-law at 8 kHz is one byte per sample: 8 bytes are one millisecond. Used to turn forwarded
/// byte counts into the `audio_end_ms` of a truncation.
pub const MULAW_BYTES_PER_MS: usize = 8;

/// Twilio sends caller audio one 20 ms `media` frame at a time; uplink batches are counted in them.
pub const TWILIO_FRAME_MS: usize = 20;

/// The audio a speech session takes from the bridge and gives back, both directions alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioFormat {
    /// G.711 µ-law at 8 kHz, exactly what Twilio Media Streams carry: a phone call.
    #[default]
    Mulaw8k,
    /// PCM16 little-endian mono at 24 kHz: what a browser's audio worklet records and plays, and
    /// OpenAI's and Gemini's native output rate, so a call from the browser converts nothing on
    /// the way down.
    Pcm24k,
}

impl AudioFormat {
    /// Bytes per millisecond of audio.
    pub fn bytes_per_ms(self) -> usize {
        match self {
            Self::Mulaw8k => MULAW_BYTES_PER_MS,
            Self::Pcm24k => 48,
        }
    }

    /// Bytes in one 20 ms frame (a Twilio `media` message, or a browser's worklet frame).
    pub fn frame_bytes(self) -> usize {
        TWILIO_FRAME_MS * self.bytes_per_ms()
    }
}
