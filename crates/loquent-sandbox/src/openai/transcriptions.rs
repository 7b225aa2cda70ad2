//! `POST /openai/v1/audio/transcriptions`: OpenAI's multipart request, validated as the real API
//! validates it, answered with a deterministic transcript (see the module docs of `openai`).

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::OpenAiError;
use super::probe::{Probed, probe};
use super::{MAX_BODY_BYTES, Shared, admit, log};
use crate::speech;

const ENDPOINT: &str = "audio/transcriptions";
/// Transcripts are cut into windows this long.
pub(crate) const WINDOW_SECS: f64 = 5.0;
const DIARIZE: &str = "gpt-4o-transcribe-diarize";
/// `chunking_strategy` is required above this for the diarize model.
const DIARIZE_UNCHUNKED_MAX_SECS: f64 = 30.0;

/// The models, and the response formats each accepts.
const MODELS: [(&str, &[&str], f64); 6] = [
    (
        "whisper-1",
        &["json", "text", "verbose_json"],
        f64::INFINITY,
    ),
    ("gpt-4o-transcribe", &["json", "text"], 1500.0),
    ("gpt-4o-mini-transcribe", &["json", "text"], 1500.0),
    (
        "gpt-4o-mini-transcribe-2025-12-15",
        &["json", "text"],
        1500.0,
    ),
    ("gpt-transcribe", &["json", "text"], 1500.0),
    (DIARIZE, &["json", "text", "diarized_json"], 1400.0),
];

/// A multipart form as received.
#[derive(Debug, Default)]
struct Form {
    fields: Vec<(String, String)>,
    files: Vec<File>,
}

#[derive(Debug)]
struct File {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    bytes: axum::body::Bytes,
}

impl Form {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|(k, _)| k == name || k == &format!("{name}[]"))
    }

    /// How the request log shows it: fields as sent, files measured rather than copied.
    fn to_log(&self) -> Value {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                let probed = probe(&f.bytes);
                json!({
                    "name": f.name,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": f.bytes.len(),
                    "channels": probed.as_ref().map(|p| p.channels),
                    "duration": probed.as_ref().map(|p| p.duration_secs),
                })
            })
            .collect();
        json!({ "fields": self.fields, "files": files })
    }
}

pub(crate) async fn create(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(e) = admit(&shared, ENDPOINT, &parts.headers) {
        return e.into_response();
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = declared.filter(|&l| l > MAX_BODY_BYTES) {
        return fail(&shared, Value::Null, OpenAiError::too_large(length));
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) if bytes.len() <= MAX_BODY_BYTES => bytes,
        _ => {
            return fail(
                &shared,
                Value::Null,
                OpenAiError::too_large(MAX_BODY_BYTES + 1),
            );
        }
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    let form = match read_form(request).await {
        Ok(form) => form,
        Err(e) => return fail(&shared, Value::Null, e),
    };
    let logged = form.to_log();
    match transcribe(&form) {
        Ok(response) => {
            log(&shared, ENDPOINT, 200, logged);
            response
        }
        Err(e) => fail(&shared, logged, e),
    }
}

fn fail(shared: &Shared, logged: Value, error: OpenAiError) -> Response {
    log(shared, ENDPOINT, error.status, logged);
    error.into_response()
}

async fn read_form(request: Request) -> Result<Form, OpenAiError> {
    let bad =
        |e: axum::Error| OpenAiError::invalid(format!("Could not parse multipart form: {e}"), None);
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| OpenAiError::invalid(format!("Could not parse multipart form: {e}"), None))?;
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(axum::Error::new(e)))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        if filename.is_some() {
            let bytes = field.bytes().await.map_err(|e| bad(axum::Error::new(e)))?;
            form.files.push(File {
                name,
                filename,
                content_type,
                bytes,
            });
        } else {
            let text = field.text().await.map_err(|e| bad(axum::Error::new(e)))?;
            form.fields.push((name, text));
        }
    }
    Ok(form)
}

fn transcribe(form: &Form) -> Result<Response, OpenAiError> {
    let model = form.field("model").ok_or_else(|| {
        OpenAiError::invalid("you must provide a model parameter", Some("model"))
            .with_code("missing_required_parameter")
    })?;
    let (_, formats, max_secs) = MODELS.iter().find(|(m, ..)| *m == model).ok_or_else(|| {
        OpenAiError::invalid(format!("Invalid model {model}."), Some("model"))
            .with_code("invalid_value")
    })?;
    let file = form
        .files
        .iter()
        .find(|f| f.name == "file")
        .ok_or_else(|| {
            OpenAiError::invalid("Missing required parameter: 'file'.", Some("file"))
                .with_code("missing_required_parameter")
        })?;
    let format = form.field("response_format").unwrap_or("json");
    if !formats.contains(&format) {
        return Err(OpenAiError::invalid(
            format!(
                "response_format '{format}' is not compatible with model '{model}'. Use {}.",
                formats.join(", ")
            ),
            Some("response_format"),
        )
        .with_code("unsupported_value"));
    }
    let diarize = model == DIARIZE;
    for (field, param) in [
        ("prompt", "prompt"),
        ("include", "include"),
        ("timestamp_granularities", "timestamp_granularities"),
    ] {
        if diarize && form.has(field) {
            return Err(OpenAiError::invalid(
                format!("{field} is not supported with model '{model}'."),
                Some(param),
            )
            .with_code("unsupported_parameter"));
        }
    }
    if form.has("timestamp_granularities") && format != "verbose_json" {
        return Err(OpenAiError::invalid(
            "timestamp_granularities requires response_format=verbose_json.",
            Some("timestamp_granularities"),
        ));
    }
    let chunked = match form.field("chunking_strategy") {
        None => false,
        Some("auto") => true,
        Some(other) => {
            let vad = serde_json::from_str::<Value>(other)
                .ok()
                .is_some_and(|v| v["type"] == "server_vad");
            if !vad {
                return Err(OpenAiError::invalid(
                    format!(
                        "Invalid chunking_strategy {other:?}: use \"auto\" or a server_vad object."
                    ),
                    Some("chunking_strategy"),
                )
                .with_code("invalid_value"));
            }
            true
        }
    };
    let probed = probe(&file.bytes).ok_or_else(|| {
        OpenAiError::invalid(
            "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
            Some("file"),
        )
        .with_code("invalid_value")
    })?;
    let duration = probed.duration_secs;
    if diarize && !chunked && duration > DIARIZE_UNCHUNKED_MAX_SECS {
        return Err(OpenAiError::invalid(
            "chunking_strategy is required for diarization models when the input audio is longer than 30 seconds.",
            Some("chunking_strategy"),
        )
        .with_code("invalid_value"));
    }
    if duration > *max_secs {
        return Err(OpenAiError::invalid(
            format!("Audio duration {duration:.1} seconds is longer than {max_secs} seconds which is the maximum for this model."),
            Some("file"),
        )
        .with_code("invalid_value"));
    }

    let lines = transcript(&probed);
    let text = lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let usage = json!({ "type": "duration", "seconds": duration.ceil() as u64 });
    let body = match format {
        "text" => {
            return Ok(
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
            );
        }
        "diarized_json" => json!({
            "task": "transcribe",
            "duration": duration,
            "text": text,
            "segments": lines.iter().enumerate().map(|(i, l)| json!({
                "type": "transcript.text.segment",
                "id": format!("seg_{:03}", i + 1),
                "start": l.start,
                "end": l.end,
                "text": l.text,
                "speaker": l.speaker,
            })).collect::<Vec<_>>(),
            "usage": usage,
        }),
        "verbose_json" => json!({
            "task": "transcribe",
            "language": "english",
            "duration": duration,
            "text": text,
            "segments": lines.iter().enumerate().map(|(i, l)| json!({
                "id": i,
                "seek": 0,
                "start": l.start,
                "end": l.end,
                "text": l.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            })).collect::<Vec<_>>(),
            "usage": usage,
        }),
        _ => json!({ "text": text, "usage": usage }),
    };
    Ok(axum::Json(body).into_response())
}

/// One line of the made-up transcript.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    start: f64,
    end: f64,
    speaker: &'static str,
    text: String,
}

/// The transcript of `probed`: the tones it carries, or the script when it carries none.
fn transcript(probed: &Probed) -> Vec<Line> {
    let windows = (probed.duration_secs / WINDOW_SECS).ceil() as usize;
    let bounds = |i: usize| {
        (
            i as f64 * WINDOW_SECS,
            ((i + 1) as f64 * WINDOW_SECS).min(probed.duration_secs),
        )
    };
    if let Some((pcm, rate)) = &probed.pcm {
        let per_window = (WINDOW_SECS * f64::from(*rate)) as usize;
        let mut lines: Vec<Line> = Vec::new();
        for (i, window) in pcm.chunks(per_window.max(1)).enumerate() {
            if !speech::is_speech(window) {
                continue;
            }
            let (speaker, text) = match speech::recognise(window, *rate) {
                Some(phrase) => ("A", phrase.name()),
                None if speech::is_agent_voice(window, *rate) => ("B", "agent reply"),
                None => ("C", "(inaudible)"),
            };
            let (start, end) = bounds(i);
            match lines.last_mut() {
                Some(last) if last.end == start && last.speaker == speaker && last.text == text => {
                    last.end = end;
                }
                _ => lines.push(Line {
                    start,
                    end,
                    speaker,
                    text: text.to_owned(),
                }),
            }
        }
        if !lines.is_empty() {
            return lines;
        }
    }
    (0..windows)
        .map(|i| {
            let (start, end) = bounds(i);
            let speaker = if i % 2 == 0 { "A" } else { "B" };
            Line {
                start,
                end,
                speaker,
                text: format!("Line {} from speaker {speaker}.", i + 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::{AGENT_VOICE_HZ, Phrase, Tone};

    #[test]
    fn tones_are_transcribed_and_silence_is_scripted() {
        let rate = 8000;
        let mut pcm = Vec::new();
        Tone::new(Phrase::Hello.frequency_hz(), rate).pcm(10 * 8000, &mut pcm);
        pcm.resize(15 * 8000, 0);
        Tone::new(AGENT_VOICE_HZ, rate).pcm(5 * 8000, &mut pcm);
        let probed = Probed {
            duration_secs: 20.0,
            channels: 1,
            pcm: Some((pcm, rate)),
        };
        let lines = transcript(&probed);
        assert_eq!(
            lines,
            [
                Line {
                    start: 0.0,
                    end: 10.0,
                    speaker: "A",
                    text: "hello".into()
                },
                Line {
                    start: 15.0,
                    end: 20.0,
                    speaker: "B",
                    text: "agent reply".into()
                },
            ]
        );
        let silent = Probed {
            duration_secs: 12.0,
            channels: 2,
            pcm: None,
        };
        let lines = transcript(&silent);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].text, "Line 2 from speaker B.");
        assert_eq!((lines[2].start, lines[2].end), (10.0, 12.0));
    }
}
