//! What the transcription emulator learns from an upload without decoding compressed audio:
//! duration and channels from MP3 frame headers or the WAV header, and, for 16-bit PCM WAV, the
//! samples themselves.

/// An uploaded file, measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probed {
    pub(crate) duration_secs: f64,
    pub(crate) channels: u16,
    /// Mono mix of 16-bit PCM WAV, with its rate; `None` for MP3 and other WAV encodings.
    pub(crate) pcm: Option<(Vec<i16>, u32)>,
}

/// Measure `bytes` by content: `None` if it is neither MP3 nor WAV.
pub(crate) fn probe(bytes: &[u8]) -> Option<Probed> {
    if bytes.starts_with(b"RIFF") {
        wav(bytes)
    } else {
        mp3(bytes)
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn wav(bytes: &[u8]) -> Option<Probed> {
    if bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut fmt = None;
    while at + 8 <= bytes.len() {
        let size = le32(bytes, at + 4)? as usize;
        let body = at + 8;
        match &bytes[at..at + 4] {
            b"fmt " => fmt = Some(bytes.get(body..body + size.min(40))?),
            b"data" => {
                let fmt = fmt?;
                let (tag, channels, rate) = (le16(fmt, 0)?, le16(fmt, 2)?, le32(fmt, 4)?);
                let (block, bits) = (le16(fmt, 12)?, le16(fmt, 14)?);
                if channels == 0 || rate == 0 || block == 0 {
                    return None;
                }
                let data = &bytes[body..(body + size).min(bytes.len())];
                let frames = data.len() / usize::from(block);
                let pcm = (tag == 1 && bits == 16).then(|| {
                    let mono = data
                        .chunks_exact(usize::from(block))
                        .map(|frame| {
                            let sum: i32 = frame
                                .chunks_exact(2)
                                .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                                .sum();
                            (sum / i32::from(channels)) as i16
                        })
                        .collect();
                    (mono, rate)
                });
                return Some(Probed {
                    duration_secs: frames as f64 / f64::from(rate),
                    channels,
                    pcm,
                });
            }
            _ => {}
        }
        at = body + size + size % 2;
    }
    None
}

fn mp3(bytes: &[u8]) -> Option<Probed> {
    // Skip an ID3v2 tag (synchsafe size).
    let mut at = if bytes.len() >= 10 && &bytes[..3] == b"ID3" {
        10 + bytes[6..10]
            .iter()
            .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F))
    } else {
        0
    };
    let (mut seconds, mut channels, mut frames) = (0.0, 0, 0usize);
    while at + 4 <= bytes.len() {
        let Some((len, samples, rate, frame_channels)) = frame_header(&bytes[at..at + 4]) else {
            if frames == 0 && at < 4096 {
                at += 1;
                continue;
            }
            break;
        };
        seconds += f64::from(samples) / f64::from(rate);
        channels = channels.max(frame_channels);
        frames += 1;
        at += len;
    }
    (frames > 0).then_some(Probed {
        duration_secs: seconds,
        channels,
        pcm: None,
    })
}

/// (frame bytes, samples, sample rate, channels) of an MPEG-1/2/2.5 Layer III header.
fn frame_header(h: &[u8]) -> Option<(usize, u32, u32, u16)> {
    const KBPS_V1: [u32; 16] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ];
    const KBPS_V2: [u32; 16] = [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ];
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 || (h[1] >> 1) & 3 != 1 {
        return None;
    }
    let version = (h[1] >> 3) & 3;
    let (kbps, rates, samples) = match version {
        3 => (KBPS_V1, [44_100, 48_000, 32_000], 1152u32),
        2 => (KBPS_V2, [22_050, 24_000, 16_000], 576),
        0 => (KBPS_V2, [11_025, 12_000, 8_000], 576),
        _ => return None,
    };
    let bitrate = kbps[usize::from(h[2] >> 4)] * 1000;
    let rate = *rates.get(usize::from((h[2] >> 2) & 3))?;
    if bitrate == 0 {
        return None;
    }
    let padding = u32::from((h[2] >> 1) & 1);
    let len = (samples / 8 * bitrate / rate + padding) as usize;
    let channels = if h[3] >> 6 == 3 { 1 } else { 2 };
    Some((len, samples, rate, channels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twilio_emulator_mp3_is_measured() {
        // As `twilio::mp3::silence(30, 2)` makes it: 834 frames of 36 bytes, 36 ms each.
        let mut dual = Vec::new();
        for _ in 0..834 {
            dual.extend_from_slice(&[0xFF, 0xF3, 0x18, 0x80]);
            dual.resize(dual.len() + 32, 0);
        }
        let probed = probe(&dual).unwrap();
        assert_eq!(probed.channels, 2);
        assert!(
            (probed.duration_secs - 30.024).abs() < 0.01,
            "{}",
            probed.duration_secs
        );
        assert_eq!(probed.pcm, None);
        assert!(probe(b"not audio at all").is_none());
    }

    #[test]
    fn wav_gives_duration_and_a_mono_mix() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\x40\x1f\0\0\0\x7d\0\0\x04\0\x10\0data\x08\0\0\0".to_vec();
        wav.extend_from_slice(&[0x10, 0, 0x30, 0, 0xFE, 0xFF, 0xFA, 0xFF]);
        let probed = probe(&wav).unwrap();
        assert_eq!(probed.channels, 2);
        assert_eq!(probed.pcm, Some((vec![0x20, -4], 8000)));
        assert!((probed.duration_secs - 2.0 / 8000.0).abs() < 1e-12);
    }
}
