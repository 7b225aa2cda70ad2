//! Create an analyzer, or replace its name, prompt, switches and numbers.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect, Set,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{AnalyzerError, AnalyzerView, find, read};
use crate::entity::{analyzer, phone_number, phone_number_analyzer};
use crate::validation::FieldError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_PROMPT_CHARS: usize = 20_000;

/// An analyzer as people send it: the body of `POST /api/analyzers` and
/// `PUT /api/analyzers/{id}`, and what the analyzer form is read into. A missing `active` is
/// true; other missing fields are empty (and reported when they must not be).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AnalyzerInput {
    pub name: String,
    pub prompt: String,
    pub active: bool,
    pub is_default: bool,
    /// Every number it analyzes the calls of; on update, the numbers not listed are detached.
    pub phone_number_ids: Vec<Uuid>,
}

impl Default for AnalyzerInput {
    fn default() -> Self {
        Self {
            name: String::new(),
            prompt: String::new(),
            active: true,
            is_default: false,
            phone_number_ids: Vec::new(),
        }
    }
}

/// Input that passed every check but the numbers' owner.
#[derive(Debug)]
struct ValidAnalyzer {
    name: String,
    prompt: String,
    active: bool,
    is_default: bool,
    /// Without repeats, in the order given.
    phone_number_ids: Vec<Uuid>,
}

impl AnalyzerInput {
    /// The checks that need no database, every problem at once.
    fn validate(self) -> (ValidAnalyzer, Vec<FieldError>) {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("give the analyzer a name of 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let prompt = self.prompt.trim().to_owned();
        if prompt.is_empty() {
            errors.push(FieldError::new(
                "prompt",
                "write what the analyzer should look for in each call",
            ));
        } else if prompt.chars().count() > MAX_PROMPT_CHARS {
            errors.push(FieldError::new(
                "prompt",
                format!("keep the prompt to at most {MAX_PROMPT_CHARS} characters"),
            ));
        }
        let mut phone_number_ids = Vec::new();
        for id in self.phone_number_ids {
            if !phone_number_ids.contains(&id) {
                phone_number_ids.push(id);
            }
        }
        let valid = ValidAnalyzer {
            name,
            prompt,
            active: self.active,
            is_default: self.is_default,
            phone_number_ids,
        };
        (valid, errors)
    }
}

/// Every check: the fields, and that each number is the organization's (another
/// organization's number is named like a missing one).
async fn check(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    input: AnalyzerInput,
) -> Result<ValidAnalyzer, AnalyzerError> {
    let (valid, mut errors) = input.validate();
    if !valid.phone_number_ids.is_empty() {
        let ours: Vec<Uuid> = phone_number::Entity::find()
            .select_only()
            .column(phone_number::Column::Id)
            .filter(phone_number::Column::OrganizationId.eq(org_id))
            .filter(phone_number::Column::Id.is_in(valid.phone_number_ids.clone()))
            .into_tuple()
            .all(conn)
            .await?;
        let unknown: Vec<String> = valid
            .phone_number_ids
            .iter()
            .filter(|id| !ours.contains(id))
            .map(Uuid::to_string)
            .collect();
        if !unknown.is_empty() {
            errors.push(FieldError::new(
                "phone_number_ids",
                format!(
                    "not a phone number of this organization: {}",
                    unknown.join(", ")
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(AnalyzerError::InvalidFields(errors))
    }
}

/// Attaches exactly `wanted` to analyzer `id`: links not wanted go, links kept keep their date.
async fn set_numbers(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
    wanted: &[Uuid],
) -> Result<(), AnalyzerError> {
    let current: Vec<Uuid> = phone_number_analyzer::Entity::find()
        .select_only()
        .column(phone_number_analyzer::Column::PhoneNumberId)
        .filter(phone_number_analyzer::Column::OrganizationId.eq(org_id))
        .filter(phone_number_analyzer::Column::AnalyzerId.eq(id))
        .into_tuple()
        .all(conn)
        .await?;
    phone_number_analyzer::Entity::delete_many()
        .filter(phone_number_analyzer::Column::OrganizationId.eq(org_id))
        .filter(phone_number_analyzer::Column::AnalyzerId.eq(id))
        .filter(phone_number_analyzer::Column::PhoneNumberId.is_not_in(wanted.to_vec()))
        .exec(conn)
        .await?;
    let now = Utc::now();
    for number in wanted.iter().filter(|n| !current.contains(n)) {
        phone_number_analyzer::ActiveModel {
            phone_number_id: Set(*number),
            analyzer_id: Set(id),
            organization_id: Set(org_id),
            created_at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}

/// Creates the analyzer and attaches its numbers, in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    org_id: Uuid,
    input: AnalyzerInput,
) -> Result<AnalyzerView, AnalyzerError> {
    let created = crate::db::write_transaction::<_, _, AnalyzerView, AnalyzerError>(db, |txn| {
        Box::pin(async move {
            let checked = check(txn, org_id, input).await?;
            let now = Utc::now();
            let id = Uuid::now_v7();
            analyzer::ActiveModel {
                id: Set(id),
                organization_id: Set(org_id),
                name: Set(checked.name),
                prompt: Set(checked.prompt),
                is_default: Set(checked.is_default),
                active: Set(checked.active),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            set_numbers(txn, org_id, id, &checked.phone_number_ids).await?;
            read(txn, org_id, id).await
        })
    })
    .await
    .map_err(crate::db::transaction_error)?;
    tracing::info!(%org_id, analyzer_id = %created.id, "analyzer created");
    Ok(created)
}

/// Replaces everything but the id and the creation date, numbers included, in one transaction.
/// Runs already appended to calls stay as they are.
pub async fn update(
    db: &DatabaseConnection,
    org_id: Uuid,
    id: Uuid,
    input: AnalyzerInput,
) -> Result<AnalyzerView, AnalyzerError> {
    let updated = crate::db::write_transaction::<_, _, AnalyzerView, AnalyzerError>(db, |txn| {
        Box::pin(async move {
            let current = find(txn, org_id, id).await?;
            let checked = check(txn, org_id, input).await?;
            let mut row = current.into_active_model();
            row.name = Set(checked.name);
            row.prompt = Set(checked.prompt);
            row.is_default = Set(checked.is_default);
            row.active = Set(checked.active);
            row.updated_at = Set(Utc::now());
            row.update(txn).await?;
            set_numbers(txn, org_id, id, &checked.phone_number_ids).await?;
            read(txn, org_id, id).await
        })
    })
    .await
    .map_err(crate::db::transaction_error)?;
    tracing::info!(%org_id, analyzer_id = %id, "analyzer updated");
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, prompt: &str) -> AnalyzerInput {
        AnalyzerInput {
            name: name.to_owned(),
            prompt: prompt.to_owned(),
            ..AnalyzerInput::default()
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn name_and_prompt_are_trimmed_and_bounded() {
        let (valid, errors) = input("  Sentiment ", "\nHow did the caller feel?\n").validate();
        assert!(errors.is_empty());
        assert_eq!(valid.name, "Sentiment");
        assert_eq!(valid.prompt, "How did the caller feel?");
        assert!(valid.active, "active unless said otherwise");

        let (_, errors) = input("   ", "").validate();
        assert_eq!(fields(&errors), ["name", "prompt"]);

        let longest = "n".repeat(MAX_NAME_CHARS);
        assert!(input(&longest, "p").validate().1.is_empty());
        let (_, errors) = input(&format!("{longest}n"), "p").validate();
        assert_eq!(fields(&errors), ["name"]);

        let (_, errors) = input("n", &"p".repeat(MAX_PROMPT_CHARS + 1)).validate();
        assert_eq!(fields(&errors), ["prompt"]);
        assert!(errors[0].message.contains("20000"));
    }

    #[test]
    fn a_number_given_twice_is_attached_once() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let (valid, _) = AnalyzerInput {
            phone_number_ids: vec![a, b, a],
            ..input("n", "p")
        }
        .validate();
        assert_eq!(valid.phone_number_ids, [a, b]);
    }
}
