//! The one `App`: configuration and handles to every external system, shared by all requests.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
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
}

impl App {
    /// Connects to the database, applies migrations and starts the event hub.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Self>> {
        crate::install_crypto_provider();
        let secrets = SecretBox::load_or_create(
            config.secret_key.as_ref().map(|s| s.expose().as_str()),
            &config.data_dir,
        )?;
        let db = crate::db::connect(&config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database (LOQUENT_DATABASE_URL): {e}"))?;
        crate::db::migrate(&db)
            .await
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
        let events = EventHub::start(&db).await?;
        let live = crate::telephony::LiveCalls::start(db.clone());
        Ok(Arc::new(Self {
            config,
            db,
            live,
            secrets,
            events,
            metrics: Metrics::global(),
        }))
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
