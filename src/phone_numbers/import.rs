//! Import numbers that already exist on the organization's Twilio account. Read-only on Twilio:
//! importing never changes a number's configuration there.

use std::collections::HashSet;

use futures_util::TryStreamExt as _;
use loquent_twilio::E164;
use loquent_twilio::phone_numbers::IncomingPhoneNumber;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;

use super::{NumberError, insert_with_defaults, new_row};
use crate::entity::{organization, phone_number};
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure};

/// A number on the Twilio account that Loquent does not have yet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnsyncedNumber {
    pub twilio_sid: String,
    pub number: String,
    pub friendly_name: String,
    pub voice_url: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    pub imported: usize,
    pub already_existing: usize,
    /// Requested numbers the Twilio account does not own, or another organization here has.
    pub unavailable: Vec<String>,
}

async fn twilio_numbers(
    accounts: &TwilioAccounts,
    org: &organization::Model,
) -> Result<Vec<IncomingPhoneNumber>, NumberError> {
    Ok(accounts
        .client_for(org)?
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .map_err(TwilioFailure::to("list the account's phone numbers"))?)
}

/// Every number on the server, whichever organization has it: a number belongs to one only.
async fn known_numbers(db: &DatabaseConnection) -> Result<Vec<phone_number::Model>, DbErr> {
    phone_number::Entity::find().all(db).await
}

/// `POST /api/twilio/get-unsynced-numbers`.
pub async fn unsynced(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: &organization::Model,
) -> Result<Vec<UnsyncedNumber>, NumberError> {
    let on_twilio = twilio_numbers(accounts, org).await?;
    let known: HashSet<String> = known_numbers(db)
        .await?
        .into_iter()
        .map(|n| n.number)
        .collect();
    Ok(on_twilio
        .into_iter()
        .filter_map(|n| {
            let number = n.phone_number?.as_str().to_owned();
            (!known.contains(&number)).then(|| UnsyncedNumber {
                twilio_sid: n.sid.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                friendly_name: n.friendly_name.unwrap_or_else(|| number.clone()),
                voice_url: n.voice_url.filter(|u| !u.is_empty()),
                number,
            })
        })
        .collect())
}

/// `POST /api/twilio/sync-numbers {numbers}`: import the selected numbers.
pub async fn sync(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: &organization::Model,
    requested: &[String],
) -> Result<ImportResult, NumberError> {
    if requested.is_empty() {
        return Err(NumberError::NothingSelected);
    }
    let mut wanted = Vec::new();
    for raw in requested {
        let number: E164 = raw.parse().map_err(|_| NumberError::NotE164(raw.clone()))?;
        if !wanted.contains(&number) {
            wanted.push(number);
        }
    }
    let on_twilio = twilio_numbers(accounts, org).await?;
    let known = known_numbers(db).await?;
    let mut result = ImportResult::default();
    for number in wanted {
        if let Some(existing) = known.iter().find(|n| n.number == number.as_str()) {
            if existing.organization_id == org.id {
                result.already_existing += 1;
            } else {
                result.unavailable.push(number.as_str().to_owned());
            }
            continue;
        }
        let Some(found) = on_twilio
            .iter()
            .find(|n| n.phone_number.as_ref() == Some(&number))
        else {
            result.unavailable.push(number.as_str().to_owned());
            continue;
        };
        let row = new_row(org.id, &number, found);
        match insert_with_defaults(db, row).await {
            Ok(_) => result.imported += 1,
            // Lost a race with another import of the same number: it exists now.
            Err(e) if is_unique_violation(&e) => {
                let mine = phone_number::Entity::find()
                    .filter(phone_number::Column::Number.eq(number.as_str()))
                    .filter(phone_number::Column::OrganizationId.eq(org.id))
                    .one(db)
                    .await?
                    .is_some();
                if mine {
                    result.already_existing += 1;
                } else {
                    result.unavailable.push(number.as_str().to_owned());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(org_id = %org.id, imported = result.imported, "numbers imported");
    Ok(result)
}

pub(super) fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
