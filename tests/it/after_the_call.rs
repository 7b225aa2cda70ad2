//! One call through every step after it, as an organization lives it: the sandbox's caller talks
//! to the agent on a recorded number; Twilio reports the recording; the job stores the MP3 and
//! transcribes both sides; the analyzer runs; the to-dos wait for review; the stub contact gets
//! a name; the report reaches a real SMTP server (aiosmtpd); the recording is gone from Twilio.

use std::time::{Duration, Instant};

use loquent::entity::{call, call_analysis, contact, job, todo};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::live_calls::line_with;
use crate::recordings::recording_on_twilio;
use crate::reports::Smtp;

const PROMPT: &str = "Was the caller satisfied? Answer in one sentence.";

async fn canned(base: &str, schema: &str, answer: Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/sandbox/openai/chat-answers"))
        .json(&json!({"schema": schema, "answer": answer}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_recorded_call_is_transcribed_analyzed_turned_into_todos_and_reported() {
    let smtp = Smtp::start().await;
    let line = line_with(
        json!({"provider": "gemini", "tools": {"end_call": true}}),
        true,
        &[
            ("LOQUENT_SMTP_URL", &smtp.url()),
            ("LOQUENT_MAIL_FROM", "Loquent <reports@loquent.example.com>"),
        ],
    )
    .await;
    let (app, owner) = (&line.app, &line.owner);
    let res = owner
        .post_json(
            app,
            "/api/analyzers",
            &json!({"name": "Satisfaction", "prompt": PROMPT, "phone_number_ids": [line.phone_id]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = owner
        .post_json(
            app,
            "/api/report-recipients",
            &json!({"email": "team@acme.example"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // What the model answers (the emulator cannot hear the call; the rest is the real path).
    let base = line.sandbox.twilio_api_base();
    canned(
        &base,
        "call_analysis",
        json!({"analysis": "Satisfied: a plumber comes on Tuesday."}),
    )
    .await;
    canned(
        &base,
        "CallTodos",
        json!({"todos": [{"title": "Book the Tuesday visit", "details": "Boiler leak", "due": null}]}),
    )
    .await;
    canned(
        &base,
        "ContactDetails",
        json!({"name": "Rosa Diaz", "email": "rosa@bakery.example", "company": "Diaz Bakery", "notes": null}),
    )
    .await;

    let report = line
        .call(json!([
            {"wait_for_reply": 5000},
            {"say": "hello", "ms": 800},
            {"wait_for_reply": 5000},
            {"silence": 500}
        ]))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.twiml[0].contains("<Recording"),
        "{}",
        report.twiml[0]
    );
    let recording_sid = report.recordings[0].sid.clone();

    // Every step of the call ends; none fails.
    let deadline = Instant::now() + Duration::from_secs(90);
    let row = loop {
        let row = call::Entity::find()
            .filter(call::Column::CallSid.eq(&report.call_sid))
            .one(&app.app.db)
            .await
            .unwrap();
        if let Some(row) = row {
            let jobs = job::Entity::find()
                .filter(job::Column::CallId.eq(row.id))
                .all(&app.app.db)
                .await
                .unwrap();
            let open = jobs
                .iter()
                .any(|j| j.status == "queued" || j.status == "running");
            if jobs.len() == 5 && !open {
                for j in &jobs {
                    assert_eq!(j.status, "done", "{}: {:?}", j.kind, j.last_error);
                }
                break row;
            }
        }
        assert!(Instant::now() < deadline, "the call's steps did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The recording: stored here, transcribed by side, gone from Twilio.
    let org_id = owner.org_id();
    let key = format!("{org_id}/recordings/{}.mp3", report.call_sid);
    assert_eq!(row.recording_url.as_deref(), Some(key.as_str()));
    let mp3 = std::fs::read(app.app.config.data_dir.join("storage").join(&key)).unwrap();
    assert!(mp3.len() > 1_000);
    let text = row.transcription.clone().unwrap();
    assert!(
        text.contains("Caller: ") && text.contains("Agent: "),
        "{text}"
    );
    assert!(recording_on_twilio(&line, &recording_sid).await.is_none());

    // The analyzer's run, the to-do to review, the contact named.
    let runs = call_analysis::Entity::find()
        .filter(call_analysis::Column::CallId.eq(row.id))
        .all(&app.app.db)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].analysis_text,
        "Satisfied: a plumber comes on Tuesday."
    );
    let todos = todo::Entity::find()
        .filter(todo::Column::CallId.eq(row.id))
        .order_by_asc(todo::Column::CreatedAt)
        .all(&app.app.db)
        .await
        .unwrap();
    assert_eq!(todos.len(), 1);
    assert_eq!(todos[0].title, "Book the Tuesday visit");
    assert_eq!(todos[0].status, "pending_review");
    let who = contact::Entity::find_by_id(row.contact_id.expect("the caller's contact"))
        .one(&app.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.name.as_deref(), Some("Rosa Diaz"));
    assert_eq!(who.email.as_deref(), Some("rosa@bakery.example"));
    assert_eq!(who.company.as_deref(), Some("Diaz Bakery"));

    // The report, once, with all of it and a link to the call.
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    assert_eq!(m["to"], "team@acme.example");
    for part in [m["text"].as_str().unwrap(), m["html"].as_str().unwrap()] {
        for wanted in [
            "Rosa Diaz",
            "Satisfaction",
            "Satisfied: a plumber comes on Tuesday.",
            "Book the Tuesday visit",
            "Caller: ",
            &line.account.numbers[0].phone_number,
            &app.url(&format!("/calls/{}", row.id)),
        ] {
            assert!(part.contains(wanted), "{wanted:?} missing from:\n{part}");
        }
    }
}
