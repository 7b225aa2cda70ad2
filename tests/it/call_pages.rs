//! The calls pages through HTTP: the list with its filters, paging, links and play buttons; one
//! call with its player, transcript, analyses, to-dos, contact and steps; the forms it posts;
//! and another organization's call as the 404 page.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;
use uuid::Uuid;

use crate::support::{CallSeed, TestApp, insert_call, segments};

/// The rows of the calls table, in order, by call id.
fn row_ids(html: &str) -> Vec<String> {
    html.split("<tr id=\"call-")
        .skip(1)
        .map(|rest| rest[..36].to_owned())
        .collect()
}

/// A failed post-call step of `call` (as the runner leaves one that ran out of attempts).
pub async fn failed_step(app: &TestApp, org: Uuid, call: Uuid, error: &str) -> Uuid {
    let db = &app.app.db;
    let id = loquent::jobs::enqueue(
        db,
        loquent::jobs::NewJob {
            kind: "report.send".into(),
            organization_id: Some(org),
            call_id: Some(call),
            payload: json!({}),
            dedupe_key: None,
            // Never due: the failed state below is what the test needs.
            run_at: Utc::now() + Duration::days(1),
            max_attempts: 1,
        },
    )
    .await
    .unwrap()
    .id;
    let mut row = loquent::entity::job::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.status = Set("failed".into());
    row.attempts = Set(1);
    row.last_error = Set(Some(error.into()));
    row.update(db).await.unwrap();
    id
}

/// A stored analyzer run of `call`.
pub async fn analysis_run(app: &TestApp, org: Uuid, call: Uuid, analyzer: Uuid, text: &str) {
    loquent::entity::call_analysis::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        call_id: Set(call),
        analyzer_id: Set(analyzer),
        analysis_text: Set(text.into()),
        job_id: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
}

pub async fn analyzer(app: &TestApp, org: Uuid, name: &str) -> Uuid {
    let now = Utc::now();
    let id = Uuid::now_v7();
    loquent::entity::analyzer::ActiveModel {
        id: Set(id),
        organization_id: Set(org),
        name: Set(name.into()),
        prompt: Set("Summarize the call.".into()),
        is_default: Set(false),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
    id
}

pub async fn pending_todo(app: &TestApp, org: Uuid, call: Uuid, title: &str) -> Uuid {
    let now = Utc::now();
    let id = Uuid::now_v7();
    loquent::entity::todo::ActiveModel {
        id: Set(id),
        organization_id: Set(org),
        call_id: Set(Some(call)),
        contact_id: Set(None),
        title: Set(title.into()),
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
    .unwrap();
    id
}

#[tokio::test]
async fn the_calls_page_filters_searches_and_pages_with_the_apis_rules() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let org: Uuid = owner.org_id().parse().unwrap();

    // Nothing yet, no number: the page says where to start.
    let html = owner.page(&app, "/calls").await;
    assert!(html.contains("No calls yet."), "{html}");
    assert!(html.contains("href=\"/settings/twilio\""), "{html}");

    let contact = loquent::contacts::resolve::resolve_or_create(
        &app.app.db,
        org,
        "+15557654321",
        "inbound_call",
    )
    .await
    .unwrap();
    let now = Utc::now();
    let oldest = insert_call(
        &app,
        org,
        CallSeed {
            created_at: now - Duration::hours(3),
            transcript: Some(segments(&[("Caller", "My boiler is leaking.")])),
            recording: Some(b"ID3 oldest".to_vec()),
            contact_id: Some(contact.id),
            ..CallSeed::default()
        },
    )
    .await;
    let outbound = insert_call(
        &app,
        org,
        CallSeed {
            created_at: now - Duration::hours(2),
            direction: "outbound",
            status: "no-answer",
            from: "+15550100200",
            to: "+15559990000",
            duration_secs: None,
            ..CallSeed::default()
        },
    )
    .await;
    let newest = insert_call(
        &app,
        org,
        CallSeed {
            created_at: now - Duration::hours(1),
            recording: Some(b"ID3 newest".to_vec()),
            duration_secs: Some(127),
            ..CallSeed::default()
        },
    )
    .await;
    // Another organization's call never shows.
    let globex = app.owner("Globex").await;
    insert_call(&app, globex.org_id().parse().unwrap(), CallSeed::default()).await;

    let html = owner.page(&app, "/calls").await;
    let ids = |calls: &[&loquent::entity::call::Model]| -> Vec<String> {
        calls.iter().map(|c| c.id.to_string()).collect()
    };
    assert_eq!(row_ids(&html), ids(&[&newest, &outbound, &oldest]));
    // Each row links to its call; only recorded calls have a play button; the contact links.
    for call in [&newest, &outbound, &oldest] {
        assert!(html.contains(&format!("href=\"/calls/{}\"", call.id)));
    }
    assert!(html.contains(&format!("data-play=\"call-audio-{}\"", newest.id)));
    assert!(html.contains(&format!("data-play=\"call-audio-{}\"", oldest.id)));
    assert!(!html.contains(&format!("data-play=\"call-audio-{}\"", outbound.id)));
    assert!(html.contains(&format!("src=\"/api/calls/{}/recording\"", oldest.id)));
    assert!(html.contains(&format!("href=\"/contacts/{}\"", contact.id)));
    assert!(html.contains("2:07"), "the duration as m:ss");
    assert!(html.contains("no-answer"));

    // Filters: the same query as the API's.
    let html = owner.page(&app, "/calls?direction=outbound").await;
    assert_eq!(row_ids(&html), ids(&[&outbound]));
    assert!(html.contains("<option value=\"outbound\" selected>"));
    let html = owner.page(&app, "/calls?has_recording=true").await;
    assert_eq!(row_ids(&html), ids(&[&newest, &oldest]));
    let html = owner.page(&app, "/calls?status=no-answer&direction=").await;
    assert_eq!(row_ids(&html), ids(&[&outbound]));
    let html = owner.page(&app, "/calls?q=boiler").await;
    assert_eq!(row_ids(&html), ids(&[&oldest]));
    assert!(
        html.contains("value=\"boiler\""),
        "the search stays filled in"
    );
    let html = owner.page(&app, "/calls?q=piano").await;
    assert!(row_ids(&html).is_empty());
    assert!(html.contains("No calls match these filters."), "{html}");
    let tomorrow = (now + Duration::days(1)).format("%Y-%m-%d").to_string();
    let html = owner.page(&app, &format!("/calls?from={tomorrow}")).await;
    assert!(row_ids(&html).is_empty());

    // Paging: "Older" carries the filters and the cursor; the last page has none.
    let html = owner.page(&app, "/calls?limit=2&has_recording=").await;
    assert_eq!(row_ids(&html), ids(&[&newest, &outbound]));
    let start = html.find("href=\"/calls?").expect("an Older link");
    let older =
        html[start + 6..start + 6 + html[start + 6..].find('"').unwrap()].replace("&amp;", "&");
    assert!(older.contains("cursor="), "{older}");
    let html = owner.page(&app, &older).await;
    assert_eq!(row_ids(&html), ids(&[&oldest]));
    assert!(!html.contains("id=\"older\""));
    assert!(html.contains("id=\"newest\""));

    // A bad filter is a 400 page that says what to change.
    let res = owner
        .client
        .get(app.url("/calls?direction=sideways"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("inbound, outbound"));
    let res = owner
        .client
        .get(app.url("/calls?colour=blue"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("colour"));
}

#[tokio::test]
async fn a_call_page_shows_the_call_and_its_forms_come_back_to_it() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let contact = loquent::contacts::resolve::resolve_or_create(
        &app.app.db,
        org,
        "+15557654321",
        "inbound_call",
    )
    .await
    .unwrap();
    let call = insert_call(
        &app,
        org,
        CallSeed {
            contact_id: Some(contact.id),
            transcript: Some(segments(&[
                ("Agent", "Acme Plumbing, how can I help?"),
                ("Caller", "My boiler is leaking."),
            ])),
            recording: Some(b"ID3 call".to_vec()),
            ..CallSeed::default()
        },
    )
    .await;
    let summary = analyzer(&app, org, "Summary").await;
    analysis_run(&app, org, call.id, summary, "A leaking boiler.").await;
    analysis_run(&app, org, call.id, summary, "The caller's boiler leaks.").await;
    let todo = pending_todo(&app, org, call.id, "Send a plumber").await;
    let step = failed_step(&app, org, call.id, "the SMTP server refused the message").await;

    let path = format!("/calls/{}", call.id);
    let html = owner.page(&app, &path).await;
    assert!(html.contains(&format!(
        "<audio id=\"player\" controls preload=\"metadata\" src=\"/api/calls/{}/recording\">",
        call.id
    )));
    // Transcript lines carry their times (for seeking) and speakers.
    assert!(
        html.contains("data-start=\"1.5\" data-end=\"2.75\""),
        "{html}"
    );
    assert!(html.contains("<strong class=\"speaker\">Caller</strong>"));
    assert!(html.contains("My boiler is leaking."));
    // Both runs, newest first.
    let newer = html
        .find("The caller&#39;s boiler leaks.")
        .expect("the newer run");
    let older = html.find("A leaking boiler.").expect("the older run");
    assert!(newer < older, "runs newest first");
    assert!(html.contains(&format!("action=\"/calls/{}/rerun\"", call.id)));
    assert!(html.contains("Send a plumber"));
    assert!(html.contains(&format!("action=\"/todos/{todo}/approve\"")));
    assert!(html.contains(&format!("href=\"/contacts/{}\"", contact.id)));
    assert!(html.contains("Inbound call"));
    assert!(html.contains("the SMTP server refused the message"));
    assert!(html.contains(&format!("action=\"/calls/failed-steps/{step}/retry\"")));

    // The forms come back to the call.
    let call_id = call.id.to_string();
    let res = owner
        .post_form(
            &app,
            &format!("/todos/{todo}/approve"),
            &[("call", call_id.as_str())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        format!("/calls/{}#todos", call.id)
    );
    let html = owner.page(&app, &path).await;
    assert!(!html.contains(&format!("action=\"/todos/{todo}/approve\"")));
    assert!(html.contains("approved"));
    let res = owner
        .post_form(
            &app,
            &format!("/calls/failed-steps/{step}/retry"),
            &[("call", call_id.as_str())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        format!("/calls/{}#steps", call.id)
    );
    // Re-running without an analyzer on the call's number says what to do.
    let res = owner
        .post_form(&app, &format!("/calls/{}/rerun", call.id), &[])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("Analyzers page"));

    // A member who may only read sees no buttons; one who may not read gets 403.
    let reader = app
        .member_with(&owner, &["Call:Collection:List", "Call:Instance:Read"])
        .await;
    let html = reader.page(&app, &path).await;
    assert!(!html.contains("Re-run analysis"));
    assert!(!html.contains("/retry"));
    let lister = app.member_with(&owner, &["Call:Collection:List"]).await;
    let res = lister.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Another organization's call is the 404 page; so is no call at all.
    let globex = app.owner("Globex").await;
    let res = globex.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let text = res.text().await.unwrap();
    assert!(!text.contains("boiler"));
    let res = owner
        .client
        .get(app.url(&format!("/calls/{}", Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A call without recording or transcript says so.
    let bare = insert_call(&app, org, CallSeed::default()).await;
    let html = owner.page(&app, &format!("/calls/{}", bare.id)).await;
    assert!(html.contains("No recording is stored for this call."));
    assert!(html.contains("No transcript yet."));
}

/// A live call is announced to the organization's open pages as it starts and as Twilio reports
/// its status, so the calls list shows it at the top and follows it without a reload.
#[tokio::test]
async fn a_live_call_is_announced_as_it_starts_and_ends() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let line = crate::live_calls::line(crate::live_calls::gemini_agent(), false).await;
    let app = &line.app;
    let res = TestApp::client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": line.owner.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let mut request = app.ws_url("/api/realtime").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let report = line.call(json!([{"wait_for_hangup": 2000}])).await;
    let mut seen: Vec<serde_json::Value> = Vec::new();
    while !seen.iter().any(|e| e["status"] == "completed") {
        match tokio::time::timeout(std::time::Duration::from_secs(20), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let event: serde_json::Value = serde_json::from_str(&text).unwrap();
                if event["type"] == "call.updated" {
                    seen.push(event["payload"].clone());
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no call.updated with completed: {other:?}; seen {seen:?}"),
        }
    }
    let started = &seen[0];
    assert_eq!(started["call_sid"], report.call_sid.as_str());
    assert_eq!(started["status"], "in-progress");
    let row = loquent::entity::call::Entity::find()
        .all(&app.app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.call_sid == report.call_sid)
        .expect("the call row");
    assert_eq!(started["call_id"], row.id.to_string());
    assert!(
        seen.iter()
            .all(|e| e["call_sid"] == report.call_sid.as_str()),
        "{seen:?}"
    );
}
