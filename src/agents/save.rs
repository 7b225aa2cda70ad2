//! Create an agent, or replace its name, prompt and settings.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel, Set};
use serde::Deserialize;
use uuid::Uuid;

use super::config::{ConfigInput, RealtimeConfig};
use super::{AgentError, find};
use crate::entity::agent;
use crate::outbound;
use crate::secrets::SecretBox;
use crate::validation::FieldError;

/// What checking an agent needs beyond its input: the key that seals its lookup token, and
/// whether lookup URLs may name private addresses on this server (`LOQUENT_ALLOW_PRIVATE_LOOKUPS`).
#[derive(Clone, Copy)]
pub struct AgentRules<'a> {
    pub secrets: &'a SecretBox,
    pub allow_private_lookups: bool,
}

pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_PROMPT_CHARS: usize = 20_000;

/// An agent as people send it: the API body of `POST /api/agents` and `PUT /api/agents/{id}`,
/// and what the agent form is read into. Missing fields are reported as field errors.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AgentInput {
    pub name: String,
    pub prompt: String,
    #[schema(default = json!({}))]
    pub config: ConfigInput,
}

/// Input that passed every check, ready to store.
#[derive(Debug)]
pub struct ValidAgent {
    pub name: String,
    pub prompt: String,
    pub config: RealtimeConfig,
}

impl AgentInput {
    /// The agent to store, or every problem at once (field paths as in the request body:
    /// `name`, `config.vad.threshold`), so a form shows each beside its field. `previous` is the
    /// stored config on update; see [`ConfigInput::validate`] for what it keeps.
    pub fn validate(
        self,
        previous: Option<&RealtimeConfig>,
        secrets: &SecretBox,
    ) -> Result<ValidAgent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("give the agent a name of 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let prompt = self.prompt.trim().to_owned();
        if prompt.is_empty() {
            errors.push(FieldError::new(
                "prompt",
                "write the instructions the agent follows on every call",
            ));
        } else if prompt.chars().count() > MAX_PROMPT_CHARS {
            errors.push(FieldError::new(
                "prompt",
                format!("keep the prompt under {MAX_PROMPT_CHARS} characters"),
            ));
        }
        let config = self.config.validate(previous, secrets);
        match config {
            Ok(config) if errors.is_empty() => Ok(ValidAgent {
                name,
                prompt,
                config,
            }),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }
}

/// [`AgentInput::validate`], then the server's outbound policy: a lookup URL on a literal
/// private address (or `localhost`) is refused here, where the person can fix it, rather than on
/// every call. Names are checked when called (`crate::outbound`).
fn check(
    rules: AgentRules<'_>,
    input: AgentInput,
    previous: Option<&RealtimeConfig>,
) -> Result<ValidAgent, AgentError> {
    let checked = input
        .validate(previous, rules.secrets)
        .map_err(AgentError::InvalidFields)?;
    if !rules.allow_private_lookups
        && let Some(lookup) = &checked.config.lookup
        && let Ok(url) = url::Url::parse(&lookup.url)
        && let Err(why) = outbound::check_public(&url)
    {
        return Err(AgentError::InvalidFields(vec![FieldError::new(
            "config.lookup.url",
            why,
        )]));
    }
    Ok(checked)
}

pub async fn create(
    db: &DatabaseConnection,
    rules: AgentRules<'_>,
    org_id: Uuid,
    input: AgentInput,
) -> Result<agent::Model, AgentError> {
    let checked = check(rules, input, None)?;
    let now = Utc::now();
    let created = agent::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        name: Set(checked.name),
        prompt: Set(checked.prompt),
        realtime_config: Set(checked.config.to_json()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    tracing::info!(%org_id, agent_id = %created.id, "agent created");
    Ok(created)
}

/// Replaces everything but the id; the lookup token is kept as `ConfigInput::validate` says.
pub async fn update(
    db: &DatabaseConnection,
    rules: AgentRules<'_>,
    org_id: Uuid,
    id: Uuid,
    input: AgentInput,
) -> Result<agent::Model, AgentError> {
    let current = find(db, org_id, id).await?;
    let previous = RealtimeConfig::from_json(&current.realtime_config);
    let checked = check(rules, input, Some(&previous))?;
    let mut active = current.into_active_model();
    active.name = Set(checked.name);
    active.prompt = Set(checked.prompt);
    active.realtime_config = Set(checked.config.to_json());
    active.updated_at = Set(Utc::now());
    let updated = active.update(db).await?;
    tracing::info!(%org_id, agent_id = %id, "agent updated");
    Ok(updated)
}
