//! Settings → Twilio connection: connect an account (a wrong token first), import numbers,
//! configure one number's voice webhook and restore it, checking Twilio (the sandbox) each time.

use super::Driver;
use crate::support::TestApp;

const OLD_URL: &str = "https://old-ivr.example.com/voice";

#[tokio::test]
async fn a_person_connects_twilio_imports_numbers_and_configures_and_restores_one() {
    let browser = Driver::start().await;
    let app = TestApp::builder().with_sandbox().start().await;
    let account = app.twilio_account(3, 41).await;
    let (first, second) = (&account.numbers[0], &account.numbers[1]);
    app.set_voice_url_on_twilio(&account, &first.sid, OLD_URL)
        .await;

    browser
        .sign_up(&app, "Acme Plumbing", "ada@example.com")
        .await;
    browser.goto(&app.url("/settings")).await;
    browser.click("#twilio-settings").await;

    // A wrong token: the reason is shown beside the form, the SID stays typed, the token does not.
    browser
        .type_into("#account_sid", &account.account_sid)
        .await;
    browser.type_into("#auth_token", "not-the-token").await;
    browser.click("#connect").await;
    browser
        .wait_for_text("#connection-error", "Twilio rejected these credentials")
        .await;
    assert_eq!(browser.value_of("#account_sid").await, account.account_sid);
    assert_eq!(browser.value_of("#auth_token").await, "");
    // The address bar stays on the page, so a reload does not send the form again.
    assert_eq!(browser.url().await, app.url("/settings/twilio"));

    browser.type_into("#auth_token", &account.auth_token).await;
    browser.click("#connect").await;
    let tail = &account.account_sid[account.account_sid.len() - 4..];
    browser
        .wait_for_text("[data-testid=twilio-sid]", &format!("AC••••••••{tail}"))
        .await;
    let html = browser.source().await;
    assert!(
        !html.contains(&account.auth_token),
        "the token reached the page"
    );
    assert!(
        !html.contains(&account.account_sid),
        "the full SID reached the page"
    );

    // Fetch → select two → Import selected (2) → the result.
    browser.click("#fetch-numbers").await;
    assert_eq!(
        browser.text_of("#import-selected").await,
        "Import selected (0)"
    );
    browser
        .click(&format!("[id='import-{}']", first.phone_number))
        .await;
    browser
        .click(&format!("[id='import-{}']", second.phone_number))
        .await;
    assert_eq!(
        browser.text_of("#import-selected").await,
        "Import selected (2)"
    );
    browser.click("#import-selected").await;
    browser
        .wait_for_text("#import-result", "Imported 2 numbers.")
        .await;
    let listed = browser.text_of("#number-list").await;
    assert!(listed.contains(&first.phone_number) && listed.contains(&second.phone_number));
    assert!(!listed.contains(&account.numbers[2].phone_number));

    // Configure the first number: Twilio now calls us, and its old URL is shown for Restore.
    let row = format!(
        "#voice-list tr[data-number='{}'] .voice-state",
        first.phone_number
    );
    assert_eq!(browser.text_of(&row).await, "Not configured");
    browser
        .click(&format!("[data-configure='{}']", first.phone_number))
        .await;
    browser
        .wait_for_text("#voice-result", "now sends its calls to Loquent")
        .await;
    assert_eq!(
        app.voice_url_on_twilio(&account, &first.sid)
            .await
            .as_deref(),
        Some("https://loquent.example.com/twilio/voice")
    );
    assert!(browser.text_of(&row).await.contains(OLD_URL));

    // Restore asks first, then puts the old URL back exactly.
    browser
        .click(&format!("[data-restore='{}']", first.phone_number))
        .await;
    browser.accept_dialog().await;
    browser
        .wait_for_text("#voice-result", "back to its previous voice URL")
        .await;
    assert_eq!(
        app.voice_url_on_twilio(&account, &first.sid)
            .await
            .as_deref(),
        Some(OLD_URL)
    );
    assert_eq!(browser.text_of(&row).await, "Not configured");

    let errors = browser.console_errors().await;
    // The rejected connect answers 400, which Chromium logs as a failed resource load.
    let unexpected: Vec<_> = errors.iter().filter(|e| !e.contains("400")).collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:?}");
}
