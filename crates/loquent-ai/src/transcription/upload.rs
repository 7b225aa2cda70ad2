//! One `POST /audio/transcriptions`: the multipart request for a part of the audio, and its
//! answer read into segments with times relative to the part.

use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::split::Upload;
use crate::http::{Api, ApiError};

/// What to ask for, which follows from the model: only `diarized_json` carries speakers, only
/// `verbose_json` (whisper-1) carries timestamps without them, every other model answers `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    DiarizedJson,
    VerboseJson,
    Json,
}

impl ResponseFormat {
    pub(crate) fn for_model(model: &str) -> Self {
        if model.contains("diarize") {
            Self::DiarizedJson
        } else if model.starts_with("whisper") {
            Self::VerboseJson
        } else {
            Self::Json
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::DiarizedJson => "diarized_json",
            Self::VerboseJson => "verbose_json",
            Self::Json => "json",
        }
    }
}

/// A transcribed stretch of one part; times in seconds from the part's start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartSegment {
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) text: String,
    pub(crate) speaker: Option<String>,
}

/// The union of the `json`, `verbose_json` and `diarized_json` bodies, as far as we read them.
#[derive(Debug, Deserialize)]
struct Body {
    text: String,
    #[serde(default)]
    segments: Option<Vec<BodySegment>>,
}

#[derive(Debug, Deserialize)]
struct BodySegment {
    start: f64,
    end: f64,
    text: String,
    #[serde(default)]
    speaker: Option<String>,
}

/// The request fields for one part.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub(crate) model: &'a str,
    pub(crate) language: Option<&'a str>,
}

pub(crate) async fn transcribe_part(
    api: &Api,
    request: &Request<'_>,
    upload: &Upload,
) -> Result<Vec<PartSegment>, ApiError> {
    let format = ResponseFormat::for_model(request.model);
    let response = api
        .send(|| {
            api.post("audio/transcriptions")
                .multipart(form(request, format, upload))
        })
        .await?;
    let body: Body = response
        .json()
        .await
        .map_err(|e| ApiError::UnexpectedBody(e.to_string()))?;
    Ok(match body.segments {
        Some(segments) => segments
            .into_iter()
            .filter(|s| !s.text.trim().is_empty())
            .map(|s| PartSegment {
                start: s.start,
                end: s.end.max(s.start),
                text: s.text.trim().to_owned(),
                speaker: s.speaker,
            })
            .collect(),
        // `json` has no timings: the text spans the part.
        None if body.text.trim().is_empty() => Vec::new(),
        None => vec![PartSegment {
            start: 0.0,
            end: upload.duration_secs,
            text: body.text.trim().to_owned(),
            speaker: None,
        }],
    })
}

fn form(request: &Request<'_>, format: ResponseFormat, upload: &Upload) -> Form {
    let file = Part::stream_with_length(upload.bytes.clone(), upload.bytes.len() as u64)
        .file_name(upload.file_name)
        .mime_str(upload.mime)
        .expect("our MIME types are valid");
    let mut form = Form::new()
        .part("file", file)
        .text("model", request.model.to_owned())
        .text("response_format", format.as_str());
    match format {
        // Required by the diarize model above 30 s; "auto" cuts at VAD boundaries after
        // normalising loudness, which suits phone audio.
        ResponseFormat::DiarizedJson => form = form.text("chunking_strategy", "auto"),
        ResponseFormat::VerboseJson => form = form.text("timestamp_granularities[]", "segment"),
        ResponseFormat::Json => {}
    }
    if let Some(language) = request.language {
        form = form.text("language", language.to_owned());
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_decides_the_format() {
        assert_eq!(
            ResponseFormat::for_model("gpt-4o-transcribe-diarize"),
            ResponseFormat::DiarizedJson
        );
        assert_eq!(
            ResponseFormat::for_model("whisper-1"),
            ResponseFormat::VerboseJson
        );
        assert_eq!(
            ResponseFormat::for_model("gpt-4o-transcribe"),
            ResponseFormat::Json
        );
    }
}
