//! `/api/contacts` through the front door: search by name or number, keyset paging, one contact
//! with its numbers and recent calls, and editing with every bad field reported at once.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{CallSeed, Member, TestApp, insert_call};

async fn contact(app: &TestApp, org: Uuid, number: &str, source: &str) -> Uuid {
    loquent::contacts::resolve::resolve_or_create(&app.app.db, org, number, source)
        .await
        .expect("contact")
        .id
}

async fn put(app: &TestApp, member: &Member, id: Uuid, body: &Value) -> reqwest::Response {
    member
        .client
        .put(app.url(&format!("/api/contacts/{id}")))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("(none)").to_owned())
        .collect()
}

#[tokio::test]
async fn contacts_are_searched_paged_read_and_edited() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let globex = app.owner("Globex").await;
    let theirs = contact(
        &app,
        globex.org_id().parse().unwrap(),
        "+15550101000",
        "inbound_call",
    )
    .await;
    put(&app, &globex, theirs, &json!({"name": "Ada of Globex"})).await;

    let ada = contact(&app, org, "+15550101000", "inbound_call").await;
    let grace = contact(&app, org, "+15550102000", "call_sync").await;
    let nameless = contact(&app, org, "+447700900123", "inbound_call").await;
    let res = put(&app, &owner, ada, &json!({"name": " Ada Lovelace ", "email": "ADA@Example.com", "company": "Analytical Engines", "notes": "Prefers mornings."})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["name"], "Ada Lovelace");
    assert_eq!(saved["email"], "ada@example.com");
    assert_eq!(saved["numbers"], json!(["+15550101000"]));
    assert_eq!(saved["source"], "inbound_call");
    assert_eq!(saved["source_label"], "Inbound call");
    put(
        &app,
        &owner,
        grace,
        &json!({"name": "Grace Hopper", "company": "Navy_100%"}),
    )
    .await;

    // Newest first, in pages; searched by name, e-mail, company or number, never across
    // organizations.
    let all: Value = owner.get_json(&app, "/api/contacts").await;
    assert_eq!(names(&all), ["(none)", "Grace Hopper", "Ada Lovelace"]);
    assert_eq!(all["items"][1]["source_label"], "Call history import");
    let first: Value = owner.get_json(&app, "/api/contacts?limit=2").await;
    assert_eq!(names(&first), ["(none)", "Grace Hopper"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = owner
        .get_json(&app, &format!("/api/contacts?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(names(&second), ["Ada Lovelace"]);
    assert_eq!(second["next_cursor"], Value::Null);
    for (q, expected) in [
        ("ada", vec!["Ada Lovelace"]),
        ("LOVELACE", vec!["Ada Lovelace"]),
        ("example.com", vec!["Ada Lovelace"]),
        ("analytical", vec!["Ada Lovelace"]),
        ("555", vec!["Grace Hopper", "Ada Lovelace"]),
        ("+1 (555) 010-2000", vec!["Grace Hopper"]),
        ("7700", vec!["(none)"]),
        ("100%25", vec!["Grace Hopper"]),
        ("_", vec!["Grace Hopper"]),
        ("nobody", vec![]),
    ] {
        let found: Value = owner.get_json(&app, &format!("/api/contacts?q={q}")).await;
        assert_eq!(names(&found), expected, "q={q}");
    }
    let _ = nameless;

    // One contact: its numbers and recent calls, newest first.
    let older = insert_call(
        &app,
        org,
        CallSeed {
            contact_id: Some(ada),
            from: "+15550101000",
            created_at: chrono::Utc::now() - chrono::Duration::hours(1),
            ..CallSeed::default()
        },
    )
    .await;
    let newer = insert_call(
        &app,
        org,
        CallSeed {
            contact_id: Some(ada),
            from: "+15550101000",
            ..CallSeed::default()
        },
    )
    .await;
    let read: Value = owner.get_json(&app, &format!("/api/contacts/{ada}")).await;
    assert_eq!(read["name"], "Ada Lovelace");
    assert_eq!(read["numbers"], json!(["+15550101000"]));
    assert!(read["last_contacted_at"].is_string());
    let calls: Vec<&str> = read["recent_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(calls, [newer.id.to_string(), older.id.to_string()]);
    assert_eq!(read["more_calls_cursor"], Value::Null);

    // Every bad field at once, nothing saved; blanks clear.
    let res = put(
        &app,
        &owner,
        ada,
        &json!({"name": "x".repeat(201), "email": "not an address", "notes": "ok"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "email"]);
    let res = put(&app, &owner, ada, &json!({"numbers": ["+1"]})).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let unchanged: Value = owner.get_json(&app, &format!("/api/contacts/{ada}")).await;
    assert_eq!(unchanged["notes"], "Prefers mornings.");
    let cleared: Value = put(&app, &owner, ada, &json!({"name": "Ada", "notes": " "}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["notes"], Value::Null);
    assert_eq!(cleared["email"], Value::Null);

    // Bad query values, unknown ids, permissions.
    for query in ["limit=0", "cursor=xyz", "sort=name"] {
        let res = owner
            .client
            .get(app.url(&format!("/api/contacts?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let res = owner
        .client
        .get(app.url(&format!("/api/contacts/{}", Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let reader = app
        .member_with(
            &owner,
            &["Contact:Collection:List", "Contact:Instance:Read"],
        )
        .await;
    let _: Value = reader.get_json(&app, &format!("/api/contacts/{ada}")).await;
    let res = put(&app, &reader, ada, &json!({"name": "Mallory"})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let outsider = app.member_with(&owner, &["Call:Collection:List"]).await;
    let res = outsider
        .client
        .get(app.url("/api/contacts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
