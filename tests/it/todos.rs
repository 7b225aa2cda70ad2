//! To-dos and contact enrichment after a call: the post-call jobs, enqueued as the recording
//! pipeline enqueues them, run against the sandbox's OpenAI with scripted structured answers;
//! then the review through the API and the page.

use std::time::Duration;

use chrono::Utc;
use loquent::calls::after::{self, kind};
use loquent::contacts::enrich::EnrichContact;
use loquent::entity::{call, contact, job, todo};
use loquent::jobs::{Handler, Outcome, status};
use loquent::todos::extract::ExtractTodos;
use loquent_ai::structured::StructuredClient;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Member, TestApp, api_error, start_sandbox};

const TRANSCRIPT: &str = "Caller: Hi, this is Rosa Diaz from Diaz Bakery. My tap is leaking.\n\
Agent: Sorry to hear that. We will send you a quote.\n\
Caller: Please call me back tomorrow, and mail me at rosa at bakery.";

/// A server whose OpenAI is the sandbox's, with a key; jobs run unless `run_jobs` is false.
async fn app_with_openai(run_jobs: bool) -> TestApp {
    let sandbox = start_sandbox().await;
    let base = sandbox.openai_base_url();
    TestApp::builder()
        .with_existing_sandbox(sandbox)
        .with_settings(&[
            ("LOQUENT_OPENAI_BASE_URL", &base),
            ("LOQUENT_OPENAI_API_KEY", "sk-test"),
            ("LOQUENT_RUN_JOBS", if run_jobs { "true" } else { "false" }),
        ])
        .start()
        .await
}

/// Scripts the sandbox's answer to requests with the schema `schema`.
async fn answer(app: &TestApp, schema: &str, answer: Value) {
    let url = format!(
        "http://{}/sandbox/openai/chat-answers",
        app.sandbox().local_addr()
    );
    let res = reqwest::Client::new()
        .post(url)
        .json(&json!({ "schema": schema, "answer": answer }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn todos_answered(app: &TestApp) {
    answer(
        app,
        "CallTodos",
        json!({ "todos": [
            { "title": "Send Rosa a quote for the leaking tap", "details": "Diaz Bakery", "due": null },
            { "title": "Call Rosa back", "details": null, "due": "2026-12-07" },
        ]}),
    )
    .await;
}

async fn new_contact(app: &TestApp, org_id: Uuid, name: Option<&str>, email: Option<&str>) -> Uuid {
    let now = Utc::now();
    contact::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        name: Set(name.map(str::to_owned)),
        email: Set(email.map(str::to_owned)),
        notes: Set(None),
        company: Set(None),
        source: Set("inbound_call".into()),
        last_contacted_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap()
    .id
}

/// A finished call with a transcript, as the recording pipeline leaves it.
async fn new_call(
    app: &TestApp,
    org_id: Uuid,
    contact_id: Option<Uuid>,
    transcript: Option<&str>,
) -> call::Model {
    let now = Utc::now();
    call::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        phone_number_id: Set(None),
        call_sid: Set(format!("CA{}", Uuid::new_v4().simple())),
        direction: Set("inbound".into()),
        from_number: Set("+15557654321".into()),
        to_number: Set("+15550100200".into()),
        from_to_number: Set("+15557654321".into()),
        contact_id: Set(contact_id),
        status: Set("completed".into()),
        started_at: Set(Some(now)),
        duration_secs: Set(Some(95)),
        recording_sid: Set(Some("RE0123".into())),
        recording_url: Set(None),
        transcription: Set(transcript.map(str::to_owned)),
        transcript_segments: Set(None),
        transcript_source: Set(Some("recording".into())),
        source: Set(Some("phone".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap()
}

/// Enqueues the call's post-call steps in a transaction, as the recording pipeline does.
async fn enqueue(app: &TestApp, call: &call::Model) {
    let tx = app.app.db.begin().await.unwrap();
    after::enqueue_post_call(&tx, call, "RE0123").await.unwrap();
    tx.commit().await.unwrap();
}

/// The call's job of `kind`.
async fn job_of(app: &TestApp, call_id: Uuid, kind: &str) -> job::Model {
    job::Entity::find()
        .filter(job::Column::CallId.eq(call_id))
        .filter(job::Column::Kind.eq(kind))
        .one(&app.app.db)
        .await
        .unwrap()
        .expect("the step was enqueued")
}

/// Waits until the call's job of `kind` has ended; returns it.
async fn finished(app: &TestApp, call_id: Uuid, kind: &str) -> job::Model {
    for _ in 0..200 {
        let job = job_of(app, call_id, kind).await;
        if ![status::QUEUED, status::RUNNING].contains(&job.status.as_str()) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {kind} job did not finish");
}

async fn contact_row(app: &TestApp, id: Uuid) -> contact::Model {
    contact::Entity::find_by_id(id)
        .one(&app.app.db)
        .await
        .unwrap()
        .unwrap()
}

fn client(app: &TestApp) -> StructuredClient {
    StructuredClient::new(app.sandbox().openai_base_url(), "sk-test")
}

async fn post(member: &Member, app: &TestApp, path: &str) -> reqwest::Response {
    member.post_json(app, path, &json!({})).await
}

#[tokio::test]
async fn a_transcript_becomes_todos_to_review_and_fills_the_stub_contact() {
    let app = app_with_openai(true).await;
    todos_answered(&app).await;
    answer(
        &app,
        "ContactDetails",
        json!({ "name": "Rosa Diaz", "email": "rosa at bakery", "company": "Diaz Bakery", "notes": null }),
    )
    .await;
    let owner = app.owner("Acme Plumbing").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let stub = new_contact(&app, org, None, None).await;
    let call = new_call(&app, org, Some(stub), Some(TRANSCRIPT)).await;
    enqueue(&app, &call).await;

    let enriched = finished(&app, call.id, kind::ENRICH_CONTACT).await;
    assert_eq!(enriched.status, status::DONE, "{:?}", enriched.last_error);
    let extracted = finished(&app, call.id, kind::EXTRACT_TODOS).await;
    assert_eq!(extracted.status, status::DONE, "{:?}", extracted.last_error);

    // The stub is filled; the e-mail the model heard is not an address, so it is not saved.
    let filled = contact_row(&app, stub).await;
    assert_eq!(filled.name.as_deref(), Some("Rosa Diaz"));
    assert_eq!(filled.company.as_deref(), Some("Diaz Bakery"));
    assert_eq!(filled.email, None);
    assert_eq!(filled.notes, None);

    let page: Value = owner
        .get_json(&app, "/api/todos?status=pending_review")
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
    let titles: Vec<&str> = items.iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"Call Rosa back"), "{titles:?}");
    for item in items {
        assert_eq!(item["status"], "pending_review");
        assert_eq!(item["call_id"], call.id.to_string());
        assert_eq!(item["contact_id"], stub.to_string());
        assert_eq!(item["contact_name"], "Rosa Diaz");
    }
    let call_back = items
        .iter()
        .find(|t| t["title"] == "Call Rosa back")
        .unwrap();
    assert!(
        call_back["due_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-07T00:00:00")
    );
    let quote = items
        .iter()
        .find(|t| t["title"] != "Call Rosa back")
        .unwrap();
    assert_eq!(quote["details"], "Diaz Bakery");

    // Approve through the API: twice is the same answer.
    let id = call_back["id"].as_str().unwrap();
    for _ in 0..2 {
        let res = post(&owner, &app, &format!("/api/todos/{id}/approve")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let approved: Value = res.json().await.unwrap();
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["contact_name"], "Rosa Diaz");
    }
    // Dismiss the other through the page, then change our mind about the approved one.
    let other = quote["id"].as_str().unwrap();
    let res = owner
        .post_form(
            &app,
            &format!("/todos/{other}/dismiss"),
            &[("back", "pending_review")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/todos?status=pending_review");
    let res = post(&owner, &app, &format!("/api/todos/{id}/dismiss")).await;
    assert_eq!(res.status(), StatusCode::OK);

    let pending: Value = owner
        .get_json(&app, "/api/todos?status=pending_review")
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 0);
    let dismissed: Value = owner.get_json(&app, "/api/todos?status=dismissed").await;
    assert_eq!(dismissed["items"].as_array().unwrap().len(), 2);
    let html = owner.page(&app, "/todos?status=dismissed").await;
    assert!(
        html.contains("Send Rosa a quote for the leaking tap"),
        "{html}"
    );
    assert!(html.contains(&format!("/todos/{id}/approve")), "{html}");
    assert!(!html.contains(&format!("/todos/{id}/dismiss")), "{html}");
    let html = owner.page(&app, "/todos").await;
    assert!(html.contains("Nothing to review"), "{html}");

    // The page's Approve button.
    let res = owner
        .post_form(
            &app,
            &format!("/todos/{other}/approve"),
            &[("back", "dismissed")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let approved: Value = owner.get_json(&app, "/api/todos?status=approved").await;
    assert_eq!(approved["items"][0]["id"], other);
}

#[tokio::test]
async fn another_organizations_todos_are_not_found_and_permissions_are_checked() {
    let app = app_with_openai(false).await;
    let owner = app.owner("Acme Plumbing").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let call = new_call(&app, org, None, Some(TRANSCRIPT)).await;
    let now = Utc::now();
    let theirs = todo::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        call_id: Set(Some(call.id)),
        contact_id: Set(None),
        title: Set("Call back".into()),
        details: Set(None),
        done: Set(false),
        due_at: Set(None),
        completed_at: Set(None),
        status: Set("pending_review".into()),
        job_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap()
    .id;

    let other = app.owner("Other Co").await;
    for action in ["approve", "dismiss"] {
        let res = post(&other, &app, &format!("/api/todos/{theirs}/{action}")).await;
        api_error(res, StatusCode::NOT_FOUND).await;
        let res = other
            .post_form(&app, &format!("/todos/{theirs}/{action}"), &[])
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let listed: Value = other.get_json(&app, "/api/todos").await;
    assert_eq!(listed["items"], json!([]));
    let res = post(
        &owner,
        &app,
        &format!("/api/todos/{}/approve", Uuid::now_v7()),
    )
    .await;
    api_error(res, StatusCode::NOT_FOUND).await;

    let nobody = app.member_with(&owner, &["Call:Collection:List"]).await;
    let res = nobody
        .client
        .get(app.url("/api/todos"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::FORBIDDEN).await;
    let reader = app.member_with(&owner, &["Todo:Collection:List"]).await;
    let listed: Value = reader.get_json(&app, "/api/todos").await;
    assert_eq!(listed["items"][0]["id"], theirs.to_string());
    let res = post(&reader, &app, &format!("/api/todos/{theirs}/approve")).await;
    api_error(res, StatusCode::FORBIDDEN).await;
    let html = reader.page(&app, "/todos").await;
    assert!(html.contains("Call back"));
    assert!(!html.contains("/approve"), "{html}");
    let res = reader
        .post_form(&app, &format!("/todos/{theirs}/approve"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let unchanged: Value = owner.get_json(&app, "/api/todos").await;
    assert_eq!(unchanged["items"][0]["status"], "pending_review");
}

#[tokio::test]
async fn the_list_pages_newest_first_and_checks_its_query() {
    let app = app_with_openai(false).await;
    let owner = app.owner("Acme Plumbing").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let start = Utc::now();
    for i in 0..5 {
        // Two share a creation time: the id orders them.
        let at = start + chrono::Duration::seconds(i64::from(i.min(3)));
        todo::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(org),
            call_id: Set(None),
            contact_id: Set(None),
            title: Set(format!("task {i}")),
            details: Set(None),
            done: Set(false),
            due_at: Set(None),
            completed_at: Set(None),
            status: Set("pending_review".into()),
            job_id: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&app.app.db)
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut path = "/api/todos?limit=2".to_owned();
    loop {
        let page: Value = owner.get_json(&app, &path).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["title"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/todos?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["task 4", "task 3", "task 2", "task 1", "task 0"]);

    for bad in [
        "/api/todos?limit=201",
        "/api/todos?limit=0",
        "/api/todos?limit=many",
        "/api/todos?status=done",
        "/api/todos?cursor=nope",
    ] {
        let res = owner.client.get(app.url(bad)).send().await.unwrap();
        api_error(res, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn an_extraction_job_that_runs_again_adds_nothing() {
    let app = app_with_openai(false).await;
    todos_answered(&app).await;
    let owner = app.owner("Acme Plumbing").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let call = new_call(&app, org, None, Some(TRANSCRIPT)).await;
    enqueue(&app, &call).await;
    let job = job_of(&app, call.id, kind::EXTRACT_TODOS).await;

    let handler = ExtractTodos::new(app.app.db.clone(), Some(client(&app)), "gpt-4o-mini");
    assert_eq!(handler.run(&job).await, Ok(Outcome::Done));
    // Its worker died before marking it done: the job runs again.
    assert_eq!(handler.run(&job).await, Ok(Outcome::Done));
    let rows = todo::Entity::find()
        .filter(todo::Column::CallId.eq(call.id))
        .all(&app.app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|t| t.job_id == Some(job.id)));

    // A call without a transcript has nothing to extract; without a key the step says why.
    let silent = new_call(&app, org, None, None).await;
    enqueue(&app, &silent).await;
    let silent_job = job_of(&app, silent.id, kind::EXTRACT_TODOS).await;
    assert!(matches!(
        handler.run(&silent_job).await,
        Ok(Outcome::Skipped(_))
    ));
    let keyless = ExtractTodos::new(app.app.db.clone(), None, "gpt-4o-mini");
    let other = new_call(&app, org, None, Some(TRANSCRIPT)).await;
    enqueue(&app, &other).await;
    let error = keyless
        .run(&job_of(&app, other.id, kind::EXTRACT_TODOS).await)
        .await
        .unwrap_err();
    assert!(error.contains("OpenAI API key"), "{error}");
}

#[tokio::test]
async fn without_an_openai_key_the_step_fails_and_says_so() {
    let app = TestApp::builder().start().await;
    let owner = app.owner("Acme Plumbing").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let stub = new_contact(&app, org, None, None).await;
    let call = new_call(&app, org, Some(stub), Some(TRANSCRIPT)).await;
    enqueue(&app, &call).await;
    // The runner retries a failing step with a backoff: the first error is already stored.
    for _ in 0..200 {
        let job = job_of(&app, call.id, kind::EXTRACT_TODOS).await;
        if let Some(error) = job.last_error {
            assert!(error.contains("no OpenAI API key"), "{error}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the step never ran");
}

#[tokio::test]
async fn enrichment_fills_only_empty_fields_of_a_stub() {
    let app = app_with_openai(false).await;
    answer(
        &app,
        "ContactDetails",
        json!({ "name": "Rosa Diaz", "email": "Rosa@Bakery.example", "company": "Diaz Bakery", "notes": "Leaking tap" }),
    )
    .await;
    let owner = app.owner("Acme Plumbing").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let handler = EnrichContact::new(app.app.db.clone(), Some(client(&app)), "gpt-4o-mini");

    // A stub whose e-mail a person already typed: the e-mail stays, the rest is filled.
    let stub = new_contact(&app, org, None, Some("kept@example.com")).await;
    let call = new_call(&app, org, Some(stub), Some(TRANSCRIPT)).await;
    enqueue(&app, &call).await;
    let job = job_of(&app, call.id, kind::ENRICH_CONTACT).await;
    assert_eq!(handler.run(&job).await, Ok(Outcome::Done));
    let filled = contact_row(&app, stub).await;
    assert_eq!(filled.name.as_deref(), Some("Rosa Diaz"));
    assert_eq!(filled.email.as_deref(), Some("kept@example.com"));
    assert_eq!(filled.company.as_deref(), Some("Diaz Bakery"));
    assert_eq!(filled.notes.as_deref(), Some("Leaking tap"));

    // A named contact is no stub: the step is skipped and nothing changes.
    let named = new_contact(&app, org, Some("Rosalind"), None).await;
    let call = new_call(&app, org, Some(named), Some(TRANSCRIPT)).await;
    enqueue(&app, &call).await;
    let job = job_of(&app, call.id, kind::ENRICH_CONTACT).await;
    assert!(matches!(handler.run(&job).await, Ok(Outcome::Skipped(_))));
    let kept = contact_row(&app, named).await;
    assert_eq!(kept.name.as_deref(), Some("Rosalind"));
    assert_eq!((kept.email, kept.company), (None, None));

    // No contact on the call: skipped too.
    let call = new_call(&app, org, None, Some(TRANSCRIPT)).await;
    enqueue(&app, &call).await;
    let job = job_of(&app, call.id, kind::ENRICH_CONTACT).await;
    assert!(matches!(handler.run(&job).await, Ok(Outcome::Skipped(_))));
}
