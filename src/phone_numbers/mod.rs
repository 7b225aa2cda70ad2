//! The organization's phone numbers: imported from or bought on its Twilio account, answered by
//! an agent, and routed to us by their voice URL (configure / restore, seed 004).
//!
//! Invariant: a number (E.164) belongs to at most one organization on this server (unique
//! column), because the voice webhook finds the organization by the called number.

pub mod answering;
pub mod assign;
pub mod buy;
pub mod import;
pub mod test_call;
pub mod voice;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::phone_number;
use crate::orgs::twilio::{TwilioAccountError, TwilioFailure};

/// Why something asked of the organization's numbers did not happen.
#[derive(Debug, thiserror::Error)]
pub enum NumberError {
    /// Another organization's number (or agent) is as unknown as a missing one.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(
        "{0:?} is not a phone number in international (E.164) form: a + and the country code, e.g. +14155550123"
    )]
    NotE164(String),
    #[error("the area code (area_code) must be three digits, e.g. 415")]
    BadAreaCode,
    #[error("select at least one number")]
    NothingSelected,
    #[error("{0} is already in use on this server")]
    InUse(String),
    #[error("the number's name (friendly_name) must be 1 to 64 characters")]
    BadFriendlyName,
    #[error(
        "voice webhooks are configured per number only on an organization's own Twilio \
         account (BYO); numbers bought through Loquent are configured already"
    )]
    NotByo,
    #[error("{0} has no Twilio phone number SID; import it from Twilio again")]
    NoTwilioSid(String),
    #[error("{0} is already configured; restore it first")]
    AlreadyConfigured(String),
    #[error("{0} is not configured; there is nothing to restore")]
    NotConfigured(String),
    #[error(
        "test calls ring numbers of the built-in sandbox only; call a real number from a phone"
    )]
    NotSandbox,
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Account(#[from] TwilioAccountError),
    #[error(transparent)]
    Twilio(#[from] TwilioFailure),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}

/// Seed 004's `PhoneNumberSummary`: what the Configure Voice Webhooks section needs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
) -> Result<Vec<phone_number::Model>, sea_orm::DbErr> {
    phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .order_by_asc(phone_number::Column::Number)
        .all(db)
        .await
}

/// One of the organization's numbers; another organization's is "not found".
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<phone_number::Model, NumberError> {
    phone_number::Entity::find_by_id(id)
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(NumberError::NotFound("phone number"))
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

/// Inserts a new number of the organization with its default analyzers attached, in one
/// transaction, so its calls are analyzed without further setup (as the seeds' buy flow does).
/// Returns the number and how many analyzers it got.
pub async fn insert_with_defaults(
    db: &sea_orm::DatabaseConnection,
    row: phone_number::ActiveModel,
) -> Result<(phone_number::Model, usize), sea_orm::DbErr> {
    use sea_orm::ActiveModelTrait;

    crate::db::write_transaction::<_, _, _, sea_orm::DbErr>(db, |txn| {
        Box::pin(async move {
            let inserted = row.insert(txn).await?;
            let analyzers =
                crate::analyzers::attach_defaults(txn, inserted.organization_id, inserted.id)
                    .await?;
            Ok((inserted, analyzers))
        })
    })
    .await
    .map_err(crate::db::transaction_error)
}
