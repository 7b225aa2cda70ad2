//! The one `App`: configuration and handles to every external system, shared by all requests.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::agents::save::AgentRules;
use crate::config::Config;
use crate::orgs::twilio::TwilioAccounts;
use crate::realtime::EventHub;
use crate::secrets::SecretBox;
use crate::telemetry::Metrics;

pub struct App {
    pub config: Config,
    pub db: DatabaseConnection,
    pub secrets: SecretBox,
    pub events: EventHub,
    pub metrics: Metrics,
    pub live: crate::telephony::LiveCalls,
    /// Twilio clients acting for organizations.
    pub twilio: TwilioAccounts,
    /// Notified after enqueuing a job, so this process's runner claims it at once (other
    /// processes learn of it through PostgreSQL's NOTIFY, or their next poll).
    pub jobs_wake: Arc<Notify>,
    /// Where recordings are kept (a local directory or S3).
    pub storage: crate::storage::Storage,
    /// Sends the call reports; `None` without `LOQUENT_SMTP_URL`.
    pub mailer: Option<crate::mail::Mailer>,
    /// The built-in sandbox, when this server serves it (`LOQUENT_SANDBOX`).
    pub sandbox: Option<crate::sandbox::BuiltInSandbox>,
    /// The AI providers that talk to the sandbox's emulator for want of a key.
    pub emulated: crate::sandbox::Emulated,
}

impl App {
    /// Connects to the database, applies migrations and starts the event hub.
    pub async fn start(mut config: Config) -> anyhow::Result<Arc<Self>> {
        crate::install_crypto_provider();
        let sandbox = if config.sandbox_on() {
            Some(
                crate::sandbox::BuiltInSandbox::start()
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot start the built-in sandbox: {e}"))?,
            )
        } else {
            None
        };
        // A provider without a key talks to the sandbox's emulator (with a key that it takes).
        let mut emulated = crate::sandbox::Emulated::default();
        if let Some(sandbox) = &sandbox {
            if config.ai.openai_api_key.is_none() {
                config.ai.openai_base_url = sandbox.openai_base_url();
                config.ai.openai_api_key = Some(crate::config::Secret::new("sandbox".to_owned()));
                emulated.openai = true;
            }
            if config.ai.gemini_api_key.is_none() {
                config.ai.gemini_base_url = sandbox.gemini_base_url();
                config.ai.gemini_api_key = Some(crate::config::Secret::new("sandbox".to_owned()));
                emulated.gemini = true;
            }
            tracing::info!(
                twilio = %sandbox.twilio_base(),
                openai_emulated = emulated.openai,
                gemini_emulated = emulated.gemini,
                "the built-in sandbox is on (LOQUENT_SANDBOX): organizations may use it as \
                 their Twilio account, and AI providers without a key use its emulators"
            );
        }
        let secrets = SecretBox::load_or_create(
            config.secret_key.as_ref().map(|s| s.expose().as_str()),
            &config.data_dir,
        )?;
        let db = crate::db::open(&config).await.map_err(|e| {
            anyhow::anyhow!("cannot open and migrate the database (LOQUENT_DATABASE_URL): {e}")
        })?;
        let events = EventHub::start(&db).await?;
        let mailer = crate::mail::Mailer::from_config(&config.mail, &config.server.public_url)?;
        let providers = crate::telephony::session::Providers::from_config(&config);
        let live = crate::telephony::LiveCalls::start(
            db.clone(),
            providers,
            config.calls.light_load_calls_per_core,
        );
        let platform = config
            .twilio
            .account_sid
            .as_deref()
            .zip(config.twilio.auth_token.as_ref())
            .and_then(|(sid, token)| Some((sid.parse().ok()?, token.expose().clone())));
        let twilio = TwilioAccounts::new(
            secrets.clone(),
            config.twilio.api_base.clone(),
            config.twilio.events_base.clone(),
            platform,
            config.server.public_url.clone(),
            sandbox
                .as_ref()
                .map(crate::sandbox::BuiltInSandbox::twilio_base),
        );
        if let Some(sandbox) = &sandbox {
            let restored =
                crate::orgs::twilio::restore_sandbox_accounts(&db, &twilio, sandbox).await?;
            if restored > 0 {
                tracing::info!(restored, "sandbox accounts restored");
            }
        }
        let storage = crate::storage::Storage::open(&config.storage, &config.s3)
            .map_err(|e| anyhow::anyhow!("cannot open the storage (LOQUENT_STORAGE_URL): {e}"))?;
        Ok(Arc::new(Self {
            storage,
            config,
            db,
            live,
            twilio,
            secrets,
            events,
            metrics: Metrics::global(),
            jobs_wake: Arc::new(Notify::new()),
            mailer,
            sandbox,
            emulated,
        }))
    }
}

impl App {
    /// How this server reaches each AI provider: with its key, through the sandbox's emulator,
    /// or not at all.
    pub fn ai_availability(&self) -> crate::agents::providers::Availability {
        use crate::agents::providers::Reach;
        let reach = |emulated: bool, key: bool| match (emulated, key) {
            (true, _) => Reach::Emulated,
            (false, true) => Reach::Configured,
            (false, false) => Reach::Missing,
        };
        crate::agents::providers::Availability {
            openai: reach(
                self.emulated.openai,
                self.config.ai.openai_api_key.is_some(),
            ),
            gemini: reach(
                self.emulated.gemini,
                self.config.ai.gemini_api_key.is_some(),
            ),
        }
    }

    /// How invitation links go out: mailed when this server can send e-mail, else handed to
    /// the inviter.
    pub fn invitation_delivery(&self) -> crate::orgs::invitations::Delivery {
        if self.mailer.is_some() {
            crate::orgs::invitations::Delivery::Mail
        } else {
            crate::orgs::invitations::Delivery::Link
        }
    }

    /// What saving an agent checks beyond its input.
    pub fn agent_rules(&self) -> AgentRules<'_> {
        AgentRules {
            secrets: &self.secrets,
            allow_private_lookups: self.config.calls.allow_private_lookups,
        }
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tls_client_config_can_be_built_after_start_up() {
        crate::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        // Would panic with two compiled-in providers and none installed.
        let _ = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
    }
}
