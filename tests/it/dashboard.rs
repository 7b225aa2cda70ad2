//! The dashboard over plain HTTP: forms, redirects, CSRF and permission pages.

use reqwest::StatusCode;

use crate::support::{TestApp, csrf_in};

#[tokio::test]
async fn sign_up_form_creates_the_organization_and_lands_on_calls() {
    let app = TestApp::new().await;
    let browser = TestApp::client();
    let page = browser.get(app.url("/signup")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let token = csrf_in(&page.text().await.unwrap());

    let res = browser
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("organization_name", "Acme <Plumbing>"),
            ("email", "ada@example.com"),
            ("password", "long enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/calls");

    let calls = browser.get(app.url("/calls")).send().await.unwrap();
    assert_eq!(calls.status(), StatusCode::OK);
    let html = calls.text().await.unwrap();
    // The name is shown, escaped.
    assert!(
        html.contains("Acme &#60;Plumbing&#62;") || html.contains("Acme &lt;Plumbing&gt;"),
        "{html}"
    );
    assert!(html.contains("No calls yet"));
    for link in [
        "/calls",
        "/contacts",
        "/agents",
        "/analyzers",
        "/todos",
        "/settings",
    ] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "nav link {link}"
        );
        let res = browser.get(app.url(link)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{link}");
    }
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::new().await;
    let browser = TestApp::client();
    // Get a CSRF cookie, then post with a forged token (as a cross-site form would).
    browser.get(app.url("/signup")).send().await.unwrap();
    let res = browser
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", "forged-forged-forged-forged-forged-forged"),
            ("organization_name", "Evil"),
            ("email", "evil@example.com"),
            ("password", "long enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("expired"));

    // Without any cookie at all, also refused.
    let res = reqwest::Client::new()
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", "x"),
            ("email", "a@example.com"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_with_an_error() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let browser = TestApp::client();
    let token = csrf_in(
        &browser
            .get(app.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", owner.email.as_str()),
            ("password", "nope nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(html.contains("e-mail or password is incorrect"));
    assert!(html.contains(&owner.email), "the e-mail stays filled in");
}

#[tokio::test]
async fn pages_send_strangers_to_sign_in_and_members_without_permission_get_403() {
    let app = TestApp::new().await;
    let res = TestApp::client()
        .get(app.url("/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");

    let owner = app.owner("Acme").await;
    let member = app.member_with(&owner, &["Contact:Collection:List"]).await;
    let res = member
        .client
        .get(app.url("/contacts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = member.client.get(app.url("/calls")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Call:Collection:List"));

    let res = TestApp::client()
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn members_page_invites_a_member_and_creates_a_role() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let html = owner.page(&app, "/settings/members").await;
    let token = csrf_in(&html);

    let res = owner
        .client
        .post(app.url("/settings/roles"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Dispatch"),
            ("permission", "Call:Collection:List"),
            ("permission", "Todo:Collection:List"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let html = owner.page(&app, "/settings/members").await;
    assert!(html.contains("Dispatch"));
    assert!(html.contains("Todo:Collection:List"));

    // A bad e-mail shows the page again with the reason, not a blank error.
    let res = owner
        .client
        .post(app.url("/settings/invitations"))
        .form(&[("csrf_token", token.as_str()), ("email", "not an email")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("not a valid e-mail"));

    // Without SMTP the page hands over the link, once; the invitation is listed as pending.
    let res = owner
        .client
        .post(app.url("/settings/invitations"))
        .form(&[("csrf_token", token.as_str()), ("email", "bob@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("pass this link to bob@example.com yourself"));
    let start = html.find("id=\"invitation-link\"").unwrap();
    let link = &html[start..];
    let link = &link[link.find("value=\"").unwrap() + 7..];
    let link = &link[..link.find('"').unwrap()];
    let invite_token = crate::support::token_of_link(link);
    let html = owner.page(&app, "/settings/members").await;
    assert!(html.contains("<td>bob@example.com</td>"));
    assert!(html.contains("works until"));
    assert!(!html.contains("invitation-link"), "shown only once");

    // Bob opens it, chooses his password and lands in Acme's dashboard, signed in.
    let bob = TestApp::client();
    let html = bob
        .get(app.url(&format!("/invitation?token={invite_token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("to join <strong>Acme</strong>"), "{html}");
    let res = bob
        .post(app.url("/invitation"))
        .form(&[
            ("csrf_token", csrf_in(&html).as_str()),
            ("token", invite_token.as_str()),
            ("password", "bob's own password"),
            ("confirm", "bob's own password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/");
    let me: serde_json::Value = bob
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["organization"]["name"], "Acme");
    assert_eq!(me["user"]["email"], "bob@example.com");
    let html = owner.page(&app, "/settings/members").await;
    assert!(html.contains("<td>bob@example.com</td>") && !html.contains("works until"));
}
