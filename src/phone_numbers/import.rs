//! Import numbers that already exist on the organization's Twilio account. Read-only on Twilio:
//! importing never changes a number's configuration there.

use std::collections::HashSet;

use futures_util::TryStreamExt as _;
use loquent_twilio::E164;
use loquent_twilio::phone_numbers::IncomingPhoneNumber;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::{attach_default_analyzers, new_row};
use crate::app::App;
use crate::entity::{organization, phone_number};
use crate::error::ApiError;
use crate::orgs::twilio::{client_for, upstream};

/// A number on the Twilio account that Loquent does not have yet.
#[derive(Debug, Clone, Serialize)]
pub struct UnsyncedNumber {
    pub twilio_sid: String,
    pub number: String,
    pub friendly_name: String,
    pub voice_url: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportResult {
    pub imported: usize,
    pub already_existing: usize,
    /// Requested numbers the Twilio account does not own, or another organization here has.
    pub unavailable: Vec<String>,
}

async fn twilio_numbers(
    app: &App,
    org: &organization::Model,
) -> Result<Vec<IncomingPhoneNumber>, ApiError> {
    client_for(app, org)?
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .map_err(|e| upstream("list the account's phone numbers", &e))
}

async fn known_numbers(app: &App) -> Result<Vec<phone_number::Model>, ApiError> {
    Ok(phone_number::Entity::find().all(&app.db).await?)
}

/// `POST /api/twilio/get-unsynced-numbers`.
pub async fn unsynced(
    app: &App,
    org: &organization::Model,
) -> Result<Vec<UnsyncedNumber>, ApiError> {
    let on_twilio = twilio_numbers(app, org).await?;
    let known: HashSet<String> = known_numbers(app)
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
    app: &App,
    org: &organization::Model,
    requested: &[String],
) -> Result<ImportResult, ApiError> {
    if requested.is_empty() {
        return Err(ApiError::BadRequest("select at least one number".into()));
    }
    let mut wanted = Vec::new();
    for raw in requested {
        let number: E164 = raw.parse().map_err(|_| {
            ApiError::BadRequest(format!("{raw:?} is not a phone number in E.164 form"))
        })?;
        if !wanted.contains(&number) {
            wanted.push(number);
        }
    }
    let on_twilio = twilio_numbers(app, org).await?;
    let known = known_numbers(app).await?;
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
        match row.insert(&app.db).await {
            Ok(inserted) => {
                attach_default_analyzers(&app.db, org.id, inserted.id).await?;
                result.imported += 1;
            }
            // Lost a race with another import of the same number: it exists now.
            Err(e) if is_unique_violation(&e) => {
                let mine = phone_number::Entity::find()
                    .filter(phone_number::Column::Number.eq(number.as_str()))
                    .filter(phone_number::Column::OrganizationId.eq(org.id))
                    .one(&app.db)
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
