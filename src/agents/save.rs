//! Create an agent, or replace its name, prompt and settings.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use serde::Deserialize;
use uuid::Uuid;

use super::config::{ConfigInput, RealtimeConfig};
use super::find;
use crate::app::App;
use crate::entity::agent;
use crate::error::{ApiError, FieldError};
use crate::outbound;
use crate::secrets::SecretBox;

pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_PROMPT_CHARS: usize = 20_000;

/// An agent as people send it: the API body of `POST /api/agents` and `PUT /api/agents/{id}`,
/// and what the agent form is read into. Missing fields are reported as field errors.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AgentInput {
    pub name: String,
    pub prompt: String,
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

/// [`AgentInput::validate`], then the server's outbound policy, which only the running app knows:
/// a lookup URL on a literal private address (or `localhost`) is refused here, where the person
/// can fix it, rather than on every call. Names are checked when called (`crate::outbound`).
fn check(
    app: &App,
    input: AgentInput,
    previous: Option<&RealtimeConfig>,
) -> Result<ValidAgent, ApiError> {
    let checked = input
        .validate(previous, &app.secrets)
        .map_err(ApiError::InvalidFields)?;
    if !app.config.calls.allow_private_lookups
        && let Some(lookup) = &checked.config.lookup
        && let Ok(url) = url::Url::parse(&lookup.url)
        && let Err(why) = outbound::check_public(&url)
    {
        return Err(ApiError::InvalidFields(vec![FieldError::new(
            "config.lookup.url",
            why,
        )]));
    }
    Ok(checked)
}

pub async fn create(app: &App, org_id: Uuid, input: AgentInput) -> Result<agent::Model, ApiError> {
    let checked = check(app, input, None)?;
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
    .insert(&app.db)
    .await?;
    tracing::info!(%org_id, agent_id = %created.id, "agent created");
    Ok(created)
}

/// Replaces everything but the id; the lookup token is kept as `ConfigInput::validate` says.
pub async fn update(
    app: &App,
    org_id: Uuid,
    id: Uuid,
    input: AgentInput,
) -> Result<agent::Model, ApiError> {
    let current = find(&app.db, org_id, id).await?;
    let previous = RealtimeConfig::from_json(&current.realtime_config);
    let checked = check(app, input, Some(&previous))?;
    let mut active = current.into_active_model();
    active.name = Set(checked.name);
    active.prompt = Set(checked.prompt);
    active.realtime_config = Set(checked.config.to_json());
    active.updated_at = Set(Utc::now());
    let updated = active.update(&app.db).await?;
    tracing::info!(%org_id, agent_id = %id, "agent updated");
    Ok(updated)
}
