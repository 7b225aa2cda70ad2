//! The post-call step that fills a stub contact's details from the call's transcript
//! ([`crate::calls::after::kind::ENRICH_CONTACT`]).
//!
//! A contact is a **stub** while it has no name: callers become contacts by their number alone,
//! and a name is the first thing a person (or this step) gives them. A named contact is left
//! alone: someone already knows who they are.
//!
//! Only empty fields are filled, and the emptiness is checked by the `UPDATE` itself
//! (`... WHERE name IS NULL`), so a field a person filled while the model was answering is never
//! overwritten. That also makes the step idempotent: a second run finds nothing empty to fill
//! with what the first one wrote.

use std::str::FromStr;

use chrono::Utc;
use loquent_ai::structured::StructuredClient;
use schemars::JsonSchema;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Deserialize;

use crate::entity::{contact, job};
use crate::jobs::{Handler, Outcome};
use crate::todos::extract::{call_of, transcript_of};
use crate::users::email::EmailAddress;

/// The longest name or company kept, in characters.
const MAX_SHORT_CHARS: usize = 200;
/// The longest notes kept, in characters.
const MAX_NOTES_CHARS: usize = 2_000;

const INSTRUCTIONS: &str = "You read the transcript of a phone call between a caller and a \
business's phone agent. Give what the caller said about themselves: their name, e-mail \
address, company, and short notes useful to the business next time (what they called about). \
Only what the caller actually said: leave out (null) every field the caller did not say, and \
never guess, infer or invent a value.";

/// What the model answers: the caller's details, each only if said.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ContactDetails {
    /// The caller's name, as they said it.
    pub name: Option<String>,
    /// The caller's e-mail address, as they said it.
    pub email: Option<String>,
    /// The caller's company or organization.
    pub company: Option<String>,
    /// What the business should remember about the caller.
    pub notes: Option<String>,
}

/// Runs [`crate::calls::after::kind::ENRICH_CONTACT`] jobs.
pub struct EnrichContact {
    db: DatabaseConnection,
    /// `None` when no OpenAI key is configured: every job then fails and says so.
    client: Option<StructuredClient>,
    model: String,
}

impl EnrichContact {
    pub fn new(
        db: DatabaseConnection,
        client: Option<StructuredClient>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            db,
            client,
            model: model.into(),
        }
    }
}

/// Whether `contact` is still a stub: nobody has named it yet.
pub fn is_stub(contact: &contact::Model) -> bool {
    contact.name.as_deref().is_none_or(|n| n.trim().is_empty())
}

fn cleaned(value: Option<&str>, max: usize) -> Option<String> {
    let value: String = value?.trim().chars().take(max).collect();
    (!value.is_empty()).then_some(value)
}

impl ContactDetails {
    /// The fields worth saving: trimmed, clipped, and the e-mail only when it is one.
    fn to_fields(&self) -> Vec<(contact::Column, String)> {
        let email = self
            .email
            .as_deref()
            .and_then(|e| EmailAddress::from_str(e).ok())
            .map(|e| e.as_str().to_owned());
        [
            (
                contact::Column::Name,
                cleaned(self.name.as_deref(), MAX_SHORT_CHARS),
            ),
            (contact::Column::Email, email),
            (
                contact::Column::Company,
                cleaned(self.company.as_deref(), MAX_SHORT_CHARS),
            ),
            (
                contact::Column::Notes,
                cleaned(self.notes.as_deref(), MAX_NOTES_CHARS),
            ),
        ]
        .into_iter()
        .filter_map(|(column, value)| value.map(|v| (column, v)))
        .collect()
    }
}

#[async_trait::async_trait]
impl Handler for EnrichContact {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let Some((_, call)) = call_of(&self.db, job).await? else {
            return Ok(Outcome::Skipped("the call no longer exists".into()));
        };
        let Some(contact_id) = call.contact_id else {
            return Ok(Outcome::Skipped("the call has no contact".into()));
        };
        let contact = contact::Entity::find_by_id(contact_id)
            .filter(contact::Column::OrganizationId.eq(call.organization_id))
            .one(&self.db)
            .await
            .map_err(|e| format!("could not read the contact: {e}"))?;
        let Some(contact) = contact else {
            return Ok(Outcome::Skipped(
                "the call's contact no longer exists".into(),
            ));
        };
        if !is_stub(&contact) {
            return Ok(Outcome::Skipped(
                "the contact already has a name, so it is left as it is".into(),
            ));
        }
        let Some(transcript) = transcript_of(&call) else {
            return Ok(Outcome::Skipped("the call has no transcript".into()));
        };
        let client = self.client.as_ref().ok_or(
            "no OpenAI API key is configured (LOQUENT_OPENAI_API_KEY), so contact details cannot be extracted",
        )?;
        let details: ContactDetails = client
            .complete(
                &self.model,
                INSTRUCTIONS,
                &format!("Transcript:\n{transcript}"),
            )
            .await
            .map_err(|e| format!("the contact details extraction failed: {e}"))?;
        let fields = details.to_fields();
        if fields.is_empty() {
            return Ok(Outcome::Done);
        }
        let org_id = call.organization_id;
        crate::db::write_transaction::<_, _, (), sea_orm::DbErr>(&self.db, |tx| {
            Box::pin(async move {
                let now = Utc::now();
                for (column, value) in fields {
                    // The emptiness check is in the statement: a value written since the
                    // contact was read above stays.
                    contact::Entity::update_many()
                        .col_expr(column, Expr::value(value))
                        .col_expr(contact::Column::UpdatedAt, Expr::value(now))
                        .filter(contact::Column::Id.eq(contact_id))
                        .filter(contact::Column::OrganizationId.eq(org_id))
                        .filter(Condition::any().add(column.is_null()).add(column.eq("")))
                        .exec(tx)
                        .await?;
                }
                Ok(())
            })
        })
        .await
        .map_err(|e| format!("could not save the contact's details: {e}"))?;
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_email_is_dropped_and_blanks_are_not_values() {
        let details = ContactDetails {
            name: Some("  Rosa Diaz ".into()),
            email: Some("rosa at example dot com".into()),
            company: Some("   ".into()),
            notes: None,
        };
        let fields: Vec<(String, String)> = details
            .to_fields()
            .into_iter()
            .map(|(column, value)| (format!("{column:?}"), value))
            .collect();
        assert_eq!(fields, vec![("Name".to_owned(), "Rosa Diaz".to_owned())]);
    }
}
