//! An organization's Twilio account: its own, connected with an Account SID and Auth Token
//! (BYO), or a subaccount of the platform's account; and the REST client that acts for it.
//!
//! The Auth Token is sealed with the server key before it is stored and is opened only to build
//! a client: no API, page or log ever shows it. Credentials are checked with Twilio (fetch the
//! account) before anything is stored, so a failed connect changes nothing.

use std::fmt;
use std::time::Duration;

use loquent_twilio::{AccountSid, Credentials, RetryPolicy, TwilioClient, TwilioError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
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
    /// True for the organization's own account, false for a platform subaccount or the sandbox.
    pub byo_twilio: bool,
    /// True when the account is the built-in sandbox's (emulated: no real calls, no charges).
    pub sandbox: bool,
    /// Whether this server can give the organization a subaccount of its own account.
    pub platform_subaccounts: bool,
    /// Whether this server serves the built-in sandbox (`LOQUENT_SANDBOX`), which an
    /// organization may use as its Twilio account.
    pub sandbox_available: bool,
}

/// The organization has a Twilio account to act with (its SID and its sealed token).
pub fn is_connected(org: &organization::Model) -> bool {
    org.twilio_account_sid.is_some() && org.twilio_auth_token.is_some()
}

/// Why something asked of an organization's Twilio account did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TwilioAccountError {
    #[error("connect a Twilio account first (Settings → Twilio Connection)")]
    NotConnected,
    #[error(
        "the Account SID (account_sid) does not look right: it starts with AC and has 32 more letters and digits (0-9, a-f); copy it from Account Info in the Twilio Console"
    )]
    InvalidAccountSid,
    #[error(
        "the Auth Token (auth_token) does not look right: copy it from Account Info in the Twilio Console, without spaces"
    )]
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
    #[error(
        "this organization uses the built-in sandbox, which this server has turned off (LOQUENT_SANDBOX); disconnect it and connect a Twilio account"
    )]
    SandboxOff,
    #[error("this server does not serve the built-in sandbox (LOQUENT_SANDBOX is off)")]
    NoSandbox,
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
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
    /// The built-in sandbox's Twilio host, when it is on: sandbox organizations' clients talk
    /// to it instead of the configured hosts.
    sandbox_base: Option<Url>,
}

impl TwilioAccounts {
    pub fn new(
        secrets: SecretBox,
        api_base: Url,
        events_base: Url,
        platform: Option<(AccountSid, String)>,
        public_url: Url,
        sandbox_base: Option<Url>,
    ) -> Self {
        Self {
            secrets,
            api_base,
            events_base,
            platform: platform.map(|(sid, token)| Credentials::auth_token(sid, token)),
            public_url,
            sandbox_base,
        }
    }

    pub fn view(&self, org: &organization::Model) -> TwilioConnectionView {
        TwilioConnectionView {
            connected: is_connected(org),
            account_sid: org
                .twilio_account_sid
                .as_deref()
                .and_then(|s| s.parse::<AccountSid>().ok())
                .map(|s| s.masked()),
            byo_twilio: org.byo_twilio,
            sandbox: org.twilio_sandbox,
            platform_subaccounts: self.platform.is_some(),
            sandbox_available: self.sandbox_base.is_some(),
        }
    }

    /// A client for these credentials, against the configured API hosts. Interactive requests
    /// get a short retry budget: a person is waiting for the answer.
    fn client(&self, credentials: Credentials) -> Result<TwilioClient, TwilioAccountError> {
        Self::client_at(credentials, &self.api_base, &self.events_base)
    }

    fn client_at(
        credentials: Credentials,
        api_base: &Url,
        events_base: &Url,
    ) -> Result<TwilioClient, TwilioAccountError> {
        TwilioClient::builder(credentials)
            .api_base(api_base.as_str())
            .events_base(events_base.as_str())
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
        let credentials = Credentials::auth_token(sid, token);
        if org.twilio_sandbox {
            let base = self
                .sandbox_base
                .as_ref()
                .ok_or(TwilioAccountError::SandboxOff)?;
            return Self::client_at(credentials, base, base);
        }
        self.client(credentials)
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
    active.twilio_sandbox = Set(false);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(db).await?;
    tracing::info!(org_id = %org.id, account = %sid.masked(), "Twilio account connected");
    Ok(accounts.view(&org))
}

/// `POST /api/twilio/connect-sandbox`: the organization's own account in the built-in sandbox,
/// with numbers to import and a little past call history. Connecting again after a
/// disconnection brings back the same account.
pub async fn connect_sandbox(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    sandbox: Option<&crate::sandbox::BuiltInSandbox>,
    org: organization::Model,
) -> Result<TwilioConnectionView, TwilioAccountError> {
    let sandbox = sandbox.ok_or(TwilioAccountError::NoSandbox)?;
    if org.twilio_account_sid.is_some() {
        return Err(TwilioAccountError::AlreadyConnected);
    }
    let account = sandbox.create_account(org.id, &org.name).await?;
    let sid: AccountSid = account
        .account_sid
        .parse()
        .map_err(|e| TwilioAccountError::Unusable(format!("the sandbox's account SID: {e}")))?;
    let mut active = org.into_active_model();
    active.twilio_account_sid = Set(Some(sid.as_str().to_owned()));
    active.twilio_auth_token = Set(Some(accounts.secrets.seal(&account.auth_token)));
    active.byo_twilio = Set(false);
    active.twilio_sandbox = Set(true);
    active.updated_at = Set(chrono::Utc::now());
    let org = active.update(db).await?;
    // Recording costs nothing here, and a test call should show everything that follows a
    // call: its recording, transcript and analyses.
    crate::entity::organization_twilio_settings::Entity::update_many()
        .col_expr(
            crate::entity::organization_twilio_settings::Column::CallRecordingEnabled,
            true.into(),
        )
        .filter(crate::entity::organization_twilio_settings::Column::OrganizationId.eq(org.id))
        .exec(db)
        .await?;
    tracing::info!(org_id = %org.id, account = %sid.masked(), "sandbox account connected");
    Ok(accounts.view(&org))
}

/// After a restart the sandbox is empty: every organization that uses it gets its account back
/// (the same seed gives the same SID, token, numbers and history), its bought numbers again and
/// its configured numbers pointed at this server. Answers how many accounts came back; one that
/// cannot is logged and left (its requests then fail with Twilio's 401 until it reconnects).
pub async fn restore_sandbox_accounts(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    sandbox: &crate::sandbox::BuiltInSandbox,
) -> Result<usize, TwilioAccountError> {
    let orgs = organization::Entity::find()
        .filter(organization::Column::TwilioSandbox.eq(true))
        .all(db)
        .await?;
    let mut restored = 0;
    for org in orgs {
        match restore_one(db, accounts, sandbox, &org).await {
            Ok(()) => restored += 1,
            Err(e) => {
                tracing::warn!(org_id = %org.id, error = %e, "could not restore a sandbox account");
            }
        }
    }
    Ok(restored)
}

async fn restore_one(
    db: &DatabaseConnection,
    accounts: &TwilioAccounts,
    sandbox: &crate::sandbox::BuiltInSandbox,
    org: &organization::Model,
) -> Result<(), TwilioAccountError> {
    use crate::entity::phone_number;
    let account = sandbox.create_account(org.id, &org.name).await?;
    if org.twilio_account_sid.as_deref() != Some(account.account_sid.as_str()) {
        return Err(TwilioAccountError::Unusable(
            "the sandbox made another account for this organization".to_owned(),
        ));
    }
    let client = accounts.client_for(org)?;
    let voice_url = accounts.voice_webhook_url();
    let numbers = phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org.id))
        .all(db)
        .await?;
    for number in numbers {
        // `previous_voice_url` is set once we configured the number (empty when it had none).
        let configured = number.previous_voice_url.is_some();
        match account
            .numbers
            .iter()
            .find(|n| n.phone_number == number.number)
        {
            Some(seeded) if configured => {
                let sid: loquent_twilio::PhoneNumberSid = seeded.sid.parse().map_err(|e| {
                    TwilioAccountError::Unusable(format!("the sandbox's number SID: {e}"))
                })?;
                client
                    .update_incoming_phone_number(
                        &sid,
                        &loquent_twilio::phone_numbers::VoiceConfig::webhook(&voice_url),
                    )
                    .await
                    .map_err(TwilioFailure::to("point a sandbox number at this server"))?;
            }
            Some(_) => {}
            None => {
                let sid = sandbox
                    .add_number(
                        &account.account_sid,
                        &number.number,
                        configured.then_some(voice_url.as_str()),
                    )
                    .await?;
                let mut active = number.into_active_model();
                active.twilio_sid = Set(Some(sid));
                active.update(db).await?;
            }
        }
    }
    Ok(())
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
    active.twilio_sandbox = Set(false);
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
