//! SMS on the organization's Twilio account, as Event Streams reports them (seed 001): one row
//! per Message SID, against the contact on the other end, its status moving forward only.

use chrono::{DateTime, Utc};
use loquent_twilio::E164;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::calls::external::resolve_phone_and_direction;
use crate::contacts::resolve::resolve_or_create;
use crate::entity::message;

/// What a messaging event says about one SMS.
#[derive(Debug, Clone)]
pub struct SmsEvent<'a> {
    pub message_sid: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// `Some("inbound")` for a received message; status events leave it to the numbers.
    pub direction: Option<&'static str>,
    pub body: Option<&'a str>,
    /// Lower case: `received`, `queued`, `sent`, `delivered`, `undelivered`, `failed`, `read`.
    pub status: String,
    pub error_code: Option<i32>,
    pub at: DateTime<Utc>,
}

/// How far along a status is: a message's status only moves to a later one, because Twilio
/// does not deliver events in order (`delivered` may come before `sent`).
fn rank(status: &str) -> i32 {
    match status {
        "accepted" | "scheduled" | "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "received" | "delivered" | "undelivered" | "failed" => 3,
        "read" => 4,
        _ => 0,
    }
}

/// Statuses ranked below `status`: the ones it may replace.
fn earlier_than(status: &str) -> Vec<&'static str> {
    const ALL: [&str; 11] = [
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "received",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "unknown",
    ];
    ALL.into_iter().filter(|s| rank(s) < rank(status)).collect()
}

/// Records `sms` for the organization: creates the message (and the contact, when the other
/// number has none) the first time its SID is seen, then moves its status forward, fills a
/// missing body and moves the contact's `last_contacted_at`. Safe to repeat.
pub async fn record(
    db: &DatabaseConnection,
    org_id: Uuid,
    sms: &SmsEvent<'_>,
) -> Result<message::Model, DbErr> {
    let resolved =
        resolve_phone_and_direction(db, org_id, sms.from, sms.to, Some("outbound")).await?;
    let (direction, external) = match sms.direction {
        Some("inbound") => ("inbound", sms.from),
        _ if resolved.direction == "inbound" => ("inbound", sms.from),
        _ => ("outbound", sms.to),
    };
    let contact = match external.parse::<E164>() {
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
    message::Entity::insert(message::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        phone_number_id: Set(resolved.phone_number.as_ref().map(|p| p.id)),
        contact_id: Set(contact.as_ref().map(|c| c.id)),
        message_sid: Set(sms.message_sid.to_owned()),
        direction: Set(direction.to_owned()),
        from_number: Set(sms.from.to_owned()),
        to_number: Set(sms.to.to_owned()),
        body: Set(sms.body.map(str::to_owned)),
        status: Set(sms.status.clone()),
        error_code: Set(sms.error_code),
        created_at: Set(sms.at),
        updated_at: Set(now),
    })
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .exec_without_returning(db)
    .await
    .or_else(|e| match e {
        DbErr::RecordNotInserted => Ok(0),
        e => Err(e),
    })?;
    let scoped = |update: sea_orm::UpdateMany<message::Entity>| {
        update
            .filter(message::Column::OrganizationId.eq(org_id))
            .filter(message::Column::MessageSid.eq(sms.message_sid))
    };
    scoped(message::Entity::update_many())
        .col_expr(message::Column::Status, Expr::value(sms.status.as_str()))
        .col_expr(message::Column::ErrorCode, Expr::value(sms.error_code))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Status.is_in(earlier_than(&sms.status)))
        .exec(db)
        .await?;
    if let Some(body) = sms.body {
        scoped(message::Entity::update_many())
            .col_expr(message::Column::Body, Expr::value(body))
            .filter(message::Column::Body.is_null())
            .exec(db)
            .await?;
    }
    if let Some(contact) = &contact {
        crate::contacts::touch(db, org_id, contact.id, sms.at).await?;
    }
    message::Entity::find()
        .filter(message::Column::OrganizationId.eq(org_id))
        .filter(message::Column::MessageSid.eq(sms.message_sid))
        .one(db)
        .await?
        .ok_or(DbErr::RecordNotFound(format!(
            "message {} of another organization",
            sms.message_sid
        )))
}

/// One SMS as the API and the contact page show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub message_sid: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub body: Option<String>,
    pub status: String,
    pub error_code: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<message::Model> for MessageView {
    fn from(m: message::Model) -> Self {
        Self {
            id: m.id,
            message_sid: m.message_sid,
            direction: m.direction,
            from_number: m.from_number,
            to_number: m.to_number,
            body: m.body,
            status: m.status,
            error_code: m.error_code,
            created_at: m.created_at,
        }
    }
}

/// The organization's contact's newest `limit` messages, newest first.
pub async fn of_contact(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    contact_id: Uuid,
    limit: u64,
) -> Result<Vec<MessageView>, DbErr> {
    Ok(message::Entity::find()
        .filter(message::Column::OrganizationId.eq(org_id))
        .filter(message::Column::ContactId.eq(contact_id))
        .order_by_desc(message::Column::CreatedAt)
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(MessageView::from)
        .collect())
}
