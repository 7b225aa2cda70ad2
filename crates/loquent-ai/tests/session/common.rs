use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use loquent_ai::audio::mulaw;
use loquent_ai::realtime::{AudioChunk, RealtimeEvent, RealtimeSession, ToolSpec};
use loquent_sandbox::speech::{self, Phrase, Tone};
use loquent_sandbox::{Sandbox, SandboxHandle};
use serde_json::{Value, json};

/// Longest wait for one event; replies are at most two seconds of paced audio.
const PATIENCE: Duration = Duration::from_secs(5);

pub async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

pub fn end_call_tool() -> ToolSpec {
    ToolSpec {
        name: "end_call".to_owned(),
        description: "Hang up once the caller has said goodbye.".to_owned(),
        parameters: json!({
            "type": "object",
            "properties": { "reason": { "type": "string" } },
            "required": ["reason"]
        }),
    }
}

/// `ms` of `phrase` then `silence_ms` of silence, as Twilio media payloads (20 ms frames).
pub fn utterance(phrase: Phrase, ms: usize, silence_ms: usize) -> Vec<String> {
    let mut tone = Tone::new(phrase.frequency_hz(), speech::SAMPLE_RATE);
    let mut frames: Vec<String> = (0..ms / 20)
        .map(|_| STANDARD.encode(tone.mulaw_frame()))
        .collect();
    frames.extend((0..silence_ms / 20).map(|_| STANDARD.encode(speech::silence_frame())));
    frames
}

/// The browser's caller says `phrase` (300 ms) then is silent (300 ms): base64 PCM16LE 24 kHz
/// frames of 20 ms, as a web call's session takes them.
pub async fn say_pcm24k(session: &mut dyn RealtimeSession, phrase: Phrase) {
    let mut tone = Tone::new(phrase.frequency_hz(), 24_000);
    for i in 0..30 {
        let mut pcm = Vec::with_capacity(480);
        if i < 15 {
            tone.pcm(480, &mut pcm);
        } else {
            pcm.resize(480, 0);
        }
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        session
            .send_audio(&STANDARD.encode(bytes))
            .await
            .expect("audio goes out");
    }
}

/// The chunks as PCM16LE samples (a web call's session audio).
pub fn pcm24k(chunks: &[&AudioChunk]) -> Vec<i16> {
    let bytes: Vec<u8> = chunks
        .iter()
        .flat_map(|chunk| STANDARD.decode(&chunk.payload).expect("base64 audio"))
        .collect();
    let (pairs, rest) = bytes.as_chunks::<2>();
    assert!(rest.is_empty(), "whole samples");
    pairs.iter().map(|&pair| i16::from_le_bytes(pair)).collect()
}

/// The caller says `phrase` (300 ms) and falls silent long enough to end the turn.
pub async fn say(session: &mut dyn RealtimeSession, phrase: Phrase) {
    for frame in utterance(phrase, 300, 300) {
        session.send_audio(&frame).await.expect("audio goes out");
    }
}

pub async fn next(session: &mut dyn RealtimeSession) -> RealtimeEvent {
    tokio::time::timeout(PATIENCE, session.next_event())
        .await
        .expect("an event in time")
        .expect("the session is open")
}

/// Every event up to and including the first that `wanted` accepts.
pub async fn until(
    session: &mut dyn RealtimeSession,
    what: &str,
    wanted: impl Fn(&RealtimeEvent) -> bool,
) -> Vec<RealtimeEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(PATIENCE, session.next_event())
            .await
            .unwrap_or_else(|_| panic!("no {what} in time; saw {seen:#?}"))
            .unwrap_or_else(|| panic!("session ended before {what}; saw {seen:#?}"));
        let done = wanted(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

pub fn audio(events: &[RealtimeEvent]) -> Vec<&AudioChunk> {
    events
        .iter()
        .filter_map(|event| match event {
            RealtimeEvent::AudioDelta(chunk) => Some(chunk),
            _ => None,
        })
        .collect()
}

pub fn pcm(chunks: &[&AudioChunk]) -> Vec<i16> {
    chunks
        .iter()
        .flat_map(|chunk| STANDARD.decode(&chunk.payload).expect("base64 audio"))
        .map(mulaw::decode)
        .collect()
}

/// The chunks are the emulated agent speaking (its 1800 Hz voice), at least `ms` long.
pub fn assert_agent_voice(chunks: &[&AudioChunk], ms: usize) {
    let pcm = pcm(chunks);
    assert!(pcm.len() >= ms * 8, "only {} ms of audio", pcm.len() / 8);
    assert!(
        speech::is_agent_voice(&pcm, speech::SAMPLE_RATE),
        "the audio is not the agent's voice"
    );
}

pub fn is_response_done(event: &RealtimeEvent) -> bool {
    matches!(event, RealtimeEvent::ResponseDone { .. })
}

/// What the emulators logged (`GET /sandbox/realtime/connections`).
pub async fn connections(sandbox: &SandboxHandle) -> Vec<Value> {
    let url = format!("{}/sandbox/realtime/connections", sandbox.twilio_api_base());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["connections"].as_array().unwrap().clone()
}

pub async fn queue_faults(sandbox: &SandboxHandle, rule: Value) {
    let url = format!("{}/sandbox/realtime/faults", sandbox.twilio_api_base());
    let response = reqwest::Client::new()
        .post(url)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}
