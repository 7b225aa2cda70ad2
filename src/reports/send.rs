//! The report job ([`crate::calls::after::kind::SEND_REPORT`]): once the other post-call steps of
//! its round are over, one e-mail about the call to the organization's report recipients.
//!
//! All recipients are in `To` of one message: they are the organization's own list, shown to
//! every member who can open Settings → Reports, so naming them to each other discloses nothing,
//! and a reply-all reaches the whole team.
//!
//! At least once, not exactly once: the job is marked done by the runner right after the SMTP
//! server accepted the message (the handler sends as its very last step). A process that dies in
//! between — after the server's `250` and before the `done` update — leaves the job running until
//! its lease expires, and the next run sends the report again. No local write can close that
//! window (the SMTP server's acceptance and our database are not one transaction); it is a few
//! milliseconds wide, and a duplicate report is harmless.

use std::time::Duration;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use url::Url;

use super::{compose, recipients};
use crate::calls::after::{CallJob, reported_steps_pending};
use crate::entity::{call, job};
use crate::jobs::{Handler, Outcome};
use crate::mail::Mailer;

/// The report is sent after the other steps; it checks again this often while they run.
pub const WAIT_FOR_STEPS: Duration = Duration::from_secs(2);

/// Sends call reports.
pub struct SendReport {
    pub db: DatabaseConnection,
    /// `None` without `LOQUENT_SMTP_URL`: the reports are skipped.
    pub mailer: Option<Mailer>,
    pub public_url: Url,
}

#[async_trait::async_trait]
impl Handler for SendReport {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let payload: CallJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| format!("the report job's payload is unreadable: {e}"))?;
        if reported_steps_pending(&self.db, payload.call_id, &payload.round)
            .await
            .map_err(|e| db_error(&e))?
        {
            return Ok(Outcome::Later(WAIT_FOR_STEPS));
        }
        let Some(mailer) = &self.mailer else {
            return Ok(Outcome::Skipped(
                "no SMTP server is configured (LOQUENT_SMTP_URL)".to_owned(),
            ));
        };
        let mut found = call::Entity::find_by_id(payload.call_id);
        if let Some(org) = job.organization_id {
            found = found.filter(call::Column::OrganizationId.eq(org));
        }
        let Some(call) = found.one(&self.db).await.map_err(|e| db_error(&e))? else {
            return Ok(Outcome::Skipped("the call no longer exists".to_owned()));
        };
        let to = recipients::list(&self.db, call.organization_id)
            .await
            .map_err(|e| format!("the report recipients could not be read: {e}"))?;
        if to.is_empty() {
            return Ok(Outcome::Skipped(
                "no report recipients are set (Settings → Reports)".to_owned(),
            ));
        }
        let data = compose::gather(&self.db, &call, &self.public_url)
            .await
            .map_err(|e| db_error(&e))?;
        let report =
            compose::compose(&data).map_err(|e| format!("the report could not be written: {e}"))?;
        let mut message = Message::builder()
            .from(mailer.from().clone())
            .subject(report.subject);
        for recipient in &to {
            let mailbox: Mailbox = recipient.email.parse().map_err(|_| {
                format!(
                    "`{}` is not an address mail can be sent to",
                    recipient.email
                )
            })?;
            message = message.to(mailbox);
        }
        let message = message
            .multipart(MultiPart::alternative_plain_html(report.text, report.html))
            .map_err(|e| format!("the report could not be written: {e}"))?;
        // The last step: nothing may fail between the server accepting it and the job being
        // marked done (see the module's comment on the remaining window).
        mailer.send(message).await.map_err(|e| e.to_string())?;
        Ok(Outcome::Done)
    }
}

fn db_error(e: &impl std::fmt::Display) -> String {
    format!("the database could not be read: {e}")
}
