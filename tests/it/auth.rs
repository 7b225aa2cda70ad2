use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, api_error};

#[tokio::test]
async fn sign_up_signs_in_and_me_describes_the_owner() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme Plumbing").await;
    assert_eq!(owner.me["organization"]["name"], "Acme Plumbing");
    assert_eq!(owner.me["is_owner"], true);
    assert_eq!(owner.me["user"]["email"], owner.email.as_str());

    let me: Value = owner.get_json(&app, "/api/auth/me").await;
    assert_eq!(me, owner.me);
    // Secrets and hashes never appear in what the API returns.
    assert!(!me.to_string().contains("argon2"));
}

#[tokio::test]
async fn session_cookie_is_http_only_and_lax() {
    let app = TestApp::new().await;
    let res = TestApp::client()
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": "long enough", "organization_name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("loquent_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    // Served over plain http here, so not Secure (it would never be sent back).
    assert!(!cookie.contains("Secure"));
}

#[tokio::test]
async fn secure_cookie_behind_https_public_url() {
    let app = TestApp::builder()
        .with_setting("LOQUENT_PUBLIC_URL", "https://loquent.example.com")
        .start()
        .await;
    let res = TestApp::client()
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": "long enough", "organization_name": "Acme"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn logout_ends_the_session_server_side() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let res = owner
        .client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = owner
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn stolen_cookie_stops_working_after_logout() {
    let app = TestApp::new().await;
    let res = TestApp::client()
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": "long enough", "organization_name": "Acme"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let plain = reqwest::Client::new();
    let me = plain
        .get(app.url("/api/auth/me"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    plain
        .post(app.url("/api/auth/logout"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    let me = plain
        .get(app.url("/api/auth/me"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_with_right_and_wrong_passwords() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let client = TestApp::client();

    let wrong = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": owner.email, "password": "not the password"}))
        .send()
        .await
        .unwrap();
    let msg = api_error(wrong, StatusCode::UNAUTHORIZED).await;
    // The same words for an unknown e-mail: sign-in does not reveal who has an account.
    let unknown = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(unknown, StatusCode::UNAUTHORIZED).await, msg);

    let right = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": owner.email.to_uppercase(), "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    let me: Value = right.json().await.unwrap();
    assert_eq!(me["organization"]["id"], owner.me["organization"]["id"]);
}

#[tokio::test]
async fn bad_sign_up_input_gets_clear_4xx() {
    let app = TestApp::new().await;
    let client = TestApp::client();
    let url = app.url("/api/auth/signup");

    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            client.post(&url).header("content-type", "application/json").body("{\"email\": "),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (
            client.post(&url).json(&json!({"email": "a@example.com"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field",
        ),
        (
            client.post(&url).body("email=a"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            client.post(&url).json(&json!({"email": "not-an-email", "password": "long enough", "organization_name": "A"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a valid e-mail",
        ),
        (
            client.post(&url).json(&json!({"email": "a@example.com", "password": "short", "organization_name": "A"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least 8",
        ),
        (
            client.post(&url).json(&json!({"email": "a@example.com", "password": "long enough", "organization_name": "  "})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "organization name",
        ),
    ];
    for (request, status, words) in cases {
        let res = request.send().await.unwrap();
        let message = api_error(res, status).await;
        assert!(
            message.contains(words),
            "`{message}` should mention `{words}`"
        );
    }
}

#[tokio::test]
async fn e_mail_can_sign_up_once() {
    let app = TestApp::new().await;
    let body =
        json!({"email": "ada@example.com", "password": "long enough", "organization_name": "One"});
    let first = TestApp::client()
        .post(app.url("/api/auth/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = TestApp::client()
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": "ADA@example.com", "password": "long enough", "organization_name": "Two"}))
        .send()
        .await
        .unwrap();
    let message = api_error(again, StatusCode::CONFLICT).await;
    assert!(message.contains("already exists"));
}

#[tokio::test]
async fn oversized_body_is_413_not_500() {
    let app = TestApp::new().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = TestApp::client()
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": "a@example.com", "password": huge, "organization_name": "A"}))
        .send()
        .await
        .unwrap();
    let message = api_error(res, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(message.contains("too large"));
}

#[tokio::test]
async fn api_without_session_is_401() {
    let app = TestApp::new().await;
    for path in [
        "/api/auth/me",
        "/api/members",
        "/api/roles",
        "/api/permissions",
    ] {
        let res = reqwest::get(app.url(path)).await.unwrap();
        api_error(res, StatusCode::UNAUTHORIZED).await;
    }
    let res = reqwest::get(app.url("/api/no-such-thing")).await.unwrap();
    api_error(res, StatusCode::NOT_FOUND).await;
}
