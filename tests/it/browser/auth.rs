//! Sign up, sign out, sign back in.

use super::Driver;
use crate::support::TestApp;

#[tokio::test]
async fn a_person_signs_up_signs_out_and_signs_back_in() {
    let browser = Driver::start().await;
    let app = TestApp::new().await;

    browser.goto(&app.url("/")).await;
    browser.wait_for_path("/login").await;
    browser.click("a[href='/signup']").await;
    browser.wait_for_path("/signup").await;

    browser
        .type_into("#organization_name", "Acme Plumbing")
        .await;
    browser.type_into("#email", "ada@example.com").await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;
    assert_eq!(
        browser.text_of("[data-testid=org-name]").await,
        "Acme Plumbing"
    );
    assert!(browser.text_of("main").await.contains("No calls yet"));

    browser.click("#logout").await;
    browser.wait_for_path("/login").await;
    browser.goto(&app.url("/settings")).await;
    browser.wait_for_path("/login").await;

    browser.type_into("#email", "ada@example.com").await;
    browser.type_into("#password", "wrong password").await;
    browser.click("#submit").await;
    assert!(browser.text_of("[role=alert]").await.contains("incorrect"));

    // The e-mail stays filled in; type only the password again.
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;
    browser.click("a[href='/settings']").await;
    browser.wait_for_path("/settings").await;
    assert!(browser.text_of("main").await.contains("Not connected"));

    let errors = browser.console_errors().await;
    // The wrong-password page answers 401, which Chromium logs as a failed resource load.
    let unexpected: Vec<_> = errors.iter().filter(|e| !e.contains("401")).collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:?}");
}

/// A person who forgot their password asks for a link on the sign-in page, follows the mailed
/// link (received by a real SMTP server process) and signs in with the new password.
#[tokio::test]
async fn a_person_resets_a_forgotten_password_through_the_mailed_link() {
    let smtp = crate::reports::Smtp::start().await;
    let browser = Driver::start().await;
    let app = TestApp::builder()
        .with_setting("LOQUENT_SMTP_URL", &smtp.url())
        .start()
        .await;
    let owner = app.owner("Acme Plumbing").await;

    browser.goto(&app.url("/login")).await;
    browser.click("#forgot").await;
    browser.wait_for_path("/forgot-password").await;
    browser.type_into("#email", &owner.email).await;
    browser.click("#submit").await;
    assert!(
        browser
            .wait_for_text("#sent", "on its way")
            .await
            .contains(&owner.email)
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        if let Some(m) = smtp.messages().first() {
            break m["text"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no mail arrived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/reset-password?token="))
        .expect("the link")
        .to_owned();
    assert!(link.starts_with(&app.url("/reset-password")), "{link}");

    browser.goto(&link).await;
    browser.type_into("#password", "my new secret words").await;
    browser.type_into("#confirm", "my new secret words").await;
    browser.click("#submit").await;
    browser.wait_for_path("/login?reset=done").await;
    assert!(
        browser
            .text_of("[role=status]")
            .await
            .contains("Your password is changed")
    );
    browser.type_into("#email", &owner.email).await;
    browser.type_into("#password", "my new secret words").await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;

    // The link worked once.
    browser.goto(&link).await;
    assert!(browser.text_of("#invalid").await.contains("does not work"));
    let errors = browser.console_errors().await;
    // The spent link's page answers 400, which Chromium logs as a failed resource load.
    let unexpected: Vec<_> = errors.iter().filter(|e| !e.contains("400")).collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:?}");
}

/// An administrator invites a person from the members page; the person opens the mailed link
/// (received by a real SMTP server process), chooses a password and lands in the organization.
#[tokio::test]
async fn an_invited_person_joins_through_the_mailed_link() {
    let smtp = crate::reports::Smtp::start().await;
    let browser = Driver::start().await;
    let app = TestApp::builder()
        .with_setting("LOQUENT_SMTP_URL", &smtp.url())
        .start()
        .await;

    browser
        .sign_up(&app, "Acme Plumbing", "ada@example.com")
        .await;
    browser.goto(&app.url("/settings/members")).await;
    // The role editor: one box per permission, each on screen, none over another.
    let layout = browser
        .script(
            "const boxes = [...document.querySelectorAll('#create-role input[type=checkbox]')]\
               .map((b) => b.getBoundingClientRect());\
             const overlap = (a, b) => a.left < b.right && b.left < a.right \
               && a.top < b.bottom && b.top < a.bottom;\
             let overlapping = 0;\
             boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => { if (overlap(a, b)) overlapping++; }));\
             return {count: boxes.length, hidden: boxes.filter((r) => r.width === 0).length, overlapping};",
        )
        .await;
    assert_eq!(
        layout["count"],
        loquent::auth::Permission::catalog().len(),
        "{layout}"
    );
    assert_eq!(layout["hidden"], 0, "{layout}");
    assert_eq!(layout["overlapping"], 0, "{layout}");
    browser
        .type_into("#create-role input[name=name]", "Dispatch")
        .await;
    browser
        .click("#create-role input[value='Call:Collection:List']")
        .await;
    browser.click("#create-role button[type=submit]").await;
    browser.wait_for_text("#invite fieldset", "Dispatch").await;
    browser
        .type_into("#invite input[name=email]", "grace@example.com")
        .await;
    browser.click("#invite input[name=role_id]").await;
    browser.click("#invite button[type=submit]").await;
    browser.wait_for_path("/settings/members").await;
    let row = browser
        .wait_for_text("#invitations", "grace@example.com")
        .await;
    assert!(
        row.contains("works until") && row.contains("Dispatch"),
        "{row}"
    );
    browser.click("#logout").await;
    browser.wait_for_path("/login").await;

    let message = smtp.wait_for(1).await.remove(0);
    assert_eq!(message["to"], "grace@example.com");
    let link = message["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.contains("/invitation?token="))
        .expect("the link")
        .to_owned();
    assert!(link.starts_with(&app.url("/invitation")), "{link}");

    browser.goto(&link).await;
    assert!(
        browser
            .text_of("#invited")
            .await
            .contains("ada@example.com invited grace@example.com to join Acme Plumbing")
    );
    browser.type_into("#password", "grace's own words").await;
    browser.type_into("#confirm", "grace's own words").await;
    browser.click("#accept").await;
    browser.wait_for_path("/calls").await;
    let page = browser.source().await;
    assert!(
        page.contains("grace@example.com"),
        "signed in as Grace: {page}"
    );
    assert!(page.contains("Acme Plumbing"));
    assert!(
        page.contains("<h1>Calls</h1>"),
        "Grace may list calls: {page}"
    );

    // The link worked once.
    browser.goto(&link).await;
    assert!(browser.text_of("#invalid").await.contains("does not work"));
    let errors = browser.console_errors().await;
    let unexpected: Vec<_> = errors.iter().filter(|e| !e.contains("400")).collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:?}");
}
