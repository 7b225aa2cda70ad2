//! What every Twilio webhook needs before its handler runs: the form, the organization whose
//! account sent it, and proof that it came from Twilio (`X-Twilio-Signature` checked with that
//! account's Auth Token against the public URL). A request failing any of this is answered with
//! 403 and nothing is read from or written to the organization's data.
//!
//! This is also the one place where what the domain reports (`CallError`, a database error, a
//! form value that does not parse) becomes the answer Twilio gets.

use std::fmt;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::app::AppState;
use crate::calls::CallError;
use crate::config::public_url_of;
use crate::entity::organization;

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Largest webhook body we read: Twilio's forms are a few kilobytes.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Errors of the webhook boundary; the body is plain text for whoever reads Twilio's debugger.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// Logged with its cause; Twilio is told only that it failed.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sea_orm::DbErr> for WebhookError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

impl From<CallError> for WebhookError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Database(error) => error.into(),
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Internal(e) => {
                // Twilio retries a 5xx, which is what we want after a database hiccup.
                tracing::error!(error = %e, "webhook failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status == StatusCode::FORBIDDEN {
            tracing::warn!(reason = %self, "webhook rejected");
        }
        (status, self.to_string()).into_response()
    }
}

/// A verified Twilio form post.
pub struct TwilioForm {
    pub org: organization::Model,
    params: Vec<(String, String)>,
}

impl TwilioForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter Twilio always sends on this webhook; its absence is a malformed request.
    pub fn require(&self, name: &str) -> Result<&str, WebhookError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| WebhookError::BadRequest(format!("the form has no {name}")))
    }

    /// A required parameter parsed into its type (`CallSid`, `CallStatus`, ...); a value that
    /// does not parse is a malformed request, answered with why.
    pub fn parse<T>(&self, name: &str) -> Result<T, WebhookError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.require(name)?
            .parse()
            .map_err(|e| WebhookError::BadRequest(format!("{name}: {e}")))
    }
}

/// The URL Twilio requested, as it knows it: our public base, then the path and query we saw.
/// The organization using this Twilio account (its own or a platform subaccount).
pub async fn organization_of_account(
    db: &impl ConnectionTrait,
    account_sid: &str,
) -> Result<Option<organization::Model>, sea_orm::DbErr> {
    organization::Entity::find()
        .filter(organization::Column::TwilioAccountSid.eq(account_sid))
        .one(db)
        .await
}

pub(super) fn signature(headers: &HeaderMap) -> Result<String, WebhookError> {
    headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or(WebhookError::Forbidden("missing X-Twilio-Signature"))
}

impl FromRequest<AppState> for TwilioForm {
    type Rejection = WebhookError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebhookError> {
        let signature = signature(req.headers())?;
        let path_and_query = path_and_query(&req);
        let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| WebhookError::BadRequest("the form is too large".into()))?;
        let params = parse_form(&body)?;
        let Some(account_sid) = params
            .iter()
            .find(|(k, _)| k == "AccountSid")
            .map(|(_, v)| v.clone())
        else {
            return Err(WebhookError::Forbidden(
                "no AccountSid: cannot tell whose signature to check",
            ));
        };
        let (org, token) = signer(state, &account_sid).await?;
        let url = public_url_of(&state.config.server.public_url, &path_and_query);
        loquent_twilio::signature::validate_form(
            &token,
            &url,
            params.iter().map(|(k, v)| (k, v)),
            &signature,
        )
        .map_err(|_| WebhookError::Forbidden("X-Twilio-Signature does not match"))?;
        Ok(Self { org, params })
    }
}

/// The organization using `account_sid` and the Auth Token Twilio signs its requests with.
async fn signer(
    state: &AppState,
    account_sid: &str,
) -> Result<(organization::Model, String), WebhookError> {
    let org = organization_of_account(&state.db, account_sid)
        .await?
        .ok_or(WebhookError::Forbidden(
            "no organization uses this Twilio account",
        ))?;
    let token = state
        .twilio
        .auth_token(&org)
        .ok_or(WebhookError::Forbidden(
            "the organization's Twilio credentials are not usable",
        ))?;
    Ok((org, token))
}

fn path_and_query(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned())
}

/// Largest Event Streams delivery we read: a batch is at most a few hundred kilobytes.
const MAX_EVENTS_BYTES: usize = 4 * 1024 * 1024;

/// A verified Event Streams delivery (`application/json`, signed over the URL with the body's
/// SHA-256 in `bodySHA256`): the organization whose account the events belong to, and its events.
/// Events naming another account are left out (a sink belongs to one account).
pub struct TwilioEvents {
    pub org: organization::Model,
    pub events: Vec<loquent_twilio::event_stream::CloudEvent>,
}

impl FromRequest<AppState> for TwilioEvents {
    type Rejection = WebhookError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebhookError> {
        use crate::event_streams::receive::account_sid_of;
        let signature = signature(req.headers())?;
        let path_and_query = path_and_query(&req);
        let body = axum::body::to_bytes(req.into_body(), MAX_EVENTS_BYTES)
            .await
            .map_err(|_| WebhookError::BadRequest("the delivery is too large".into()))?;
        let events = loquent_twilio::event_stream::parse_delivery(&body)
            .map_err(|e| WebhookError::BadRequest(e.to_string()))?;
        let Some(account_sid) = events.iter().find_map(account_sid_of).map(str::to_owned) else {
            return Err(WebhookError::Forbidden(
                "no event names its account: cannot tell whose signature to check",
            ));
        };
        let (org, token) = signer(state, &account_sid).await?;
        let url = public_url_of(&state.config.server.public_url, &path_and_query);
        loquent_twilio::signature::validate_json(&token, &url, &body, &signature)
            .map_err(|_| WebhookError::Forbidden("X-Twilio-Signature does not match"))?;
        let events = events
            .into_iter()
            .filter(|event| {
                let theirs = account_sid_of(event).is_some_and(|sid| sid != account_sid);
                if theirs {
                    tracing::warn!(event_id = %event.id, "event of another account in a delivery; left out");
                }
                !theirs
            })
            .collect();
        Ok(Self { org, events })
    }
}

fn parse_form(body: &Bytes) -> Result<Vec<(String, String)>, WebhookError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        WebhookError::BadRequest(format!(
            "the body is not an application/x-www-form-urlencoded form: {e}"
        ))
    })
}
