//! Calls first seen through Twilio rather than through our TwiML: SIP trunk and Studio calls
//! known from Event Streams, and calls a recording event names before any other event did.
//!
//! Invariant: one row per Call SID, whoever writes first (the live stream, an event, a sync);
//! a writer that loses the race reads the winner's row.

use chrono::{DateTime, Utc};
use loquent_twilio::calls::CallStatus;
use loquent_twilio::{CallSid, E164};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::CallError;
use crate::contacts::resolve::resolve_or_create;
use crate::entity::{call, phone_number};

/// A call as an event or Twilio's REST API describes it.
#[derive(Debug, Clone)]
pub struct ExternalCall<'a> {
    pub call_sid: &'a CallSid,
    /// Twilio's `From` and `To`: phone numbers, or `sip:` / `client:` addresses.
    pub from: &'a str,
    pub to: &'a str,
    /// Twilio's direction when it says one (`inbound`, `outbound-api`, `outbound-dial`, or
    /// Insights' `outbound_api`); used only when neither number is the organization's.
    pub direction_hint: Option<&'a str>,
    pub status: CallStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<i32>,
}

/// Which of the organization's numbers a call used, and which way it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub phone_number: Option<phone_number::Model>,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// The other party: `from` for inbound calls, `to` for outbound ones.
    pub external: String,
}

/// Seed 001's `resolve_phone_and_direction`: both numbers looked up in one query. A call to one
/// of the organization's numbers is inbound, a call from one outbound; when neither is ours,
/// Twilio's own direction decides.
pub async fn resolve_phone_and_direction(
    db: &impl sea_orm::ConnectionTrait,
    org_id: Uuid,
    from: &str,
    to: &str,
    direction_hint: Option<&str>,
) -> Result<Resolved, sea_orm::DbErr> {
    let ours = phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .filter(phone_number::Column::Number.is_in([from, to]))
        .all(db)
        .await?;
    let find = |n: &str| ours.iter().find(|p| p.number == n).cloned();
    Ok(if let Some(number) = find(to) {
        Resolved {
            phone_number: Some(number),
            direction: "inbound",
            external: from.to_owned(),
        }
    } else if let Some(number) = find(from) {
        Resolved {
            phone_number: Some(number),
            direction: "outbound",
            external: to.to_owned(),
        }
    } else if direction_hint.is_some_and(|d| d.starts_with("outbound")) {
        Resolved {
            phone_number: None,
            direction: "outbound",
            external: to.to_owned(),
        }
    } else {
        Resolved {
            phone_number: None,
            direction: "inbound",
            external: from.to_owned(),
        }
    })
}

/// The organization's row for `call`, created when there is none, with its number, direction
/// and contact (created, `source = event_stream`, when the other party is a phone number nobody
/// has yet). Returns the row and whether this call created it.
pub async fn ensure(
    db: &DatabaseConnection,
    org_id: Uuid,
    call: &ExternalCall<'_>,
) -> Result<(call::Model, bool), CallError> {
    if let Some(existing) = super::start::find(db, org_id, call.call_sid).await? {
        return Ok((existing, false));
    }
    let resolved =
        resolve_phone_and_direction(db, org_id, call.from, call.to, call.direction_hint).await?;
    let contact = match resolved.external.parse::<E164>() {
        Ok(number) => Some(
            resolve_or_create(
                db,
                org_id,
                number.as_str(),
                crate::contacts::source::EVENT_STREAM,
            )
            .await?,
        ),
        Err(_) => None,
    };
    let now = Utc::now();
    let inserted = call::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        phone_number_id: Set(resolved.phone_number.as_ref().map(|p| p.id)),
        call_sid: Set(call.call_sid.as_str().to_owned()),
        direction: Set(resolved.direction.to_owned()),
        from_number: Set(call.from.to_owned()),
        to_number: Set(call.to.to_owned()),
        from_to_number: Set(resolved.external.clone()),
        contact_id: Set(contact.as_ref().map(|c| c.id)),
        status: Set(call.status.as_str().to_owned()),
        started_at: Set(call.started_at),
        duration_secs: Set(call.duration_secs),
        recording_sid: Set(None),
        recording_url: Set(None),
        transcription: Set(None),
        transcript_segments: Set(None),
        transcript_source: Set(None),
        source: Set(Some(crate::calls::source::IMPORTED.to_owned())),
        created_at: Set(call.started_at.unwrap_or(now)),
        updated_at: Set(now),
    }
    .insert(db)
    .await;
    if let Some(contact) = &contact {
        crate::contacts::touch(db, org_id, contact.id, call.started_at.unwrap_or(now)).await?;
    }
    match inserted {
        Ok(row) => Ok((row, true)),
        Err(error) => Ok((
            super::start::find(db, org_id, call.call_sid)
                .await?
                .ok_or(error)?,
            false,
        )),
    }
}
