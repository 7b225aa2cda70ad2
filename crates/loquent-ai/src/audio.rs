//! Telephone audio: G.711 µ-law, sample-rate conversion, and the per-call converters between
//! Twilio's µ-law 8 kHz and the PCM rates speech models use.

pub mod mulaw;
pub mod resample;
pub mod transcode;

pub use resample::{Resampler, SampleRate};
pub use transcode::{MulawToPcm16k, Pcm24kToMulaw};

/// µ-law at 8 kHz is one byte per sample: 8 bytes are one millisecond. Used to turn forwarded
/// byte counts into the `audio_end_ms` of a truncation.
pub const MULAW_BYTES_PER_MS: usize = 8;

/// Twilio sends caller audio one 20 ms `media` frame at a time; uplink batches are counted in them.
pub const TWILIO_FRAME_MS: usize = 20;
