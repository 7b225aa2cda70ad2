//! An organization's Twilio account: its own, connected with an Account SID and Auth Token
//! (BYO), or a subaccount of the platform's account; and the REST client that acts for it.
//!
//! The Auth Token is sealed with the server key before it is stored and is opened only to build
//! a client: no API, page or log ever shows it. Credentials are checked with Twilio (fetch the
//! account) before anything is stored, so a failed connect changes nothing.

use std::time::Duration;

use loquent_twilio::{AccountSid, Credentials, RetryPolicy, TwilioClient, TwilioError};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde::Serialize;
use uuid::Uuid;

use crate::app::App;
use crate::entity::organization;
use crate::error::ApiError;

/// What `GET /api/settings` shows about the Twilio connection.
#[derive(Debug, Clone, Serialize)]
pub struct TwilioConnectionView {
    pub connected: bool,
    /// `AC••••••••1234`; never the whole SID, never the token.
    pub account_sid: Option<String>,
    /// True for the organization's own account, false for a platform subaccount.
    pub byo_twilio: bool,
    /// Whether this server can give the organization a subaccount of its own account.
    pub platform_subaccounts: bool,
}

pub fn view(app: &App, org: &organization::Model) -> TwilioConnectionView {
    TwilioConnectionView {
        connected: org.twilio_account_sid.is_some() && org.twilio_auth_token.is_some(),
        account_sid: org
            .twilio_account_sid
            .as_deref()
            .and_then(|s| s.parse::<AccountSid>().ok())
            .map(|s| s.masked()),
        byo_twilio: org.byo_twilio,
        platform_subaccounts: platform_credentials(app).is_some(),
    }
}

/// A client for these credentials, against the configured API hosts. Interactive requests get
/// a short retry budget: a person is waiting for the answer.
fn client(app: &App, credentials: Credentials) -> Result<TwilioClient, ApiError> {
    TwilioClient::builder(credentials)
        .api_base(app.config.twilio.api_base.as_str())
        .events_base(app.config.twilio.events_base.as_str())
        .timeout(Duration::from_secs(15))
        .retry_policy(RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        })
        .build()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot build the Twilio client: {e}")))
}

/// The client acting for `org`; 400 when the organization has no Twilio account yet.
pub fn client_for(app: &App, org: &organization::Model) -> Result<TwilioClient, ApiError> {
    let (Some(sid), Some(sealed)) = (&org.twilio_account_sid, &org.twilio_auth_token) else {
        return Err(ApiError::BadRequest(
            "connect a Twilio account first (Settings → Twilio Connection)".into(),
        ));
    };
    let sid: AccountSid = sid
        .parse()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored account SID is invalid: {e}")))?;
    let token = app
        .secrets
        .open(sealed)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot open the Twilio token: {e}")))?;
    client(app, Credentials::auth_token(sid, token))
}

/// The Auth Token of `org`'s account, for checking webhook signatures.
pub fn auth_token(app: &App, org: &organization::Model) -> Option<String> {
    org.twilio_auth_token
        .as_deref()
        .and_then(|sealed| app.secrets.open(sealed).ok())
}

fn platform_credentials(app: &App) -> Option<Credentials> {
    let sid = app.config.twilio.account_sid.as_deref()?.parse().ok()?;
    let token = app.config.twilio.auth_token.as_ref()?.expose().clone();
    Some(Credentials::auth_token(sid, token))
}

/// What a failed Twilio call means to the person who asked for it.
pub fn upstream(action: &str, error: &TwilioError) -> ApiError {
    tracing::warn!(%error, action, "Twilio request failed");
    match error {
        TwilioError::Connection(_) => ApiError::Upstream(format!(
            "Twilio could not be reached to {action}; try again"
        )),
        other => match other.api_error() {
            Some(api) => ApiError::Upstream(format!("Twilio failed to {action}: {}", api.message)),
            None => ApiError::Upstream(format!("Twilio failed to {action}")),
        },
    }
}

/// `POST /api/twilio/connect`: check the credentials with Twilio, then store them.
pub async fn connect(
    app: &App,
    org: organization::Model,
    account_sid: &str,
    auth_token: &str,
) -> Result<TwilioConnectionView, ApiError> {
    let sid: AccountSid = account_sid.trim().parse().map_err(|_| {
        ApiError::BadRequest(
            "account_sid must be \"AC\" followed by 32 hexadecimal characters".into(),
        )
    })?;
    let token = auth_token.trim();
    if token.is_empty() || token.len() > 128 || token.chars().any(char::is_whitespace) {
        return Err(ApiError::BadRequest(
            "auth_token must be the account's Auth Token (no spaces)".into(),
        ));
    }
    let twilio = client(app, Credentials::auth_token(sid.clone(), token))?;
    match twilio.fetch_account().await {
        Ok(_) => {}
        Err(e @ TwilioError::BadCredentials(_)) => {
            let message = e.api_error().map_or("Authenticate", |a| a.message.as_str());
            return Err(ApiError::BadRequest(format!(
                "Twilio rejected these credentials: {message}"
            )));
        }
        Err(e) => return Err(upstream("check the credentials", &e)),
    }
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(Some(sid.as_str().to_owned()));
    active.twilio_auth_token = Set(Some(app.secrets.seal(token)));
    active.byo_twilio = Set(true);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(&app.db).await?;
    tracing::info!(org_id = %org.id, account = %sid.masked(), "Twilio account connected");
    Ok(view(app, &org))
}

/// `POST /api/twilio/disconnect`: forget the credentials. Numbers stay listed; nothing changes
/// on Twilio.
pub async fn disconnect(
    app: &App,
    org: organization::Model,
) -> Result<TwilioConnectionView, ApiError> {
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(None);
    active.twilio_auth_token = Set(None);
    active.byo_twilio = Set(false);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(&app.db).await?;
    tracing::info!(org_id = %org.id, "Twilio account disconnected");
    Ok(view(app, &org))
}

/// `POST /api/twilio/subaccount`: platform mode, a subaccount of the server's own Twilio
/// account, used for everything the organization does.
pub async fn provision_subaccount(
    app: &App,
    org: organization::Model,
) -> Result<TwilioConnectionView, ApiError> {
    let Some(platform) = platform_credentials(app) else {
        return Err(ApiError::BadRequest(
            "this server has no platform Twilio account; connect your own instead".into(),
        ));
    };
    if org.twilio_account_sid.is_some() {
        return Err(ApiError::Conflict(
            "this organization already has a Twilio account; disconnect it first".into(),
        ));
    }
    let twilio = client(app, platform)?;
    let created = twilio
        .create_subaccount(&format!("Loquent: {}", org.name))
        .await
        .map_err(|e| upstream("create a subaccount", &e))?;
    let (Some(sid), Some(token)) = (created.sid, created.auth_token) else {
        return Err(ApiError::Upstream(
            "Twilio created a subaccount but did not return its credentials".into(),
        ));
    };
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(Some(sid.as_str().to_owned()));
    active.twilio_auth_token = Set(Some(app.secrets.seal(token.expose())));
    active.byo_twilio = Set(false);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(&app.db).await?;
    tracing::info!(org_id = %org.id, account = %sid.masked(), "Twilio subaccount created");
    Ok(view(app, &org))
}

/// Re-read the organization (the one in the session may be stale after a change).
pub async fn reload(app: &App, org_id: Uuid) -> Result<organization::Model, ApiError> {
    organization::Entity::find_by_id(org_id)
        .one(&app.db)
        .await?
        .ok_or(ApiError::NotFound("organization"))
}
