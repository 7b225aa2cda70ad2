//! What a person may change of a contact: its name, e-mail, company and notes. Numbers are not
//! edited here: calls find contacts by them, and `resolve` keeps them unique per organization.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set};
use uuid::Uuid;

use super::{ContactError, ContactView, find, views};
use crate::users::EmailAddress;
use crate::validation::FieldError;

/// The longest name and company, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 5_000;

/// The editable fields, as sent. Each replaces what is stored; absent or blank clears it.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
}

/// The fields checked: trimmed, blank as none, within bounds, the e-mail plausible.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValidContact {
    name: Option<String>,
    email: Option<String>,
    company: Option<String>,
    notes: Option<String>,
}

fn text(
    field: &str,
    value: Option<&str>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if value.chars().count() > max {
        errors.push(FieldError::new(field, format!("at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(field, "must not hold control characters"));
    }
    Some(value.to_owned())
}

impl ContactInput {
    fn validate(&self) -> Result<ValidContact, ContactError> {
        let mut errors = Vec::new();
        let name = text("name", self.name.as_deref(), MAX_NAME_CHARS, &mut errors);
        if name.as_deref().is_some_and(|n| n.contains('\n')) {
            errors.push(FieldError::new("name", "must be one line"));
        }
        let company = text(
            "company",
            self.company.as_deref(),
            MAX_NAME_CHARS,
            &mut errors,
        );
        let notes = text("notes", self.notes.as_deref(), MAX_NOTES_CHARS, &mut errors);
        let email = match self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            None => None,
            Some(email) => match email.parse::<EmailAddress>() {
                Ok(email) => Some(email.to_string()),
                Err(e) => {
                    errors.push(FieldError::new("email", e.to_string()));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(ValidContact {
                name,
                email,
                company,
                notes,
            })
        } else {
            Err(ContactError::InvalidFields(errors))
        }
    }
}

/// Replaces the editable fields of the organization's contact `id`; every bad field is
/// reported at once and nothing is saved.
pub async fn update(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
    input: &ContactInput,
) -> Result<ContactView, ContactError> {
    let valid = input.validate()?;
    let mut row = find(db, org_id, id).await?.into_active_model();
    row.name = Set(valid.name);
    row.email = Set(valid.email);
    row.company = Set(valid.company);
    row.notes = Set(valid.notes);
    row.updated_at = Set(Utc::now());
    let saved = row.update(db).await?;
    views(db, org_id, vec![saved])
        .await?
        .pop()
        .ok_or(ContactError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported_and_blanks_clear() {
        let input = ContactInput {
            name: Some("a\nb".into()),
            email: Some("not-an-address".into()),
            company: Some("x".repeat(MAX_NAME_CHARS + 1)),
            notes: Some("  ".into()),
        };
        let Err(ContactError::InvalidFields(errors)) = input.validate() else {
            panic!("invalid input accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "company", "email"]);
        let valid = ContactInput {
            name: Some("  Ada Lovelace ".into()),
            email: Some(" Ada@Example.COM".into()),
            company: None,
            notes: Some(" ".into()),
        }
        .validate()
        .unwrap();
        assert_eq!(
            valid,
            ValidContact {
                name: Some("Ada Lovelace".into()),
                email: Some("ada@example.com".into()),
                company: None,
                notes: None,
            }
        );
    }
}
