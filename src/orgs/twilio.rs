//! An organization's Twilio account: its own, connected with an Account SID and Auth Token
//! (BYO), or a subaccount of the platform's account; and the REST client that acts for it.
//!
//! The Auth Token is sealed with the server key before it is stored and is opened only to build
//! a client: no API, page or log ever shows it. Credentials are checked with Twilio (fetch the
//! account) before anything is stored, so a failed connect changes nothing.

use std::fmt;
use std::time::Duration;

use loquent_twilio::{AccountSid, Credentials, RetryPolicy, TwilioClient, TwilioError};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use serde::Serialize;
use url::Url;
use uuid::Uuid;

use crate::entity::organization;
use crate::secrets::SecretBox;

/// What `GET /api/settings` shows about the Twilio connection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TwilioConnectionView {
    pub connected: bool,
    /// `AC••••••••1234`; never the whole SID, never the token.
    pub account_sid: Option<String>,
    /// True for the organization's own account, false for a platform subaccount.
    pub byo_twilio: bool,
    /// Whether this server can give the organization a subaccount of its own account.
    pub platform_subaccounts: bool,
}

/// Why something asked of an organization's Twilio account did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TwilioAccountError {
    #[error("connect a Twilio account first (Settings → Twilio Connection)")]
    NotConnected,
    #[error("account_sid must be \"AC\" followed by 32 hexadecimal characters")]
    InvalidAccountSid,
    #[error("auth_token must be the account's Auth Token (no spaces)")]
    InvalidAuthToken,
    #[error("Twilio rejected these credentials: {0}")]
    Rejected(String),
    #[error("this server has no platform Twilio account; connect your own instead")]
    NoPlatformAccount,
    #[error("this organization already has a Twilio account; disconnect it first")]
    AlreadyConnected,
    #[error("Twilio created a subaccount but did not return its credentials")]
    IncompleteSubaccount,
    #[error(transparent)]
    Twilio(#[from] TwilioFailure),
    /// The stored account could not be used (a bad SID, a token sealed with another key, a client
    /// that cannot be built): the server's fault, not the person's.
    #[error("the stored Twilio account cannot be used: {0}")]
    Unusable(String),
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}

/// A Twilio request that failed, with what it was for; its message is meant for the person who
/// asked (`Twilio failed to buy the number: ...`).
#[derive(Debug, thiserror::Error)]
pub struct TwilioFailure {
    pub action: &'static str,
    #[source]
    pub error: TwilioError,
}

impl TwilioFailure {
    /// `map_err(TwilioFailure::to("buy the number"))`
    pub fn to(action: &'static str) -> impl FnOnce(TwilioError) -> Self {
        move |error| Self { action, error }
    }
}

impl fmt::Display for TwilioFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = self.action;
        match &self.error {
            TwilioError::Connection(_) => {
                write!(f, "Twilio could not be reached to {action}; try again")
            }
            other => match other.api_error() {
                Some(api) => write!(f, "Twilio failed to {action}: {}", api.message),
                None => write!(f, "Twilio failed to {action}"),
            },
        }
    }
}

/// Makes Twilio clients that act for organizations: the configured API hosts, the server key that
/// opens stored Auth Tokens, the platform account (if any), and where Twilio calls us back.
#[derive(Clone)]
pub struct TwilioAccounts {
    secrets: SecretBox,
    api_base: Url,
    events_base: Url,
    platform: Option<Credentials>,
    public_url: Url,
}

impl TwilioAccounts {
    pub fn new(
        secrets: SecretBox,
        api_base: Url,
        events_base: Url,
        platform: Option<(AccountSid, String)>,
        public_url: Url,
    ) -> Self {
        Self {
            secrets,
            api_base,
            events_base,
            platform: platform.map(|(sid, token)| Credentials::auth_token(sid, token)),
            public_url,
        }
    }

    pub fn view(&self, org: &organization::Model) -> TwilioConnectionView {
        TwilioConnectionView {
            connected: org.twilio_account_sid.is_some() && org.twilio_auth_token.is_some(),
            account_sid: org
                .twilio_account_sid
                .as_deref()
                .and_then(|s| s.parse::<AccountSid>().ok())
                .map(|s| s.masked()),
            byo_twilio: org.byo_twilio,
            platform_subaccounts: self.platform.is_some(),
        }
    }

    /// A client for these credentials, against the configured API hosts. Interactive requests
    /// get a short retry budget: a person is waiting for the answer.
    fn client(&self, credentials: Credentials) -> Result<TwilioClient, TwilioAccountError> {
        TwilioClient::builder(credentials)
            .api_base(self.api_base.as_str())
            .events_base(self.events_base.as_str())
            .timeout(Duration::from_secs(15))
            .retry_policy(RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            })
            .build()
            .map_err(|e| TwilioAccountError::Unusable(format!("cannot build the client: {e}")))
    }

    /// The client acting for `org`; [`TwilioAccountError::NotConnected`] when the organization
    /// has no Twilio account yet.
    pub fn client_for(
        &self,
        org: &organization::Model,
    ) -> Result<TwilioClient, TwilioAccountError> {
        let (Some(sid), Some(sealed)) = (&org.twilio_account_sid, &org.twilio_auth_token) else {
            return Err(TwilioAccountError::NotConnected);
        };
        let sid: AccountSid = sid
            .parse()
            .map_err(|e| TwilioAccountError::Unusable(format!("stored account SID: {e}")))?;
        let token = self
            .secrets
            .open(sealed)
            .map_err(|e| TwilioAccountError::Unusable(format!("cannot open the token: {e}")))?;
        self.client(Credentials::auth_token(sid, token))
    }

    /// The Auth Token of `org`'s account, for checking webhook signatures.
    pub fn auth_token(&self, org: &organization::Model) -> Option<String> {
        org.twilio_auth_token
            .as_deref()
            .and_then(|sealed| self.secrets.open(sealed).ok())
    }

    /// Where Twilio delivers the organization's Event Streams events.
    pub fn events_url(&self) -> String {
        crate::config::public_url_of(&self.public_url, crate::event_streams::SINK_PATH)
    }

    /// Where Twilio reports the recordings this server starts.
    pub fn recording_callback_url(&self) -> String {
        crate::config::public_url_of(&self.public_url, crate::recordings::CALLBACK_PATH)
    }

    /// Where Twilio must send this server's inbound calls.
    pub fn voice_webhook_url(&self) -> String {
        crate::config::public_url_of(&self.public_url, "/twilio/voice")
    }
}

/// `POST /api/twilio/connect`: check the credentials with Twilio, then store them.
pub async fn connect(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: organization::Model,
    account_sid: &str,
    auth_token: &str,
) -> Result<TwilioConnectionView, TwilioAccountError> {
    let sid: AccountSid = account_sid
        .trim()
        .parse()
        .map_err(|_| TwilioAccountError::InvalidAccountSid)?;
    let token = auth_token.trim();
    if token.is_empty() || token.len() > 128 || token.chars().any(char::is_whitespace) {
        return Err(TwilioAccountError::InvalidAuthToken);
    }
    let twilio = accounts.client(Credentials::auth_token(sid.clone(), token))?;
    match twilio.fetch_account().await {
        Ok(_) => {}
        Err(e @ TwilioError::BadCredentials(_)) => {
            let message = e.api_error().map_or("Authenticate", |a| a.message.as_str());
            return Err(TwilioAccountError::Rejected(message.to_owned()));
        }
        Err(e) => return Err(TwilioFailure::to("check the credentials")(e).into()),
    }
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(Some(sid.as_str().to_owned()));
    active.twilio_auth_token = Set(Some(accounts.secrets.seal(token)));
    active.byo_twilio = Set(true);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(db).await?;
    tracing::info!(org_id = %org.id, account = %sid.masked(), "Twilio account connected");
    Ok(accounts.view(&org))
}

/// `POST /api/twilio/disconnect`: forget the credentials. Numbers stay listed; nothing changes
/// on Twilio.
pub async fn disconnect(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: organization::Model,
) -> Result<TwilioConnectionView, TwilioAccountError> {
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(None);
    active.twilio_auth_token = Set(None);
    active.byo_twilio = Set(false);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(db).await?;
    tracing::info!(org_id = %org.id, "Twilio account disconnected");
    Ok(accounts.view(&org))
}

/// `POST /api/twilio/subaccount`: platform mode, a subaccount of the server's own Twilio
/// account, used for everything the organization does.
pub async fn provision_subaccount(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    org: organization::Model,
) -> Result<TwilioConnectionView, TwilioAccountError> {
    let Some(platform) = accounts.platform.clone() else {
        return Err(TwilioAccountError::NoPlatformAccount);
    };
    if org.twilio_account_sid.is_some() {
        return Err(TwilioAccountError::AlreadyConnected);
    }
    let twilio = accounts.client(platform)?;
    let created = twilio
        .create_subaccount(&format!("Loquent: {}", org.name))
        .await
        .map_err(TwilioFailure::to("create a subaccount"))?;
    let (Some(sid), Some(token)) = (created.sid, created.auth_token) else {
        return Err(TwilioAccountError::IncompleteSubaccount);
    };
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(Some(sid.as_str().to_owned()));
    active.twilio_auth_token = Set(Some(accounts.secrets.seal(token.expose())));
    active.byo_twilio = Set(false);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(db).await?;
    tracing::info!(org_id = %org.id, account = %sid.masked(), "Twilio subaccount created");
    Ok(accounts.view(&org))
}

/// Re-read the organization (the one in the session may be stale after a change).
pub async fn reload(
    db: &DatabaseConnection,
    org_id: Uuid,
) -> Result<organization::Model, TwilioAccountError> {
    organization::Entity::find_by_id(org_id)
        .one(db)
        .await?
        .ok_or(TwilioAccountError::OrganizationNotFound)
}
