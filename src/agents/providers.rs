//! Which AI providers this server reaches, and which of an organization's agents use each
//! (issue 24). Settings lists them and the agent editor warns, so nobody learns from a silent
//! call that a provider has no key. Never the key itself: only whether there is one.

use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use uuid::Uuid;

use super::{Provider, RealtimeConfig};

/// How calls to a provider's agents are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// The server has the provider's API key: the real service answers.
    Configured,
    /// No key, and the built-in sandbox is on: its emulator answers with a scripted voice.
    Emulated,
    /// No key and no sandbox: the provider's agents cannot answer calls (unless the configured
    /// endpoint is one that takes no key, such as a local emulator).
    Missing,
}

impl Reach {
    /// What it means for an agent, in a sentence (for the agent editor and Settings).
    pub fn explain(self, provider: Provider) -> Option<String> {
        let label = provider.label();
        match self {
            Self::Configured => None,
            Self::Emulated => Some(format!(
                "This server has no {label} API key, so agents on {label} talk to the built-in \
                 sandbox's emulator: it answers with a scripted voice, not the real model."
            )),
            Self::Missing => Some(format!(
                "This server has no {label} API key, so agents on {label} cannot answer calls \
                 unless its configured endpoint takes none; the operator sets the key in the \
                 server's configuration."
            )),
        }
    }
}

/// How this server reaches each provider (from its configuration, fixed while it runs).
#[derive(Debug, Clone, Copy)]
pub struct Availability {
    pub openai: Reach,
    pub gemini: Reach,
}

impl Availability {
    pub fn of(self, provider: Provider) -> Reach {
        match provider {
            Provider::OpenAi => self.openai,
            Provider::Gemini => self.gemini,
        }
    }
}

/// An agent, by name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentRef {
    pub id: Uuid,
    pub name: String,
}

/// One provider as Settings shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub provider: Provider,
    /// `OpenAI Realtime`, `Gemini Live`.
    pub label: &'static str,
    pub status: Reach,
    /// The organization's agents on this provider, by name.
    pub agents: Vec<AgentRef>,
}

/// Every provider with the organization's agents on it.
pub async fn overview(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    availability: Availability,
) -> Result<Vec<ProviderView>, DbErr> {
    let agents = super::list(db, org_id).await?;
    Ok(Provider::ALL
        .into_iter()
        .map(|provider| ProviderView {
            provider,
            label: provider.label(),
            status: availability.of(provider),
            agents: agents
                .iter()
                .filter(|a| RealtimeConfig::from_json(&a.realtime_config).provider == provider)
                .map(|a| AgentRef {
                    id: a.id,
                    name: a.name.clone(),
                })
                .collect(),
        })
        .collect())
}
