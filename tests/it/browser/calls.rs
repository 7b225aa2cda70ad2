//! Listening to calls in a real browser: the call page plays its recording and follows it in the
//! transcript, a click on a line seeks there, a re-run's new analysis appears without a reload,
//! and in the list starting a second recording stops the first.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Driver;
use crate::support::{CallSeed, TestApp, TwilioOwner, insert_call};

/// A valid MP3 of about `secs` seconds: the sandbox's mono loop (constant-bitrate 8 kHz frames
/// of 72 bytes, 72 ms each, no bit reservoir in the first) repeated frame by frame.
fn recording(secs: u32) -> Vec<u8> {
    const LOOP: &[u8] =
        include_bytes!("../../../crates/loquent-sandbox/fixtures/recording-loop-mono.mp3");
    let frames = (secs as usize * 1000).div_ceil(72);
    LOOP.chunks_exact(72)
        .cycle()
        .take(frames)
        .flatten()
        .copied()
        .collect()
}

/// Ten lines, two seconds each.
fn transcript() -> Vec<loquent::calls::transcript::Segment> {
    (0..10)
        .map(|i| loquent::calls::transcript::Segment {
            speaker: if i % 2 == 0 { "Agent" } else { "Caller" }.to_owned(),
            start: f64::from(i) * 2.0,
            end: f64::from(i) * 2.0 + 2.0,
            text: format!("Line number {i}."),
        })
        .collect()
}

/// The `data-start` of the highlighted transcript line, if one is.
const PLAYING_LINE: &str = "const l = document.querySelector('#transcript .line.playing'); return l ? parseFloat(l.dataset.start) : null;";

#[tokio::test]
async fn a_person_listens_to_a_call_seeks_in_its_transcript_and_reruns_its_analysis() {
    let browser = Driver::start().await;
    let sandbox = crate::support::start_sandbox().await;
    let openai = sandbox.openai_base_url();
    let app = TestApp::builder()
        .with_existing_sandbox(sandbox)
        // The browser opens the server's own address: its realtime socket must pass the
        // Origin check.
        .with_own_public_url()
        .with_settings(&[
            ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
            ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ])
        .start()
        .await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme Plumbing", 1, 71).await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let phone: Uuid = phones[0]["id"].as_str().unwrap().parse().unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/analyzers",
            &json!({"name": "Summary", "prompt": "Summarize the call.", "phone_number_ids": [phone]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first = insert_call(
        &app,
        org,
        CallSeed {
            phone_number_id: Some(phone),
            created_at: chrono::Utc::now() - chrono::Duration::minutes(5),
            duration_secs: Some(20),
            transcript: Some(transcript()),
            recording: Some(recording(20)),
            ..CallSeed::default()
        },
    )
    .await;
    let second = insert_call(
        &app,
        org,
        CallSeed {
            phone_number_id: Some(phone),
            duration_secs: Some(20),
            transcript: Some(transcript()),
            recording: Some(recording(20)),
            ..CallSeed::default()
        },
    )
    .await;

    browser.goto(&app.url("/login")).await;
    browser.type_into("#email", &owner.email).await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;

    // The call page: clicking the first line plays from there and highlights it; as the
    // recording plays, the highlight moves to the next line.
    browser
        .goto(&app.url(&format!("/calls/{}", first.id)))
        .await;
    browser.find("#player").await;
    browser.click("#transcript .line[data-start='0']").await;
    browser
        .wait_until(
            "const p = document.getElementById('player'); return !p.paused && p.currentTime > 0.2;",
            "the recording to play",
        )
        .await;
    // The highlighted line is the one whose time span holds the player's position.
    let held = browser
        .script(
            "const p = document.getElementById('player'); \
             const l = document.querySelector('#transcript .line.playing'); \
             if (!l) return 'no line is highlighted'; \
             const t = p.currentTime, s = parseFloat(l.dataset.start), e = parseFloat(l.dataset.end); \
             return (s <= t + 0.5 && t < e + 0.5) || ('line ' + s + ' at ' + t);",
        )
        .await;
    assert_eq!(held, Value::Bool(true), "{held}");
    browser
        .wait_until(
            "const l = document.querySelector('#transcript .line.playing'); return !!l && parseFloat(l.dataset.start) >= 2;",
            "the highlight to move to the next line",
        )
        .await;

    // Clicking a later line jumps there.
    browser.click("#transcript .line[data-start='14']").await;
    let at = browser
        .script("return document.getElementById('player').currentTime;")
        .await
        .as_f64()
        .unwrap();
    assert!(
        (14.0..16.0).contains(&at),
        "currentTime jumped to 14 s: {at}"
    );
    assert_eq!(browser.script(PLAYING_LINE).await.as_f64(), Some(14.0));
    browser
        .script(
            "document.getElementById('player').pause(); window.notReloaded = true; return null;",
        )
        .await;

    // Re-run analysis: the new run appears on this page, which is not reloaded.
    let res = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/openai/chat-answers",
            app.sandbox().twilio_api_base()
        ))
        .json(&json!({"schema": "call_analysis", "answer": {"analysis": "The caller read ten lines."}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(
        browser
            .text_of("#analyses")
            .await
            .contains("No analysis yet")
    );
    browser.click("#rerun button").await;
    browser
        .wait_for_text("#analyses", "The caller read ten lines.")
        .await;
    assert_eq!(
        browser.script("return window.notReloaded === true;").await,
        Value::Bool(true),
        "the run appeared without a reload"
    );

    // The list: starting the second row's recording stops the first's.
    browser.goto(&app.url("/calls")).await;
    let play = |id: Uuid| format!("button[data-play='call-audio-{id}']");
    let paused = |id: Uuid| format!("return document.getElementById('call-audio-{id}').paused;");
    browser.click(&play(second.id)).await;
    browser
        .wait_until(
            &format!(
                "const a = document.getElementById('call-audio-{}'); return !a.paused && a.currentTime > 0.1;",
                second.id
            ),
            "the first row's recording to play",
        )
        .await;
    assert_eq!(browser.script(&paused(first.id)).await, Value::Bool(true));
    browser.click(&play(first.id)).await;
    browser
        .wait_until(
            &format!(
                "const a = document.getElementById('call-audio-{}'); return !a.paused && a.currentTime > 0.1;",
                first.id
            ),
            "the second row's recording to play",
        )
        .await;
    assert_eq!(
        browser.script(&paused(second.id)).await,
        Value::Bool(true),
        "starting a recording stops the one playing"
    );
    let pressed = |id: Uuid| {
        format!(
            "return document.querySelector(\"button[data-play='call-audio-{id}']\").getAttribute('aria-pressed');"
        )
    };
    assert_eq!(browser.script(&pressed(first.id)).await, json!("true"));
    assert_eq!(browser.script(&pressed(second.id)).await, json!("false"));
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// The calls list open in the browser: a live call appears at the top without a reload, and its
/// status follows the call to completed.
#[tokio::test]
async fn a_new_call_appears_on_the_open_calls_list() {
    let browser = Driver::start().await;
    let line = crate::live_calls::line(crate::live_calls::gemini_agent(), false).await;
    let app = &line.app;
    browser.goto(&app.url("/login")).await;
    browser.type_into("#email", &line.owner.email).await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;
    assert!(browser.text_of("main").await.contains("No calls yet"));
    browser
        .script("window.notReloaded = true; return null;")
        .await;

    let report = line.call(json!([{"wait_for_hangup": 2000}])).await;
    browser
        .wait_until(
            "const r = document.querySelector('#calls tbody tr'); return !!r && r.querySelector('[data-cell=status]').textContent.trim() === 'completed';",
            "the new call, completed, at the top of the list",
        )
        .await;
    assert!(
        browser
            .text_of("#calls tbody tr")
            .await
            .contains(&report.from),
        "the row shows the caller's number"
    );
    assert_eq!(
        browser.script("return window.notReloaded === true;").await,
        Value::Bool(true)
    );
}
