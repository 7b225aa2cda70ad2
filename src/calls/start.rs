//! The call row of a live call, written once when its media stream (or web call) starts.

use chrono::Utc;
use loquent_twilio::CallSid;
use loquent_twilio::calls::CallStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use uuid::Uuid;

use super::CallError;
use crate::entity::call;

/// What is known about an inbound call when its stream starts.
pub struct InboundCall<'a> {
    pub org_id: Uuid,
    pub phone_number_id: Uuid,
    pub contact_id: Uuid,
    pub call_sid: &'a CallSid,
    pub from: &'a str,
    pub to: &'a str,
}

/// Creates the call (`in-progress`), or returns the existing row when this Call SID was seen
/// before (a reconnecting stream, a retried webhook): `call_sid` is unique.
pub async fn start_inbound(
    db: &DatabaseConnection,
    call: InboundCall<'_>,
) -> Result<call::Model, CallError> {
    if let Some(mut existing) = find(db, call.org_id, call.call_sid).await? {
        // An event about the call (Event Streams) can make its row first, as `imported`; the
        // stream proves an agent answered it.
        if existing.source.as_deref() != Some(super::source::PHONE) {
            call::Entity::update_many()
                .col_expr(call::Column::Source, Expr::value(super::source::PHONE))
                .filter(call::Column::Id.eq(existing.id))
                .exec(db)
                .await?;
            existing.source = Some(super::source::PHONE.to_owned());
        }
        return Ok(existing);
    }
    let inserted = answered(NewCall {
        id: Uuid::now_v7(),
        org_id: call.org_id,
        phone_number_id: Some(call.phone_number_id),
        call_sid: call.call_sid.as_str().to_owned(),
        from: call.from,
        to: call.to,
        contact_id: Some(call.contact_id),
        source: crate::calls::source::PHONE,
    })
    .insert(db)
    .await;
    match inserted {
        Ok(row) => Ok(row),
        // Lost a race with another writer of the same Call SID: theirs is the row.
        Err(error) => Ok(find(db, call.org_id, call.call_sid).await?.ok_or(error)?),
    }
}

/// What is known about a web call when its socket opens.
pub struct WebCall<'a> {
    pub org_id: Uuid,
    /// The agent's number, whose analyzers run on the call; `None` for an agent with none.
    pub phone_number_id: Option<Uuid>,
    /// The contact the member calls as, if they chose one.
    pub contact_id: Option<Uuid>,
    /// Who is calling: `web:` and the member's e-mail address.
    pub from: &'a str,
    /// What was called: the agent's number, or `web:` and the agent's name.
    pub to: &'a str,
}

/// The call row of a web call (`in-progress`, `source = web`): a new `web-` SID per call, since
/// no Twilio call stands behind it.
pub async fn start_web(
    db: &DatabaseConnection,
    call: WebCall<'_>,
) -> Result<call::Model, CallError> {
    let id = Uuid::now_v7();
    Ok(answered(NewCall {
        id,
        org_id: call.org_id,
        phone_number_id: call.phone_number_id,
        call_sid: format!("{WEB_SID_PREFIX}{}", id.simple()),
        from: call.from,
        to: call.to,
        contact_id: call.contact_id,
        source: crate::calls::source::WEB,
    })
    .insert(db)
    .await?)
}

/// An inbound call an agent answers, as it starts.
struct NewCall<'a> {
    id: Uuid,
    org_id: Uuid,
    phone_number_id: Option<Uuid>,
    call_sid: String,
    from: &'a str,
    to: &'a str,
    contact_id: Option<Uuid>,
    source: &'static str,
}

/// The row of a call that is in progress from now, with nothing recorded or transcribed yet.
fn answered(call: NewCall<'_>) -> call::ActiveModel {
    let now = Utc::now();
    call::ActiveModel {
        id: Set(call.id),
        organization_id: Set(call.org_id),
        phone_number_id: Set(call.phone_number_id),
        call_sid: Set(call.call_sid),
        direction: Set("inbound".to_owned()),
        from_number: Set(call.from.to_owned()),
        to_number: Set(call.to.to_owned()),
        from_to_number: Set(call.from.to_owned()),
        contact_id: Set(call.contact_id),
        status: Set(CallStatus::InProgress.as_str().to_owned()),
        started_at: Set(Some(now)),
        duration_secs: Set(None),
        recording_sid: Set(None),
        recording_url: Set(None),
        transcription: Set(None),
        transcript_segments: Set(None),
        transcript_source: Set(None),
        source: Set(Some(call.source.to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// How a web call's SID begins; Twilio's begin with `CA`, so the two never meet.
pub const WEB_SID_PREFIX: &str = "web-";

/// The organization's call with this Call SID.
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_sid: &CallSid,
) -> Result<Option<call::Model>, sea_orm::DbErr> {
    call::Entity::find()
        .filter(call::Column::OrganizationId.eq(org_id))
        .filter(call::Column::CallSid.eq(call_sid.as_str()))
        .one(db)
        .await
}
