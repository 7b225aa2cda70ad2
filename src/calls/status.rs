//! A call's status as Twilio reports it (status callbacks and the `<Connect action>` request).
//!
//! Invariant: a final status (`completed`, `busy`, `failed`, `no-answer`, `canceled`) is never
//! replaced by a non-final one. Twilio retries callbacks and does not order them, so a late
//! `in-progress` may arrive after `completed`; the row must keep saying the call is over.
//! A final status does replace another final one: Twilio's word is the authority over the
//! `completed` that the end of a live stream writes (see `end`).

use chrono::Utc;
use loquent_twilio::CallSid;
use loquent_twilio::calls::CallStatus;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::CallError;
use crate::entity::call;

/// What [`record_status`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The status (and the duration, when given) is now the call's.
    Recorded,
    /// The call already has a final status and this one is not final: nothing changed.
    FinalKept,
    /// No call of this organization has this Call SID (not answered by us, or another
    /// organization's): nothing changed.
    UnknownCall,
}

/// Records Twilio's `status` (and `duration_secs`, Twilio's `CallDuration`) on the
/// organization's call, unless that would replace a final status with a non-final one.
///
/// One conditional `UPDATE`, so two callbacks racing each other cannot break the invariant.
/// Webhooks parse the status strictly and never pass [`CallStatus::Unknown`]; a caller that does
/// (a status newer than our Twilio client, from the REST API) records it as a non-final
/// `unknown`.
pub async fn record_status(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    call_sid: &CallSid,
    status: CallStatus,
    duration_secs: Option<i32>,
) -> Result<StatusOutcome, CallError> {
    let mut update = call::Entity::update_many()
        .col_expr(call::Column::Status, Expr::value(status.as_str()))
        .col_expr(call::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(call::Column::OrganizationId.eq(org_id))
        .filter(call::Column::CallSid.eq(call_sid.as_str()));
    if let Some(duration) = duration_secs {
        update = update.col_expr(call::Column::DurationSecs, Expr::value(duration));
    }
    if !status.is_terminal() {
        update = update.filter(not_final());
    }
    if update.exec(db).await?.rows_affected > 0 {
        return Ok(StatusOutcome::Recorded);
    }
    let exists = super::start::find(db, org_id, call_sid).await?.is_some();
    Ok(if exists {
        StatusOutcome::FinalKept
    } else {
        StatusOutcome::UnknownCall
    })
}

/// The row's status is not final: the condition under which a status may still change to
/// anything (see the module's invariant).
pub(super) fn not_final() -> SimpleExpr {
    let finals = CallStatus::KNOWN
        .into_iter()
        .filter(|s| s.is_terminal())
        .map(CallStatus::as_str);
    call::Column::Status.is_not_in(finals)
}
