//! The agent editor: create, edit and delete agents. A rejected form comes back as it was typed,
//! each problem beside its field, with status 422. The list is in `lists.rs`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::settings::NoFields;
use super::{Chrome, PageError, PageMember, render};
use crate::agents::config::{LookupInput, Tools, VadInput};
use crate::agents::providers::Availability;
use crate::agents::{self, AgentError, AgentInput, ConfigInput, Provider, RealtimeConfig};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::entity::agent;
use crate::error::{FieldError, Path};

/// The form as posted, and as shown again: every value as typed.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct AgentForm {
    name: String,
    prompt: String,
    provider: String,
    model: String,
    voice: String,
    vad_threshold: String,
    vad_prefix_padding_ms: String,
    vad_silence_duration_ms: String,
    greeting: String,
    #[serde(deserialize_with = "checkbox")]
    tools_end_call: bool,
    #[serde(deserialize_with = "checkbox")]
    tools_transfer_call: bool,
    #[serde(deserialize_with = "checkbox")]
    tools_lookup_caller: bool,
    /// One number per line.
    transfer_numbers: String,
    lookup_url: String,
    /// Write-only: never rendered back into the page.
    lookup_token: String,
    #[serde(deserialize_with = "checkbox")]
    caller_context: bool,
}

/// A checked box sends its value (`on`); an unchecked one sends nothing.
fn checkbox<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Option::<String>::deserialize(d).map(|v| v.is_some())
}

impl AgentForm {
    fn new_agent() -> Self {
        Self::from_parts("", "", &RealtimeConfig::default())
    }

    fn from_agent(agent: &agent::Model) -> Self {
        Self::from_parts(
            &agent.name,
            &agent.prompt,
            &RealtimeConfig::from_json(&agent.realtime_config),
        )
    }

    fn from_parts(name: &str, prompt: &str, config: &RealtimeConfig) -> Self {
        Self {
            name: name.to_owned(),
            prompt: prompt.to_owned(),
            provider: config.provider.as_str().to_owned(),
            model: config.model.clone(),
            voice: config.voice.clone(),
            vad_threshold: config.vad.threshold.to_string(),
            vad_prefix_padding_ms: config.vad.prefix_padding_ms.to_string(),
            vad_silence_duration_ms: config.vad.silence_duration_ms.to_string(),
            greeting: config.greeting.clone().unwrap_or_default(),
            tools_end_call: config.tools.end_call,
            tools_transfer_call: config.tools.transfer_call,
            tools_lookup_caller: config.tools.lookup_caller,
            transfer_numbers: config.transfer_numbers.join("\n"),
            lookup_url: config
                .lookup
                .as_ref()
                .map(|l| l.url.clone())
                .unwrap_or_default(),
            lookup_token: String::new(),
            caller_context: config.caller_context,
        }
    }

    /// The API's input, and the fields that are not even numbers (reported like any other
    /// field error; a browser's number inputs normally prevent them).
    fn to_input(&self) -> (AgentInput, Vec<FieldError>) {
        let mut errors = Vec::new();
        let vad = VadInput {
            threshold: parsed(
                &self.vad_threshold,
                "config.vad.threshold",
                "enter a number between 0 and 1",
                &mut errors,
            ),
            prefix_padding_ms: parsed(
                &self.vad_prefix_padding_ms,
                "config.vad.prefix_padding_ms",
                "enter a whole number of milliseconds",
                &mut errors,
            ),
            silence_duration_ms: parsed(
                &self.vad_silence_duration_ms,
                "config.vad.silence_duration_ms",
                "enter a whole number of milliseconds",
                &mut errors,
            ),
        };
        let lookup = (!self.lookup_url.trim().is_empty() || !self.lookup_token.trim().is_empty())
            .then(|| LookupInput {
                url: self.lookup_url.clone(),
                token: Some(self.lookup_token.clone()),
            });
        let input = AgentInput {
            name: self.name.clone(),
            prompt: self.prompt.clone(),
            config: ConfigInput {
                provider: Some(self.provider.clone()),
                model: Some(self.model.clone()),
                voice: Some(self.voice.clone()),
                vad,
                greeting: Some(self.greeting.clone()),
                tools: Tools {
                    end_call: self.tools_end_call,
                    transfer_call: self.tools_transfer_call,
                    lookup_caller: self.tools_lookup_caller,
                },
                transfer_numbers: self
                    .transfer_numbers
                    .split(['\n', ','])
                    .map(str::to_owned)
                    .collect(),
                lookup,
                caller_context: self.caller_context,
            },
        };
        (input, errors)
    }
}

/// A number field: `None` when left empty (the default applies), or when it is not a number
/// (then reported under `field`).
fn parsed<T: std::str::FromStr>(
    raw: &str,
    field: &str,
    message: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    raw.parse()
        .map_err(|_| errors.push(FieldError::new(field, message)))
        .ok()
}

/// A provider as the form's select shows it; its defaults let the page's script switch the
/// model and voice along with it.
struct ProviderOption {
    value: &'static str,
    label: &'static str,
    default_model: &'static str,
    default_voice: &'static str,
    voices: &'static [&'static str],
}

#[derive(Template)]
#[template(path = "agent_form.html")]
struct AgentPage {
    chrome: Chrome,
    /// `None`: a new agent.
    agent_id: Option<Uuid>,
    /// The stored name (not the one being typed), or "New agent".
    heading: String,
    form: AgentForm,
    /// Problems keyed by form field (`vad_threshold`), in the order found.
    errors: Vec<(String, String)>,
    providers: Vec<ProviderOption>,
    /// A stored lookup token exists (its value is never shown).
    has_token: bool,
    /// The member typed a token, but the form came back: it must be typed again.
    token_typed: bool,
    can_save: bool,
    can_delete: bool,
    /// A stored agent, and the member may place calls: the page offers a web call.
    can_talk: bool,
    /// The number a web call from this page is kept as a call to (`?phone_id=`, from a number's
    /// Talk button); else the agent's oldest.
    talk_phone: Option<Uuid>,
    /// Contacts the member may call as (the most recent; empty without `Contact:Instance:Read`).
    talk_contacts: Vec<(Uuid, String)>,
    /// For each provider this server has no key for: what that means for an agent on it.
    provider_notes: Vec<(&'static str, String)>,
}

impl AgentPage {
    fn new(
        page: &PageMember,
        availability: Availability,
        stored: Option<&agent::Model>,
        form: AgentForm,
    ) -> Self {
        let agent_id = stored.map(|a| a.id);
        let (can_save, can_delete) = match agent_id {
            None => (page.member.can("Agent:Collection:Create"), false),
            Some(_) => (
                page.member.can("Agent:Instance:Update"),
                page.member.can("Agent:Instance:Delete"),
            ),
        };
        Self {
            chrome: page.chrome("agents"),
            agent_id,
            heading: stored.map_or_else(|| "New agent".to_owned(), |a| a.name.clone()),
            has_token: stored.is_some_and(stored_token),
            form,
            errors: Vec::new(),
            providers: Provider::ALL
                .into_iter()
                .map(|p| ProviderOption {
                    value: p.as_str(),
                    label: p.label(),
                    default_model: p.default_model(),
                    default_voice: p.default_voice(),
                    voices: p.voices(),
                })
                .collect(),
            token_typed: false,
            can_save,
            can_delete,
            can_talk: agent_id.is_some() && page.member.can("Call:Collection:Create"),
            talk_phone: None,
            talk_contacts: Vec::new(),
            provider_notes: Provider::ALL
                .into_iter()
                .filter_map(|p| Some((p.as_str(), availability.of(p).explain(p)?)))
                .collect(),
        }
    }

    fn action(&self) -> String {
        match self.agent_id {
            Some(id) => format!("/agents/{id}"),
            None => "/agents".to_owned(),
        }
    }

    /// The messages for one form field, or `None` when it is fine.
    fn error(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|(f, _)| f == field)
    }

    /// Whether the voice typed or stored is none of the listed ones (then it is listed too, so
    /// the form keeps it).
    fn other_voice(&self) -> bool {
        !self.form.voice.is_empty()
            && !self
                .providers
                .iter()
                .any(|p| p.voices.contains(&self.form.voice.as_str()))
    }

    /// The page again, with the problems beside their fields, as 422.
    fn rejected(mut self, errors: Vec<FieldError>) -> Response {
        self.token_typed = !self.form.lookup_token.trim().is_empty();
        self.errors = errors
            .into_iter()
            .map(|e| (form_field(&e.field), e.message))
            .collect();
        if self.agent_id.is_none() {
            self.chrome = self.chrome.at("/agents/new");
        }
        (StatusCode::UNPROCESSABLE_ENTITY, render(&self)).into_response()
    }
}

/// The form field for an API field path: `config.vad.threshold` → `vad_threshold`.
fn form_field(path: &str) -> String {
    path.strip_prefix("config.")
        .unwrap_or(path)
        .replace('.', "_")
}

/// The problems of a form with unparsable numbers: those, and whatever else is wrong, without
/// saving.
fn all_problems(
    input: AgentInput,
    mut errors: Vec<FieldError>,
    previous: Option<&RealtimeConfig>,
    state: &AppState,
) -> Vec<FieldError> {
    if let Err(more) = input.validate(previous, &state.secrets) {
        errors.extend(more);
    }
    errors
}

pub async fn new(State(state): State<AppState>, page: PageMember) -> Result<Response, PageError> {
    page.member.require("Agent:Collection:Create")?;
    Ok(render(&AgentPage::new(
        &page,
        state.ai_availability(),
        None,
        AgentForm::new_agent(),
    )))
}

pub async fn create(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<AgentForm>,
) -> Result<Response, PageError> {
    page.member.require("Agent:Collection:Create")?;
    let (input, errors) = form.to_input();
    let view = AgentPage::new(&page, state.ai_availability(), None, form);
    if !errors.is_empty() {
        return Ok(view.rejected(all_problems(input, errors, None, &state)));
    }
    match agents::save::create(&state.db, state.agent_rules(), page.member.org_id(), input).await {
        Ok(_) => Ok(Redirect::to("/agents?done=created").into_response()),
        Err(AgentError::InvalidFields(errors)) => Ok(view.rejected(errors)),
        Err(e) => Err(e.into()),
    }
}

/// `?phone_id=` on an agent's page: a number's Talk button.
#[derive(Debug, Deserialize)]
pub struct TalkFrom {
    phone_id: Option<Uuid>,
}

pub async fn edit(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    Query(talk): Query<TalkFrom>,
) -> Result<Response, PageError> {
    page.member.require("Agent:Instance:Read")?;
    let agent = agents::find(&state.db, page.member.org_id(), id).await?;
    let form = AgentForm::from_agent(&agent);
    let mut view = AgentPage::new(&page, state.ai_availability(), Some(&agent), form);
    view.talk_phone = talk.phone_id;
    if view.can_talk && page.member.can("Contact:Instance:Read") {
        view.talk_contacts = crate::contacts::recent(&state.db, page.member.org_id(), 100)
            .await
            .map_err(crate::error::ApiError::from)?
            .into_iter()
            .map(|c| {
                let number = c.numbers.first().cloned();
                let label = match (c.name, number) {
                    (Some(name), Some(number)) => format!("{name} ({number})"),
                    (Some(name), None) => name,
                    (None, Some(number)) => number,
                    (None, None) => "Unnamed contact".to_owned(),
                };
                (c.id, label)
            })
            .collect();
    }
    Ok(render(&view))
}

pub async fn save(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<AgentForm>,
) -> Result<Response, PageError> {
    page.member.require("Agent:Instance:Update")?;
    let org = page.member.org_id();
    let current = agents::find(&state.db, org, id).await?;
    let (input, errors) = form.to_input();
    let view = AgentPage::new(&page, state.ai_availability(), Some(&current), form);
    if !errors.is_empty() {
        let previous = RealtimeConfig::from_json(&current.realtime_config);
        return Ok(view.rejected(all_problems(input, errors, Some(&previous), &state)));
    }
    match agents::save::update(&state.db, state.agent_rules(), org, id, input).await {
        Ok(_) => Ok(Redirect::to("/agents?done=saved").into_response()),
        Err(AgentError::InvalidFields(errors)) => Ok(view.rejected(errors)),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    page.member.require("Agent:Instance:Delete")?;
    agents::delete::delete(&state.db, page.member.org_id(), id).await?;
    Ok(Redirect::to("/agents?done=deleted").into_response())
}

fn stored_token(agent: &agent::Model) -> bool {
    RealtimeConfig::from_json(&agent.realtime_config)
        .lookup
        .is_some_and(|l| l.has_token())
}
