//! Configure / restore a number's voice URL (seed 004). `previous_voice_url` carries the whole
//! state: NULL = not configured by us, "" = configured and Twilio had no URL, anything else = the
//! URL to put back. Twilio is changed first and the column second, so a Twilio failure leaves the
//! column as it was; a database failure after Twilio changed is compensated on Twilio.

use loquent_twilio::PhoneNumberSid;
use loquent_twilio::phone_numbers::VoiceConfig;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{find, voice_webhook_url};
use crate::app::App;
use crate::entity::{organization, phone_number};
use crate::error::ApiError;
use crate::orgs::twilio::{client_for, upstream};

fn require_byo(org: &organization::Model) -> Result<(), ApiError> {
    if org.byo_twilio {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "voice webhooks are configured per number only on an organization's own Twilio \
             account (BYO); numbers bought through Loquent are configured already"
                .into(),
        ))
    }
}

fn twilio_sid(number: &phone_number::Model) -> Result<PhoneNumberSid, ApiError> {
    number
        .twilio_sid
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{} has no Twilio phone number SID; import it from Twilio again",
                number.number
            ))
        })
}

/// Point the number at us, remembering where it pointed. Returns the previous URL (`None` when
/// Twilio had none).
pub async fn configure(
    app: &App,
    org: &organization::Model,
    id: Uuid,
) -> Result<Option<String>, ApiError> {
    require_byo(org)?;
    let number = find(&app.db, org.id, id).await?;
    if number.previous_voice_url.is_some() {
        return Err(already_configured(&number));
    }
    let sid = twilio_sid(&number)?;
    let twilio = client_for(app, org)?;
    let current = twilio
        .fetch_incoming_phone_number(&sid)
        .await
        .map_err(|e| upstream("read the number's voice URL", &e))?;
    let previous = current.voice_url.unwrap_or_default();
    twilio
        .update_incoming_phone_number(&sid, &VoiceConfig::webhook(voice_webhook_url(app)))
        .await
        .map_err(|e| upstream("set the number's voice URL", &e))?;
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
        .exec(&app.db)
        .await;
    match saved {
        Ok(result) if result.rows_affected == 1 => {
            tracing::info!(org_id = %org.id, number = %number.number, "voice URL configured");
            Ok(Some(previous).filter(|u| !u.is_empty()))
        }
        Ok(_) => Err(already_configured(&number)),
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

fn already_configured(number: &phone_number::Model) -> ApiError {
    ApiError::BadRequest(format!(
        "{} is already configured; restore it first",
        number.number
    ))
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
pub async fn restore(app: &App, org: &organization::Model, id: Uuid) -> Result<(), ApiError> {
    require_byo(org)?;
    let number = find(&app.db, org.id, id).await?;
    let Some(previous) = number.previous_voice_url.clone() else {
        return Err(ApiError::BadRequest(format!(
            "{} is not configured; there is nothing to restore",
            number.number
        )));
    };
    let sid = twilio_sid(&number)?;
    let twilio = client_for(app, org)?;
    twilio
        .update_incoming_phone_number(&sid, &restore_config(&previous))
        .await
        .map_err(|e| upstream("restore the number's voice URL", &e))?;
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
        .exec(&app.db)
        .await?;
    tracing::info!(org_id = %org.id, number = %number.number, "voice URL restored");
    Ok(())
}
