//! Sign-in protection through the front door, on SQLite and PostgreSQL: repeated wrong
//! passwords slow an account down (the same for an e-mail without an account), across two
//! server processes sharing the database; the per-address count; trusted proxies; the sign-in
//! history a user sees in the API and on their account page.

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};

use crate::support::{Member, TestApp, api_error};

const RIGHT: &str = "correct horse battery";

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    login_as(app, email, password, &[]).await
}

async fn login_as(
    app: &TestApp,
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = TestApp::client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("login")
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get(RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

/// `attempts` wrong passwords for `email`, each refused as wrong credentials (not throttled);
/// returns the last message.
async fn wrong_passwords(app: &TestApp, email: &str, attempts: usize) -> String {
    let mut message = String::new();
    for i in 0..attempts {
        let res = login(app, email, "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
        message = api_error(res, StatusCode::UNAUTHORIZED).await;
    }
    message
}

/// Every wait over, as if its time had passed (the first wait is half a minute).
async fn waits_pass(app: &TestApp) {
    use sea_orm::ConnectionTrait;
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let statement = sea_orm::Statement::from_sql_and_values(
        app.app.db.get_database_backend(),
        match app.app.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                "UPDATE sign_in_throttle SET blocked_until = $1 WHERE blocked_until IS NOT NULL"
            }
            _ => "UPDATE sign_in_throttle SET blocked_until = ? WHERE blocked_until IS NOT NULL",
        },
        [past.into()],
    );
    app.app.db.execute_raw(statement).await.unwrap();
}

/// `message` with its numbers taken out, to compare two refusals whose waits were read a
/// moment apart.
fn without_digits(message: &str) -> String {
    message.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// A refusal for too many attempts: its `Retry-After` (checked to be within `range`) and
/// message.
async fn throttled(res: reqwest::Response, range: std::ops::RangeInclusive<u64>) -> String {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!(
        range.contains(&wait),
        "Retry-After {wait}, expected {range:?}"
    );
    let message = api_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        message.starts_with("too many sign-in attempts; try again in "),
        "{message}"
    );
    message
}

#[tokio::test]
async fn repeated_wrong_passwords_slow_the_account_down_whether_or_not_it_exists() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;

    // Five tries at full speed; the sixth is refused before its password is looked at, even
    // the right one, with how long to wait.
    let wrong = wrong_passwords(&app, &owner.email, 5).await;
    let message = throttled(login(&app, &owner.email, RIGHT).await, 20..=30).await;
    // Hammering during the wait does not lengthen it.
    for _ in 0..5 {
        throttled(login(&app, &owner.email, "not the password").await, 20..=30).await;
    }

    // The same answers for an e-mail without an account.
    let nobody = "nobody-here@example.com";
    assert_eq!(wrong_passwords(&app, nobody, 5).await, wrong);
    // The wait may have ticked down a second in between: the words must match, not the count.
    assert_eq!(
        without_digits(&throttled(login(&app, nobody, "whatever").await, 20..=30).await),
        without_digits(&message)
    );

    // After the wait, the next wrong password earns twice the wait.
    waits_pass(&app).await;
    wrong_passwords(&app, &owner.email, 1).await;
    let message = throttled(login(&app, &owner.email, RIGHT).await, 50..=60).await;
    // A full minute reads as one; a slow machine may already be a second or two into it.
    let rest = message.trim_start_matches("too many sign-in attempts; try again in ");
    assert!(
        rest == "1 minute"
            || rest
                .strip_suffix(" seconds")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| (50..60).contains(&n)),
        "{message}"
    );

    // The right password after the wait signs in, and the account starts again from nothing.
    waits_pass(&app).await;
    let res = login(&app, &owner.email, RIGHT).await;
    assert_eq!(res.status(), StatusCode::OK);
    wrong_passwords(&app, &owner.email, 5).await;
    throttled(login(&app, &owner.email, RIGHT).await, 20..=30).await;
}

#[tokio::test]
async fn two_server_processes_share_the_count() {
    let app = TestApp::new().await;
    let other = app.sibling().await;
    let owner = app.owner("Acme").await;

    // Alternating between the processes does not earn more attempts.
    for i in 0..5 {
        let server = if i % 2 == 0 { &app } else { &other };
        let res = login(server, &owner.email, "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    for server in [&app, &other] {
        throttled(login(server, &owner.email, RIGHT).await, 20..=30).await;
    }

    // A burst of parallel guesses against both is counted in full: of twelve, at most the
    // first few reach a password, the rest wait.
    let victim = app.owner("Globex").await;
    let guesses = (0..12).map(|i| {
        let server = if i % 2 == 0 { &app } else { &other };
        login(server, &victim.email, "guess")
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!((1..=5).contains(&checked), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_slowed_down() {
    let app = TestApp::new().await;
    // Twenty wrong passwords from this address over twenty e-mails: each account is far from
    // its own limit, the address reaches its.
    for i in 0..20 {
        let res = login(&app, &format!("user{i}@example.com"), "guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    throttled(login(&app, "user21@example.com", "guess").await, 20..=30).await;
}

#[tokio::test]
async fn trusted_proxies_name_the_client_and_others_cannot() {
    // Behind a proxy at 127.0.0.1 (the test client's address), each forwarded client has its
    // own count, and the history shows the forwarded address.
    let app = TestApp::builder()
        .with_setting("LOQUENT_TRUSTED_PROXIES", "127.0.0.0/8, ::1")
        .start()
        .await;
    for i in 0..20 {
        let res = login_as(
            &app,
            &format!("user{i}@example.com"),
            "guess",
            &[("x-forwarded-for", "198.51.100.7")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    let res = login_as(
        &app,
        "user21@example.com",
        "guess",
        &[("x-forwarded-for", "198.51.100.7")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not held up by that one.
    let res = login_as(
        &app,
        "user21@example.com",
        "guess",
        &[("x-forwarded-for", "203.0.113.5")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let owner = app.owner("Acme").await;
    let res = login_as(
        &app,
        &owner.email,
        RIGHT,
        &[("x-forwarded-for", "6.6.6.6, 203.0.113.5")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let history: Value = owner.get_json(&app, "/api/auth/sign-ins").await;
    assert_eq!(history["items"][0]["address"], "203.0.113.5");

    // Without trusted proxies, the header is the client's own word and is ignored.
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let res = login_as(
        &app,
        &owner.email,
        RIGHT,
        &[("x-forwarded-for", "203.0.113.5")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let history: Value = owner.get_json(&app, "/api/auth/sign-ins").await;
    assert_eq!(history["items"][0]["address"], "127.0.0.1");
}

async fn signed_in(app: &TestApp, email: &str, user_agent: &str) -> Member {
    let client = TestApp::client();
    let res = client
        .post(app.url("/api/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": RIGHT}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    Member {
        client,
        email: email.to_owned(),
        me,
    }
}

#[tokio::test]
async fn users_see_their_own_sign_in_history() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Globex").await;
    let res = TestApp::client()
        .post(app.url("/api/auth/login"))
        .header("user-agent", "Sneaky/1.0")
        .json(&json!({"email": owner.email, "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let owner = signed_in(&app, &owner.email, "Firefox/140.0").await;

    let history: Value = owner.get_json(&app, "/api/auth/sign-ins").await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{history}");
    assert_eq!(items[0]["succeeded"], true);
    assert_eq!(items[0]["user_agent"], "Firefox/140.0");
    assert_eq!(items[0]["address"], "127.0.0.1");
    assert_eq!(items[1]["succeeded"], false);
    assert_eq!(items[1]["user_agent"], "Sneaky/1.0");
    assert_eq!(history["next_cursor"], Value::Null);
    // Pages, newest first.
    let first: Value = owner.get_json(&app, "/api/auth/sign-ins?limit=1").await;
    assert_eq!(first["items"][0]["id"], items[0]["id"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = owner
        .get_json(&app, &format!("/api/auth/sign-ins?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["items"][0]["id"], items[1]["id"]);
    let res = owner
        .client
        .get(app.url("/api/auth/sign-ins?limit=0"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::BAD_REQUEST).await;

    // Someone else's are not shown (sign-up is not a password sign-in).
    let theirs: Value = other.get_json(&app, "/api/auth/sign-ins").await;
    assert_eq!(theirs["items"], json!([]));
    let res = TestApp::client()
        .get(app.url("/api/auth/sign-ins"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::UNAUTHORIZED).await;

    // The account page shows the same, linked from the e-mail in the header.
    let html = owner.page(&app, "/account").await;
    assert!(html.contains("href=\"/account\""));
    assert!(html.contains("Sign-in history"));
    assert!(html.contains("Wrong password"));
    assert!(html.contains("Sneaky/1.0"));
    assert!(html.contains("Firefox/140.0"));
    let html = other.page(&app, "/account").await;
    assert!(html.contains("No password sign-ins yet."));
}

#[tokio::test]
async fn the_sign_in_form_says_when_to_try_again() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    wrong_passwords(&app, &owner.email, 5).await;
    let browser = TestApp::client();
    let html = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::support::csrf_in(&html);
    let token = token.as_str();
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token),
            ("email", owner.email.as_str()),
            ("password", RIGHT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((20..=30).contains(&retry_after(&res)));
    let html = res.text().await.unwrap();
    assert!(html.contains("too many sign-in attempts; try again in "));
    assert!(html.contains(&owner.email), "the e-mail stays filled in");
}

/// `loquent user reset-password`, run by an operator beside the server on its database.
fn reset_password(app: &TestApp, email: &str, password: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_loquent"))
        .env("LOQUENT_DATA_DIR", dir.path())
        .env("LOQUENT_DATABASE_URL", app.database_url())
        .env_remove("LOQUENT_LISTEN")
        .env_remove("LOQUENT_CONFIG")
        .env("LOQUENT_USER_PASSWORD", password)
        .args(["user", "reset-password", "--email", email])
        .output()
        .expect("loquent runs")
}

#[tokio::test]
async fn an_operator_resets_a_forgotten_password_and_ends_every_session() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    wrong_passwords(&app, &owner.email, 5).await;
    throttled(login(&app, &owner.email, RIGHT).await, 20..=30).await;

    let out = reset_password(&app, &owner.email.to_uppercase(), "brand new secret 9");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("set a new password for {}", owner.email)),
        "{stdout}"
    );
    assert!(stdout.contains("ended 1 session(s)"), "{stdout}");

    // The session that existed is over; the old password is refused, the new one signs in at
    // once (the wait is lifted).
    let res = owner
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = login(&app, &owner.email, "brand new secret 9").await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login(&app, &owner.email, RIGHT).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // What cannot be done says why and changes nothing.
    for (email, password, says) in [
        (
            "nobody@example.com",
            "long enough pw",
            "there is no account with the e-mail nobody@example.com",
        ),
        (owner.email.as_str(), "short", "at least 8 characters"),
    ] {
        let out = reset_password(&app, email, password);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
    let res = login(&app, &owner.email, "brand new secret 9").await;
    assert_eq!(res.status(), StatusCode::OK);
}
