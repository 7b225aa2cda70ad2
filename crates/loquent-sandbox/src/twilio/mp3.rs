//! Recording media: a real MP3 as long as the recording.
//!
//! The repository ships two 3.744 s loops (`fixtures/recording-loop-{dual,mono}.mp3`, made by
//! `scripts/make-audio-fixtures.py`): in the dual one the caller says "hello" on the left channel
//! and the agent answers on the right, in the tones of [`crate::speech`]; the mono one mixes
//! them. Both are constant-bitrate MPEG-2.5 Layer III at 8 kHz with no tag or Xing header, so
//! every frame is 576 samples (72 ms) and the same size, and the first frame needs no bit
//! reservoir: repeating the loop frame by frame gives a valid stream of any length that any
//! decoder plays (and a transcriber can attribute).

const DUAL: &[u8] = include_bytes!("../../fixtures/recording-loop-dual.mp3");
const MONO: &[u8] = include_bytes!("../../fixtures/recording-loop-mono.mp3");
/// 16 kbit/s stereo and 8 kbit/s mono at 8 kHz: 72 × bitrate / sample rate bytes, no padding.
const DUAL_FRAME_BYTES: usize = 144;
const MONO_FRAME_BYTES: usize = 72;
const SAMPLES_PER_FRAME: u64 = 576;
const SAMPLE_RATE: u64 = 8_000;

/// `channels` is 1 (mono) or 2 (dual channel: caller left, agent right).
pub(crate) fn recording(duration_secs: u64, channels: u8) -> Vec<u8> {
    let (fixture, frame_bytes) = if channels >= 2 {
        (DUAL, DUAL_FRAME_BYTES)
    } else {
        (MONO, MONO_FRAME_BYTES)
    };
    let frames = (duration_secs.max(1) * SAMPLE_RATE).div_ceil(SAMPLES_PER_FRAME) as usize;
    fixture
        .chunks_exact(frame_bytes)
        .cycle()
        .take(frames)
        .flatten()
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of the fixtures has the header we rely on (sync, MPEG-2.5, Layer III, no CRC,
    /// 8 kHz, the bitrate, no padding): if a regenerated fixture changes shape this fails.
    #[test]
    fn fixtures_are_whole_constant_size_frames() {
        for (fixture, size, header) in [
            (DUAL, DUAL_FRAME_BYTES, [0xFF, 0xE3, 0x28]),
            (MONO, MONO_FRAME_BYTES, [0xFF, 0xE3, 0x18]),
        ] {
            assert_eq!(fixture.len() % size, 0);
            for frame in fixture.chunks_exact(size) {
                assert_eq!(&frame[..3], &header);
            }
        }
        assert_eq!(DUAL[3] >> 6, 0b00, "stereo");
        assert_eq!(MONO[3] >> 6, 0b11, "mono");
    }

    #[test]
    fn recordings_are_as_long_as_asked_and_made_of_whole_frames() {
        let ten = recording(10, 2);
        assert_eq!(
            ten.len(),
            139 * DUAL_FRAME_BYTES,
            "10 s = 138.9 frames of 72 ms"
        );
        assert_eq!(&ten[..DUAL.len()], DUAL);
        assert_eq!(&ten[DUAL.len()..2 * DUAL.len()], DUAL, "the loop repeats");
        let mono = recording(1, 1);
        assert_eq!(mono.len(), 14 * MONO_FRAME_BYTES);
        assert_eq!(recording(0, 1), mono, "never empty");
    }
}
