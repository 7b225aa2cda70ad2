//! Analyzers through the API and the dashboard (create, read, replace, delete; every bad field
//! at once; another organization's numbers and analyzers out of reach; permissions; defaults
//! attached to new numbers), and their run over a call's transcript as a job against the
//! sandbox's chat model: appended, never overwritten, once per job.

use std::time::Duration;

use chrono::Utc;
use loquent::calls::after::{self, AnalyzerJob};
use loquent::entity::{call, call_analysis, job};
use loquent::jobs::{self, NewJob, status};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Member, TestApp, TwilioOwner};

const TRANSCRIPT: &str = "Caller: Hi, my kitchen tap has been leaking since Monday.\n\
Agent: Sorry to hear that. I can book a plumber for Thursday morning.\n\
Caller: Thursday works. Thanks, that was quick!";

fn analyzer(name: &str, phone_ids: &[&Value]) -> Value {
    json!({
        "name": name,
        "prompt": "Was the caller satisfied? Answer in one sentence.",
        "active": true,
        "is_default": false,
        "phone_number_ids": phone_ids.iter().map(|p| p["id"].clone()).collect::<Vec<_>>(),
    })
}

async fn create(app: &TestApp, member: &Member, body: &Value) -> Value {
    let res = member.post_json(app, "/api/analyzers", body).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap_or_default()
    );
    res.json().await.unwrap()
}

async fn send(
    app: &TestApp,
    member: &Member,
    method: reqwest::Method,
    id: &str,
    body: &Value,
) -> reqwest::Response {
    member
        .client
        .request(method, app.url(&format!("/api/analyzers/{id}")))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The 422 body's `error.fields` as (field, message) pairs.
async fn field_errors(res: reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_input");
    body["error"]["fields"]
        .as_array()
        .expect("error.fields")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("an id")
}

#[tokio::test]
async fn an_analyzer_is_created_read_replaced_and_deleted() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 31).await;
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert!(list.is_empty());

    let created = create(&app, &owner, &analyzer("  Satisfaction ", &[&phones[0]])).await;
    assert_eq!(created["name"], "Satisfaction", "trimmed");
    assert_eq!(
        created["prompt"],
        "Was the caller satisfied? Answer in one sentence."
    );
    assert_eq!(created["active"], true);
    assert_eq!(created["is_default"], false);
    assert_eq!(created["phone_number_ids"], json!([phones[0]["id"]]));
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    let read: Value = owner
        .get_json(&app, &format!("/api/analyzers/{}", id(&created)))
        .await;
    assert_eq!(read, created);
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert_eq!(list, vec![created.clone()]);

    // A minimal body: active unless said otherwise, no numbers.
    let minimal = create(
        &app,
        &owner,
        &json!({"name": "Summary", "prompt": "Summarize the call."}),
    )
    .await;
    assert_eq!(minimal["active"], true);
    assert_eq!(minimal["phone_number_ids"], json!([]));

    // Replace everything: paused, default for new numbers, the other number instead.
    let res = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        id(&created),
        &json!({
            "name": "Satisfaction (short)",
            "prompt": "One word: happy or unhappy?",
            "active": false,
            "is_default": true,
            "phone_number_ids": [phones[1]["id"], phones[1]["id"]],
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["name"], "Satisfaction (short)");
    assert_eq!(updated["prompt"], "One word: happy or unhappy?");
    assert_eq!(updated["active"], false);
    assert_eq!(updated["is_default"], true);
    assert_eq!(
        updated["phone_number_ids"],
        json!([phones[1]["id"]]),
        "detached from the first, attached once to the second"
    );
    assert_eq!(updated["created_at"], created["created_at"]);
    let read: Value = owner
        .get_json(&app, &format!("/api/analyzers/{}", id(&created)))
        .await;
    assert_eq!(read, updated);

    let res = send(
        &app,
        &owner,
        reqwest::Method::DELETE,
        id(&created),
        &json!({}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = send(&app, &owner, reqwest::Method::GET, id(&created), &json!({})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = send(
        &app,
        &owner,
        reqwest::Method::DELETE,
        id(&created),
        &json!({}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert_eq!(list, vec![minimal]);
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;

    let fields = field_errors(owner.post_json(&app, "/api/analyzers", &json!({})).await).await;
    assert_eq!(
        fields,
        vec![
            (
                "name".to_owned(),
                "give the analyzer a name of 1 to 100 characters".to_owned()
            ),
            (
                "prompt".to_owned(),
                "write what the analyzer should look for in each call".to_owned()
            ),
        ]
    );

    let longest = "n".repeat(100);
    let res = owner
        .post_json(
            &app,
            "/api/analyzers",
            &json!({"name": format!("{longest}n"), "prompt": "p".repeat(20_001)}),
        )
        .await;
    let fields = field_errors(res).await;
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields[0].0, "name");
    assert_eq!(fields[1].0, "prompt");
    assert!(fields[1].1.contains("20000"), "{}", fields[1].1);

    // A number that does not exist, next to a bad name: both reported.
    let nowhere = Uuid::now_v7();
    let res = owner
        .post_json(
            &app,
            "/api/analyzers",
            &json!({"name": "", "prompt": "p", "phone_number_ids": [nowhere]}),
        )
        .await;
    let fields = field_errors(res).await;
    assert_eq!(fields[0].0, "name");
    assert_eq!(fields[1].0, "phone_number_ids");
    assert!(
        fields[1].1.contains(&nowhere.to_string()),
        "{}",
        fields[1].1
    );

    // The bounds themselves are fine.
    let ok = create(
        &app,
        &owner,
        &json!({"name": longest, "prompt": "p".repeat(20_000)}),
    )
    .await;

    // An update with bad fields changes nothing.
    let res = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        id(&ok),
        &json!({"name": " ", "prompt": "x"}),
    )
    .await;
    assert_eq!(field_errors(res).await[0].0, "name");
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert_eq!(list, vec![ok]);
}

#[tokio::test]
async fn another_organizations_numbers_and_analyzers_are_out_of_reach() {
    let app = TestApp::builder().with_sandbox().start().await;
    let acme = app.owner_on_twilio("Acme", 1, 32).await;
    let globex = app.owner_on_twilio("Globex", 1, 33).await;

    // Acme cannot attach Globex's number, on create or on update.
    let res = acme
        .owner
        .post_json(
            &app,
            "/api/analyzers",
            &analyzer("Sneaky", &[&acme.phones[0], &globex.phones[0]]),
        )
        .await;
    let fields = field_errors(res).await;
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "phone_number_ids");
    assert_eq!(
        fields[0].1,
        format!(
            "not a phone number of this organization: {}",
            id(&globex.phones[0])
        )
    );
    let list: Vec<Value> = acme.owner.get_json(&app, "/api/analyzers").await;
    assert!(list.is_empty(), "nothing was saved");

    let mine = create(&app, &acme.owner, &analyzer("Mine", &[&acme.phones[0]])).await;
    let res = send(
        &app,
        &acme.owner,
        reqwest::Method::PUT,
        id(&mine),
        &analyzer("Mine", &[&globex.phones[0]]),
    )
    .await;
    assert_eq!(field_errors(res).await[0].0, "phone_number_ids");

    // Globex sees nothing of Acme's analyzer.
    let list: Vec<Value> = globex.owner.get_json(&app, "/api/analyzers").await;
    assert!(list.is_empty());
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let res = send(
            &app,
            &globex.owner,
            method.clone(),
            id(&mine),
            &analyzer("Taken", &[&globex.phones[0]]),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["message"], "analyzer not found");
    }
    let res = globex
        .owner
        .client
        .get(app.url(&format!("/analyzers/{}", id(&mine))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the edit page too");
    let unchanged: Value = acme
        .owner
        .get_json(&app, &format!("/api/analyzers/{}", id(&mine)))
        .await;
    assert_eq!(unchanged, mine);
}

#[tokio::test]
async fn each_action_needs_its_permission() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let made = create(&app, &owner, &analyzer("Satisfaction", &[])).await;
    let path = format!("/api/analyzers/{}", id(&made));

    let nobody = app.member_with(&owner, &[]).await;
    for page in ["/api/analyzers", "/analyzers"] {
        let res = nobody.client.get(app.url(page)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{page}");
    }

    let lister = app.member_with(&owner, &["Analyzer:Collection:List"]).await;
    let list: Vec<Value> = lister.get_json(&app, "/api/analyzers").await;
    assert_eq!(list.len(), 1);
    let html = lister.page(&app, "/analyzers").await;
    assert!(html.contains("Satisfaction"));
    assert!(
        !html.contains("/analyzers/new"),
        "no New analyzer link without Create"
    );
    let res = lister
        .post_json(&app, "/api/analyzers", &analyzer("More", &[]))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Analyzer:Collection:Create")
    );
    for (method, needs) in [
        (reqwest::Method::GET, "Analyzer:Instance:Read"),
        (reqwest::Method::PUT, "Analyzer:Instance:Update"),
        (reqwest::Method::DELETE, "Analyzer:Instance:Delete"),
    ] {
        let res = lister
            .client
            .request(method.clone(), app.url(&path))
            .json(&analyzer("Changed", &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(needs));
    }
    for page in ["/analyzers/new".to_owned(), path.replace("/api", "")] {
        let res = lister.client.get(app.url(&page)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{page}");
    }

    // Read without Update or Delete: the form is shown, but cannot be saved or deleted.
    let reader = app
        .member_with(
            &owner,
            &["Analyzer:Collection:List", "Analyzer:Instance:Read"],
        )
        .await;
    let html = reader.page(&app, &path.replace("/api", "")).await;
    assert!(html.contains("Satisfaction"));
    assert!(html.contains(" disabled"));
    assert!(!html.contains("id=\"save\""));
    assert!(!html.contains("/delete"));
    for (to, fields) in [
        (
            path.replace("/api", ""),
            vec![("name", "Hijacked"), ("prompt", "x")],
        ),
        (format!("{}/delete", path.replace("/api", "")), vec![]),
    ] {
        let res = reader.post_form(&app, &to, &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{to}");
    }
    let unchanged: Value = owner.get_json(&app, &path).await;
    assert_eq!(unchanged, made);
}

#[tokio::test]
async fn active_default_analyzers_are_attached_to_numbers_imported_or_bought_later() {
    let app = TestApp::builder().with_sandbox().start().await;
    let owner = app.owner("Acme").await;
    let default = create(
        &app,
        &owner,
        &json!({"name": "Default", "prompt": "p", "is_default": true}),
    )
    .await;
    let paused = create(
        &app,
        &owner,
        &json!({"name": "Paused default", "prompt": "p", "is_default": true, "active": false}),
    )
    .await;
    let other = create(&app, &owner, &json!({"name": "Other", "prompt": "p"})).await;
    let account = app.twilio_account(2, 34).await;
    let phones = app.connect_and_import(&owner, &account).await;
    assert_eq!(phones.len(), 2);

    let res = owner
        .post_json(
            &app,
            "/api/twilio/search-available-numbers",
            &json!({"area_code": "415"}),
        )
        .await;
    let offers: Vec<Value> = res.json().await.unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/twilio/buy-phone-number",
            &json!({"phone_number": offers[0]["phone_number"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bought: Value = res.json().await.unwrap();

    let attached = |a: &Value| {
        let path = format!("/api/analyzers/{}", id(a));
        let owner = &owner;
        let app = &app;
        async move {
            let read: Value = owner.get_json(app, &path).await;
            let mut ids: Vec<String> = read["phone_number_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    let mut expected: Vec<String> = phones
        .iter()
        .chain([&bought])
        .map(|p| id(p).to_owned())
        .collect();
    expected.sort();
    assert_eq!(attached(&default).await, expected);
    assert!(attached(&paused).await.is_empty(), "paused: not attached");
    assert!(attached(&other).await.is_empty(), "not a default");
}

#[tokio::test]
async fn the_analyzer_pages_create_edit_attach_and_delete_through_forms() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 35).await;
    let (first, second) = (id(&phones[0]).to_owned(), id(&phones[1]).to_owned());
    let token = owner.csrf(&app).await;
    let empty = owner.page(&app, "/analyzers").await;
    assert!(empty.contains("No analyzers yet."));
    assert!(empty.contains("href=\"/analyzers/new\""));

    let new = owner.page(&app, "/analyzers/new").await;
    assert!(new.contains("action=\"/analyzers\""));
    assert!(new.contains(&format!("name=\"phone_number_id\" value=\"{first}\"")));
    assert!(new.contains("name=\"active\" id=\"active\" checked"));

    // A bad form comes back as typed, each problem in place, nothing saved.
    let res = owner
        .client
        .post(app.url("/analyzers"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", ""),
            ("prompt", "Did the <caller> book a visit?"),
            ("is_default", "on"),
            ("phone_number_id", second.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"error-name\""), "{html}");
    assert!(html.contains("give the analyzer a name of 1 to 100 characters"));
    assert!(html.contains("aria-describedby=\"error-name\""));
    assert!(
        !html.contains("id=\"error-prompt\""),
        "only bad fields are marked"
    );
    assert!(
        html.contains("Did the &#60;caller&#62; book a visit?")
            || html.contains("Did the &lt;caller&gt; book a visit?")
    );
    assert!(html.contains(&format!("value=\"{second}\" checked")));
    assert!(!html.contains(&format!("value=\"{first}\" checked")));
    assert!(
        !html.contains("name=\"active\" id=\"active\" checked"),
        "unchecked stays unchecked"
    );
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert!(list.is_empty());

    // Fixed: saved, and listed with its number.
    let res = owner
        .client
        .post(app.url("/analyzers"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Booked"),
            ("prompt", "Did the caller book a visit?"),
            ("active", "on"),
            ("is_default", "on"),
            ("phone_number_id", second.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/analyzers?done=created");
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert_eq!(list.len(), 1);
    let made = &list[0];
    assert_eq!(made["name"], "Booked");
    assert_eq!(made["active"], true);
    assert_eq!(made["is_default"], true);
    assert_eq!(made["phone_number_ids"], json!([second]));
    let page = format!("/analyzers/{}", id(made));
    let listing = owner.page(&app, "/analyzers").await;
    assert!(listing.contains(&format!("href=\"{page}\"")));
    assert!(listing.contains(phones[1]["number"].as_str().unwrap()));

    // Edit: both numbers, paused.
    let edit = owner.page(&app, &page).await;
    assert!(edit.contains(&format!("value=\"{second}\" checked")));
    assert!(edit.contains("data-confirm=\"Delete the analyzer Booked?"));
    let res = owner
        .client
        .post(app.url(&page))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Booked a visit"),
            ("prompt", "Did the caller book a visit?"),
            ("phone_number_id", first.as_str()),
            ("phone_number_id", second.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let read: Value = owner.get_json(&app, &format!("/api{page}")).await;
    assert_eq!(read["name"], "Booked a visit");
    assert_eq!(read["active"], false);
    assert_eq!(read["is_default"], false);
    let mut ids: Vec<&str> = read["phone_number_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut both = vec![first.as_str(), second.as_str()];
    both.sort_unstable();
    assert_eq!(ids, both);
    let listing = owner.page(&app, "/analyzers").await;
    assert!(listing.contains("<td>paused</td>"));

    // Delete, from the page's own form.
    let res = owner
        .client
        .post(app.url(&format!("{page}/delete")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert!(list.is_empty());
    // Without the form's token, nothing happens.
    let again = create(&app, &owner, &analyzer("Kept", &[])).await;
    let res = owner
        .client
        .post(app.url(&format!("/analyzers/{}/delete", id(&again))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let list: Vec<Value> = owner.get_json(&app, "/api/analyzers").await;
    assert_eq!(list.len(), 1);
}

/// A finished call of the organization on `phone_id`, with `transcript`, as the recording
/// pipeline leaves it.
async fn finished_call(
    app: &TestApp,
    org_id: Uuid,
    phone_id: Uuid,
    transcript: Option<&str>,
) -> call::Model {
    let now = Utc::now();
    call::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        phone_number_id: Set(Some(phone_id)),
        call_sid: Set(format!("CA{}", Uuid::new_v4().simple())),
        direction: Set("inbound".to_owned()),
        from_number: Set("+15557654321".to_owned()),
        to_number: Set("+15550100200".to_owned()),
        from_to_number: Set("+15557654321".to_owned()),
        contact_id: Set(None),
        status: Set("completed".to_owned()),
        started_at: Set(Some(now)),
        duration_secs: Set(Some(42)),
        recording_sid: Set(Some(format!("RE{}", Uuid::new_v4().simple()))),
        recording_url: Set(None),
        transcription: Set(transcript.map(str::to_owned)),
        transcript_segments: Set(None),
        transcript_source: Set(Some("recording".to_owned())),
        source: Set(Some("phone".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .expect("call row")
}

/// The post-call steps of `round`, enqueued in one transaction as the recording pipeline does.
async fn enqueue_round(app: &TestApp, call: &call::Model, round: &str) {
    let txn = app.app.db.begin().await.unwrap();
    after::enqueue_post_call(&txn, call, round)
        .await
        .expect("enqueue the post-call steps");
    txn.commit().await.unwrap();
    app.app.jobs_wake.notify_one();
}

/// The analyzer job of `call` whose dedupe key ends with `round`, once it is no longer queued or
/// running (or with an error kept, when `retrying`).
async fn settled_run(app: &TestApp, call_id: Uuid, round: &str, retrying: bool) -> job::Model {
    for _ in 0..200 {
        let found = job::Entity::find()
            .filter(job::Column::CallId.eq(call_id))
            .filter(job::Column::Kind.eq(after::kind::RUN_ANALYZER))
            .filter(job::Column::DedupeKey.like(format!("%:{round}")))
            .one(&app.app.db)
            .await
            .unwrap();
        if let Some(found) = found {
            let settled = ![status::QUEUED, status::RUNNING].contains(&found.status.as_str());
            if settled || (retrying && found.last_error.is_some()) {
                return found;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the analyzer job of round {round} did not settle");
}

async fn runs_of(app: &TestApp, call_id: Uuid) -> Vec<call_analysis::Model> {
    call_analysis::Entity::find()
        .filter(call_analysis::Column::CallId.eq(call_id))
        .order_by_asc(call_analysis::Column::CreatedAt)
        .order_by_asc(call_analysis::Column::Id)
        .all(&app.app.db)
        .await
        .unwrap()
}

/// Scripts the sandbox's chat model: requests whose transcript contains `matches` get `text`.
async fn script_answer(app: &TestApp, matches: &str, text: &str) {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/openai/chat-answers",
            app.sandbox().twilio_api_base()
        ))
        .json(&json!({"match": matches, "schema": "call_analysis", "answer": {"analysis": text}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_run_is_appended_per_round_once_per_job_and_a_deleted_analyzers_run_is_skipped() {
    let sandbox = crate::support::start_sandbox().await;
    let openai = sandbox.openai_base_url();
    let app = TestApp::builder()
        .with_existing_sandbox(sandbox)
        .with_settings(&[
            ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
            ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ])
        .start()
        .await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 1, 36).await;
    let made = create(&app, &owner, &analyzer("Satisfaction", &[&phones[0]])).await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    let phone_id: Uuid = id(&phones[0]).parse().unwrap();
    let call = finished_call(&app, org_id, phone_id, Some(TRANSCRIPT)).await;

    script_answer(
        &app,
        "leaking since Monday",
        "Satisfied: a plumber is booked.",
    )
    .await;
    enqueue_round(&app, &call, "RE-first").await;
    let first_job = settled_run(&app, call.id, "RE-first", false).await;
    assert_eq!(first_job.status, status::DONE, "{:?}", first_job.last_error);
    let runs = runs_of(&app, call.id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].analysis_text, "Satisfied: a plumber is booked.");
    assert_eq!(runs[0].analyzer_id.to_string(), id(&made));
    assert_eq!(runs[0].job_id, Some(first_job.id));

    // The model was asked with the analyzer's prompt, over the transcript.
    let log: Value = reqwest::get(format!(
        "{}/sandbox/openai/requests",
        app.sandbox().twilio_api_base()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let chats: Vec<&Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        // The other post-call steps (to-dos, contact details) ask the model too.
        .filter(|r| {
            r["endpoint"] == "chat/completions"
                && r["body"]["response_format"]["json_schema"]["name"] == "call_analysis"
        })
        .collect();
    assert_eq!(chats.len(), 1);
    let body = &chats[0]["body"];
    assert_eq!(body["model"], "gpt-4o-mini");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .ends_with("Was the caller satisfied? Answer in one sentence."),
        "{body}"
    );
    assert_eq!(body["messages"][1]["content"], TRANSCRIPT);
    assert_eq!(chats[0]["status"], 200);

    // A job that runs again (its worker died after storing the run) appends nothing.
    let mut again = first_job.clone().into_active_model();
    again.status = Set(status::QUEUED.to_owned());
    again.run_at = Set(Utc::now());
    again.update(&app.app.db).await.unwrap();
    app.app.jobs_wake.notify_one();
    let rerun = settled_run(&app, call.id, "RE-first", false).await;
    assert_eq!(rerun.status, status::DONE);
    assert_eq!(runs_of(&app, call.id).await, runs, "still one run");

    // The same round enqueued again is the same job; a new round appends a second run.
    enqueue_round(&app, &call, "RE-first").await;
    script_answer(&app, "leaking since Monday", "Satisfied, and thankful.").await;
    enqueue_round(&app, &call, "rerun-2").await;
    let second_job = settled_run(&app, call.id, "rerun-2", false).await;
    assert_eq!(
        second_job.status,
        status::DONE,
        "{:?}",
        second_job.last_error
    );
    let runs = runs_of(&app, call.id).await;
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0].analysis_text, "Satisfied: a plumber is booked.",
        "kept"
    );
    assert_eq!(runs[1].analysis_text, "Satisfied, and thankful.");
    assert_eq!(runs[1].job_id, Some(second_job.id));

    // The analyzer is deleted while a run of it is still queued: the run ends skipped.
    let res = send(&app, &owner, reqwest::Method::DELETE, id(&made), &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let payload = AnalyzerJob {
        call_id: call.id,
        analyzer_id: id(&made).parse().unwrap(),
        round: "rerun-3".to_owned(),
    };
    jobs::enqueue(
        &app.app.db,
        NewJob {
            kind: after::kind::RUN_ANALYZER.to_owned(),
            organization_id: Some(org_id),
            call_id: Some(call.id),
            payload: serde_json::to_value(&payload).unwrap(),
            dedupe_key: Some(format!(
                "{}:{}:{}:rerun-3",
                after::kind::RUN_ANALYZER,
                call.id,
                payload.analyzer_id
            )),
            run_at: Utc::now(),
            max_attempts: after::STEP_ATTEMPTS,
        },
    )
    .await
    .unwrap();
    app.app.jobs_wake.notify_one();
    let skipped = settled_run(&app, call.id, "rerun-3", false).await;
    assert_eq!(skipped.status, status::SKIPPED);
    assert_eq!(
        skipped.last_error.as_deref(),
        Some("the analyzer was deleted")
    );
    assert!(
        runs_of(&app, call.id).await.is_empty(),
        "its runs went with the analyzer"
    );
}

#[tokio::test]
async fn without_a_transcript_the_run_is_skipped_and_without_an_openai_key_it_fails_and_says_so() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 1, 37).await;
    create(&app, &owner, &analyzer("Satisfaction", &[&phones[0]])).await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    let phone_id: Uuid = id(&phones[0]).parse().unwrap();

    let silent = finished_call(&app, org_id, phone_id, Some("  ")).await;
    enqueue_round(&app, &silent, "RE-silent").await;
    let skipped = settled_run(&app, silent.id, "RE-silent", false).await;
    assert_eq!(skipped.status, status::SKIPPED);
    assert_eq!(
        skipped.last_error.as_deref(),
        Some("the call has no transcript")
    );

    let call = finished_call(&app, org_id, phone_id, Some(TRANSCRIPT)).await;
    enqueue_round(&app, &call, "RE-nokey").await;
    let failing = settled_run(&app, call.id, "RE-nokey", true).await;
    assert_ne!(failing.status, status::DONE);
    assert_eq!(
        failing.last_error.as_deref(),
        Some("no OpenAI API key is configured (LOQUENT_OPENAI_API_KEY), so analyzers cannot run")
    );
    assert!(runs_of(&app, call.id).await.is_empty());
}
