//! Cutting audio into uploads the API accepts: each under the request size limit (25 MB) and
//! the model's duration cap, at MP3 frame boundaries or whole WAV sample frames, so every part
//! is a valid file on its own and knows where it starts in the recording.

use bytes::Bytes;

use super::recording::{Format, Recording, WAV_HEADER_BYTES, Wav, pcm16_wav_header, wav_header};

/// Largest part: the file's bytes, and its length in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    pub(crate) max_bytes: usize,
    pub(crate) max_secs: f64,
}

/// One file to upload, and where it sits in the whole recording.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) bytes: Bytes,
    pub(crate) file_name: &'static str,
    pub(crate) mime: &'static str,
    pub(crate) offset_secs: f64,
    pub(crate) duration_secs: f64,
}

/// The recording as it is (MP3 frames or WAV blocks passed through), in parts.
pub(crate) fn split(recording: &Recording, limits: Limits) -> Vec<Upload> {
    match recording.format() {
        Format::Mp3(mp3) => {
            let bytes = recording.bytes();
            let mut uploads = Vec::new();
            let mut offset_secs = 0.0;
            let mut start = 0;
            while start < mp3.frames.len() {
                // Always take at least one frame, so a part cannot be empty.
                let mut end = start + 1;
                let mut size = mp3.frames[start].len;
                let mut secs = mp3.frames[start].duration_secs();
                while let Some(frame) = mp3.frames.get(end) {
                    let bytes_after = frame.offset + frame.len - mp3.frames[start].offset;
                    if bytes_after > limits.max_bytes
                        || secs + frame.duration_secs() > limits.max_secs
                    {
                        break;
                    }
                    size = bytes_after;
                    secs += frame.duration_secs();
                    end += 1;
                }
                let first = mp3.frames[start].offset;
                uploads.push(Upload {
                    // Frames are contiguous apart from skipped junk, which decoders ignore too.
                    bytes: bytes.slice(first..first + size),
                    file_name: "audio.mp3",
                    mime: "audio/mpeg",
                    offset_secs,
                    duration_secs: secs,
                });
                offset_secs += secs;
                start = end;
            }
            uploads
        }
        Format::Wav(wav) => split_wav(recording.bytes(), wav, limits),
    }
}

fn frames_per_part(block_align: usize, sample_rate: u32, header: usize, limits: Limits) -> usize {
    let by_bytes = limits.max_bytes.saturating_sub(header) / block_align;
    let by_secs = (limits.max_secs * f64::from(sample_rate)).floor() as usize;
    by_bytes.min(by_secs).max(1)
}

fn split_wav(bytes: &Bytes, wav: &Wav, limits: Limits) -> Vec<Upload> {
    let block = usize::from(wav.block_align);
    let header_len = wav_header(&wav.fmt, 0).len();
    let per_part = frames_per_part(block, wav.sample_rate, header_len, limits);
    let data = &bytes[wav.data_offset..wav.data_offset + wav.data_len];
    data.chunks(per_part * block)
        .enumerate()
        .map(|(i, chunk)| {
            let mut file = wav_header(&wav.fmt, chunk.len());
            file.extend_from_slice(chunk);
            Upload {
                bytes: Bytes::from(file),
                file_name: "audio.wav",
                mime: "audio/wav",
                offset_secs: (i * per_part) as f64 / f64::from(wav.sample_rate),
                duration_secs: (chunk.len() / block) as f64 / f64::from(wav.sample_rate),
            }
        })
        .collect()
}

/// One channel's samples as 16-bit mono WAV files, in parts.
pub(crate) fn split_pcm(samples: &[i16], sample_rate: u32, limits: Limits) -> Vec<Upload> {
    let per_part = frames_per_part(2, sample_rate, WAV_HEADER_BYTES, limits);
    samples
        .chunks(per_part)
        .enumerate()
        .map(|(i, chunk)| {
            let mut file = pcm16_wav_header(1, sample_rate, chunk.len() * 2);
            file.reserve(chunk.len() * 2);
            for sample in chunk {
                file.extend_from_slice(&sample.to_le_bytes());
            }
            Upload {
                bytes: Bytes::from(file),
                file_name: "audio.wav",
                mime: "audio/wav",
                offset_secs: (i * per_part) as f64 / f64::from(sample_rate),
                duration_secs: chunk.len() as f64 / f64::from(sample_rate),
            }
        })
        .collect()
}

/// The channels of a 16-bit PCM WAV, deinterleaved.
pub(crate) fn wav_channels(bytes: &[u8], wav: &Wav) -> Vec<Vec<i16>> {
    let channels = usize::from(wav.channels);
    let mut out = vec![Vec::with_capacity(wav.frames()); channels];
    let data = &bytes[wav.data_offset..wav.data_offset + wav.data_len];
    for frame in data.chunks_exact(usize::from(wav.block_align)) {
        for (channel, sample) in out.iter_mut().zip(frame.chunks_exact(2)) {
            channel.push(i16::from_le_bytes([sample[0], sample[1]]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silent_mp3(frames: usize) -> Recording {
        let mut out = Vec::new();
        for _ in 0..frames {
            out.extend_from_slice(&[0xFF, 0xF3, 0x18, 0x80]);
            out.resize(out.len() + 32, 0);
        }
        Recording::parse(out).unwrap()
    }

    #[test]
    fn mp3_parts_respect_both_limits_and_cover_everything() {
        let recording = silent_mp3(1000); // 36 bytes and 36 ms per frame
        let by_bytes = split(
            &recording,
            Limits {
                max_bytes: 3600,
                max_secs: 1e9,
            },
        );
        assert_eq!(by_bytes.len(), 10);
        assert!(by_bytes.iter().all(|u| u.bytes.len() == 3600));
        assert!((by_bytes[3].offset_secs - 10.8).abs() < 1e-9);
        let by_time = split(
            &recording,
            Limits {
                max_bytes: usize::MAX,
                max_secs: 10.0,
            },
        );
        // 277 frames fit in 10 s: parts of 277, 277, 277, 169 frames.
        assert_eq!(by_time.len(), 4);
        assert_eq!(by_time[0].bytes.len(), 277 * 36);
        let total: f64 = by_time.iter().map(|u| u.duration_secs).sum();
        assert!((total - 36.0).abs() < 1e-9);
        for part in &by_time {
            let again = Recording::parse(part.bytes.clone()).unwrap();
            assert!((again.duration_secs() - part.duration_secs).abs() < 1e-9);
        }
    }

    #[test]
    fn wav_and_pcm_parts_are_valid_wavs_of_whole_frames() {
        let samples: Vec<i16> = (0..20_000).map(|i| i as i16).collect();
        let parts = split_pcm(
            &samples,
            8000,
            Limits {
                max_bytes: 44 + 2 * 7000,
                max_secs: 100.0,
            },
        );
        assert_eq!(parts.len(), 3);
        assert!((parts[1].offset_secs - 7000.0 / 8000.0).abs() < 1e-9);
        let back: Vec<i16> = parts
            .iter()
            .flat_map(|p| {
                let recording = Recording::parse(p.bytes.clone()).unwrap();
                let Format::Wav(wav) = recording.format() else {
                    panic!("not wav")
                };
                wav_channels(p.bytes.as_ref(), wav).remove(0)
            })
            .collect();
        assert_eq!(back, samples);

        // Pass-through of a stereo WAV cuts between frames, never inside one.
        let mut stereo = pcm16_wav_header(2, 8000, 4 * 8000);
        stereo.extend((0..8000u32 * 4).map(|i| i as u8));
        let recording = Recording::parse(stereo).unwrap();
        let parts = split(
            &recording,
            Limits {
                max_bytes: usize::MAX,
                max_secs: 0.3,
            },
        );
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].bytes.len(), 44 + 2400 * 4);
        assert!((parts[3].duration_secs - 0.1).abs() < 1e-9);
    }
}
