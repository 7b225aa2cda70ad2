//! The contacts pages through HTTP: search and paging, one contact with its numbers, readable
//! source and calls, the edit form (saved, or back with what to change), and another
//! organization's contact as the 404 page.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::support::{CallSeed, TestApp, insert_call};

async fn contact(app: &TestApp, org: Uuid, number: &str, source: &str) -> Uuid {
    loquent::contacts::resolve::resolve_or_create(&app.app.db, org, number, source)
        .await
        .expect("contact")
        .id
}

#[tokio::test]
async fn contacts_are_listed_searched_read_and_edited_on_their_pages() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let org: Uuid = owner.org_id().parse().unwrap();

    let html = owner.page(&app, "/contacts").await;
    assert!(html.contains("No contacts yet."), "{html}");

    let ada = contact(&app, org, "+15550101000", "inbound_call").await;
    let grace = contact(&app, org, "+15550102000", "call_sync").await;
    let call = insert_call(
        &app,
        org,
        CallSeed {
            contact_id: Some(ada),
            from: "+15550101000",
            ..CallSeed::default()
        },
    )
    .await;

    // The list: readable sources and numbers, each name linking to the contact.
    let html = owner.page(&app, "/contacts").await;
    assert!(html.contains("Inbound call"), "{html}");
    assert!(html.contains("Call history import"));
    assert!(html.contains("+15550101000"));
    assert!(html.contains(&format!("href=\"/contacts/{ada}\"")));
    assert!(html.contains(&format!("href=\"/contacts/{grace}\"")));
    assert!(
        !html.contains("inbound_call"),
        "the stored source is not shown"
    );
    // Searched by number digits.
    let html = owner.page(&app, "/contacts?q=0102").await;
    assert!(html.contains(&format!("href=\"/contacts/{grace}\"")));
    assert!(!html.contains(&format!("href=\"/contacts/{ada}\"")));
    let html = owner.page(&app, "/contacts?q=nobody").await;
    assert!(html.contains("No contacts match"), "{html}");

    // One contact: its numbers, source and calls, and the edit form.
    let path = format!("/contacts/{ada}");
    let html = owner.page(&app, &path).await;
    assert!(html.contains("+15550101000"));
    assert!(html.contains("Inbound call"));
    assert!(
        html.contains(&format!("href=\"/calls/{}\"", call.id)),
        "{html}"
    );
    assert!(html.contains("id=\"contact-form\""));

    // Saved: back to the contact, which shows the new values.
    let res = owner
        .post_form(
            &app,
            &path,
            &[
                ("name", " Ada Lovelace "),
                ("email", "ADA@Example.com"),
                ("company", "Analytical Engines"),
                ("notes", "Prefers mornings."),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], format!("{path}?saved=1"));
    let html = owner.page(&app, &format!("{path}?saved=1")).await;
    assert!(html.contains("Contact saved."));
    assert!(html.contains("<h1>Ada Lovelace</h1>"), "{html}");
    assert!(html.contains("ada@example.com"));
    assert!(html.contains("Prefers mornings."));
    let html = owner.page(&app, "/contacts?q=lovelace").await;
    assert!(html.contains(&format!("href=\"/contacts/{ada}\"")));

    // A bad field: the form again, with what was typed and what to change.
    let res = owner
        .post_form(&app, &path, &[("name", "Ada"), ("email", "not an address")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"error-email\""), "{html}");
    assert!(html.contains("value=\"not an address\""));

    // Members who may only read see no form; another organization's contact is 404.
    let reader = app
        .member_with(
            &owner,
            &["Contact:Collection:List", "Contact:Instance:Read"],
        )
        .await;
    let html = reader.page(&app, &path).await;
    assert!(!html.contains("id=\"contact-form\""));
    let res = reader.post_form(&app, &path, &[("name", "Mallory")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let globex = app.owner("Globex").await;
    let res = globex.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("Lovelace"));
}
