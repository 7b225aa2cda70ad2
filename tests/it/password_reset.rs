//! Password reset by e-mail through the front door, on SQLite and PostgreSQL, with a real SMTP
//! server process (aiosmtpd): the link is mailed only for an account, works once and within the
//! hour, ends every session; requests are throttled; without SMTP the pages say what an
//! operator runs.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::reports::Smtp;
use crate::support::{TestApp, api_error, csrf_in};

const NEW_PASSWORD: &str = "a brand new password";

async fn mailing_app(smtp: &Smtp) -> TestApp {
    TestApp::builder()
        .with_settings(&[
            ("LOQUENT_SMTP_URL", &smtp.url()),
            ("LOQUENT_PUBLIC_URL", "https://loquent.example.com"),
        ])
        .start()
        .await
}

async fn ask(app: &TestApp, email: &str) -> reqwest::Response {
    TestApp::client()
        .post(app.url("/api/auth/password-reset"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap()
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    TestApp::client()
        .post(app.url("/api/auth/password-reset/confirm"))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> StatusCode {
    TestApp::client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn mail(smtp: &Smtp, n: usize) -> Vec<Value> {
    smtp.wait_for(n).await
}

/// The link's token in a message's text.
fn token_in(message: &Value) -> String {
    let text = message["text"].as_str().expect("a text part");
    let start = text
        .find("https://loquent.example.com/reset-password?token=")
        .expect("the link")
        + "https://loquent.example.com/reset-password?token=".len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn a_mailed_link_sets_a_new_password_once_and_ends_every_session() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Acme").await;

    // The same answer for an account and for an e-mail without one; only the account is
    // mailed.
    let res = ask(&app, "nobody@example.com").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let nobody: Value = res.json().await.unwrap();
    let res = ask(&app, &owner.email.to_uppercase()).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap(), nobody);
    let messages = mail(&smtp, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "one message, for the account");
    let message = &messages[0];
    assert_eq!(message["to"], owner.email.as_str());
    assert_eq!(message["subject"], "Reset your Loquent password");
    let token = token_in(message);
    assert_eq!(token.len(), 43);
    assert!(
        message["html"]
            .as_str()
            .unwrap()
            .contains(&format!("/reset-password?token={token}"))
    );
    let text = message["text"].as_str().unwrap().replace(&token, "[token]");
    let text = regex_lite_time(&text);
    insta::assert_snapshot!("password_reset_email", text);

    // The token is not stored: the database holds its hash only.
    {
        use sea_orm::EntityTrait;
        let rows = loquent::entity::password_reset::Entity::find()
            .all(&app.app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let stored = rows[0].token_hash.clone().unwrap();
        assert_ne!(stored, token);
        assert!(!stored.contains(&token));
    }

    // A weak password is refused without using the link; a tampered token does nothing.
    let res = confirm(&app, &token, "short").await;
    api_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    for bad in [tampered.as_str(), "", "not-a-token"] {
        let res = confirm(&app, bad, NEW_PASSWORD).await;
        let message = api_error(res, StatusCode::BAD_REQUEST).await;
        assert!(message.contains("ask for a new one"), "{message}");
    }

    // The link sets the password and ends the existing session.
    let res = confirm(&app, &token, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = owner
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        login(&app, &owner.email, "correct horse battery").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, &owner.email, NEW_PASSWORD).await,
        StatusCode::OK
    );

    // Once only.
    let res = confirm(&app, &token, "yet another password").await;
    api_error(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        login(&app, &owner.email, NEW_PASSWORD).await,
        StatusCode::OK
    );

    // Within the hour only.
    assert_eq!(ask(&app, &owner.email).await.status(), StatusCode::ACCEPTED);
    let token = token_in(&mail(&smtp, 2).await[1]);
    {
        use loquent::entity::password_reset;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        password_reset::Entity::update_many()
            .col_expr(
                password_reset::Column::ExpiresAt,
                (chrono::Utc::now() - chrono::Duration::seconds(1)).into(),
            )
            .filter(password_reset::Column::UsedAt.is_null())
            .exec(&app.app.db)
            .await
            .unwrap();
    }
    let res = confirm(&app, &token, "yet another password").await;
    api_error(res, StatusCode::BAD_REQUEST).await;
    let page = TestApp::client()
        .get(app.url(&format!("/reset-password?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("Ask for a new link"));
}

/// Replaces the link's expiry time, which moves with the clock.
fn regex_lite_time(text: &str) -> String {
    let marker = "It works once, until ";
    let Some(start) = text.find(marker) else {
        return text.to_owned();
    };
    let from = start + marker.len();
    let end = from + text[from..].find('.').unwrap();
    format!("{}[time]{}", &text[..from], &text[end..])
}

#[tokio::test]
async fn asking_too_often_waits_the_same_for_every_e_mail() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Acme").await;
    for email in [owner.email.as_str(), "nobody@example.com"] {
        for _ in 0..3 {
            assert_eq!(ask(&app, email).await.status(), StatusCode::ACCEPTED);
        }
        let res = ask(&app, email).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        let message = api_error(res, StatusCode::TOO_MANY_REQUESTS).await;
        assert!(message.starts_with("too many"), "{message}");
    }
    let res = ask(&app, "not an e-mail").await;
    api_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn the_pages_lead_from_sign_in_to_a_new_password() {
    let smtp = Smtp::start().await;
    let app = mailing_app(&smtp).await;
    let owner = app.owner("Acme").await;
    let browser = TestApp::client();
    let login_page = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("href=\"/forgot-password\""));
    let html = browser
        .get(app.url("/forgot-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = browser
        .post(app.url("/forgot-password"))
        .form(&[
            ("csrf_token", csrf_in(&html).as_str()),
            ("email", owner.email.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("a link to choose a new password is on its way")
    );
    let token = token_in(&mail(&smtp, 1).await[0]);

    let res = browser
        .get(app.url(&format!("/reset-password?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let csrf = csrf_in(&html);
    // Two different passwords: said, and the link still works.
    let res = browser
        .post(app.url("/reset-password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", token.as_str()),
            ("password", NEW_PASSWORD),
            ("confirm", "something else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("the two passwords differ")
    );
    let res = browser
        .post(app.url("/reset-password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", token.as_str()),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?reset=done");
    let html = browser
        .get(app.url("/login?reset=done"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your password is changed."));
    assert_eq!(
        login(&app, &owner.email, NEW_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_smtp_the_page_says_what_an_operator_runs() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let html = TestApp::client()
        .get(app.url("/forgot-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("loquent user reset-password --email you@example.com"));
    assert!(!html.contains("Mail me a link"));
    let res = ask(&app, &owner.email).await;
    let message = api_error(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(message.contains("loquent user reset-password"), "{message}");
}
