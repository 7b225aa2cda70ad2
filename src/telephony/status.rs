//! `POST /twilio/call-status`: the `<Connect action>` request when the media stream ends, and
//! call status callbacks. Both update the call's status and duration; the action's answer is
//! the TwiML that runs next (nothing: the call ends).

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::voice::twiml_response;
use super::webhook::{TwilioForm, WebhookError};
use crate::app::AppState;
use crate::entity::call;

/// Twilio's final call states: once one is recorded, a late or retried callback with an
/// earlier state must not undo it.
const FINAL: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

pub async fn update(
    State(state): State<AppState>,
    form: TwilioForm,
) -> Result<Response, WebhookError> {
    let call_sid = form.require("CallSid")?;
    let status = form.get("CallStatus").filter(|s| !s.is_empty());
    let duration = form
        .get("CallDuration")
        .and_then(|d| d.parse::<i32>().ok())
        .filter(|d| *d >= 0);
    let Some(status) = status else {
        return Err(WebhookError::BadRequest(
            "the form has no CallStatus".into(),
        ));
    };
    let known = status.len() <= 32 && status.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    if !known {
        return Err(WebhookError::BadRequest(format!(
            "CallStatus {status:?} is not a call status"
        )));
    }
    let scoped = |q: sea_orm::UpdateMany<call::Entity>| {
        q.filter(call::Column::OrganizationId.eq(form.org.id))
            .filter(call::Column::CallSid.eq(call_sid))
    };
    let mut update = scoped(call::Entity::update_many())
        .col_expr(call::Column::Status, Expr::value(status))
        .col_expr(call::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(duration) = duration {
        update = update.col_expr(call::Column::DurationSecs, Expr::value(duration));
    }
    if !FINAL.contains(&status) {
        update = update.filter(call::Column::Status.is_not_in(FINAL));
    }
    let changed = update.exec(&state.db).await?.rows_affected;
    if changed == 0 {
        let exists = call::Entity::find()
            .filter(call::Column::OrganizationId.eq(form.org.id))
            .filter(call::Column::CallSid.eq(call_sid))
            .one(&state.db)
            .await?
            .is_some();
        if !exists {
            tracing::info!(org_id = %form.org.id, %call_sid, status, "status for an unknown call; ignored");
        }
    }
    Ok(twiml_response(&loquent_twilio::twiml::Response::new()))
}
