//! The e-mailed call report, end to end: recipients through the API and Settings → Reports, the
//! report job waiting for its round's other steps, and a real SMTP server (aiosmtpd, storing
//! what it receives in a Maildir) that the message must reach.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use loquent::calls::after::{CallJob, STEP_ATTEMPTS, kind};
use loquent::entity::{analyzer, call, call_analysis, contact, job, todo};
use loquent::jobs::{self, NewJob, status};
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Member, ServerProcess, TestApp, api_error, free_port, venv_program};

const CALLER: &str = "+15557654321";
const OUR_NUMBER: &str = "+15550100200";
const ROUND: &str = "RE0123456789abcdef0123456789abcdef";

/// An aiosmtpd server whose `Mailbox` handler stores each message in a Maildir.
pub struct Smtp {
    server: ServerProcess,
    dir: tempfile::TempDir,
}

impl Smtp {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("mail");
        let server = ServerProcess::start(
            &venv_program("python"),
            &[
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                "127.0.0.1:{port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                maildir.to_str().expect("a UTF-8 path"),
            ],
        )
        .await;
        Self { server, dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.server.port)
    }

    /// Waits (up to 20 s) until at least `n` messages have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{n} messages did not arrive (have {})",
                messages.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The messages received, parsed by Python's `email` package: headers (with aiosmtpd's
    /// `X-RcptTo`, the envelope's recipients), content type and the decoded text and HTML parts.
    pub fn messages(&self) -> Vec<Value> {
        const PARSE: &str = r#"
import email, json, os, sys
from email import policy
new = os.path.join(sys.argv[1], "new")
out = []
for name in sorted(os.listdir(new)) if os.path.isdir(new) else []:
    with open(os.path.join(new, name), "rb") as f:
        m = email.message_from_binary_file(f, policy=policy.default)
    parts = {p.get_content_type(): p.get_content() for p in m.walk() if not p.is_multipart()}
    out.append({"to": str(m["To"]), "from": str(m["From"]), "subject": str(m["Subject"]),
                "rcpt": str(m["X-RcptTo"]), "content_type": m.get_content_type(),
                "text": parts.get("text/plain"), "html": parts.get("text/html")})
print(json.dumps(out))
"#;
        let maildir: PathBuf = self.dir.path().join("mail");
        let output = std::process::Command::new(venv_program("python"))
            .args(["-c", PARSE])
            .arg(&maildir)
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("JSON from the parser")
    }
}

/// A finished inbound call from Rosa Diaz with a transcript, two analyzers' runs (one analyzer
/// ran twice) and two to-dos, inserted as the pipeline's steps would leave them.
async fn finished_call(app: &TestApp, org_id: Uuid) -> Uuid {
    let db = &app.app.db;
    let now = Utc::now();
    let contact_id = Uuid::now_v7();
    contact::ActiveModel {
        id: Set(contact_id),
        organization_id: Set(org_id),
        name: Set(Some("Rosa Diaz".to_owned())),
        email: Set(None),
        notes: Set(None),
        company: Set(None),
        source: Set("inbound_call".to_owned()),
        last_contacted_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let transcript: String = (1..=12)
        .map(|i| {
            if i == 2 {
                "Caller: my <boiler> is leaking & I need help\n".to_owned()
            } else {
                format!("Line {i} of the conversation\n")
            }
        })
        .collect();
    let call_id = Uuid::now_v7();
    call::ActiveModel {
        id: Set(call_id),
        organization_id: Set(org_id),
        phone_number_id: Set(None),
        call_sid: Set(format!("CA{}", call_id.simple())),
        direction: Set("inbound".to_owned()),
        from_number: Set(CALLER.to_owned()),
        to_number: Set(OUR_NUMBER.to_owned()),
        from_to_number: Set(CALLER.to_owned()),
        contact_id: Set(Some(contact_id)),
        status: Set("completed".to_owned()),
        started_at: Set(Some(now)),
        duration_secs: Set(Some(127)),
        recording_sid: Set(Some(ROUND.to_owned())),
        recording_url: Set(None),
        transcription: Set(Some(transcript)),
        transcript_segments: Set(None),
        transcript_source: Set(Some("recording".to_owned())),
        source: Set(Some("phone".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let mut analyzer_ids = Vec::new();
    for name in ["Summary", "Sentiment"] {
        let id = Uuid::now_v7();
        analyzer::ActiveModel {
            id: Set(id),
            organization_id: Set(org_id),
            name: Set(name.to_owned()),
            prompt: Set(format!("{name} of the call")),
            is_default: Set(false),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .unwrap();
        analyzer_ids.push(id);
    }
    let runs = [
        (
            analyzer_ids[0],
            "An older summary",
            now - chrono::Duration::minutes(5),
        ),
        (analyzer_ids[0], "Boiler leak; wants a visit", now),
        (analyzer_ids[1], "Worried but polite", now),
    ];
    for (analyzer_id, text, at) in runs {
        call_analysis::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(org_id),
            call_id: Set(call_id),
            analyzer_id: Set(analyzer_id),
            analysis_text: Set(text.to_owned()),
            job_id: Set(None),
            created_at: Set(at),
        }
        .insert(db)
        .await
        .unwrap();
    }
    for (title, state) in [
        ("Book a plumber", "pending_review"),
        ("Send the quote", "approved"),
    ] {
        todo::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(org_id),
            call_id: Set(Some(call_id)),
            contact_id: Set(Some(contact_id)),
            title: Set(title.to_owned()),
            details: Set(None),
            done: Set(false),
            due_at: Set(None),
            completed_at: Set(None),
            status: Set(state.to_owned()),
            job_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .unwrap();
    }
    call_id
}

/// Enqueues the report job of `call_id`'s round as `enqueue_post_call` does (same payload and
/// dedupe key), in one transaction with a sibling to-do step that is not due for an hour (so no
/// handler of another branch runs it here); returns (report job, sibling job).
async fn enqueue_report(app: &TestApp, org_id: Uuid, call_id: Uuid) -> (Uuid, Uuid) {
    let payload = serde_json::to_value(CallJob {
        call_id,
        round: ROUND.to_owned(),
    })
    .unwrap();
    let step = |kind: &str, run_at| NewJob {
        kind: kind.to_owned(),
        organization_id: Some(org_id),
        call_id: Some(call_id),
        payload: payload.clone(),
        dedupe_key: Some(format!("{kind}:{call_id}:{ROUND}")),
        run_at,
        max_attempts: STEP_ATTEMPTS,
    };
    let tx = app.app.db.begin().await.unwrap();
    let sibling = jobs::enqueue(
        &tx,
        step(kind::EXTRACT_TODOS, Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    let report = jobs::enqueue(&tx, step(kind::SEND_REPORT, Utc::now()))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.app.jobs_wake.notify_one();
    (report.id, sibling.id)
}

async fn job_row(app: &TestApp, id: Uuid) -> job::Model {
    job::Entity::find_by_id(id)
        .one(&app.app.db)
        .await
        .unwrap()
        .expect("the job")
}

/// The job once it ended (done, skipped or failed), within 30 s.
async fn finished(app: &TestApp, id: Uuid) -> job::Model {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = job_row(app, id).await;
        if [status::DONE, status::SKIPPED, status::FAILED].contains(&row.status.as_str()) {
            return row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job still {} after 30 s: {:?}",
            row.status,
            row.last_error
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mark_done(app: &TestApp, id: Uuid) {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status::DONE))
        .filter(job::Column::Id.eq(id))
        .exec(&app.app.db)
        .await
        .unwrap();
}

async fn add_recipient(app: &TestApp, member: &Member, email: &str) -> reqwest::Response {
    member
        .post_json(app, "/api/report-recipients", &json!({ "email": email }))
        .await
}

async fn mailing_app(smtp: &Smtp) -> TestApp {
    TestApp::builder()
        .with_settings(&[
            ("LOQUENT_SMTP_URL", &smtp.url()),
            ("LOQUENT_PUBLIC_URL", "https://loquent.example.com"),
            (
                "LOQUENT_MAIL_FROM",
                "Loquent Reports <reports@loquent.example.com>",
            ),
        ])
        .start()
        .await
}

#[tokio::test]
async fn a_call_report_reaches_the_recipients_once_the_other_steps_are_over() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Plumbing Co").await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    let res = add_recipient(&app, &owner, " Team@Plumbing.example ").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let added: Value = res.json().await.unwrap();
    assert_eq!(added["email"], "team@plumbing.example");
    let call_id = finished_call(&app, org_id).await;

    let (report, sibling) = enqueue_report(&app, org_id, call_id).await;
    // The to-do step of the round is still queued: the report waits for it, sending nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = job_row(&app, report).await;
    assert_eq!(waiting.status, status::QUEUED, "{:?}", waiting.last_error);
    assert_eq!(waiting.attempts, 0, "waiting is not an attempt");
    assert!(smtp.messages().is_empty());

    mark_done(&app, sibling).await;
    let done = finished(&app, report).await;
    assert_eq!(done.status, status::DONE, "{:?}", done.last_error);

    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    assert_eq!(m["to"], "team@plumbing.example");
    assert_eq!(
        m["rcpt"], "team@plumbing.example",
        "the envelope's only recipient"
    );
    assert_eq!(m["from"], "Loquent Reports <reports@loquent.example.com>");
    assert_eq!(m["content_type"], "multipart/alternative");
    assert_eq!(
        m["subject"],
        format!("Call from {CALLER} (Rosa Diaz) · 2 min 7 s")
    );
    let link = format!("https://loquent.example.com/calls/{call_id}");
    let text = m["text"].as_str().expect("a plain-text part");
    let html = m["html"].as_str().expect("an HTML part");
    for part in [text, html] {
        for wanted in [
            "Rosa Diaz",
            CALLER,
            OUR_NUMBER,
            "2 min 7 s",
            "Line 1 of the conversation",
            "Line 10 of the conversation",
            "Summary",
            "Boiler leak; wants a visit",
            "Sentiment",
            "Worried but polite",
            "Book a plumber",
            "to review",
            "Send the quote",
            "approved",
            &link,
        ] {
            assert!(part.contains(wanted), "{wanted:?} missing from:\n{part}");
        }
        // Each analyzer's latest run only, and only the excerpt of the transcript.
        assert!(!part.contains("An older summary"), "{part}");
        assert!(!part.contains("Line 11"), "{part}");
    }
    assert!(text.contains("Caller: my <boiler> is leaking & I need help"));
    assert!(
        html.contains("Caller: my &#60;boiler&#62; is leaking &#38; I need help")
            || html.contains("Caller: my &lt;boiler&gt; is leaking &amp; I need help"),
        "{html}"
    );
    assert!(!html.contains("<boiler>"));
}

#[tokio::test]
async fn without_recipients_the_report_is_skipped_with_its_reason() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Quiet Co").await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    // Another organization's recipient receives nothing about this one's calls.
    let other = app.owner("Other Co").await;
    assert_eq!(
        add_recipient(&app, &other, "other@example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
    let call_id = finished_call(&app, org_id).await;
    let (report, sibling) = enqueue_report(&app, org_id, call_id).await;
    mark_done(&app, sibling).await;
    let ended = finished(&app, report).await;
    assert_eq!(ended.status, status::SKIPPED);
    assert_eq!(
        ended.last_error.as_deref(),
        Some("no report recipients are set (Settings → Reports)")
    );
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn an_unreachable_smtp_server_fails_the_attempt_with_a_reason_and_no_password() {
    let url = format!("smtp://reports:hunter2@127.0.0.1:{}", free_port());
    let app = TestApp::builder()
        .with_setting("LOQUENT_SMTP_URL", &url)
        .start()
        .await;
    let owner = app.owner("Down Co").await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    assert_eq!(
        add_recipient(&app, &owner, "team@example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
    let call_id = finished_call(&app, org_id).await;
    let (report, sibling) = enqueue_report(&app, org_id, call_id).await;
    mark_done(&app, sibling).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let row = loop {
        let row = job_row(&app, report).await;
        if row.attempts > 0 && row.status != status::RUNNING {
            break row;
        }
        assert!(std::time::Instant::now() < deadline, "no attempt ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Retried later (attempts remain), with a reason a person can act on.
    assert_eq!(row.status, status::QUEUED);
    let error = row.last_error.unwrap_or_default();
    assert!(
        error.starts_with("the message could not be sent through the SMTP server"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[tokio::test]
async fn without_an_smtp_server_the_report_is_skipped_and_the_page_says_so() {
    let app = TestApp::new().await;
    let owner = app.owner("No Mail Co").await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    assert_eq!(
        add_recipient(&app, &owner, "team@example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
    let page = owner.page(&app, "/settings/reports").await;
    assert!(page.contains("id=\"no-smtp\""), "{page}");
    assert!(page.contains("LOQUENT_SMTP_URL"), "{page}");

    let call_id = finished_call(&app, org_id).await;
    let (report, sibling) = enqueue_report(&app, org_id, call_id).await;
    mark_done(&app, sibling).await;
    let ended = finished(&app, report).await;
    assert_eq!(ended.status, status::SKIPPED);
    assert_eq!(
        ended.last_error.as_deref(),
        Some("no SMTP server is configured (LOQUENT_SMTP_URL)")
    );
}

#[tokio::test]
async fn recipients_are_checked_unique_scoped_and_permissioned() {
    let app = TestApp::new().await;
    let owner = app.owner("Recipients Co").await;

    let bad = add_recipient(&app, &owner, "not an address").await;
    let message = api_error(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(message.contains("not a valid e-mail address"), "{message}");

    let res = add_recipient(&app, &owner, "ops@example.com").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ops: Value = res.json().await.unwrap();
    let twice = add_recipient(&app, &owner, "OPS@example.com").await;
    assert_eq!(
        api_error(twice, StatusCode::CONFLICT).await,
        "ops@example.com already receives the call reports"
    );
    let listed: Vec<Value> = owner.get_json(&app, "/api/report-recipients").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], ops["id"]);

    // Another organization neither sees nor removes it.
    let stranger = app.owner("Stranger Co").await;
    let theirs: Vec<Value> = stranger.get_json(&app, "/api/report-recipients").await;
    assert!(theirs.is_empty());
    let path = format!("/api/report-recipients/{}", ops["id"].as_str().unwrap());
    let res = stranger.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A member may do what their role allows, no more.
    let reader = app.member_with(&owner, &["Report:Collection:List"]).await;
    let seen: Vec<Value> = reader.get_json(&app, "/api/report-recipients").await;
    assert_eq!(seen.len(), 1);
    let res = add_recipient(&app, &reader, "more@example.com").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = reader.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let nobody = app.member_with(&owner, &["Agent:Collection:List"]).await;
    let res = nobody
        .client
        .get(app.url("/api/report-recipients"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = owner.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let listed: Vec<Value> = owner.get_json(&app, "/api/report-recipients").await;
    assert!(listed.is_empty());
}

#[tokio::test]
async fn the_settings_page_adds_and_removes_recipients() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Pages Co").await;
    let overview = owner.page(&app, "/settings").await;
    assert!(
        overview.contains("href=\"/settings/reports\""),
        "{overview}"
    );

    let page = owner.page(&app, "/settings/reports").await;
    assert!(!page.contains("id=\"no-smtp\""), "{page}");
    assert!(page.contains("No recipients yet"), "{page}");

    let res = owner
        .post_form(&app, "/settings/reports", &[("email", "desk@example.com")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = owner.page(&app, "/settings/reports").await;
    assert!(page.contains("desk@example.com"), "{page}");

    let res = owner
        .post_form(&app, "/settings/reports", &[("email", "desk@example.com")])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("desk@example.com already receives the call reports"),
        "{body}"
    );

    let listed: Vec<Value> = owner.get_json(&app, "/api/report-recipients").await;
    let id = listed[0]["id"].as_str().unwrap();
    let res = owner
        .post_form(&app, &format!("/settings/reports/{id}/remove"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = owner.page(&app, "/settings/reports").await;
    assert!(!page.contains("desk@example.com"), "{page}");

    // Without the permission the page is refused.
    let nobody = app
        .member_with_mailed(&owner, &["Agent:Collection:List"], &smtp)
        .await;
    let res = nobody
        .client
        .get(app.url("/settings/reports"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
