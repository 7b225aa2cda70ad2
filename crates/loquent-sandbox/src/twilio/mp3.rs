//! Recording media: a valid MP3 of silence, as long as the recording.
//!
//! Each frame is MPEG-2 Layer III, 16 kHz, 8 kbit/s, no CRC: a 4-byte header followed by
//! zeroed side information and main data, which decoders play as silence. A frame is
//! 36 bytes and 576 samples (36 ms), so a minute of audio is about 60 KB.

const FRAME_BYTES: usize = 36;
const SAMPLES_PER_FRAME: u64 = 576;
const SAMPLE_RATE: u64 = 16_000;

/// `channels` is 1 (mono) or 2 (dual channel: caller and callee on separate channels).
pub(crate) fn silence(duration_secs: u64, channels: u8) -> Vec<u8> {
    let frames = (duration_secs.max(1) * SAMPLE_RATE).div_ceil(SAMPLES_PER_FRAME) as usize;
    // Sync + MPEG-2 + Layer III + no CRC; 8 kbit/s + 16 kHz; channel mode.
    let mode = if channels >= 2 { 0x80 } else { 0xC0 };
    let header = [0xFF, 0xF3, 0x18, mode];
    let mut out = Vec::with_capacity(frames * FRAME_BYTES);
    for _ in 0..frames {
        out.extend_from_slice(&header);
        out.resize(out.len() + FRAME_BYTES - header.len(), 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_whole_and_sized_by_duration() {
        let audio = silence(10, 1);
        assert_eq!(audio.len() % FRAME_BYTES, 0);
        assert_eq!(audio.len() / FRAME_BYTES, 278);
        assert_eq!(&audio[..4], &[0xFF, 0xF3, 0x18, 0xC0]);
        assert_eq!(silence(1, 2)[3], 0x80);
    }
}
