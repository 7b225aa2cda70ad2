//! A recording as the transcriber receives it: MP3 (Twilio's default) or WAV, parsed once into
//! frames or samples so it can be cut into uploads and measured without decoding.

use bytes::Bytes;

/// Bytes of a canonical 44-byte WAV header (RIFF + `fmt ` with 16 bytes + `data`).
pub(crate) const WAV_HEADER_BYTES: usize = 44;

/// Audio we can transcribe: parsed, so every later step can rely on its structure.
#[derive(Debug, Clone)]
pub struct Recording {
    bytes: Bytes,
    format: Format,
}

#[derive(Debug, Clone)]
pub(crate) enum Format {
    Mp3(Mp3),
    Wav(Wav),
}

/// The frames of an MPEG audio Layer III stream (tags skipped).
#[derive(Debug, Clone)]
pub(crate) struct Mp3 {
    pub(crate) frames: Vec<Mp3Frame>,
    pub(crate) channels: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mp3Frame {
    /// Byte range in the recording.
    pub(crate) offset: usize,
    pub(crate) len: usize,
    pub(crate) samples: u32,
    pub(crate) sample_rate: u32,
}

/// A RIFF/WAVE file: its `fmt ` chunk verbatim (so any block-aligned format can be cut) and
/// where its sample data lies.
#[derive(Debug, Clone)]
pub(crate) struct Wav {
    /// The `fmt ` chunk body.
    pub(crate) fmt: Vec<u8>,
    pub(crate) format_tag: u16,
    pub(crate) channels: u16,
    pub(crate) sample_rate: u32,
    pub(crate) block_align: u16,
    pub(crate) bits_per_sample: u16,
    /// Byte range of the whole blocks of the `data` chunk.
    pub(crate) data_offset: usize,
    pub(crate) data_len: usize,
}

/// The audio could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error("the audio is neither MP3 nor WAV")]
    UnknownFormat,
    #[error("the audio contains no samples")]
    Empty,
    #[error("malformed WAV: {0}")]
    MalformedWav(&'static str),
    #[error("unsupported WAV encoding (format {format_tag}, {bits_per_sample} bits per sample)")]
    UnsupportedWav {
        format_tag: u16,
        bits_per_sample: u16,
    },
    #[error("the MP3 could not be decoded: {0}")]
    Decode(String),
}

impl Recording {
    /// Parse `bytes` as MP3 or WAV (by content, not by name).
    pub fn parse(bytes: impl Into<Bytes>) -> Result<Self, AudioError> {
        let bytes = bytes.into();
        let format = if bytes.starts_with(b"RIFF") {
            Format::Wav(parse_wav(&bytes)?)
        } else {
            Format::Mp3(parse_mp3(&bytes)?)
        };
        let recording = Self { bytes, format };
        if recording.duration_secs() <= 0.0 {
            return Err(AudioError::Empty);
        }
        Ok(recording)
    }

    pub fn channels(&self) -> u16 {
        match &self.format {
            Format::Mp3(mp3) => mp3.channels,
            Format::Wav(wav) => wav.channels,
        }
    }

    /// Length in seconds, from the frame headers or the WAV data size.
    pub fn duration_secs(&self) -> f64 {
        match &self.format {
            Format::Mp3(mp3) => mp3.frames.iter().map(Mp3Frame::duration_secs).sum(),
            Format::Wav(wav) => wav.frames() as f64 / f64::from(wav.sample_rate),
        }
    }

    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub(crate) fn format(&self) -> &Format {
        &self.format
    }
}

impl Mp3Frame {
    pub(crate) fn duration_secs(&self) -> f64 {
        f64::from(self.samples) / f64::from(self.sample_rate)
    }
}

impl Wav {
    /// Sample frames (one sample per channel) in the data chunk.
    pub(crate) fn frames(&self) -> usize {
        self.data_len / usize::from(self.block_align)
    }

    /// Whether samples are 16-bit little-endian PCM, the one encoding we split by channel.
    pub(crate) fn is_pcm16(&self) -> bool {
        let pcm = self.format_tag == 1
            || (self.format_tag == 0xFFFE && self.fmt.get(24..26) == Some(&[1, 0]));
        pcm && self.bits_per_sample == 16
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_wav(bytes: &[u8]) -> Result<Wav, AudioError> {
    if bytes.get(8..12) != Some(b"WAVE") {
        return Err(AudioError::MalformedWav("no WAVE signature"));
    }
    let mut at = 12;
    let mut fmt: Option<Vec<u8>> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).unwrap_or(0) as usize;
        let body = at + 8;
        if id == b"fmt " {
            let end = body
                .checked_add(size)
                .filter(|&e| e <= bytes.len())
                .ok_or(AudioError::MalformedWav("truncated fmt chunk"))?;
            fmt = Some(bytes[body..end].to_vec());
        } else if id == b"data" {
            let fmt = fmt.ok_or(AudioError::MalformedWav("data before fmt"))?;
            let format_tag = u16_at(&fmt, 0).ok_or(AudioError::MalformedWav("short fmt chunk"))?;
            let channels = u16_at(&fmt, 2).unwrap_or(0);
            let sample_rate = u32_at(&fmt, 4).unwrap_or(0);
            let block_align = u16_at(&fmt, 12).unwrap_or(0);
            let bits_per_sample = u16_at(&fmt, 14).unwrap_or(0);
            if channels == 0 || sample_rate == 0 || block_align == 0 {
                return Err(AudioError::MalformedWav(
                    "zero channels, rate or block size",
                ));
            }
            // Streaming writers leave the size at 0 or 0xFFFFFFFF: the data runs to the end.
            let available = bytes.len() - body;
            let declared = if size == 0 || size == u32::MAX as usize {
                available
            } else {
                size.min(available)
            };
            let data_len = declared - declared % usize::from(block_align);
            return Ok(Wav {
                fmt,
                format_tag,
                channels,
                sample_rate,
                block_align,
                bits_per_sample,
                data_offset: body,
                data_len,
            });
        }
        // Chunks are padded to an even size.
        at = body.saturating_add(size).saturating_add(size % 2);
    }
    Err(AudioError::MalformedWav("no data chunk"))
}

/// Length of an ID3v2 tag at the start of `bytes` (0 if none).
fn id3v2_len(bytes: &[u8]) -> usize {
    if bytes.len() < 10 || &bytes[..3] != b"ID3" {
        return 0;
    }
    // Synchsafe: 7 bits per byte.
    let size = bytes[6..10]
        .iter()
        .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F));
    let footer = if bytes[5] & 0x10 != 0 { 10 } else { 0 };
    10 + size + footer
}

/// The header fields of an MPEG audio Layer III frame starting at `b`, if it is one.
fn mp3_header(b: &[u8]) -> Option<(usize, u32, u32, u16)> {
    const BITRATES_V1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let h = b.get(..4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 0b11; // 00 MPEG-2.5, 01 reserved, 10 MPEG-2, 11 MPEG-1
    let layer = (h[1] >> 1) & 0b11; // 01 Layer III
    if version == 0b01 || layer != 0b01 {
        return None;
    }
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 0b11);
    // Index 0 is "free format" (no length in the header) and 15 is invalid.
    if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    let padding = usize::from((h[2] >> 1) & 1);
    let mono = (h[3] >> 6) == 0b11;
    let (bitrate, base_rate, samples) = match version {
        0b11 => (BITRATES_V1[bitrate_index], [44_100, 48_000, 32_000], 1152),
        0b10 => (BITRATES_V2[bitrate_index], [22_050, 24_000, 16_000], 576),
        _ => (BITRATES_V2[bitrate_index], [11_025, 12_000, 8_000], 576),
    };
    let sample_rate = base_rate[rate_index];
    let len = (samples / 8 * bitrate as usize * 1000) / sample_rate as usize + padding;
    Some((len, samples as u32, sample_rate, if mono { 1 } else { 2 }))
}

/// The first frame of a LAME/Xing-encoded file is an `Xing`/`Info` header carrying no audio.
fn is_info_frame(frame: &[u8]) -> bool {
    frame
        .get(..48.min(frame.len()))
        .is_some_and(|head| head.windows(4).any(|w| w == b"Xing" || w == b"Info"))
}

fn parse_mp3(bytes: &[u8]) -> Result<Mp3, AudioError> {
    let mut at = id3v2_len(bytes);
    let mut frames = Vec::new();
    let mut channels = 0;
    while at + 4 <= bytes.len() {
        // A header counts when the next frame (or the end) follows it: random bytes can look like
        // a sync word.
        let header = mp3_header(&bytes[at..]).filter(|&(len, ..)| {
            let next = at + len;
            next <= bytes.len()
                && (next + 4 > bytes.len()
                    || mp3_header(&bytes[next..]).is_some()
                    || &bytes[next..next + 3] == b"TAG")
        });
        match header {
            Some((len, samples, sample_rate, frame_channels)) => {
                if !(frames.is_empty() && is_info_frame(&bytes[at..at + len])) {
                    frames.push(Mp3Frame {
                        offset: at,
                        len,
                        samples,
                        sample_rate,
                    });
                    channels = channels.max(frame_channels);
                }
                at += len;
            }
            None if frames.is_empty() && at > 64 * 1024 => break,
            None => at += 1,
        }
    }
    if frames.is_empty() {
        return Err(AudioError::UnknownFormat);
    }
    Ok(Mp3 { frames, channels })
}

/// A canonical PCM WAV header for `data_len` bytes of 16-bit samples.
pub(crate) fn pcm16_wav_header(channels: u16, sample_rate: u32, data_len: usize) -> Vec<u8> {
    let block_align = channels * 2;
    let mut fmt = Vec::with_capacity(16);
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&sample_rate.to_le_bytes());
    fmt.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    wav_header(&fmt, data_len)
}

/// RIFF header + the given `fmt ` chunk body + the `data` chunk header.
pub(crate) fn wav_header(fmt: &[u8], data_len: usize) -> Vec<u8> {
    let fmt_padded = fmt.len() + fmt.len() % 2;
    let riff_len = 4 + 8 + fmt_padded + 8 + data_len;
    let mut out = Vec::with_capacity(12 + 8 + fmt_padded + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32::try_from(riff_len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&u32::try_from(fmt.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(fmt);
    if fmt.len() % 2 == 1 {
        out.push(0);
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&u32::try_from(data_len).unwrap_or(u32::MAX).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox's silent frame: MPEG-2 Layer III, 8 kbit/s, 16 kHz, 36 bytes, 576 samples.
    fn silent_mp3(frames: usize, dual: bool) -> Vec<u8> {
        let header = [0xFF, 0xF3, 0x18, if dual { 0x80 } else { 0xC0 }];
        let mut out = Vec::new();
        for _ in 0..frames {
            out.extend_from_slice(&header);
            out.resize(out.len() + 32, 0);
        }
        out
    }

    #[test]
    fn mp3_frames_are_measured_from_their_headers() {
        let recording = Recording::parse(silent_mp3(1000, true)).unwrap();
        assert_eq!(recording.channels(), 2);
        assert!((recording.duration_secs() - 36.0).abs() < 1e-9);
        let Format::Mp3(mp3) = recording.format() else {
            panic!("not mp3")
        };
        assert_eq!(mp3.frames.len(), 1000);
        assert_eq!(mp3.frames[1].offset, 36);
        assert_eq!(
            Recording::parse(silent_mp3(10, false)).unwrap().channels(),
            1
        );
    }

    #[test]
    fn id3_tags_xing_frames_and_junk_are_skipped() {
        let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        // An MPEG-1 128 kbit/s 44.1 kHz Info frame (417 bytes), then two audio frames.
        let mut info = vec![0xFF, 0xFB, 0x90, 0x64];
        info.resize(417, 0);
        info[36..40].copy_from_slice(b"Info");
        bytes.extend_from_slice(&info);
        let mut audio = vec![0xFF, 0xFB, 0x90, 0x64];
        audio.resize(417, 0);
        bytes.extend_from_slice(&audio);
        bytes.extend_from_slice(&audio);
        bytes.extend_from_slice(b"TAG");
        bytes.resize(bytes.len() + 125, b' ');
        let recording = Recording::parse(bytes).unwrap();
        let Format::Mp3(mp3) = recording.format() else {
            panic!("not mp3")
        };
        assert_eq!(mp3.frames.len(), 2);
        assert_eq!(mp3.frames[0].offset, 15 + 417);
        assert!((recording.duration_secs() - 2.0 * 1152.0 / 44_100.0).abs() < 1e-9);
    }

    #[test]
    fn non_audio_is_refused() {
        assert_eq!(
            Recording::parse(b"hello world, not audio".to_vec()).unwrap_err(),
            AudioError::UnknownFormat
        );
        assert_eq!(
            Recording::parse(pcm16_wav_header(1, 8000, 0)).unwrap_err(),
            AudioError::Empty
        );
    }

    #[test]
    fn wav_round_trips_through_our_header() {
        let samples: Vec<u8> = (0..8000u32 * 2 * 2).map(|i| i as u8).collect();
        let mut bytes = pcm16_wav_header(2, 8000, samples.len());
        assert_eq!(bytes.len(), WAV_HEADER_BYTES);
        bytes.extend_from_slice(&samples);
        let recording = Recording::parse(bytes).unwrap();
        assert_eq!(recording.channels(), 2);
        assert!((recording.duration_secs() - 1.0).abs() < 1e-9);
        let Format::Wav(wav) = recording.format() else {
            panic!("not wav")
        };
        assert!(wav.is_pcm16());
        assert_eq!(wav.data_offset, WAV_HEADER_BYTES);
    }
}
