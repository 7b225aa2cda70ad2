//! Create an agent, get a field wrong, fix it, then change its voice.

use super::Driver;
use crate::support::TestApp;

#[tokio::test]
async fn a_person_creates_an_agent_fixes_a_bad_number_and_changes_its_voice() {
    let browser = Driver::start().await;
    let app = TestApp::new().await;

    browser.goto(&app.url("/signup")).await;
    browser
        .type_into("#organization_name", "Acme Plumbing")
        .await;
    browser.type_into("#email", "ada@example.com").await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;

    browser.click("a[href='/agents']").await;
    browser.wait_for_path("/agents").await;
    assert!(browser.text_of("main").await.contains("No agents yet"));
    browser.click("#list-action").await;
    browser.wait_for_path("/agents/new").await;

    browser.type_into("#name", "Front desk").await;
    browser
        .type_into("#prompt", "You answer for Acme Plumbing. Book visits.")
        .await;
    browser.click("#tools_transfer_call").await;
    browser
        .type_into("#transfer_numbers", "+14155550100\n415 555 0101")
        .await;
    browser.click("#save").await;

    // The same form comes back with the problem beside the field and the typed values kept.
    let error = browser.text_of("#error-transfer_numbers").await;
    assert!(
        error.contains("`415 555 0101` is not in international format"),
        "{error}"
    );
    assert!(
        browser
            .text_of("[role=alert]")
            .await
            .contains("Nothing was saved")
    );
    assert_eq!(browser.value_of("#name").await, "Front desk");
    assert_eq!(
        browser.value_of("#transfer_numbers").await,
        "+14155550100\n415 555 0101"
    );
    assert!(browser.is_selected("#tools_transfer_call").await);

    browser.clear("#transfer_numbers").await;
    browser
        .type_into("#transfer_numbers", "+14155550100\n+1 415 555 0101")
        .await;
    browser.click("#save").await;

    // Saved: back on the list, which shows it.
    let table = browser.text_of(".table").await;
    assert!(table.contains("Front desk"), "{table}");
    assert!(table.contains("OpenAI Realtime"));
    assert!(table.contains("marin"), "the default voice: {table}");

    browser.click(".table a").await;
    browser.find("#agent-form").await;
    assert_eq!(browser.text_of("h1").await, "Front desk");
    assert_eq!(
        browser.value_of("#transfer_numbers").await,
        "+14155550100\n+14155550101"
    );
    // Switching provider switches the voice and model to that provider's defaults, and back.
    browser.click("#provider option[value='gemini']").await;
    assert_eq!(browser.value_of("#voice").await, "Kore");
    assert!(browser.value_of("#model").await.starts_with("gemini-"));
    browser.click("#provider option[value='openai']").await;
    assert_eq!(browser.value_of("#voice").await, "marin");
    assert_eq!(browser.value_of("#model").await, "gpt-realtime");
    browser.click("#voice option[value='cedar']").await;
    browser.click("#save").await;

    let table = browser.text_of(".table").await;
    assert!(table.contains("cedar"), "{table}");
    browser.click(".table a").await;
    browser.find("#agent-form").await;
    assert_eq!(browser.value_of("#voice").await, "cedar");

    let errors = browser.console_errors().await;
    // The rejected form answers 422, which Chromium logs as a failed resource load.
    let unexpected: Vec<_> = errors.iter().filter(|e| !e.contains("422")).collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:?}");
}
