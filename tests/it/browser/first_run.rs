//! A newcomer's first run in a real browser, with no configuration: sign up, take the built-in
//! sandbox as the Twilio account, import a number, point it at Loquent, create an agent, give it
//! the number, press Test call and watch the call arrive with its transcript and analysis.

use super::Driver;
use crate::support::TestApp;

#[tokio::test]
async fn a_newcomer_goes_from_sign_up_to_a_test_call_in_the_browser() {
    let browser = Driver::start().await;
    let app = TestApp::builder()
        .with_setting("LOQUENT_SANDBOX", "auto")
        .start()
        .await;
    browser
        .sign_up(&app, "Acme Plumbing", "ada@example.com")
        .await;

    // The first page says what to do first.
    browser.goto(&app.url("/calls")).await;
    let checklist = browser.text_of("#getting-started").await;
    assert!(checklist.contains("Connect Twilio"), "{checklist}");
    assert_eq!(
        browser
            .script("return document.querySelectorAll('#getting-started li.done').length")
            .await,
        0
    );
    browser.click("#getting-started [data-step=twilio] a").await;

    // The built-in sandbox as the Twilio account.
    browser.wait_for_path("/settings/twilio").await;
    browser.click("#connect-sandbox").await;
    browser
        .wait_for_text("[data-testid=sandbox-badge]", "Sandbox")
        .await;
    // Every page's header says the organization is on the sandbox.
    assert_eq!(
        browser.text_of("[data-testid=org-sandbox]").await,
        "Sandbox"
    );
    assert!(
        browser
            .text_of("#connection [role=status]")
            .await
            .contains("built-in sandbox")
    );

    // One of its numbers, imported and pointed at Loquent.
    browser.click("#fetch-numbers").await;
    browser.click("#import-form input[name=number]").await;
    browser.click("#import-selected").await;
    browser
        .wait_for_text("#import-result", "Imported 1 number")
        .await;
    browser.click("[data-configure]").await;
    browser
        .wait_for_text("#voice-result", "now sends its calls to Loquent")
        .await;

    // An agent that can end the call, answering that number.
    browser.goto(&app.url("/agents/new")).await;
    browser.type_into("#name", "Front desk").await;
    browser
        .type_into("#prompt", "You answer the phone for Acme Plumbing.")
        .await;
    browser.click("#tools_end_call").await;
    browser.click("#save").await;
    browser.wait_for_text(".table", "Front desk").await;
    browser.wait_for_text(".notice", "Agent created").await;
    browser.goto(&app.url("/settings/twilio")).await;
    browser
        .click("#number-list select[name=agent_id] option:nth-child(2)")
        .await;
    browser
        .click("#number-list button[type=submit].small")
        .await;
    browser.wait_for_text("#number-list", "Front desk").await;

    // The test call: the calls list shows it, then its page has the transcript.
    browser.click("[data-test-call]").await;
    browser.wait_for_path("/calls").await;
    let row = reload_until(
        &browser,
        &app.url("/calls"),
        "table#calls tbody",
        "completed",
    )
    .await;
    assert!(row.contains("+15005550006"), "{row}");
    let call_page = browser
        .script("return document.querySelector('table#calls tbody tr a').href")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let transcript = reload_until(&browser, &call_page, "ol.transcript", "Agent").await;
    assert!(transcript.contains("Caller"), "{transcript}");

    // Every step is done, so the checklist is gone.
    browser.goto(&app.url("/calls")).await;
    browser
        .wait_until(
            "return document.querySelector('table#calls') !== null \
             && document.getElementById('getting-started') === null",
            "the calls page without the checklist",
        )
        .await;

    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// Reloads `url` until `css` holds `wanted`: the call goes through the simulator and the
/// post-call pipeline in its own time, which can take longer than one wait on a busy machine.
async fn reload_until(browser: &Driver, url: &str, css: &str, wanted: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        browser.goto(url).await;
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : null;",
            serde_json::Value::from(css)
        );
        if let Some(text) = browser.script(&script).await.as_str()
            && text.contains(wanted)
        {
            return text.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never held {wanted:?}: {}",
            browser.source().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
