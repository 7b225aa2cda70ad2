//! Settings → Twilio Connection: the account, its numbers (import, buy, agent per number) and
//! the voice webhook of each number (seed 004's Configure Voice Webhooks section).
//!
//! Every action is a plain form post to the same domain functions the JSON API uses. Success
//! redirects back (so a reload does not buy a second number) with what happened in the query;
//! failure re-renders the page with the reason beside the form that failed.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use uuid::Uuid;

use super::settings::NoFields;
use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::call_sync::Progress;
use crate::call_sync::start::{SyncRequest, Syncer};
use crate::entity::{agent, organization, phone_number};
use crate::error::{ApiError, Path};
use crate::event_streams::setup::{Streams, Wanted};
use crate::event_streams::{Kind, StreamsState};
use crate::orgs::twilio::{self, TwilioConnectionView};
use crate::phone_numbers::buy::AvailableNumber;
use crate::phone_numbers::import::{ImportResult, UnsyncedNumber};
use crate::phone_numbers::{self, assign, buy, import, voice};
use crate::recordings::settings::{self as recording_settings, SettingsChange, TelephonySettings};

/// The page's sections; an error is shown in the one whose form failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Section {
    Connection,
    Numbers,
    Import,
    Buy,
    Voice,
    Telephony,
    Sync,
    /// Call Event Streaming and SMS Event Forwarding (seed 001).
    Events,
}

/// Where a number's voice webhook stands (seed 004: `previous_voice_url` NULL / "" / URL).
pub enum VoiceState {
    /// NULL: we never changed this number's voice URL.
    NotConfigured,
    /// "": we point it at Loquent; Twilio had no URL before.
    ConfiguredWithoutPrevious,
    /// A URL: we point it at Loquent; Restore puts this one back.
    Configured(String),
}

pub struct NumberRow {
    id: Uuid,
    number: String,
    friendly_name: String,
    agent_id: String,
    voice: VoiceState,
}

pub struct Search {
    area_code: String,
    results: Vec<AvailableNumber>,
}

#[derive(Template)]
#[template(path = "twilio.html")]
struct TwilioPage {
    chrome: Chrome,
    connection: TwilioConnectionView,
    numbers: Vec<NumberRow>,
    agents: Vec<(String, String)>,
    unsynced: Option<Vec<UnsyncedNumber>>,
    search: Option<Search>,
    notice: Option<(Section, String)>,
    error: Option<(Section, String)>,
    /// The SID typed into a connect form that failed, so the person fixes it rather than retypes.
    typed_sid: String,
    can_connect: bool,
    can_disconnect: bool,
    can_list: bool,
    can_add_numbers: bool,
    can_update_numbers: bool,
    can_configure_voice: bool,
    /// The recording switches, when the member may read them.
    telephony: Option<TelephonySettings>,
    can_update_telephony: bool,
    /// What Event Streams delivers here; `None` without permission to read it or an account.
    streams: Option<StreamsState>,
    /// Where Twilio delivers them.
    events_url: String,
    can_set_up_streams: bool,
    can_remove_streams: bool,
    /// Each number's latest call-history sync, by phone number id.
    syncs: Vec<Progress>,
    can_sync: bool,
    /// Test calls: the organization uses the built-in sandbox and the member may place calls.
    can_test_call: bool,
    /// Numbers with an agent offer a web call with it (on the agent's page).
    can_talk: bool,
}

impl TwilioPage {
    /// The latest sync of number `id`, if it was ever synced.
    fn sync_of(&self, id: &Uuid) -> Option<&Progress> {
        self.syncs.iter().find(|p| p.phone_number_id == *id)
    }

    fn error_in(&self, section: Section) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(s, _)| *s == section)
            .map(|(_, m)| m.as_str())
    }

    fn notice_in(&self, section: Section) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(s, _)| *s == section)
            .map(|(_, m)| m.as_str())
    }
}

/// What the page shows besides the stored state: the outcome of the last action, and the
/// results of a fetch or a search the person asked for.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    /// `fetch=1`: list the account's numbers not yet imported.
    fetch: Option<String>,
    /// Search numbers for sale in this area code.
    area_code: Option<String>,
    /// The action that just succeeded, and its figures.
    done: Option<String>,
    imported: Option<usize>,
    existing: Option<usize>,
    skipped: Option<usize>,
    unavailable: Option<usize>,
    number: Option<String>,
}

impl PageQuery {
    fn notice(&self) -> Option<(Section, String)> {
        let number = self.number.as_deref().unwrap_or("the number");
        let notice = match self.done.as_deref()? {
            "connected" => (Section::Connection, "Twilio account connected.".to_owned()),
            "sandbox" => (
                Section::Connection,
                "Connected to your account in the built-in sandbox. Import its numbers below, \
                 give one an agent, then place a test call."
                    .to_owned(),
            ),
            "subaccount" => (
                Section::Connection,
                "A Twilio subaccount was created for this organization.".to_owned(),
            ),
            "disconnected" => (
                Section::Connection,
                "Twilio account disconnected. Your numbers stay listed here.".to_owned(),
            ),
            "imported" => (Section::Import, import_summary(self)),
            "bought" => (
                Section::Buy,
                format!("Bought {number}. Its calls now come to Loquent."),
            ),
            "assigned" => (Section::Numbers, format!("Saved the agent for {number}.")),
            "configured" => (
                Section::Voice,
                format!("{number} now sends its calls to Loquent."),
            ),
            "restored" => (
                Section::Voice,
                format!("{number} is back to its previous voice URL."),
            ),
            "synced" => (
                Section::Sync,
                format!(
                    "Imported {} from the history of {number} ({} already here). Their \
                     recordings are processed in the background.",
                    calls(self.imported.unwrap_or(0)),
                    self.skipped.unwrap_or(0)
                ),
            ),
            "telephony" => (
                Section::Telephony,
                "Saved. The telephony settings apply from the next call.".to_owned(),
            ),
            "call-events-on" => (
                Section::Events,
                "Call events are set up: Twilio now sends this account's call events here."
                    .to_owned(),
            ),
            "sms-events-on" => (
                Section::Events,
                "SMS events are set up: this account's messages now appear on their contacts."
                    .to_owned(),
            ),
            "call-events-off" => (Section::Events, "Call events removed.".to_owned()),
            "sms-events-off" => (Section::Events, "SMS events removed.".to_owned()),
            _ => return None,
        };
        Some(notice)
    }
}

fn calls(n: usize) -> String {
    if n == 1 {
        "1 call".to_owned()
    } else {
        format!("{n} calls")
    }
}

fn numbers(n: usize) -> String {
    if n == 1 {
        "1 number".to_owned()
    } else {
        format!("{n} numbers")
    }
}

fn numbers_were(n: usize) -> String {
    if n == 1 {
        "1 number was".to_owned()
    } else {
        format!("{n} numbers were")
    }
}

fn import_summary(q: &PageQuery) -> String {
    let mut parts = vec![format!("Imported {}.", numbers(q.imported.unwrap_or(0)))];
    if let Some(n) = q.existing.filter(|n| *n > 0) {
        parts.push(format!("{} already in Loquent.", numbers_were(n)));
    }
    if let Some(n) = q.unavailable.filter(|n| *n > 0) {
        parts.push(format!(
            "{} no longer on the account or used by another organization.",
            numbers_were(n)
        ));
    }
    parts.join(" ")
}

async fn agent_choices(state: &AppState, org_id: Uuid) -> Result<Vec<(String, String)>, PageError> {
    Ok(agent::Entity::find()
        .filter(agent::Column::OrganizationId.eq(org_id))
        .order_by_asc(agent::Column::Name)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| (a.id.to_string(), a.name))
        .collect())
}

fn row(n: phone_number::Model) -> NumberRow {
    let voice = match n.previous_voice_url {
        None => VoiceState::NotConfigured,
        Some(url) if url.is_empty() => VoiceState::ConfiguredWithoutPrevious,
        Some(url) => VoiceState::Configured(url),
    };
    NumberRow {
        id: n.id,
        number: n.number,
        friendly_name: n.friendly_name,
        agent_id: n.agent_id.map(|a| a.to_string()).unwrap_or_default(),
        voice,
    }
}

/// Builds the page; Twilio is asked only for what the query requests, and a failure there is
/// shown in its section instead of failing the whole page.
async fn build(
    state: &AppState,
    page: &PageMember,
    org: &organization::Model,
    query: &PageQuery,
    error: Option<(Section, String)>,
) -> Result<(StatusCode, TwilioPage), PageError> {
    let member = &page.member;
    let connection = state.twilio.view(org);
    let can_list = member.can("Phone:Collection:List");
    let numbers = if can_list {
        phone_numbers::list(&state.db, org.id)
            .await?
            .into_iter()
            .map(row)
            .collect()
    } else {
        Vec::new()
    };
    let telephony = if member.can("Twilio:Instance:Read") {
        Some(recording_settings::read(&state.db, org.id).await?)
    } else {
        None
    };
    let streams = if connection.connected && member.can("Twilio:Instance:Read") {
        Some(crate::event_streams::read(&state.db, org.id).await?)
    } else {
        None
    };
    let mut status = StatusCode::OK;
    let mut error = error;
    let mut unsynced = None;
    let mut search = None;
    if connection.connected && query.fetch.is_some() {
        let listed = async {
            member.require("Twilio:Collection:List")?;
            import::unsynced(&state.db, &state.twilio, org)
                .await
                .map_err(ApiError::from)
        }
        .await;
        match listed {
            Ok(found) => unsynced = Some(found),
            Err(e) => {
                status = e.status();
                error = Some((Section::Import, shown(e)));
            }
        }
    }
    if let Some(area_code) = query.area_code.as_deref().filter(|_| connection.connected) {
        let found = async {
            member.require("Twilio:Collection:List")?;
            buy::search(&state.twilio, org, area_code)
                .await
                .map_err(ApiError::from)
        }
        .await;
        match found {
            Ok(results) => {
                search = Some(Search {
                    area_code: area_code.to_owned(),
                    results,
                });
            }
            Err(e) => {
                status = e.status();
                error = Some((Section::Buy, shown(e)));
            }
        }
    }
    let syncs = if can_list && connection.connected {
        crate::api::call_sync::latest(&state.db, org.id).await?
    } else {
        Vec::new()
    };
    Ok((
        status,
        TwilioPage {
            connection,
            numbers,
            agents: agent_choices(state, org.id).await?,
            unsynced,
            search,
            notice: query.notice(),
            error,
            typed_sid: String::new(),
            can_connect: member.can("Twilio:Collection:Create"),
            can_disconnect: member.can("Twilio:Collection:Delete"),
            can_list,
            can_add_numbers: member.can("Phone:Collection:Create"),
            can_update_numbers: member.can("Phone:Instance:Update"),
            can_configure_voice: member.can("Twilio:Instance:Update"),
            telephony,
            can_update_telephony: member.can("Twilio:Instance:Update"),
            streams,
            events_url: state.twilio.events_url(),
            can_set_up_streams: member.can("Twilio:Collection:Create"),
            can_remove_streams: member.can("Twilio:Collection:Delete"),
            syncs,
            can_sync: member.can("Twilio:Collection:Create"),
            can_test_call: org.twilio_sandbox
                && state.sandbox.is_some()
                && member.can("Call:Collection:Create"),
            can_talk: member.can("Call:Collection:Create") && member.can("Agent:Instance:Read"),
            chrome: page.chrome("settings"),
        },
    ))
}

/// The message a person sees; server-side details stay in the log.
fn shown(err: ApiError) -> String {
    PageError::from(err).message().to_owned()
}

pub async fn page(
    State(state): State<AppState>,
    page: PageMember,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let org = twilio::reload(&state.db, page.member.org_id()).await?;
    let (status, body) = build(&state, &page, &org, &query, None).await?;
    Ok((status, render(&body)).into_response())
}

/// Back to the page after a successful action, with what happened in the query.
fn done(query: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/settings/twilio?{query}#{anchor}")).into_response()
}

/// The page again, with `err` shown in `section` and the error's status.
async fn failed(
    state: &AppState,
    page: &PageMember,
    section: Section,
    err: ApiError,
    typed_sid: Option<String>,
) -> Result<Response, PageError> {
    let status = err.status();
    let org = twilio::reload(&state.db, page.member.org_id()).await?;
    let (_, mut body) = build(
        state,
        page,
        &org,
        &PageQuery::default(),
        Some((section, shown(err))),
    )
    .await?;
    body.typed_sid = typed_sid.unwrap_or_default();
    body.chrome = body.chrome.at("/settings/twilio");
    Ok((status, render(&body)).into_response())
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[derive(Deserialize)]
pub struct ConnectForm {
    account_sid: String,
    auth_token: String,
}

pub async fn connect(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<ConnectForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Create")?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        twilio::connect(
            &state.db,
            &state.twilio,
            org,
            form.account_sid.trim(),
            form.auth_token.trim(),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => Ok(done("done=connected", "connection")),
        // The token is never sent back to the browser, even to refill the form.
        Err(e) => {
            failed(
                &state,
                &page,
                Section::Connection,
                e,
                Some(form.account_sid),
            )
            .await
        }
    }
}

pub async fn disconnect(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Delete")?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        twilio::disconnect(&state.db, &state.twilio, org)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => Ok(done("done=disconnected", "connection")),
        Err(e) => failed(&state, &page, Section::Connection, e, None).await,
    }
}

pub async fn subaccount(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Create")?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        twilio::provision_subaccount(&state.db, &state.twilio, org)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => Ok(done("done=subaccount", "connection")),
        Err(e) => failed(&state, &page, Section::Connection, e, None).await,
    }
}

pub async fn connect_sandbox(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Create")?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        twilio::connect_sandbox(&state.db, &state.twilio, state.sandbox.as_ref(), org)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => Ok(done("done=sandbox", "connection")),
        Err(e) => failed(&state, &page, Section::Connection, e, None).await,
    }
}

/// Rings a sandbox number with the scripted caller; the calls list shows it arrive.
pub async fn test_call(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Call:Collection:Create")?;
        let sandbox = state.sandbox.as_ref().ok_or(ApiError::NotFound("page"))?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        crate::phone_numbers::test_call::place(&state.db, sandbox, &org, id, None)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to("/calls").into_response()),
        Err(e) => failed(&state, &page, Section::Numbers, e, None).await,
    }
}

/// Checkbox groups arrive as repeated `number` keys, read as pairs.
pub async fn import_numbers(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let numbers: Vec<String> = form
        .into_iter()
        .filter(|(k, _)| k == "number")
        .map(|(_, v)| v)
        .collect();
    let result = async {
        page.member.require("Phone:Collection:Create")?;
        if numbers.is_empty() {
            return Err(ApiError::BadRequest(
                "Select at least one number to import.".into(),
            ));
        }
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        import::sync(&state.db, &state.twilio, &org, &numbers)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(ImportResult {
            imported,
            already_existing,
            unavailable,
        }) => Ok(done(
            &format!(
                "done=imported&imported={imported}&existing={already_existing}&unavailable={}",
                unavailable.len()
            ),
            "import",
        )),
        Err(e) => failed(&state, &page, Section::Import, e, None).await,
    }
}

#[derive(Deserialize)]
pub struct BuyForm {
    phone_number: String,
}

pub async fn buy_number(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<BuyForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Phone:Collection:Create")?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        buy::buy(&state.db, &state.twilio, &org, &form.phone_number)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(bought) => Ok(done(
            &format!("done=bought&number={}", encode(&bought.number)),
            "buy",
        )),
        Err(e) => failed(&state, &page, Section::Buy, e, None).await,
    }
}

#[derive(Deserialize)]
pub struct AgentForm {
    /// Empty: nobody answers this number.
    #[serde(default)]
    agent_id: String,
}

pub async fn set_agent(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<AgentForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Phone:Instance:Update")?;
        let agent_id = match form.agent_id.trim() {
            "" => None,
            raw => Some(
                raw.parse::<Uuid>()
                    .map_err(|_| ApiError::BadRequest(format!("`{raw}` is not an agent id")))?,
            ),
        };
        assign::update(&state.db, page.member.org_id(), id, None, Some(agent_id))
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(number) => Ok(done(
            &format!("done=assigned&number={}", encode(&number.number)),
            "numbers",
        )),
        Err(e) => failed(&state, &page, Section::Numbers, e, None).await,
    }
}

/// Configure Voice or Restore for one number; both need `Twilio:Instance:Update`.
async fn voice_action(
    state: &AppState,
    page: &PageMember,
    id: Uuid,
    configure: bool,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Instance:Update")?;
        let org = twilio::reload(&state.db, page.member.org_id()).await?;
        if configure {
            voice::configure(&state.db, &state.twilio, &org, id).await?;
        } else {
            voice::restore(&state.db, &state.twilio, &org, id).await?;
        }
        phone_numbers::find(&state.db, org.id, id)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(number) => Ok(done(
            &format!(
                "done={}&number={}",
                if configure { "configured" } else { "restored" },
                encode(&number.number)
            ),
            "voice",
        )),
        Err(e) => failed(state, page, Section::Voice, e, None).await,
    }
}

pub async fn configure_voice(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    voice_action(&state, &page, id, true).await
}

pub async fn restore_voice(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    voice_action(&state, &page, id, false).await
}

/// The Telephony section's switches. A checkbox that is not ticked is not sent: absent is off.
pub async fn telephony(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let ticked = |name: &str| form.iter().any(|(k, _)| k == name);
    let change = SettingsChange {
        call_recording_enabled: Some(ticked("call_recording_enabled")),
        delete_recordings_from_twilio: Some(ticked("delete_recordings_from_twilio")),
    };
    let result = async {
        page.member.require("Twilio:Instance:Update")?;
        recording_settings::update(&state.db, page.member.org_id(), change)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(_) => Ok(done("done=telephony", "telephony")),
        Err(e) => failed(&state, &page, Section::Telephony, e, None).await,
    }
}

#[derive(Deserialize)]
pub struct SyncForm {
    #[serde(default)]
    since: String,
}

impl SyncForm {
    fn since(&self) -> Result<Option<chrono::NaiveDate>, ApiError> {
        match self.since.trim() {
            "" => Ok(None),
            text => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    ApiError::Unprocessable("the since date must be written YYYY-MM-DD".to_owned())
                }),
        }
    }
}

/// Syncs run at a time by "Sync all numbers".
const SYNC_ALL_AT_ONCE: usize = 3;

/// "Sync all numbers" without JavaScript: every number's sync, a few at a time, then one notice
/// with the totals (the script starts them itself, each with its own live progress).
pub async fn sync_all(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<SyncForm>,
) -> Result<Response, PageError> {
    use futures_util::StreamExt;
    let result = async {
        page.member.require("Twilio:Collection:Create")?;
        let since = form.since()?;
        let org_id = page.member.org_id();
        let numbers = phone_numbers::list(&state.db, org_id).await?;
        let syncer = Syncer {
            db: &state.db,
            accounts: &state.twilio,
            events: &state.events,
            wake: &state.jobs_wake,
        };
        let ids: Vec<Uuid> = numbers.iter().map(|n| n.id).collect();
        let results: Vec<_> =
            futures_util::stream::iter(ids.into_iter().map(move |id| async move {
                let request = SyncRequest {
                    phone_number_id: id,
                    since,
                    recording_batch_size: None,
                };
                syncer.sync_number(org_id, &request).await
            }))
            .buffer_unordered(SYNC_ALL_AT_ONCE)
            .collect()
            .await;
        let (mut imported, mut skipped) = (0, 0);
        let mut first_error = None;
        for result in results {
            match result {
                Ok(r) => {
                    imported += r.imported;
                    skipped += r.skipped;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(ApiError::from(e));
        }
        Ok::<_, ApiError>((imported, skipped, numbers.len()))
    }
    .await;
    match result {
        Ok((imported, skipped, count)) => Ok(done(
            &format!(
                "done=synced&imported={imported}&skipped={skipped}&number={}",
                encode(&numbers(count))
            ),
            "sync",
        )),
        Err(e) => failed(&state, &page, Section::Sync, e, None).await,
    }
}

/// Settings → Twilio → Sync Call History without JavaScript: the number's sync runs while the
/// request waits, then the page says what came in (the script calls the JSON API instead and
/// follows the phases live).
pub async fn sync_history(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<SyncForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Create")?;
        let since = form.since()?;
        let syncer = Syncer {
            db: &state.db,
            accounts: &state.twilio,
            events: &state.events,
            wake: &state.jobs_wake,
        };
        let request = SyncRequest {
            phone_number_id: id,
            since,
            recording_batch_size: None,
        };
        let result = syncer
            .sync_number(page.member.org_id(), &request)
            .await
            .map_err(ApiError::from)?;
        let number = phone_number::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|n| n.number)
            .unwrap_or_default();
        Ok::<_, ApiError>((result, number))
    }
    .await;
    match result {
        Ok((result, number)) => Ok(done(
            &format!(
                "done=synced&imported={}&skipped={}&number={}",
                result.imported,
                result.skipped,
                encode(&number)
            ),
            "sync",
        )),
        Err(e) => failed(&state, &page, Section::Sync, e, None).await,
    }
}

/// Which events a Setup or Remove button acts on: `call` or `sms`.
#[derive(Deserialize)]
pub struct EventsForm {
    kind: String,
}

fn stream_kind(kind: &str) -> Result<Kind, ApiError> {
    match kind {
        "call" => Ok(Kind::Call),
        "sms" => Ok(Kind::Sms),
        other => Err(ApiError::Unprocessable(format!(
            "choose call or sms events, not {other:?}"
        ))),
    }
}

/// Setup of one kind of events: the sink (made or reused) and that kind's subscription.
pub async fn set_up_events(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<EventsForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Create")?;
        let kind = stream_kind(&form.kind)?;
        let streams = Streams::of(&state.db, &state.twilio, page.member.org_id()).await?;
        let wanted = Wanted {
            call: kind == Kind::Call,
            sms: kind == Kind::Sms,
        };
        streams
            .setup(page.member.org_id(), wanted)
            .await
            .map_err(ApiError::from)?;
        Ok::<_, ApiError>(kind)
    }
    .await;
    match result {
        Ok(Kind::Call) => Ok(done("done=call-events-on", "events")),
        Ok(Kind::Sms) => Ok(done("done=sms-events-on", "events")),
        Err(e) => failed(&state, &page, Section::Events, e, None).await,
    }
}

/// Removal of one kind of events: its subscription, and the sink once nothing uses it.
pub async fn remove_events(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<EventsForm>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Twilio:Collection:Delete")?;
        let kind = stream_kind(&form.kind)?;
        let streams = Streams::of(&state.db, &state.twilio, page.member.org_id()).await?;
        streams
            .remove(page.member.org_id(), kind)
            .await
            .map_err(ApiError::from)?;
        Ok::<_, ApiError>(kind)
    }
    .await;
    match result {
        Ok(Kind::Call) => Ok(done("done=call-events-off", "events")),
        Ok(Kind::Sms) => Ok(done("done=sms-events-off", "events")),
        Err(e) => failed(&state, &page, Section::Events, e, None).await,
    }
}
