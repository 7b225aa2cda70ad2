//! Decoding a recording into one PCM16 track per channel, to transcribe the channels apart.

use std::io::Cursor;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use super::recording::{AudioError, Format, Recording};
use super::split::wav_channels;

/// Samples of every channel, all at one rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channels {
    pub(crate) sample_rate: u32,
    pub(crate) samples: Vec<Vec<i16>>,
}

pub(crate) fn decode(recording: &Recording) -> Result<Channels, AudioError> {
    match recording.format() {
        Format::Wav(wav) if wav.is_pcm16() => Ok(Channels {
            sample_rate: wav.sample_rate,
            samples: wav_channels(recording.bytes(), wav),
        }),
        Format::Wav(wav) => Err(AudioError::UnsupportedWav {
            format_tag: wav.format_tag,
            bits_per_sample: wav.bits_per_sample,
        }),
        Format::Mp3(mp3) => {
            // Only the frames: no tag readers are compiled in, and none are needed.
            let (Some(first), Some(last)) = (mp3.frames.first(), mp3.frames.last()) else {
                return Err(AudioError::Empty);
            };
            let frames = recording
                .bytes()
                .slice(first.offset..last.offset + last.len);
            decode_mp3(frames)
        }
    }
}

fn decode_mp3(frames: bytes::Bytes) -> Result<Channels, AudioError> {
    let failed = |e: SymphoniaError| AudioError::Decode(e.to_string());
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(frames)),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let mut reader = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(failed)?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::Decode("no audio track".into()))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::Decode("no audio codec parameters".into()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(failed)?;

    let mut out = Channels {
        sample_rate: 0,
        samples: Vec::new(),
    };
    let mut planes: Vec<Vec<i16>> = Vec::new();
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // The end of the stream can surface as an unexpected EOF.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(failed(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            // A corrupt frame costs its 26–72 ms, not the whole recording.
            Err(SymphoniaError::DecodeError(reason)) => {
                tracing::debug!(reason, "skipping an undecodable MP3 frame");
                continue;
            }
            Err(e) => return Err(failed(e)),
        };
        if out.sample_rate == 0 {
            out.sample_rate = buffer.spec().rate();
        }
        planes.clear();
        buffer.copy_to_vecs_planar::<i16>(&mut planes);
        if out.samples.len() < planes.len() {
            out.samples.resize(planes.len(), Vec::new());
        }
        for (channel, plane) in out.samples.iter_mut().zip(&planes) {
            channel.extend_from_slice(&plane[..buffer.frames().min(plane.len())]);
        }
    }
    if out.sample_rate == 0 || out.samples.iter().all(Vec::is_empty) {
        return Err(AudioError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_silent_mp3_decodes_to_silence_on_both_channels() {
        let mut bytes = Vec::new();
        for _ in 0..500 {
            bytes.extend_from_slice(&[0xFF, 0xF3, 0x18, 0x80]);
            bytes.resize(bytes.len() + 32, 0);
        }
        let recording = Recording::parse(bytes).unwrap();
        let channels = decode(&recording).unwrap();
        assert_eq!(channels.sample_rate, 16_000);
        assert_eq!(channels.samples.len(), 2);
        let expected = 500 * 576;
        for channel in &channels.samples {
            // Decoders may trim encoder delay; never more than a couple of frames.
            assert!(
                channel.len() <= expected && channel.len() + 2 * 576 >= expected,
                "{} samples",
                channel.len()
            );
            assert!(channel.iter().all(|&s| s == 0));
        }
    }
}
