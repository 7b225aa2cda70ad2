//! Transcribing call recordings with OpenAI's `POST /audio/transcriptions` (or any compatible
//! server) into a transcript of timed, attributed segments.
//!
//! Two ways to tell who spoke ([`Attribution`]):
//!
//! - [`Attribution::Diarize`]: upload the recording as it is to `gpt-4o-transcribe-diarize` with
//!   `response_format=diarized_json` and `chunking_strategy=auto`; the model labels speakers
//!   `A`, `B`, ...
//! - [`Attribution::ByChannel`]: for dual-channel recordings (Twilio puts the caller on channel 0
//!   and the agent on channel 1), decode, upload each channel as 16-bit mono WAV, and merge the
//!   two transcripts by time. Nothing is guessed: the channel says who spoke.
//!
//! Uploads stay under the 25 MB request limit and the model's duration cap (1400 s for the
//! diarize model): longer audio is cut at MP3 frame boundaries or whole WAV sample frames, each
//! part transcribed on its own, its times shifted by where it starts. Diarization labels are per
//! request, so a label in one part says nothing about the same label in another: labels carry
//! their part number ([`Speaker::Label`]).

mod decode;
mod recording;
mod split;
mod upload;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use recording::{AudioError, Recording};

use crate::http::{Api, ApiError, ApiKey, RetryPolicy};
use split::Limits;
use upload::{PartSegment, Request};

/// Transcribes recordings. Cheap to clone; `Debug` hides the API key.
#[derive(Debug, Clone)]
pub struct Transcriber {
    api: Api,
    model: String,
    language: Option<String>,
    max_upload_bytes: usize,
    max_part_duration: Duration,
}

/// Who said a segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Speaker {
    /// Channel 0 of a dual-channel recording.
    Caller,
    /// Channel 1 of a dual-channel recording.
    Agent,
    /// A diarization label (`A`, `B`, ... or a known speaker's name) from part `part` (0-based) of
    /// the audio. Labels of different parts are unrelated.
    Label { label: String, part: usize },
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Caller => f.write_str("Caller"),
            Self::Agent => f.write_str("Agent"),
            Self::Label { label, part: 0 } => write!(f, "Speaker {label}"),
            Self::Label { label, part } => write!(f, "Speaker {label} (part {})", part + 1),
        }
    }
}

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub speaker: Speaker,
    /// Seconds from the start of the recording.
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// A whole recording's transcript, segments in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub segments: Vec<Segment>,
    /// Length of the recording in seconds.
    pub duration: f64,
}

impl Transcript {
    /// `Speaker: text` lines, the form LLM prompts and e-mails want.
    pub fn to_text(&self) -> String {
        self.segments
            .iter()
            .map(|s| format!("{}: {}", s.speaker, s.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// How speakers are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribution {
    /// By the model, on the mixed audio.
    Diarize,
    /// By channel: 0 is the caller, 1 the agent (Twilio's dual-channel layout).
    ByChannel,
}

/// Transcription failed.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptionError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("transcribing by channel needs a dual-channel recording; this one has {0} channel(s)")]
    NotDualChannel(u16),
}

impl Transcriber {
    /// The public API; any OpenAI-compatible server works.
    pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
    /// The diarizing model: speaker labels and segment times.
    pub const DEFAULT_MODEL: &str = "gpt-4o-transcribe-diarize";
    /// OpenAI's request body limit (25 MiB).
    pub const MAX_REQUEST_BYTES: usize = 26_214_400;
    /// Room for the multipart framing and the other fields.
    const FORM_OVERHEAD: usize = 16 * 1024;
    /// Under the diarize model's 1400 s cap (1500 s for the others), with margin.
    pub const DEFAULT_MAX_PART_DURATION: Duration = Duration::from_secs(20 * 60);

    /// `base_url` is the API base, e.g. [`Self::DEFAULT_BASE_URL`].
    pub fn new(base_url: impl Into<String>, api_key: impl Into<ApiKey>) -> Self {
        Self {
            api: Api::new(base_url, api_key),
            model: Self::DEFAULT_MODEL.to_owned(),
            language: None,
            max_upload_bytes: Self::MAX_REQUEST_BYTES - Self::FORM_OVERHEAD,
            max_part_duration: Self::DEFAULT_MAX_PART_DURATION,
        }
    }

    /// The model. Its response format follows from it: `diarized_json` for diarize models,
    /// `verbose_json` (segment times) for `whisper-1`, `json` (text only, no times: a part's text
    /// becomes one segment spanning the part) for the others. Keep a diarize model or
    /// `whisper-1` for [`Attribution::ByChannel`], which merges by time.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// ISO-639-1 hint, e.g. `en`.
    pub fn with_language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.api.retry = retry;
        self
    }

    /// Largest file in one request. The default fits OpenAI's 25 MiB request limit; lower it for
    /// a proxy with a smaller one.
    pub fn with_max_upload_bytes(mut self, bytes: usize) -> Self {
        self.max_upload_bytes = bytes;
        self
    }

    /// Longest part in one request.
    pub fn with_max_part_duration(mut self, duration: Duration) -> Self {
        self.max_part_duration = duration;
        self
    }

    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.max_upload_bytes,
            max_secs: self.max_part_duration.as_secs_f64(),
        }
    }

    /// Transcribe `recording`, telling speakers apart as `attribution` says.
    pub async fn transcribe(
        &self,
        recording: &Recording,
        attribution: Attribution,
    ) -> Result<Transcript, TranscriptionError> {
        let request = Request {
            model: &self.model,
            language: self.language.as_deref(),
        };
        let mut segments = Vec::new();
        match attribution {
            Attribution::Diarize => {
                for (part, upload) in split::split(recording, self.limits()).iter().enumerate() {
                    let found = upload::transcribe_part(&self.api, &request, upload).await?;
                    segments.extend(found.into_iter().map(|s| {
                        let speaker = Speaker::Label {
                            label: s.speaker.clone().unwrap_or_else(|| "?".to_owned()),
                            part,
                        };
                        place(s, speaker, upload.offset_secs)
                    }));
                }
            }
            Attribution::ByChannel => {
                if recording.channels() != 2 {
                    return Err(TranscriptionError::NotDualChannel(recording.channels()));
                }
                // Decoding is CPU-bound (seconds for an hour of MP3): keep it off the runtime.
                let owned = recording.clone();
                let channels = tokio::task::spawn_blocking(move || decode::decode(&owned))
                    .await
                    .map_err(|e| AudioError::Decode(e.to_string()))??;
                for (samples, speaker) in channels
                    .samples
                    .iter()
                    .zip([Speaker::Caller, Speaker::Agent])
                {
                    for upload in split::split_pcm(samples, channels.sample_rate, self.limits()) {
                        let found = upload::transcribe_part(&self.api, &request, &upload).await?;
                        segments.extend(
                            found
                                .into_iter()
                                .map(|s| place(s, speaker.clone(), upload.offset_secs)),
                        );
                    }
                }
            }
        }
        // Stable: at equal start times the caller (transcribed first) stays first.
        segments.sort_by(|a, b| a.start.total_cmp(&b.start));
        Ok(Transcript {
            segments,
            duration: recording.duration_secs(),
        })
    }
}

/// A part's segment placed on the recording's timeline.
fn place(segment: PartSegment, speaker: Speaker, offset: f64) -> Segment {
    Segment {
        speaker,
        start: offset + segment.start,
        end: offset + segment.end,
        text: segment.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_read_as_lines() {
        let transcript = Transcript {
            segments: vec![
                Segment {
                    speaker: Speaker::Caller,
                    start: 0.0,
                    end: 1.0,
                    text: "Hi".into(),
                },
                Segment {
                    speaker: Speaker::Label {
                        label: "B".into(),
                        part: 1,
                    },
                    start: 1.0,
                    end: 2.0,
                    text: "Hello".into(),
                },
            ],
            duration: 2.0,
        };
        assert_eq!(
            transcript.to_text(),
            "Caller: Hi\nSpeaker B (part 2): Hello"
        );
        assert!(!format!("{:?}", Transcriber::new("http://x", "sk-123")).contains("sk-123"));
    }
}
