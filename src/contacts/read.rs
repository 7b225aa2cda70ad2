//! One contact with its most recent calls.

use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

use super::{ContactError, ContactView, find, views};
use crate::calls::list::{CallItem, CallQuery, list};
use crate::messages::{MessageView, of_contact};

/// How many of a contact's calls its details show; `GET /api/calls?contact_id=` pages the rest.
pub const RECENT_CALLS: u64 = 20;
/// How many of a contact's SMS its details show.
pub const RECENT_MESSAGES: u64 = 50;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactDetails {
    #[serde(flatten)]
    pub contact: ContactView,
    /// The newest [`RECENT_CALLS`] calls, newest first.
    pub recent_calls: Vec<CallItem>,
    /// Where `GET /api/calls?contact_id=...&cursor=` continues; `None` when these are all.
    pub more_calls_cursor: Option<String>,
    /// The contact's newest 50 SMS (reported by Twilio Event Streams), newest first.
    pub messages: Vec<MessageView>,
}

pub async fn read(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<ContactDetails, ContactError> {
    let found = find(db, org_id, id).await?;
    let contact = views(db, org_id, vec![found])
        .await?
        .pop()
        .ok_or(ContactError::NotFound)?;
    let calls = list(
        db,
        org_id,
        &CallQuery {
            contact_id: Some(id),
            limit: RECENT_CALLS,
            ..CallQuery::default()
        },
    )
    .await?;
    let messages = of_contact(db, org_id, id, RECENT_MESSAGES).await?;
    Ok(ContactDetails {
        contact,
        recent_calls: calls.items,
        more_calls_cursor: calls.next_cursor,
        messages,
    })
}
