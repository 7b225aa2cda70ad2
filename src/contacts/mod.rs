//! People the organization talks to, known first by their phone numbers.
//!
//! Reading and editing them for members lives here too: [`list`] (search and keyset paging),
//! [`read`] (one contact with its recent calls) and [`update`] (the fields a person may edit).

pub mod enrich;
pub mod list;
pub mod read;
pub mod resolve;
pub mod update;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{contact, contact_phone};
use crate::validation::FieldError;

/// What can go wrong reading or editing a contact. Nothing of HTTP: the API maps it.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// No such contact in the caller's organization (another organization's is as unknown).
    #[error("contact not found")]
    NotFound,
    /// A query value that cannot be used (`limit`, `cursor`, `q`), with what to change.
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{}", FieldError::summary(.0))]
    InvalidFields(Vec<FieldError>),
    #[error(transparent)]
    Calls(#[from] crate::calls::CallLookupError),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// A contact as the API answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
    /// How the contact came to be, as stored: `inbound_call`, `call_sync`, `manual`, ...
    pub source: String,
    /// [`source`](Self::source) in words: "Inbound call", "Call history import", ...
    pub source_label: &'static str,
    /// Its phone numbers (E.164), in the order they were added.
    pub numbers: Vec<String>,
    pub last_contacted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A contact's `source` in words a person reads.
pub fn source_label(source: &str) -> &'static str {
    match source {
        "inbound_call" => "Inbound call",
        "outbound_call" => "Outbound call",
        "call_sync" => "Call history import",
        "event_stream" => "Twilio event",
        "manual" => "Added by hand",
        _ => "Other",
    }
}

/// `rows` with their numbers, read in one query scoped to `org_id`.
pub(crate) async fn views(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    rows: Vec<contact::Model>,
) -> Result<Vec<ContactView>, DbErr> {
    let mut numbers: HashMap<Uuid, Vec<String>> = HashMap::new();
    if !rows.is_empty() {
        let phones = contact_phone::Entity::find()
            .filter(contact_phone::Column::OrganizationId.eq(org_id))
            .filter(contact_phone::Column::ContactId.is_in(rows.iter().map(|c| c.id)))
            .order_by_asc(contact_phone::Column::CreatedAt)
            .order_by_asc(contact_phone::Column::Id)
            .all(conn)
            .await?;
        for phone in phones {
            numbers
                .entry(phone.contact_id)
                .or_default()
                .push(phone.number);
        }
    }
    Ok(rows
        .into_iter()
        .map(|c| ContactView {
            numbers: numbers.remove(&c.id).unwrap_or_default(),
            source_label: source_label(&c.source),
            id: c.id,
            name: c.name,
            email: c.email,
            company: c.company,
            notes: c.notes,
            source: c.source,
            last_contacted_at: c.last_contacted_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
        .collect())
}

/// The organization's contact `id`; another organization's is "not found".
pub async fn find(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<contact::Model, ContactError> {
    contact::Entity::find_by_id(id)
        .filter(contact::Column::OrganizationId.eq(org_id))
        .one(conn)
        .await?
        .ok_or(ContactError::NotFound)
}

/// The organization's most recently updated contacts, at most `limit`: for a picker.
pub async fn recent(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    limit: u64,
) -> Result<Vec<ContactView>, DbErr> {
    let rows = contact::Entity::find()
        .filter(contact::Column::OrganizationId.eq(org_id))
        .order_by_desc(contact::Column::UpdatedAt)
        .order_by_desc(contact::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    views(conn, org_id, rows).await
}

/// How a contact came to be (`contact.source`).
pub mod source {
    /// Created for the caller of a live inbound call.
    pub const INBOUND_CALL: &str = "inbound_call";
    /// Created by a call-history sync (seed 000).
    pub const CALL_SYNC: &str = "call_sync";
    /// Created for a call or an SMS that Twilio Event Streams reported (seed 001).
    pub const EVENT_STREAM: &str = "event_stream";
}

/// Moves the organization's contact's `last_contacted_at` forward to `at` (never back: events
/// arrive out of order).
pub async fn touch(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    contact_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::{Condition, Expr};
    contact::Entity::update_many()
        .col_expr(contact::Column::LastContactedAt, Expr::value(at))
        .col_expr(contact::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(contact::Column::OrganizationId.eq(org_id))
        .filter(contact::Column::Id.eq(contact_id))
        .filter(
            Condition::any()
                .add(contact::Column::LastContactedAt.is_null())
                .add(contact::Column::LastContactedAt.lt(at)),
        )
        .exec(db)
        .await?;
    Ok(())
}
