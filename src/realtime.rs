//! Live events for browsers (`GET /api/realtime`), scoped to one organization.
//!
//! Publishers never wait for browsers: each organization has a bounded broadcast channel, and a
//! subscriber that falls behind is disconnected (it reconnects and reloads) instead of slowing
//! the sync or call that publishes. On PostgreSQL, events travel through `NOTIFY` so every server
//! process sharing the database delivers them to its own browsers; on SQLite (one process) they
//! stay in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

const CHANNEL: &str = "loquent_events";
/// Events a subscriber may lag behind before it is dropped.
const BUFFER: usize = 256;
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_NOTIFY_BYTES: usize = 7900;

/// What a browser receives: `{"type": "...", "payload": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub payload: serde_json::Value,
}

/// The wire form between server processes.
#[derive(Serialize, Deserialize)]
struct Envelope {
    org: Uuid,
    event: Event,
}

#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    channels: Mutex<HashMap<Uuid, broadcast::Sender<Arc<str>>>>,
    /// Set on PostgreSQL: publishing goes through the database.
    postgres: Option<DatabaseConnection>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("event is too large to publish ({0} bytes)")]
    TooLarge(usize),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl EventHub {
    pub async fn start(db: &DatabaseConnection) -> anyhow::Result<Self> {
        let postgres = (db.get_database_backend() == DatabaseBackend::Postgres).then(|| db.clone());
        let hub = Self {
            inner: Arc::new(Inner {
                channels: Mutex::new(HashMap::new()),
                postgres,
            }),
        };
        if let Some(db) = &hub.inner.postgres {
            let pool = db.get_postgres_connection_pool().clone();
            let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            let weak = Arc::downgrade(&hub.inner);
            #[expect(
                clippy::disallowed_methods,
                reason = "the NOTIFY listener lives with the event hub; browsers reconnect after a restart"
            )]
            tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(note) => {
                            let Some(inner) = weak.upgrade() else { return };
                            match serde_json::from_str::<Envelope>(note.payload()) {
                                Ok(env) => inner.deliver(env.org, &env.event),
                                Err(e) => tracing::warn!(error = %e, "ignoring malformed event"),
                            }
                        }
                        Err(e) => {
                            // PgListener reconnects by itself on the next recv; events sent
                            // while it was down are lost, and browsers reload state on reconnect.
                            if weak.strong_count() == 0 {
                                return;
                            }
                            tracing::warn!(error = %e, "event listener lost its connection");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        Ok(hub)
    }

    /// Publishes to every browser of `org`, in every server process.
    pub async fn publish(
        &self,
        org: Uuid,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<(), PublishError> {
        let event = Event {
            kind: kind.to_owned(),
            payload,
        };
        match &self.inner.postgres {
            None => {
                self.inner.deliver(org, &event);
                Ok(())
            }
            Some(db) => {
                let text = serde_json::to_string(&Envelope { org, event })
                    .expect("events serialize to JSON");
                if text.len() > MAX_NOTIFY_BYTES {
                    return Err(PublishError::TooLarge(text.len()));
                }
                db.execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), text.into()],
                ))
                .await?;
                Ok(())
            }
        }
    }

    /// A receiver of `org`'s events as ready-to-send JSON text.
    pub fn subscribe(&self, org: Uuid) -> broadcast::Receiver<Arc<str>> {
        let mut channels = self.inner.channels.lock().expect("event hub lock");
        channels
            .entry(org)
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }
}

impl Inner {
    fn deliver(&self, org: Uuid, event: &Event) {
        let mut channels = self.channels.lock().expect("event hub lock");
        if let Some(sender) = channels.get(&org) {
            if sender.receiver_count() == 0 {
                channels.remove(&org);
                return;
            }
            let text: Arc<str> = serde_json::to_string(event)
                .expect("events serialize to JSON")
                .into();
            let _ = sender.send(text);
        }
    }
}
