//! The organization's phone numbers: imported from or bought on its Twilio account, answered by
//! an agent, and routed to us by their voice URL (configure / restore, seed 004).
//!
//! Invariant: a number (E.164) belongs to at most one organization on this server (unique
//! column), because the voice webhook finds the organization by the called number.

pub mod assign;
pub mod buy;
pub mod import;
pub mod voice;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::app::App;
use crate::entity::phone_number;
use crate::error::ApiError;

/// Seed 004's `PhoneNumberSummary`: what the Configure Voice Webhooks section needs.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneNumberSummary {
    pub id: Uuid,
    pub number: String,
    pub friendly_name: String,
    /// `null`: not configured by us (or configured when Twilio had no URL: see `voice_configured`).
    pub previous_voice_url: Option<String>,
    pub voice_configured: bool,
}

impl From<phone_number::Model> for PhoneNumberSummary {
    fn from(n: phone_number::Model) -> Self {
        Self {
            id: n.id,
            number: n.number,
            friendly_name: n.friendly_name,
            voice_configured: n.previous_voice_url.is_some(),
            previous_voice_url: n.previous_voice_url.filter(|u| !u.is_empty()),
        }
    }
}

/// A number as the phones API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneView {
    pub id: Uuid,
    pub number: String,
    pub friendly_name: String,
    pub twilio_sid: Option<String>,
    pub agent_id: Option<Uuid>,
    pub voice_configured: bool,
    pub created_at: DateTime<Utc>,
}

impl From<phone_number::Model> for PhoneView {
    fn from(n: phone_number::Model) -> Self {
        Self {
            id: n.id,
            voice_configured: n.previous_voice_url.is_some(),
            number: n.number,
            friendly_name: n.friendly_name,
            twilio_sid: n.twilio_sid,
            agent_id: n.agent_id,
            created_at: n.created_at,
        }
    }
}

pub async fn list(
    db: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<Vec<phone_number::Model>, ApiError> {
    Ok(phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .order_by_asc(phone_number::Column::Number)
        .all(db)
        .await?)
}

/// One of the organization's numbers; another organization's is "not found".
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<phone_number::Model, ApiError> {
    phone_number::Entity::find_by_id(id)
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("phone number"))
}

/// A new row for `number`, an incoming number of the organization's Twilio account, not yet
/// configured by us (`previous_voice_url` NULL) and without an agent.
pub fn new_row(
    org_id: Uuid,
    number: &loquent_twilio::E164,
    on_twilio: &loquent_twilio::phone_numbers::IncomingPhoneNumber,
) -> phone_number::ActiveModel {
    use sea_orm::Set;

    let now = Utc::now();
    phone_number::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        number: Set(number.as_str().to_owned()),
        twilio_sid: Set(on_twilio.sid.as_ref().map(|s| s.as_str().to_owned())),
        friendly_name: Set(on_twilio
            .friendly_name
            .clone()
            .unwrap_or_else(|| number.as_str().to_owned())),
        agent_id: Set(None),
        previous_voice_url: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Where Twilio must send this server's inbound calls.
pub fn voice_webhook_url(app: &App) -> String {
    let base = app.config.server.public_url.as_str().trim_end_matches('/');
    format!("{base}/twilio/voice")
}

/// Give a new number the organization's default analyzers (active ones), as the seeds' buy flow
/// does, so its calls are analyzed without further setup.
pub async fn attach_default_analyzers(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    phone_number_id: Uuid,
) -> Result<usize, ApiError> {
    use sea_orm::{ActiveModelTrait, Set};

    use crate::entity::{analyzer, phone_number_analyzer};

    let defaults = analyzer::Entity::find()
        .filter(analyzer::Column::OrganizationId.eq(org_id))
        .filter(analyzer::Column::IsDefault.eq(true))
        .filter(analyzer::Column::Active.eq(true))
        .all(db)
        .await?;
    for default in &defaults {
        phone_number_analyzer::ActiveModel {
            phone_number_id: Set(phone_number_id),
            analyzer_id: Set(default.id),
            organization_id: Set(org_id),
            created_at: Set(Utc::now()),
        }
        .insert(db)
        .await?;
    }
    Ok(defaults.len())
}
