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
