//! The transcription client against the sandbox's OpenAI emulator, over real HTTP.

use std::time::{Duration, Instant};

use loquent_ai::http::{ApiError, RetryPolicy};
use loquent_ai::transcription::{
    Attribution, Recording, Segment, Speaker, Transcriber, TranscriptionError,
};
use loquent_sandbox::speech::{AGENT_VOICE_HZ, Phrase, Tone};
use loquent_sandbox::{Sandbox, SandboxHandle};
use serde_json::{Value, json};

const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
    ..RetryPolicy::DEFAULT
};

async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn transcriber(sandbox: &SandboxHandle) -> Transcriber {
    Transcriber::new(sandbox.openai_base_url(), "sk-test").with_retry(FAST)
}

async fn control(
    sandbox: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let response = reqwest::Client::new()
        .request(
            method,
            format!("{}/sandbox/openai/{path}", sandbox.twilio_api_base()),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

/// The emulator's log of transcription requests: `(status, body)`.
async fn logged(sandbox: &SandboxHandle) -> Vec<(u64, Value)> {
    let log = control(sandbox, reqwest::Method::GET, "requests", Value::Null).await;
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["body"].clone()))
        .collect()
}

fn field<'a>(body: &'a Value, name: &str) -> Vec<&'a str> {
    body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f[0] == name)
        .map(|f| f[1].as_str().unwrap())
        .collect()
}

/// A recording's media from the Twilio emulator: seeds an account whose calls are all recorded
/// and returns the MP3 of the first recording with `channels` channels.
async fn twilio_recording(sandbox: &SandboxHandle, channels: u8) -> Vec<u8> {
    let http = reqwest::Client::new();
    let base = sandbox.twilio_api_base();
    let seeded: Value = http
        .post(format!("{base}/sandbox/accounts"))
        .json(&json!({"numbers": 1, "calls_per_number": 12, "recording_share": 1.0, "seed": 7}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = seeded["account_sid"].as_str().unwrap();
    let token = seeded["auth_token"].as_str().unwrap();
    let get = |path: String| {
        let request = http
            .get(format!("{base}/2010-04-01/Accounts/{sid}/{path}"))
            .basic_auth(sid, Some(token));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let calls = get("Calls.json?PageSize=50".to_owned()).await;
    let mut recording = None;
    for call in calls["calls"].as_array().unwrap() {
        let call_sid = call["sid"].as_str().unwrap();
        let list = get(format!("Calls/{call_sid}/Recordings.json")).await;
        recording = list["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["channels"] == channels)
            .cloned();
        if recording.is_some() {
            break;
        }
    }
    let recording = recording.expect("a recording with that many channels");
    let media = http
        .get(format!(
            "{base}/2010-04-01/Accounts/{sid}/Recordings/{}.mp3?RequestedChannels={channels}",
            recording["sid"].as_str().unwrap()
        ))
        .basic_auth(sid, Some(token))
        .send()
        .await
        .unwrap();
    assert!(media.status().is_success());
    media.bytes().await.unwrap().to_vec()
}

/// A 16-bit PCM WAV with one tone script per channel: `(frequency or 0 for silence, seconds)`.
fn tone_wav(rate: u32, channels: &[&[(f64, u32)]]) -> Vec<u8> {
    let tracks: Vec<Vec<i16>> = channels
        .iter()
        .map(|script| {
            let mut pcm = Vec::new();
            for &(hz, secs) in *script {
                let n = (secs * rate) as usize;
                if hz == 0.0 {
                    pcm.resize(pcm.len() + n, 0);
                } else {
                    Tone::new(hz, rate).pcm(n, &mut pcm);
                }
            }
            pcm
        })
        .collect();
    let frames = tracks[0].len();
    assert!(tracks.iter().all(|t| t.len() == frames));
    let mut data = Vec::with_capacity(frames * 2 * tracks.len());
    for i in 0..frames {
        for track in &tracks {
            data.extend_from_slice(&track[i].to_le_bytes());
        }
    }
    wav(rate, tracks.len() as u16, &data)
}

fn wav(rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    out.extend_from_slice(&(2 * channels).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn segment(speaker: Speaker, start: f64, end: f64, text: &str) -> Segment {
    Segment {
        speaker,
        start,
        end,
        text: text.to_owned(),
    }
}

fn label(label: &str, part: usize) -> Speaker {
    Speaker::Label {
        label: label.to_owned(),
        part,
    }
}

/// The emulator's script for audio without recognisable speech, shifted by `offset`.
fn script(duration: f64, offset: f64, part: usize) -> Vec<Segment> {
    let windows = (duration / 5.0).ceil() as usize;
    (0..windows)
        .map(|i| {
            let speaker = if i % 2 == 0 { "A" } else { "B" };
            segment(
                label(speaker, part),
                offset + i as f64 * 5.0,
                offset + ((i + 1) as f64 * 5.0).min(duration),
                &format!("Line {} from speaker {speaker}.", i + 1),
            )
        })
        .collect()
}

fn assert_segments_close(actual: &[Segment], expected: &[Segment]) {
    assert_eq!(actual.len(), expected.len(), "{actual:#?}");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!((&a.speaker, &a.text), (&e.speaker, &e.text));
        assert!(
            (a.start - e.start).abs() < 1e-6 && (a.end - e.end).abs() < 1e-6,
            "{a:?} vs {e:?}"
        );
    }
}

#[tokio::test]
async fn a_twilio_recording_is_diarized_in_one_request() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(twilio_recording(&sandbox, 1).await).unwrap();
    let transcript = transcriber(&sandbox)
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap();

    assert!((transcript.duration - recording.duration_secs()).abs() < 1e-9);
    assert_segments_close(
        &transcript.segments,
        &script(recording.duration_secs(), 0.0, 0),
    );
    assert_eq!(
        transcript.to_text().lines().next().unwrap(),
        "Speaker A: Line 1 from speaker A."
    );

    let log = logged(&sandbox).await;
    assert_eq!(log.len(), 1);
    let (status, body) = &log[0];
    assert_eq!(*status, 200);
    assert_eq!(field(body, "model"), ["gpt-4o-transcribe-diarize"]);
    assert_eq!(field(body, "response_format"), ["diarized_json"]);
    assert_eq!(field(body, "chunking_strategy"), ["auto"]);
    let file = &body["files"][0];
    assert_eq!(file["name"], "file");
    assert_eq!(file["filename"], "audio.mp3");
    assert_eq!(file["content_type"], "audio/mpeg");
    assert_eq!(
        file["size"].as_u64().unwrap() as usize,
        recording.byte_len()
    );
}

#[tokio::test]
async fn a_dual_channel_recording_is_attributed_by_channel_and_merged_by_time() {
    let sandbox = sandbox().await;
    let hello = Phrase::Hello.frequency_hz();
    let question = Phrase::Question.frequency_hz();
    let audio = tone_wav(
        8000,
        &[
            &[(hello, 5), (0.0, 5), (question, 5), (0.0, 5)],
            &[(0.0, 5), (AGENT_VOICE_HZ, 5), (0.0, 5), (AGENT_VOICE_HZ, 5)],
        ],
    );
    let recording = Recording::parse(audio).unwrap();
    let expected = [
        segment(Speaker::Caller, 0.0, 5.0, "hello"),
        segment(Speaker::Agent, 5.0, 10.0, "agent reply"),
        segment(Speaker::Caller, 10.0, 15.0, "question"),
        segment(Speaker::Agent, 15.0, 20.0, "agent reply"),
    ];
    let transcript = transcriber(&sandbox)
        .transcribe(&recording, Attribution::ByChannel)
        .await
        .unwrap();
    assert_segments_close(&transcript.segments, &expected);
    assert_eq!(
        transcript.to_text(),
        "Caller: hello\nAgent: agent reply\nCaller: question\nAgent: agent reply"
    );
    let log = logged(&sandbox).await;
    assert_eq!(log.len(), 2);
    for (_, body) in &log {
        assert_eq!(body["files"][0]["channels"], 1);
        assert_eq!(body["files"][0]["content_type"], "audio/wav");
        assert_eq!(body["files"][0]["duration"], 20.0);
    }

    // In parts of 10 s, each part's times are shifted to where it starts.
    let in_parts = transcriber(&sandbox)
        .with_max_part_duration(Duration::from_secs(10))
        .transcribe(&recording, Attribution::ByChannel)
        .await
        .unwrap();
    assert_segments_close(&in_parts.segments, &expected);
    assert_eq!(logged(&sandbox).await.len(), 2 + 4);
}

#[tokio::test]
async fn a_dual_channel_twilio_mp3_is_decoded_into_one_wav_per_channel() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(twilio_recording(&sandbox, 2).await).unwrap();
    assert_eq!(recording.channels(), 2);
    let transcript = transcriber(&sandbox)
        .transcribe(&recording, Attribution::ByChannel)
        .await
        .unwrap();

    let log = logged(&sandbox).await;
    assert_eq!(log.len(), 2);
    for (_, body) in &log {
        let file = &body["files"][0];
        assert_eq!(file["channels"], 1);
        assert_eq!(file["filename"], "audio.wav");
        let seconds = file["duration"].as_f64().unwrap();
        assert!(
            (seconds - recording.duration_secs()).abs() < 0.1,
            "{seconds}"
        );
    }
    // The sandbox's recording is a loop of the caller saying "hello" on the left channel and the
    // agent answering on the right: decoded from real MP3 and split, each channel is attributed
    // to its speaker with what they said.
    assert!(!transcript.segments.is_empty());
    let caller: Vec<_> = transcript
        .segments
        .iter()
        .filter(|s| s.speaker == Speaker::Caller)
        .collect();
    let agent: Vec<_> = transcript
        .segments
        .iter()
        .filter(|s| s.speaker == Speaker::Agent)
        .collect();
    assert!(!caller.is_empty() && !agent.is_empty());
    assert!(
        caller.iter().all(|s| s.text.contains("hello")),
        "{caller:?}"
    );
    assert!(agent.iter().all(|s| s.text.contains("agent")), "{agent:?}");
    assert!(
        transcript
            .segments
            .windows(2)
            .all(|w| w[0].start <= w[1].start),
        "merged by time"
    );
}

#[tokio::test]
async fn a_mono_recording_cannot_be_split_by_channel() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(twilio_recording(&sandbox, 1).await).unwrap();
    let error = transcriber(&sandbox)
        .transcribe(&recording, Attribution::ByChannel)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TranscriptionError::NotDualChannel(1)),
        "{error}"
    );
    assert!(logged(&sandbox).await.is_empty());
}

/// `frames` MPEG-1 Layer III frames at 320 kbit/s, 48 kHz, stereo: 960 bytes and 24 ms each.
fn loud_bitrate_mp3(frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * 960);
    for _ in 0..frames {
        out.extend_from_slice(&[0xFF, 0xFB, 0xE4, 0x00]);
        out.resize(out.len() + 956, 0);
    }
    out
}

#[tokio::test]
async fn audio_over_25_mb_is_uploaded_in_parts_under_the_limit() {
    let sandbox = sandbox().await;
    // 31,250 frames: 30,000,000 bytes, 750 s.
    let recording = Recording::parse(loud_bitrate_mp3(31_250)).unwrap();
    assert!((recording.duration_secs() - 750.0).abs() < 1e-6);
    let transcript = transcriber(&sandbox)
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap();

    let log = logged(&sandbox).await;
    assert_eq!(log.len(), 2);
    let sizes: Vec<u64> = log
        .iter()
        .map(|(_, b)| b["files"][0]["size"].as_u64().unwrap())
        .collect();
    assert!(
        sizes.iter().all(|&s| s <= 26_214_400 - 16 * 1024),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<u64>(), 30_000_000);
    assert_eq!(sizes[0] % 960, 0, "cut at a frame boundary");
    let first = log[0].1["files"][0]["duration"].as_f64().unwrap();
    let mut expected = script(first, 0.0, 0);
    expected.extend(script(750.0 - first, first, 1));
    assert_segments_close(&transcript.segments, &expected);
}

#[tokio::test]
async fn a_long_wav_is_cut_by_samples() {
    let sandbox = sandbox().await;
    // 150 s of 48 kHz stereo silence: 28.8 MB.
    let data = vec![0u8; 150 * 48_000 * 4];
    let recording = Recording::parse(wav(48_000, 2, &data)).unwrap();
    let transcript = transcriber(&sandbox)
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap();
    let log = logged(&sandbox).await;
    assert_eq!(log.len(), 2);
    let durations: Vec<f64> = log
        .iter()
        .map(|(_, b)| b["files"][0]["duration"].as_f64().unwrap())
        .collect();
    assert!((durations.iter().sum::<f64>() - 150.0).abs() < 1e-9);
    for (_, body) in &log {
        assert_eq!(body["files"][0]["channels"], 2);
        assert!(body["files"][0]["size"].as_u64().unwrap() <= 26_214_400);
    }
    assert_eq!(transcript.segments.last().unwrap().end, 150.0);
    assert_eq!(
        transcript.segments.last().unwrap().speaker,
        label(
            if (durations[1] / 5.0).ceil() as usize % 2 == 1 {
                "A"
            } else {
                "B"
            },
            1
        )
    );
}

#[tokio::test]
async fn an_oversized_request_gets_a_typed_413() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(loud_bitrate_mp3(31_250)).unwrap();
    let error = transcriber(&sandbox)
        .with_max_upload_bytes(40_000_000)
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap_err();
    match error {
        TranscriptionError::Api(ApiError::TooLarge { message }) => {
            assert!(
                message.starts_with("Maximum content size limit (26214400) exceeded"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Not retried: the same body would fail the same way.
    assert_eq!(logged(&sandbox).await.len(), 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(twilio_recording(&sandbox, 1).await).unwrap();
    control(
        &sandbox,
        reqwest::Method::POST,
        "faults",
        json!({"status": 429, "count": 1, "retry_after": 0}),
    )
    .await;
    transcriber(&sandbox)
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap();
    control(
        &sandbox,
        reqwest::Method::POST,
        "faults",
        json!({"status": 502, "count": 2}),
    )
    .await;
    transcriber(&sandbox)
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap();
    let statuses: Vec<u64> = logged(&sandbox).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, [429, 200, 502, 502, 200]);

    // Always failing: a typed error after the policy's attempts.
    control(
        &sandbox,
        reqwest::Method::POST,
        "faults",
        json!({"status": 503}),
    )
    .await;
    let error = transcriber(&sandbox)
        .with_retry(RetryPolicy {
            max_attempts: 3,
            ..FAST
        })
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TranscriptionError::Api(ApiError::Server {
                status: 503,
                attempts: 3,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(logged(&sandbox).await.len(), 5 + 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(twilio_recording(&sandbox, 1).await).unwrap();
    control(
        &sandbox,
        reqwest::Method::POST,
        "faults",
        json!({"status": 429, "count": 1, "retry_after": 1}),
    )
    .await;
    let started = Instant::now();
    transcriber(&sandbox)
        .with_retry(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
            retry_after_ceiling: Duration::from_secs(5),
        })
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rejected_requests_carry_openais_message() {
    let sandbox = sandbox().await;
    let recording = Recording::parse(twilio_recording(&sandbox, 1).await).unwrap();
    let error = Transcriber::new(sandbox.openai_base_url(), "")
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TranscriptionError::Api(ApiError::Unauthorized { message }) if message.contains("API key")),
        "{error:?}"
    );
    assert!(!format!("{error:?}").contains("sk-"));

    let error = transcriber(&sandbox)
        .with_model("whisper-9")
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap_err();
    match error {
        TranscriptionError::Api(ApiError::InvalidRequest { message, param, .. }) => {
            assert_eq!(message, "Invalid model whisper-9.");
            assert_eq!(param.as_deref(), Some("model"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut frames = Vec::new();
    for _ in 0..100 {
        frames.extend_from_slice(&[0xFF, 0xF3, 0x18, 0xC0]);
        frames.resize(frames.len() + 32, 0);
    }
    let recording = Recording::parse(frames).unwrap();
    let error = Transcriber::new(format!("http://127.0.0.1:{port}/v1"), "sk-secret-key")
        .with_retry(RetryPolicy {
            max_attempts: 3,
            ..FAST
        })
        .transcribe(&recording, Attribution::Diarize)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TranscriptionError::Api(ApiError::Connection { attempts: 3, .. })
        ),
        "{error:?}"
    );
    assert!(!format!("{error:?} {error}").contains("sk-secret-key"));
}
