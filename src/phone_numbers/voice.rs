//! Configure / restore a number's voice URL (seed 004). `previous_voice_url` carries the whole
//! state: NULL = not configured by us, "" = configured and Twilio had no URL, anything else = the
//! URL to put back. Twilio is changed first and the column second, so a Twilio failure leaves the
//! column as it was; a database failure after Twilio changed is compensated on Twilio.

use loquent_twilio::PhoneNumberSid;
use loquent_twilio::phone_numbers::VoiceConfig;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use sea_orm::DatabaseConnection;

use super::{NumberError, find};
use crate::entity::{organization, phone_number};
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure};

/// Voice URLs are the organization's to set on its own account, and on its sandbox account,
/// which is its own too.
fn require_byo(org: &organization::Model) -> Result<(), NumberError> {
    if org.byo_twilio || org.twilio_sandbox {
        Ok(())
    } else {
        Err(NumberError::NotByo)
    }
}

fn twilio_sid(number: &phone_number::Model) -> Result<PhoneNumberSid, NumberError> {
    number
        .twilio_sid
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| NumberError::NoTwilioSid(number.number.clone()))
}

/// Point the number at us, remembering where it pointed. Returns the previous URL (`None` when
/// Twilio had none).
pub async fn configure(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: &organization::Model,
    id: Uuid,
) -> Result<Option<String>, NumberError> {
    require_byo(org)?;
    let number = find(db, org.id, id).await?;
    if number.previous_voice_url.is_some() {
        return Err(NumberError::AlreadyConfigured(number.number));
    }
    let sid = twilio_sid(&number)?;
    let twilio = accounts.client_for(org)?;
    let current = twilio
        .fetch_incoming_phone_number(&sid)
        .await
        .map_err(TwilioFailure::to("read the number's voice URL"))?;
    let previous = current.voice_url.unwrap_or_default();
    twilio
        .update_incoming_phone_number(&sid, &VoiceConfig::webhook(accounts.voice_webhook_url()))
        .await
        .map_err(TwilioFailure::to("set the number's voice URL"))?;
    // Only a number still unconfigured is claimed: two concurrent clicks save the URL once.
    let saved = phone_number::Entity::update_many()
        .col_expr(
            phone_number::Column::PreviousVoiceUrl,
            Expr::value(previous.clone()),
        )
        .col_expr(
            phone_number::Column::UpdatedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(phone_number::Column::Id.eq(number.id))
        .filter(phone_number::Column::OrganizationId.eq(org.id))
        .filter(phone_number::Column::PreviousVoiceUrl.is_null())
        .exec(db)
        .await;
    match saved {
        Ok(result) if result.rows_affected == 1 => {
            tracing::info!(org_id = %org.id, number = %number.number, "voice URL configured");
            Ok(Some(previous).filter(|u| !u.is_empty()))
        }
        Ok(_) => Err(NumberError::AlreadyConfigured(number.number)),
        Err(e) => {
            // Put Twilio back so that a retry starts from the true previous URL.
            let back = restore_config(&previous);
            if let Err(undo) = twilio.update_incoming_phone_number(&sid, &back).await {
                tracing::error!(%undo, number = %number.number, "could not undo the voice URL change");
            }
            Err(e.into())
        }
    }
}

fn restore_config(previous: &str) -> VoiceConfig {
    if previous.is_empty() {
        VoiceConfig::cleared()
    } else {
        VoiceConfig {
            voice_url: Some(previous.to_owned()),
            ..VoiceConfig::default()
        }
    }
}

/// Put the saved URL back on Twilio (an empty one clears it) and forget it.
pub async fn restore(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: &organization::Model,
    id: Uuid,
) -> Result<(), NumberError> {
    require_byo(org)?;
    let number = find(db, org.id, id).await?;
    let Some(previous) = number.previous_voice_url.clone() else {
        return Err(NumberError::NotConfigured(number.number));
    };
    let sid = twilio_sid(&number)?;
    let twilio = accounts.client_for(org)?;
    twilio
        .update_incoming_phone_number(&sid, &restore_config(&previous))
        .await
        .map_err(TwilioFailure::to("restore the number's voice URL"))?;
    phone_number::Entity::update_many()
        .col_expr(
            phone_number::Column::PreviousVoiceUrl,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            phone_number::Column::UpdatedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(phone_number::Column::Id.eq(number.id))
        .filter(phone_number::Column::OrganizationId.eq(org.id))
        .exec(db)
        .await?;
    tracing::info!(org_id = %org.id, number = %number.number, "voice URL restored");
    Ok(())
}
