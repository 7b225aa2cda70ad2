//! Settings → Twilio connection over plain HTTP: what each action shows, where errors appear,
//! and what a member without the permissions sees. The browser journey is in `browser/twilio.rs`.

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::Value;

use crate::support::{Member, TestApp, TwilioOwner};

/// Follows a dashboard action's redirect and returns the page it lands on.
async fn landed(member: &Member, app: &TestApp, res: reqwest::Response) -> String {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/settings/twilio?"), "{location}");
    member.page(app, &location).await
}

async fn page_with_status(member: &Member, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = member.client.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// The text of the element with this id (the page's markup keeps messages on one line).
fn text_of<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = at + html[at..].find('>')? + 1;
    Some(&html[start..start + html[start..].find('<')?])
}

#[tokio::test]
async fn buying_from_the_page_shows_the_offer_then_the_number_configured() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, account, .. } = app.owner_on_twilio("Acme", 0, 23).await;

    // A two-digit area code is refused in the Buy section, and the rest of the page still works.
    let (status, html) = page_with_status(&owner, &app, "/settings/twilio?area_code=41").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = text_of(&html, "buy-error").expect("error in the buy section");
    assert!(error.contains("area_code"), "{error}");
    assert!(html.contains("id=\"fetch-numbers\""));

    let html = owner.page(&app, "/settings/twilio?area_code=415").await;
    assert!(html.contains("id=\"search-results\""));
    assert!(html.contains("<span class=\"badge\">Voice</span>"));
    let start = html.find("data-buy=\"").expect("a Buy button") + 10;
    let offer = html[start..start + html[start..].find('"').unwrap()].to_owned();
    assert!(offer.starts_with("+1415"), "{offer}");

    let res = owner
        .post_form(&app, "/settings/twilio/buy", &[("phone_number", &offer)])
        .await;
    let html = landed(&owner, &app, res).await;
    assert_eq!(
        text_of(&html, "buy-result"),
        Some(format!("Bought {offer}. Its calls now come to Loquent.").as_str())
    );
    assert!(html.contains("Configured <span class=\"muted\">(no previous URL)</span>"));
    let phones: Vec<Value> = owner.get_json(&app, "/api/phones").await;
    let sid = phones[0]["twilio_sid"].as_str().unwrap();
    assert_eq!(
        app.voice_url_on_twilio(&account, sid).await.as_deref(),
        Some("https://loquent.example.com/twilio/voice")
    );

    // Buying it again is refused in place, with the conflict's status.
    let res = owner
        .post_form(&app, "/settings/twilio/buy", &[("phone_number", &offer)])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert!(text_of(&html, "buy-error").is_some(), "{html}");
}

#[tokio::test]
async fn a_number_gets_an_agent_and_loses_it_again() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 1, 24).await;
    let phone_id = phones[0]["id"].as_str().unwrap().to_owned();
    let agent_id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    loquent::entity::agent::ActiveModel {
        id: Set(agent_id),
        organization_id: Set(owner.org_id().parse().unwrap()),
        name: Set("Front desk".into()),
        prompt: Set("Be helpful.".into()),
        realtime_config: Set(serde_json::json!({"provider": "openai"})),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap();

    let path = format!("/settings/twilio/numbers/{phone_id}/agent");
    let res = owner
        .post_form(&app, &path, &[("agent_id", &agent_id.to_string())])
        .await;
    let html = landed(&owner, &app, res).await;
    assert!(html.contains(&format!(
        "<option value=\"{agent_id}\" selected>Front desk</option>"
    )));
    let phone: Value = owner
        .get_json(&app, &format!("/api/phones/{phone_id}"))
        .await;
    assert_eq!(phone["agent_id"], agent_id.to_string());

    let res = owner.post_form(&app, &path, &[("agent_id", "")]).await;
    landed(&owner, &app, res).await;
    let phone: Value = owner
        .get_json(&app, &format!("/api/phones/{phone_id}"))
        .await;
    assert_eq!(phone["agent_id"], Value::Null);

    // An agent id that is not this organization's is refused beside the numbers table.
    let res = owner
        .post_form(
            &app,
            &path,
            &[("agent_id", &uuid::Uuid::now_v7().to_string())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(text_of(&html, "numbers-error").unwrap().contains("agent"));
}

#[tokio::test]
async fn importing_nothing_and_configuring_twice_are_explained_in_place() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner {
        owner,
        account,
        phones,
    } = app.owner_on_twilio("Acme", 2, 25).await;

    let res = owner.post_form(&app, "/settings/twilio/import", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert_eq!(
        text_of(&html, "import-error"),
        Some("Select at least one number to import.")
    );

    // Everything is imported already: fetching says so; importing again counts them as existing.
    let html = owner.page(&app, "/settings/twilio?fetch=1").await;
    assert!(html.contains("id=\"nothing-to-import\""));
    let number = account.numbers[0].phone_number.as_str();
    let res = owner
        .post_form(&app, "/settings/twilio/import", &[("number", number)])
        .await;
    let html = landed(&owner, &app, res).await;
    assert_eq!(
        text_of(&html, "import-result"),
        Some("Imported 0 numbers. 1 number was already in Loquent.")
    );

    let path = format!(
        "/settings/twilio/numbers/{}/configure-voice",
        phones[0]["id"].as_str().unwrap()
    );
    landed(&owner, &app, owner.post_form(&app, &path, &[]).await).await;
    let res = owner.post_form(&app, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(
        text_of(&html, "voice-error").unwrap().contains("already"),
        "{html}"
    );
}

#[tokio::test]
async fn a_member_sees_only_what_their_permissions_allow() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner {
        owner,
        account,
        phones,
    } = app.owner_on_twilio("Acme", 1, 26).await;
    let viewer = app.member_with(&owner, &["Phone:Collection:List"]).await;

    let html = viewer.page(&app, "/settings/twilio").await;
    assert!(html.contains(&account.numbers[0].phone_number));
    for control in [
        "id=\"disconnect\"",
        "id=\"fetch-numbers\"",
        "id=\"search-numbers\"",
        "name=\"agent_id\"",
        "data-configure=",
    ] {
        assert!(
            !html.contains(control),
            "{control} shown without permission"
        );
    }

    // Posting anyway is refused, and the number is untouched on Twilio.
    let before = app
        .voice_url_on_twilio(&account, &account.numbers[0].sid)
        .await;
    let path = format!(
        "/settings/twilio/numbers/{}/configure-voice",
        phones[0]["id"].as_str().unwrap()
    );
    let res = viewer.post_form(&app, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.voice_url_on_twilio(&account, &account.numbers[0].sid)
            .await,
        before
    );
}
