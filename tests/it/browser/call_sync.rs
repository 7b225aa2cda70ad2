//! Settings → Twilio → Sync call history in a real browser: one click imports a number's
//! history, and the row follows the live phases to Done, which comes only after the last
//! recording has been processed.

use loquent::entity::job;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Driver;
use crate::call_sync::history;

#[tokio::test]
async fn a_person_syncs_a_numbers_history_and_watches_it_reach_done() {
    let browser = Driver::start().await;
    let h = history(1, 12, 0.5, 45).await;
    let (phone_id, _) = h.phone(0);

    browser.goto(&h.app.url("/login")).await;
    browser.type_into("#email", &h.owner.email).await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#submit").await;
    browser.wait_for_path("/calls").await;
    browser.goto(&h.app.url("/settings/twilio")).await;
    let row = format!("tr[data-sync-number='{phone_id}']");
    browser
        .wait_for_text(&format!("{row} .sync-phase"), "Never synced")
        .await;

    browser
        .click(&format!("button[data-sync='{phone_id}']"))
        .await;
    browser
        .wait_for_text("#sync-result", "Imported 12 calls (0 already here)")
        .await;
    browser
        .wait_for_text(&format!("{row} .sync-phase"), "Done")
        .await;
    // Done means every recording of the sync has been dealt with.
    let open = job::Entity::find()
        .filter(job::Column::GroupId.is_not_null())
        .filter(job::Column::Status.is_in(["waiting", "queued", "running"]))
        .all(&h.app.app.db)
        .await
        .unwrap();
    assert!(open.is_empty(), "Done before the recordings: {open:?}");
    assert!(
        browser
            .text_of(&format!("{row} .sync-counts"))
            .await
            .contains("12 imported"),
    );
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}
