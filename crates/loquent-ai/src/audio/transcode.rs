//! The per-call conversions a Gemini Live bridge needs (OpenAI Realtime speaks `audio/pcmu`, or
//! `audio/pcm` at 24 kHz, and needs none): on a phone call, caller µ-law 8 kHz → PCM16 16 kHz and
//! model PCM16 24 kHz → µ-law 8 kHz; on a call from the browser, caller PCM16 24 kHz → 16 kHz.
//!
//! Each converter owns its resampler state and scratch buffers, so after the first few frames it
//! allocates nothing; create one per call and direction, and `reset` it on barge-in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::mulaw;
use super::resample::{Resampler, SampleRate};

/// Caller audio as Twilio sends it (µ-law, 8 kHz) to little-endian PCM16 at 16 kHz, as Gemini
/// Live wants it (`audio/pcm;rate=16000`).
#[derive(Debug, Clone)]
pub struct MulawToPcm16k {
    resampler: Resampler,
    mulaw: Vec<u8>,
    narrow: Vec<i16>,
    wide: Vec<i16>,
    bytes: Vec<u8>,
}

impl Default for MulawToPcm16k {
    fn default() -> Self {
        Self::new()
    }
}

impl MulawToPcm16k {
    pub fn new() -> Self {
        Self {
            resampler: Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000),
            mulaw: Vec::new(),
            narrow: Vec::new(),
            wide: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Converts raw µ-law bytes and appends PCM16LE bytes to `out` (4 bytes per input byte).
    pub fn process(&mut self, mulaw: &[u8], out: &mut Vec<u8>) {
        self.narrow.clear();
        mulaw::decode_into(mulaw, &mut self.narrow);
        self.wide.clear();
        self.resampler.process(&self.narrow, &mut self.wide);
        out.extend(self.wide.iter().flat_map(|s| s.to_le_bytes()));
    }

    /// Converts a base64 µ-law payload (a Twilio `media.payload`) and appends the base64 of the
    /// PCM16LE 16 kHz result to `out`, ready for Gemini's `realtimeInput.audio.data`.
    pub fn process_base64(
        &mut self,
        payload: &str,
        out: &mut String,
    ) -> Result<(), base64::DecodeError> {
        let mut mulaw = std::mem::take(&mut self.mulaw);
        let mut bytes = std::mem::take(&mut self.bytes);
        mulaw.clear();
        bytes.clear();
        let decoded = BASE64.decode_vec(payload, &mut mulaw);
        if decoded.is_ok() {
            self.process(&mulaw, &mut bytes);
            BASE64.encode_string(&bytes, out);
        }
        // Hand the buffers back so their capacity is reused on the next frame.
        self.mulaw = mulaw;
        self.bytes = bytes;
        decoded
    }

    /// Drops the filter history (a new utterance must not start with the tail of the last one).
    pub fn reset(&mut self) {
        self.resampler.reset();
    }
}

/// Browser audio (PCM16LE, 24 kHz) to PCM16LE at 16 kHz, as Gemini Live wants it
/// (`audio/pcm;rate=16000`).
#[derive(Debug, Clone)]
pub struct Pcm24kTo16k {
    resampler: Resampler,
    /// A frame with an odd length leaves half a sample; its byte waits for the next frame.
    odd_byte: Option<u8>,
    wide: Vec<i16>,
    narrow: Vec<i16>,
}

impl Default for Pcm24kTo16k {
    fn default() -> Self {
        Self::new()
    }
}

impl Pcm24kTo16k {
    pub fn new() -> Self {
        Self {
            resampler: Resampler::new(SampleRate::Hz24000, SampleRate::Hz16000),
            odd_byte: None,
            wide: Vec::new(),
            narrow: Vec::new(),
        }
    }

    /// Converts PCM16LE bytes of any length and appends PCM16LE bytes to `out` (two for every
    /// three input bytes, once the stream is flowing).
    pub fn process(&mut self, pcm_le: &[u8], out: &mut Vec<u8>) {
        self.wide.clear();
        let mut rest = pcm_le;
        if let Some(low) = self.odd_byte.take() {
            match rest.split_first() {
                Some((&high, tail)) => {
                    self.wide.push(i16::from_le_bytes([low, high]));
                    rest = tail;
                }
                None => {
                    self.odd_byte = Some(low);
                    return;
                }
            }
        }
        let (pairs, remainder) = rest.as_chunks::<2>();
        self.wide
            .extend(pairs.iter().map(|&pair| i16::from_le_bytes(pair)));
        self.odd_byte = remainder.first().copied();
        self.narrow.clear();
        self.resampler.process(&self.wide, &mut self.narrow);
        out.extend(self.narrow.iter().flat_map(|s| s.to_le_bytes()));
    }

    /// Drops the filter history and any half sample.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.odd_byte = None;
    }
}

/// Model audio (PCM16LE, 24 kHz, as Gemini Live sends it) to µ-law 8 kHz for Twilio.
#[derive(Debug, Clone)]
pub struct Pcm24kToMulaw {
    resampler: Resampler,
    /// Chunks may split a sample between two messages; its first byte waits here.
    odd_byte: Option<u8>,
    bytes: Vec<u8>,
    wide: Vec<i16>,
    narrow: Vec<i16>,
    mulaw: Vec<u8>,
}

impl Default for Pcm24kToMulaw {
    fn default() -> Self {
        Self::new()
    }
}

impl Pcm24kToMulaw {
    pub fn new() -> Self {
        Self {
            resampler: Resampler::new(SampleRate::Hz24000, SampleRate::Hz8000),
            odd_byte: None,
            bytes: Vec::new(),
            wide: Vec::new(),
            narrow: Vec::new(),
            mulaw: Vec::new(),
        }
    }

    /// Converts PCM16LE bytes of any length and appends µ-law bytes to `out` (one per 6 input
    /// bytes, once the stream is flowing).
    pub fn process(&mut self, pcm_le: &[u8], out: &mut Vec<u8>) {
        self.wide.clear();
        let mut rest = pcm_le;
        if let Some(low) = self.odd_byte.take() {
            match rest.split_first() {
                Some((&high, tail)) => {
                    self.wide.push(i16::from_le_bytes([low, high]));
                    rest = tail;
                }
                None => {
                    self.odd_byte = Some(low);
                    return;
                }
            }
        }
        let (pairs, remainder) = rest.as_chunks::<2>();
        self.wide
            .extend(pairs.iter().map(|&pair| i16::from_le_bytes(pair)));
        self.odd_byte = remainder.first().copied();

        self.narrow.clear();
        self.resampler.process(&self.wide, &mut self.narrow);
        mulaw::encode_into(&self.narrow, out);
    }

    /// Converts a base64 PCM16LE 24 kHz payload (Gemini `inlineData.data`) and appends the base64
    /// µ-law result to `out`, ready for a Twilio `media` message. Appends nothing when the chunk
    /// was too short to yield a sample.
    pub fn process_base64(
        &mut self,
        payload: &str,
        out: &mut String,
    ) -> Result<(), base64::DecodeError> {
        let mut bytes = std::mem::take(&mut self.bytes);
        let mut mulaw = std::mem::take(&mut self.mulaw);
        bytes.clear();
        mulaw.clear();
        let decoded = BASE64.decode_vec(payload, &mut bytes);
        if decoded.is_ok() {
            self.process(&bytes, &mut mulaw);
            BASE64.encode_string(&mulaw, out);
        }
        self.bytes = bytes;
        self.mulaw = mulaw;
        decoded
    }

    /// Drops the filter history and any half sample, so nothing of an interrupted reply leaks
    /// out after Twilio's `clear`.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.odd_byte = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::resample::tests::{TEST_TONE_HZ, fit_tone, rms, tone, zero_crossing_hz};

    fn le_bytes(pcm: &[i16]) -> Vec<u8> {
        pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    fn from_le_bytes(bytes: &[u8]) -> Vec<i16> {
        let (pairs, rest) = bytes.as_chunks::<2>();
        assert!(rest.is_empty());
        pairs.iter().map(|&p| i16::from_le_bytes(p)).collect()
    }

    fn decode_mulaw(codes: &[u8]) -> Vec<i16> {
        let mut pcm = Vec::new();
        mulaw::decode_into(codes, &mut pcm);
        pcm
    }

    #[test]
    fn caller_frames_become_gemini_frames() {
        let caller = tone(SampleRate::Hz8000, TEST_TONE_HZ, 8_000.0, 8_000);
        let mut codes = Vec::new();
        mulaw::encode_into(&caller, &mut codes);

        let mut uplink = MulawToPcm16k::new();
        let mut out = Vec::new();
        for frame in codes.chunks(160) {
            let before = out.len();
            uplink.process(frame, &mut out);
            assert_eq!(out.len() - before, 640, "20 ms of PCM16 16 kHz");
        }
        let wide = from_le_bytes(&out);
        let settled = &wide[1_600..];
        let (_, snr) = fit_tone(settled, SampleRate::Hz16000, TEST_TONE_HZ);
        let freq = zero_crossing_hz(settled, SampleRate::Hz16000);
        // Measured 39.7 dB: µ-law's own quantisation noise; resampling adds nothing audible.
        eprintln!("uplink: SNR {snr:.1} dB, {freq:.2} Hz");
        assert!(snr > 33.0, "SNR {snr:.1} dB");
        assert!((freq - TEST_TONE_HZ).abs() < 1.0, "frequency {freq}");
    }

    #[test]
    fn browser_frames_become_gemini_frames() {
        let browser = tone(SampleRate::Hz24000, TEST_TONE_HZ, 8_000.0, 24_000);
        let bytes = le_bytes(&browser);
        let mut uplink = Pcm24kTo16k::new();
        let mut out = Vec::new();
        for frame in bytes.chunks(960) {
            let before = out.len();
            uplink.process(frame, &mut out);
            assert_eq!(out.len() - before, 640, "20 ms of PCM16 16 kHz");
        }
        let wide = from_le_bytes(&out);
        let settled = &wide[1_600..];
        let (_, snr) = fit_tone(settled, SampleRate::Hz16000, TEST_TONE_HZ);
        let freq = zero_crossing_hz(settled, SampleRate::Hz16000);
        eprintln!("browser uplink: SNR {snr:.1} dB, {freq:.2} Hz");
        // No µ-law on this path: far cleaner than a phone caller.
        assert!(snr > 60.0, "SNR {snr:.1} dB");
        assert!((freq - TEST_TONE_HZ).abs() < 1.0, "frequency {freq}");

        // A frame split mid-sample is stitched, giving what the whole frames gave.
        let mut split = Pcm24kTo16k::new();
        let mut pieces = Vec::new();
        for piece in bytes.chunks(961) {
            split.process(piece, &mut pieces);
        }
        assert_eq!(pieces, out);
    }

    #[test]
    fn gemini_audio_becomes_caller_audio() {
        let model = tone(SampleRate::Hz24000, TEST_TONE_HZ, 8_000.0, 24_000);
        let bytes = le_bytes(&model);
        let mut downlink = Pcm24kToMulaw::new();
        let mut codes = Vec::new();
        for chunk in bytes.chunks(960) {
            let before = codes.len();
            downlink.process(chunk, &mut codes);
            assert_eq!(codes.len() - before, 160, "20 ms of µ-law");
        }
        let narrow = decode_mulaw(&codes);
        let settled = &narrow[400..];
        let (_, snr) = fit_tone(settled, SampleRate::Hz8000, TEST_TONE_HZ);
        let freq = zero_crossing_hz(settled, SampleRate::Hz8000);
        eprintln!("downlink: SNR {snr:.1} dB, {freq:.2} Hz");
        assert!(snr > 33.0, "SNR {snr:.1} dB");
        assert!((freq - TEST_TONE_HZ).abs() < 1.0, "frequency {freq}");
    }

    #[test]
    fn gemini_audio_above_4khz_is_removed() {
        let model = tone(SampleRate::Hz24000, 5000.0, 16_000.0, 24_000);
        let mut downlink = Pcm24kToMulaw::new();
        let mut codes = Vec::new();
        downlink.process(&le_bytes(&model), &mut codes);
        let narrow = decode_mulaw(&codes);
        let attenuation = 20.0 * (rms(&model) / rms(&narrow[400..]).max(0.5)).log10();
        // Measured: the output is all 0xFF (µ-law silence); 87.1 dB is the ½ LSB measuring floor.
        eprintln!("downlink 5 kHz: attenuation {attenuation:.1} dB");
        assert!(attenuation > 60.0, "attenuation {attenuation:.1} dB");
    }

    #[test]
    fn odd_chunk_boundaries_are_stitched() {
        let model = tone(SampleRate::Hz24000, 700.0, 10_000.0, 4_800);
        let bytes = le_bytes(&model);
        let mut whole = Vec::new();
        Pcm24kToMulaw::new().process(&bytes, &mut whole);

        let mut downlink = Pcm24kToMulaw::new();
        let mut pieces = Vec::new();
        let mut start = 0;
        for len in [1, 0, 1, 333, 7, 961, 2, 5].into_iter().cycle() {
            let end = (start + len).min(bytes.len());
            downlink.process(&bytes[start..end], &mut pieces);
            start = end;
            if start == bytes.len() {
                break;
            }
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn base64_in_and_out() {
        let mut uplink = MulawToPcm16k::new();
        let mut out = String::new();
        uplink
            .process_base64(&BASE64.encode([mulaw::SILENCE; 160]), &mut out)
            .unwrap();
        assert_eq!(BASE64.decode(&out).unwrap(), vec![0u8; 640]);

        let mut downlink = Pcm24kToMulaw::new();
        let mut out = String::new();
        downlink
            .process_base64(&BASE64.encode([0u8; 960]), &mut out)
            .unwrap();
        assert_eq!(BASE64.decode(&out).unwrap(), vec![mulaw::SILENCE; 160]);

        assert!(downlink.process_base64("not base64!", &mut out).is_err());
        assert!(uplink.process_base64("%%%", &mut out).is_err());
    }

    #[test]
    fn reset_drops_the_interrupted_reply() {
        let loud = le_bytes(&tone(SampleRate::Hz24000, 1000.0, 20_000.0, 481));
        let mut downlink = Pcm24kToMulaw::new();
        let mut discarded = Vec::new();
        // Odd byte count: half a sample is pending when the caller barges in.
        downlink.process(&loud[..loud.len() - 1], &mut discarded);
        downlink.reset();

        let mut after = Vec::new();
        downlink.process(&[0u8; 960], &mut after);
        assert_eq!(after, vec![mulaw::SILENCE; 160]);
    }
}
