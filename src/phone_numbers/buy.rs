//! Search numbers for sale by area code and buy one. A bought number is ours from the start: its
//! voice URL is set to our webhook in the purchase itself, and it gets the default analyzers.

use loquent_twilio::phone_numbers::{BuyNumber, NumberSearch, VoiceConfig};
use loquent_twilio::{E164, TwilioError};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::Serialize;

use super::{NumberError, insert_with_defaults, new_row};
use crate::entity::{organization, phone_number};
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure};

/// A number for sale.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AvailableNumber {
    pub phone_number: String,
    pub friendly_name: String,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub voice: bool,
    pub sms: bool,
    pub mms: bool,
}

/// `POST /api/twilio/search-available-numbers {area_code}`: US local numbers.
pub async fn search(
    accounts: &TwilioAccounts,
    org: &organization::Model,
    area_code: &str,
) -> Result<Vec<AvailableNumber>, NumberError> {
    let code = area_code.trim();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::BadAreaCode);
    }
    let search = NumberSearch {
        area_code: code.parse().ok(),
        voice_enabled: Some(true),
        ..NumberSearch::default()
    };
    let found = accounts
        .client_for(org)?
        .search_local_numbers("US", &search)
        .await
        .map_err(TwilioFailure::to("search numbers for sale"))?;
    Ok(found
        .into_iter()
        .filter_map(|n| {
            let number = n.phone_number?.as_str().to_owned();
            let capabilities = n.capabilities.unwrap_or_default();
            Some(AvailableNumber {
                friendly_name: n.friendly_name.unwrap_or_else(|| number.clone()),
                phone_number: number,
                locality: n.locality,
                region: n.region,
                voice: capabilities.voice,
                sms: capabilities.sms,
                mms: capabilities.mms,
            })
        })
        .collect())
}

/// `POST /api/twilio/buy-phone-number {phone_number}`.
pub async fn buy(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: &organization::Model,
    phone_number: &str,
) -> Result<phone_number::Model, NumberError> {
    let number: E164 = phone_number
        .trim()
        .parse()
        .map_err(|_| NumberError::NotE164(phone_number.to_owned()))?;
    let taken = phone_number::Entity::find()
        .filter(phone_number::Column::Number.eq(number.as_str()))
        .one(db)
        .await?;
    if taken.is_some() {
        return Err(NumberError::InUse(number.as_str().to_owned()));
    }
    let order = BuyNumber {
        phone_number: number.clone(),
        voice: VoiceConfig::webhook(accounts.voice_webhook_url()),
    };
    let sold = || NumberError::NotFound("available phone number (it may have been sold)");
    let bought = accounts
        .client_for(org)?
        .buy_phone_number(&order)
        .await
        .map_err(|e| match e {
            // 21422: not available / not for sale any more; 21452: no numbers found.
            TwilioError::Api(ref api) if matches!(api.code, Some(21422 | 21452)) => sold(),
            TwilioError::NotFound(_) => sold(),
            other => TwilioFailure::to("buy the number")(other).into(),
        })?;
    let mut row = new_row(org.id, &number, &bought);
    // The purchase set our voice URL on a number that had none: configured, nothing to restore
    // but an empty URL (seed 004's "" state), so Configure Voice does not run twice.
    row.previous_voice_url = Set(Some(String::new()));
    let (row, analyzers) = insert_with_defaults(db, row).await?;
    tracing::info!(org_id = %org.id, number = %row.number, analyzers, "number bought");
    Ok(row)
}
