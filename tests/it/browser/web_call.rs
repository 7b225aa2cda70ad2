//! Talking to an agent from the dashboard in a real browser: Chromium's fake microphone plays a
//! WAV made from the sandbox's caller vocabulary (a greeting, a question, and a "hello" over the
//! agent's long answer), the page sends it to the agent and plays the agent back, shows both
//! sides of the conversation, drops the agent's audio on barge-in, and after hang-up the call is
//! in the calls list with its recording.

use std::time::{Duration, Instant};

use loquent_sandbox::speech::{Phrase, Tone};
use serde_json::Value;

use super::Driver;
use crate::support::TestApp;

const RATE: u32 = 48_000;

/// What the fake microphone says, looped by Chromium: silence while the agent greets, "hello",
/// a question, then "hello" again while the long answer plays.
fn caller_wav() -> Vec<u8> {
    let mut pcm: Vec<i16> = Vec::new();
    let silence = |pcm: &mut Vec<i16>, ms: usize| pcm.extend(std::iter::repeat_n(0, ms * 48));
    let say = |pcm: &mut Vec<i16>, phrase: Phrase, ms: usize| {
        Tone::new(phrase.frequency_hz(), RATE).pcm(ms * 48, pcm);
    };
    silence(&mut pcm, 3_000);
    say(&mut pcm, Phrase::Hello, 1_000);
    silence(&mut pcm, 3_000);
    say(&mut pcm, Phrase::Question, 1_200);
    silence(&mut pcm, 1_200);
    say(&mut pcm, Phrase::Hello, 1_000);
    silence(&mut pcm, 6_000);
    let data_len = u32::try_from(pcm.len() * 2).unwrap();
    let mut wav = Vec::with_capacity(44 + pcm.len() * 2);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in pcm {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

#[tokio::test]
async fn a_member_talks_to_an_agent_in_the_browser_and_finds_the_call_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("caller.wav");
    std::fs::write(&wav, caller_wav()).unwrap();
    let browser = Driver::start_with(&[
        "--use-fake-ui-for-media-stream".to_owned(),
        "--use-fake-device-for-media-stream".to_owned(),
        format!("--use-file-for-fake-audio-capture={}", wav.display()),
        "--autoplay-policy=no-user-gesture-required".to_owned(),
    ])
    .await;
    let app = TestApp::builder()
        .with_setting("LOQUENT_SANDBOX", "auto")
        .start()
        .await;
    browser
        .sign_up(&app, "Acme Plumbing", "ada@example.com")
        .await;

    // An agent on OpenAI (its emulator answers, for want of a key).
    browser.goto(&app.url("/agents/new")).await;
    browser.type_into("#name", "Front desk").await;
    browser
        .type_into("#prompt", "You answer for Acme Plumbing.")
        .await;
    browser.clear("#vad_silence_duration_ms").await;
    browser.type_into("#vad_silence_duration_ms", "300").await;
    browser.click("#save").await;
    browser.click(".table a").await;

    // Talk: the call starts, the agent greets and is heard, the caller's words and the agent's
    // answers show as they are said.
    browser.click("#talk-start").await;
    browser
        .wait_until(
            "return document.querySelector('#talk').dataset.state === 'live'",
            "the call to start",
        )
        .await;
    wait_long(
        &browser,
        "return Number(document.querySelector('#talk').dataset.played || 0) > 2 \
         && document.querySelectorAll('#talk-transcript .line.agent').length >= 2 \
         && document.querySelectorAll('#talk-transcript .line.caller').length >= 1",
        "the agent's greeting played and a turn each way",
    )
    .await;
    let transcript = browser.text_of("#talk-transcript").await;
    assert!(transcript.contains("You Hello."), "{transcript}");
    assert!(
        transcript.contains("Agent Hello, thanks for calling."),
        "{transcript}"
    );
    // "Hello" over the long answer: the page drops what it had not played.
    wait_long(
        &browser,
        "return Number(document.querySelector('#talk').dataset.clears || 0) >= 1",
        "the barge-in's clear",
    )
    .await;

    // Hang up; the call is in the calls list as a web call, and its recording follows.
    browser.click("#talk-end").await;
    browser
        .wait_for_text("#talk-status", "Call ended: you hung up.")
        .await;
    browser.click("#talk-status a").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let call = browser
            .script(
                "const x = new XMLHttpRequest(); \
                 x.open('GET', '/api/calls?limit=5', false); x.send(); return x.responseText",
            )
            .await;
        let list: Value = serde_json::from_str(call.as_str().unwrap()).unwrap();
        let item = &list["items"][0];
        assert_eq!(item["source"], "web", "{list}");
        if item["has_recording"] == true && item["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "no recording: {list}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.goto(&browser.url().await).await;
    browser.find("audio").await;
}

/// [`Driver::wait_until`] with room for a conversation played in real time.
async fn wait_long(browser: &Driver, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        if browser.script(script).await == Value::Bool(true) {
            return;
        }
        if Instant::now() >= deadline {
            let transcript = browser.text_of("#talk-transcript").await;
            let status = browser.text_of("#talk-status").await;
            panic!("timed out waiting for {what}; transcript {transcript:?}, status {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
