//! Invitations through the front door, on SQLite and PostgreSQL: an administrator invites by
//! e-mail with roles; the link (mailed through a real SMTP server process, or handed over when
//! the server cannot mail) works once, expires, can be revoked or replaced; a new person
//! chooses a password, a person with an account joins with it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::reports::Smtp;
use crate::support::{Member, TestApp, api_error, csrf_in, token_of_link};

async fn mailing_app(smtp: &Smtp) -> TestApp {
    TestApp::builder()
        .with_settings(&[
            ("LOQUENT_SMTP_URL", &smtp.url()),
            ("LOQUENT_PUBLIC_URL", "https://loquent.example.com"),
        ])
        .start()
        .await
}

async fn role(app: &TestApp, admin: &Member, permissions: &[&str]) -> Value {
    let res = admin
        .post_json(
            app,
            "/api/roles",
            &json!({"name": format!("role-{}", uuid::Uuid::new_v4().simple()), "permissions": permissions}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    client.post(app.url(path)).json(body).send().await.unwrap()
}

async fn accept_new(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    post(
        app,
        &TestApp::client(),
        "/api/invitations/accept",
        &json!({"token": token, "password": password}),
    )
    .await
}

async fn preview(app: &TestApp, token: &str) -> reqwest::Response {
    post(
        app,
        &TestApp::client(),
        "/api/invitations/preview",
        &json!({"token": token}),
    )
    .await
}

/// The link's token in a mailed invitation.
fn token_in(message: &Value) -> String {
    let text = message["text"].as_str().expect("a text part");
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("https://loquent.example.com/invitation?token="))
        .expect("the link");
    token_of_link(link)
}

#[tokio::test]
async fn a_mailed_invitation_makes_an_account_with_the_roles_given() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Acme").await;
    let listener = role(
        &app,
        &owner,
        &["Call:Collection:List", "Member:Collection:List"],
    )
    .await;

    let res = owner
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "New.Person@Example.com", "role_ids": [listener["id"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sent: Value = res.json().await.unwrap();
    assert_eq!(sent["link"], Value::Null, "mailed, not handed over");
    assert_eq!(sent["invitation"]["email"], "new.person@example.com");
    assert_eq!(sent["invitation"]["status"], "pending");
    assert_eq!(sent["invitation"]["invited_by"], owner.email.as_str());
    assert_eq!(sent["invitation"]["roles"][0]["id"], listener["id"]);
    let listed: Vec<Value> = owner.get_json(&app, "/api/invitations").await;
    assert_eq!(listed, vec![sent["invitation"].clone()]);

    let messages = smtp.wait_for(1).await;
    let message = &messages[0];
    assert_eq!(message["to"], "new.person@example.com");
    assert_eq!(
        message["subject"],
        format!("{} invited you to Acme on Loquent", owner.email)
    );
    let token = token_in(message);
    assert_eq!(token.len(), 43);
    assert!(
        message["html"]
            .as_str()
            .unwrap()
            .contains(&format!("/invitation?token={token}"))
    );
    let text = message["text"]
        .as_str()
        .unwrap()
        .replace(&token, "[token]")
        .replace(&owner.email, "[owner]");
    insta::assert_snapshot!("invitation_email", until_time(&text));

    // Only the token's hash is stored.
    {
        use sea_orm::EntityTrait;
        let rows = loquent::entity::invitation::Entity::find()
            .all(&app.app.db)
            .await
            .unwrap();
        let stored = rows[0].token_hash.clone().unwrap();
        assert!(!stored.contains(&token));
    }

    let res = preview(&app, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["organization"], "Acme");
    assert_eq!(seen["email"], "new.person@example.com");
    assert_eq!(seen["has_account"], false);

    // A weak password leaves the link working; a tampered or truncated token does nothing.
    api_error(
        accept_new(&app, &token, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    for bad in [tampered.as_str(), &token[..42], "", "not-a-token"] {
        let message = api_error(
            accept_new(&app, bad, "a good long password").await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(message.contains("does not work"), "{message}");
        api_error(preview(&app, bad).await, StatusCode::BAD_REQUEST).await;
    }

    let res = accept_new(&app, &token, "a good long password").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().contains_key("set-cookie"));
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["email"], "new.person@example.com");
    assert_eq!(me["organization"]["name"], "Acme");
    assert_eq!(me["is_owner"], false);
    assert_eq!(
        me["permissions"],
        json!(["Call:Collection:List", "Member:Collection:List"])
    );

    // Once only; no longer pending; a member now, who signs in with the chosen password.
    api_error(
        accept_new(&app, &token, "another long password").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let listed: Vec<Value> = owner.get_json(&app, "/api/invitations").await;
    assert!(listed.is_empty());
    let members: Vec<Value> = owner.get_json(&app, "/api/members").await;
    assert!(
        members
            .iter()
            .any(|m| m["email"] == "new.person@example.com")
    );
    let res = post(
        &app,
        &TestApp::client(),
        "/api/auth/login",
        &json!({"email": "new.person@example.com", "password": "a good long password"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Inviting a member again is refused.
    let res = owner
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "new.person@example.com"}),
        )
        .await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("already a member"), "{message}");
}

/// Replaces the link's expiry time, which moves with the clock.
fn until_time(text: &str) -> String {
    let marker = "The link works once, until ";
    let Some(start) = text.find(marker) else {
        return text.to_owned();
    };
    let from = start + marker.len();
    let end = from + text[from..].find(" UTC").unwrap() + 4;
    format!("{}[time]{}", &text[..from], &text[end..])
}

#[tokio::test]
async fn sending_again_mails_a_new_link_and_retires_the_old_one() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Acme").await;
    let res = owner
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "sam@example.com"}),
        )
        .await;
    let sent: Value = res.json().await.unwrap();
    let id = sent["invitation"]["id"].as_str().unwrap().to_owned();
    let first = token_in(&smtp.wait_for(1).await[0]);

    let res = owner
        .post_json(&app, &format!("/api/invitations/{id}/resend"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // (The maildir's names do not sort in arrival order.)
    let second = smtp
        .wait_for(2)
        .await
        .iter()
        .map(token_in)
        .find(|t| *t != first)
        .expect("a second, different link");
    api_error(preview(&app, &first).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(preview(&app, &second).await.status(), StatusCode::OK);
    let res = accept_new(&app, &second, "sam's long password").await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_person_with_an_account_joins_with_it() {
    let app = TestApp::new().await;
    let acme = app.owner("Acme").await;
    let ann = app.owner("Globex").await;
    let carl = app.owner("Initech").await;
    let token = app.invite(&acme, &ann.email.to_uppercase(), &[]).await;

    let seen: Value = preview(&app, &token).await.json().await.unwrap();
    assert_eq!(seen["has_account"], true);
    // Not signed in: no second account; without the account's password, nothing.
    let res = post(
        &app,
        &TestApp::client(),
        "/api/invitations/accept",
        &json!({"token": token}),
    )
    .await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("has an account already"), "{message}");
    let res = post(
        &app,
        &TestApp::client(),
        "/api/invitations/accept",
        &json!({"token": token, "password": "not her password"}),
    )
    .await;
    api_error(res, StatusCode::UNAUTHORIZED).await;
    // Signed in as someone else: told so; the link keeps working.
    let res = post(
        &app,
        &carl.client,
        "/api/invitations/accept",
        &json!({"token": token}),
    )
    .await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(
        message.contains(&format!("signed in as {}", carl.email)),
        "{message}"
    );

    // Signed in as Ann: she joins, and this session acts for Acme from now on.
    let res = post(
        &app,
        &ann.client,
        "/api/invitations/accept",
        &json!({"token": token}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["organization"]["name"], "Acme");
    assert_eq!(me["user"]["email"], ann.email.as_str());
    let orgs: Value = ann.get_json(&app, "/api/auth/organizations").await;
    let names: Vec<(&str, bool)> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["current"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, vec![("Acme", true), ("Globex", false)]);
    // The same form sent twice is no error.
    let res = post(
        &app,
        &ann.client,
        "/api/invitations/accept",
        &json!({"token": token}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Her password is her own still.
    let res = post(
        &app,
        &TestApp::client(),
        "/api/auth/login",
        &json!({"email": ann.email, "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoked_replaced_and_expired_links_stop_working() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let gone_role = role(&app, &owner, &["Call:Collection:List"]).await;
    let kept_role = role(&app, &owner, &["Todo:Collection:List"]).await;
    let first = app
        .invite(
            &owner,
            "dora@example.com",
            &[gone_role["id"].clone(), kept_role["id"].clone()],
        )
        .await;
    let listed: Vec<Value> = owner.get_json(&app, "/api/invitations").await;
    let id = listed[0]["id"].as_str().unwrap().to_owned();

    // One pending invitation per address.
    let res = owner
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "DORA@example.com"}),
        )
        .await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("pending invitation"), "{message}");

    // A new link replaces the old one.
    let res = owner
        .post_json(&app, &format!("/api/invitations/{id}/resend"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = token_of_link(res.json::<Value>().await.unwrap()["link"].as_str().unwrap());
    api_error(preview(&app, &first).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(preview(&app, &second).await.status(), StatusCode::OK);

    // Revoked: the link stops working and the invitation leaves the list.
    let res = owner
        .client
        .delete(app.url(&format!("/api/invitations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    api_error(
        accept_new(&app, &second, "dora's long password").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let listed: Vec<Value> = owner.get_json(&app, "/api/invitations").await;
    assert!(listed.is_empty());
    let res = owner
        .client
        .delete(app.url(&format!("/api/invitations/{id}")))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::NOT_FOUND).await;

    // Invited again, then the week passes: expired, listed as such, and sent again it works.
    let third = app
        .invite(
            &owner,
            "dora@example.com",
            &[gone_role["id"].clone(), kept_role["id"].clone()],
        )
        .await;
    {
        use loquent::entity::invitation;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        invitation::Entity::update_many()
            .col_expr(
                invitation::Column::ExpiresAt,
                (chrono::Utc::now() - chrono::Duration::seconds(1)).into(),
            )
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(&app.app.db)
            .await
            .unwrap();
    }
    api_error(
        accept_new(&app, &third, "dora's long password").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let listed: Vec<Value> = owner.get_json(&app, "/api/invitations").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "expired");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let res = owner
        .post_json(&app, &format!("/api/invitations/{id}/resend"), &json!({}))
        .await;
    let resent: Value = res.json().await.unwrap();
    assert_eq!(resent["invitation"]["status"], "pending");
    let fourth = token_of_link(resent["link"].as_str().unwrap());

    // A role deleted meanwhile is not given; the other is.
    let res = owner
        .client
        .delete(app.url(&format!("/api/roles/{}", gone_role["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let res = accept_new(&app, &fourth, "dora's long password").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["permissions"], json!(["Todo:Collection:List"]));
}

#[tokio::test]
async fn invitations_belong_to_their_organization_and_need_the_permission() {
    let app = TestApp::new().await;
    let acme = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    app.invite(&acme, "eve@example.com", &[]).await;
    let listed: Vec<Value> = acme.get_json(&app, "/api/invitations").await;
    let id = listed[0]["id"].as_str().unwrap().to_owned();

    // Another organization sees nothing and reaches nothing.
    let theirs: Vec<Value> = globex.get_json(&app, "/api/invitations").await;
    assert!(theirs.is_empty());
    let res = globex
        .post_json(&app, &format!("/api/invitations/{id}/resend"), &json!({}))
        .await;
    api_error(res, StatusCode::NOT_FOUND).await;
    let res = globex
        .client
        .delete(app.url(&format!("/api/invitations/{id}")))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::NOT_FOUND).await;
    // Nor gives its roles.
    let foreign = role(&app, &globex, &["Call:*:*"]).await;
    let res = acme
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "fay@example.com", "role_ids": [foreign["id"]]}),
        )
        .await;
    api_error(res, StatusCode::NOT_FOUND).await;

    // A member who may list members sees invitations but cannot invite or revoke.
    let viewer = app.member_with(&acme, &["Member:Collection:List"]).await;
    let seen: Vec<Value> = viewer.get_json(&app, "/api/invitations").await;
    assert_eq!(seen.len(), 1);
    let res = viewer
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "gus@example.com"}),
        )
        .await;
    let message = api_error(res, StatusCode::FORBIDDEN).await;
    assert!(message.contains("Member:Collection:Create"), "{message}");
    let res = viewer
        .client
        .delete(app.url(&format!("/api/invitations/{id}")))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::FORBIDDEN).await;
    let res = TestApp::client()
        .get(app.url("/api/invitations"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::UNAUTHORIZED).await;
    let res = acme
        .post_json(&app, "/api/invitations", &json!({"email": "not an e-mail"}))
        .await;
    api_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// The page a link opens leads a person with an account through their password, one signed in
/// through a single button, and one signed in as another account through signing out (and
/// back).
#[tokio::test]
async fn the_invitation_page_leads_an_existing_account_through_sign_in() {
    let app = TestApp::new().await;
    let acme = app.owner("Acme").await;
    let ann = app.owner("Globex").await;
    let initech = app.owner("Initech").await;
    let token = app.invite(&acme, &ann.email, &[]).await;
    let here = format!("/invitation?token={token}");

    // Signed in as someone else: the page says so and offers to sign out, coming back here.
    let html = acme.page(&app, &here).await;
    assert!(html.contains(&format!("You are signed in as {}", acme.email)));
    assert!(html.contains(&format!("name=\"next\" value=\"{here}\"")));
    let res = acme
        .post_form(&app, "/logout", &[("next", here.as_str())])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], here.as_str());

    // Not signed in, with an account: the page asks for its password and joins.
    let browser = TestApp::client();
    let html = browser
        .get(app.url(&here))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign in and join</button>"), "{html}");
    let form = |password: &'static str| {
        vec![
            ("csrf_token", csrf_in(&html)),
            ("token", token.clone()),
            ("password", password.to_owned()),
        ]
    };
    let res = browser
        .post(app.url("/invitation"))
        .form(&form("not her password"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("incorrect"));
    let res = browser
        .post(app.url("/invitation"))
        .form(&form("correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/");
    let me: Value = browser
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["organization"]["name"], "Acme");
    // Without roles in Acme yet, home is the account page, not a refusal.
    let res = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/account");

    // Used: the page says the link does not work.
    let res = browser.get(app.url(&here)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("does not work"));

    // Signed in as the invited person: one button joins, and the session acts for the new
    // organization.
    let token = app.invite(&initech, &ann.email, &[]).await;
    let html = browser
        .get(app.url(&format!("/invitation?token={token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Join Initech</button>"), "{html}");
    let res = browser
        .post(app.url("/invitation"))
        .form(&[
            ("csrf_token", csrf_in(&html).as_str()),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let me: Value = browser
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["organization"]["name"], "Initech");

    // Sign-in comes back to where `next` says, on this site only.
    let visitor = TestApp::client();
    let login = visitor
        .get(app.url("/login?next=/calls%3Fstatus%3Dcompleted"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("name=\"next\" value=\"/calls?status=completed\""));
    for (next, to) in [
        ("/calls?status=completed", "/calls?status=completed"),
        ("https://evil.example.com/", "/calls"),
        ("//evil.example.com/x", "/calls"),
        ("/\\evil.example.com", "/calls"),
    ] {
        let res = visitor
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", csrf_in(&login).as_str()),
                ("email", ann.email.as_str()),
                ("password", "correct horse battery"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], to, "{next}");
    }
}

/// Someone removed from their only organization cannot sign in, yet joins again through a new
/// invitation with their password.
#[tokio::test]
async fn an_account_without_an_organization_joins_with_its_password() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let bob = app.member_with(&owner, &[]).await;
    let members: Vec<Value> = owner.get_json(&app, "/api/members").await;
    let id = members
        .iter()
        .find(|m| m["email"] == bob.email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .client
        .delete(app.url(&format!("/api/members/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = post(
        &app,
        &TestApp::client(),
        "/api/auth/login",
        &json!({"email": bob.email, "password": "member password 1"}),
    )
    .await;
    api_error(res, StatusCode::FORBIDDEN).await;

    let token = app.invite(&owner, &bob.email, &[]).await;
    let res = post(
        &app,
        &TestApp::client(),
        "/api/invitations/accept",
        &json!({"token": token, "password": "member password 1"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("set-cookie"));
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["organization"]["name"], "Acme");
}

/// Sending is limited per address (and per organization), and nobody gives more than they hold.
#[tokio::test]
async fn invitations_are_limited_and_give_no_more_than_the_inviter_holds() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    app.invite(&owner, "ivy@example.com", &[]).await;
    let listed: Vec<Value> = owner.get_json(&app, "/api/invitations").await;
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        let res = owner
            .post_json(&app, &format!("/api/invitations/{id}/resend"), &json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = owner
        .post_json(&app, &format!("/api/invitations/{id}/resend"), &json!({}))
        .await;
    let wait: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0);
    let message = api_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(message.starts_with("too many invitations"), "{message}");

    // A member who may invite and set roles, with call permissions only, cannot make an
    // administrator.
    let admin = role(&app, &owner, &["Role:*:*", "Member:*:*", "Call:*:*"]).await;
    let calls = role(&app, &owner, &["Call:Collection:List"]).await;
    let inviter = app
        .member_with(
            &owner,
            &[
                "Member:Collection:Create",
                "Member:Collection:List",
                "Member:Instance:Update",
                "Call:Collection:List",
            ],
        )
        .await;
    let res = inviter
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "jo@example.com", "role_ids": [admin["id"]]}),
        )
        .await;
    let message = api_error(res, StatusCode::FORBIDDEN).await;
    assert!(
        message.starts_with("you do not have the permission"),
        "{message}"
    );
    let res = inviter
        .post_json(
            &app,
            "/api/invitations",
            &json!({"email": "jo@example.com", "role_ids": [calls["id"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Nor by changing a member's roles.
    let members: Vec<Value> = owner.get_json(&app, "/api/members").await;
    let me_as_member = members
        .iter()
        .find(|m| m["email"] == inviter.email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = inviter
        .client
        .put(app.url(&format!("/api/members/{me_as_member}")))
        .json(&json!({"role_ids": [admin["id"]]}))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::FORBIDDEN).await;
}
