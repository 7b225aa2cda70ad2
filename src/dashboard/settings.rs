//! Settings pages: the organization, its members and their roles.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Chrome, PageError, PageMember, render};
use crate::agents::providers::{self, ProviderView, Reach};
use crate::app::AppState;
use crate::auth::Permission;
use crate::auth::csrf::CsrfForm;
use crate::auth::permission::RESOURCES;
use crate::error::{ApiError, Path};
use crate::orgs::invitations::{self, InvitationStatus, InvitationView};
use crate::orgs::members::{self, MemberView};
use crate::orgs::roles::{self, RoleView};

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    org_id: String,
    twilio: Option<String>,
    byo: bool,
    /// Each provider with what its status means, when that needs saying.
    ai_providers: Vec<(ProviderView, Option<String>)>,
    /// The agents on each provider are named only to members who may list agents.
    show_agents: bool,
    /// ... and linked only for those who may open one.
    link_agents: bool,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    chrome: Chrome,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    roles: Vec<RoleView>,
    catalog: Vec<PermissionRow>,
    actions: &'static [(&'static str, &'static str, &'static str)],
    can_manage: bool,
    /// Whether links are mailed; without SMTP the page hands each new link to the inviter.
    can_mail: bool,
    /// A link just made without SMTP: (the invited e-mail, the link), shown this once.
    new_link: Option<(String, String)>,
    error: Option<String>,
}

impl MembersPage {
    #[expect(
        clippy::unused_self,
        reason = "askama calls it as a method of the page (`self.describe(p)`)"
    )]
    fn describe(&self, permission: &str) -> String {
        describe(permission)
    }

    #[expect(
        clippy::unused_self,
        reason = "askama calls it as a method of the page (`self.has_role(m, r)`)"
    )]
    fn has_role(&self, member: &MemberView, role: &RoleView) -> bool {
        member.roles.iter().any(|r| r.id == role.id)
    }

    #[expect(
        clippy::unused_self,
        reason = "askama calls it as a method of the page (`self.until(t)`)"
    )]
    fn until(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

pub async fn overview(
    State(state): State<AppState>,
    page: PageMember,
) -> Result<Response, PageError> {
    let org = &page.member.organization;
    // Only the masked SID is ever shown: the full one identifies the account to attackers.
    let twilio = org.twilio_account_sid.as_deref().map(mask_sid);
    let ai_providers = providers::overview(&state.db, org.id, state.ai_availability())
        .await?
        .into_iter()
        .map(|p| {
            let note = p.status.explain(p.provider);
            (p, note)
        })
        .collect();
    Ok(render(&SettingsPage {
        org_id: org.id.to_string(),
        twilio,
        byo: org.byo_twilio,
        ai_providers,
        show_agents: page.member.can("Agent:Collection:List"),
        link_agents: page.member.can("Agent:Instance:Read"),
        chrome: page.chrome("settings"),
    }))
}

/// `AC••••••••1234`: enough to recognise an account, not to use it.
pub fn mask_sid(sid: &str) -> String {
    let tail: String = sid
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head: String = sid.chars().take(2).collect();
    format!("{head}••••••••{tail}")
}

/// The role editor's columns: (level, variant, what a person calls it), in the order a person
/// reads them.
const ACTIONS: [(&str, &str, &str); 6] = [
    ("Collection", "List", "List"),
    ("Instance", "Read", "Open"),
    ("Collection", "Create", "Create"),
    ("Instance", "Update", "Change"),
    ("Instance", "Delete", "Delete one"),
    ("Collection", "Delete", "Delete all"),
];

/// What a person calls a resource.
fn resource_label(resource: &str) -> &str {
    match resource {
        "Agent" => "Agents",
        "Analyzer" => "Analyzers",
        "Call" => "Calls",
        "Contact" => "Contacts",
        "Member" => "Members",
        "Phone" => "Phone numbers",
        "Report" => "Call reports",
        "Role" => "Roles",
        "Settings" => "Settings",
        "Todo" => "To-dos",
        "Twilio" => "Twilio connection",
        "*" => "Everything",
        other => other,
    }
}

/// A permission in words: `Call:Collection:List` → "Calls: list"; wildcards say "any".
pub(crate) fn describe(permission: &str) -> String {
    let mut parts = permission.split(':');
    let (Some(resource), Some(level), Some(variant)) = (parts.next(), parts.next(), parts.next())
    else {
        return permission.to_owned();
    };
    let action = ACTIONS
        .iter()
        .find(|(l, v, _)| *l == level && *v == variant)
        .map_or_else(
            || match (level, variant) {
                ("*", _) | (_, "*") => "any action".to_owned(),
                _ => format!("{level} {variant}"),
            },
            |(_, _, label)| label.to_lowercase(),
        );
    format!("{}: {action}", resource_label(resource))
}

/// One row of the role editor: a resource and, per column of [`ACTIONS`], its permission.
pub(crate) struct PermissionRow {
    pub label: &'static str,
    /// `(permission, plain label)`, one per column.
    pub cells: Vec<(String, String)>,
}

/// The role editor's grid: a row per resource, a column per action.
fn catalog() -> Vec<PermissionRow> {
    RESOURCES
        .iter()
        .map(|resource| PermissionRow {
            label: resource_label(resource),
            cells: ACTIONS
                .iter()
                .map(|(level, variant, _)| {
                    let permission = format!("{resource}:{level}:{variant}");
                    let label = describe(&permission);
                    (permission, label)
                })
                .collect(),
        })
        .collect()
}

async fn members_page(
    state: &AppState,
    page: &PageMember,
    error: Option<String>,
) -> Result<MembersPage, PageError> {
    let org = page.member.org_id();
    Ok(MembersPage {
        members: members::list_members(&state.db, org).await?,
        invitations: invitations::list(&state.db, org, chrono::Utc::now()).await?,
        can_mail: state.mailer.is_some(),
        new_link: None,
        roles: roles::list_roles(&state.db, org)
            .await?
            .into_iter()
            .map(RoleView::from)
            .collect(),
        catalog: catalog(),
        actions: &ACTIONS,
        can_manage: page.member.can("Member:Collection:Create")
            && page.member.can("Role:Collection:Create"),
        error,
        chrome: page.chrome("settings"),
    })
}

pub async fn members(
    State(state): State<AppState>,
    page: PageMember,
) -> Result<Response, PageError> {
    page.member.require("Member:Collection:List")?;
    Ok(render(&members_page(&state, &page, None).await?))
}

/// After a failed action, the same page with the reason shown in place.
async fn members_with_error(
    state: &AppState,
    page: &PageMember,
    err: ApiError,
) -> Result<Response, PageError> {
    if err.status().is_server_error() {
        return Err(err.into());
    }
    let status = err.status();
    let mut body = members_page(state, page, Some(err.to_string())).await?;
    body.chrome = body.chrome.at("/settings/members");
    let body = render(&body);
    Ok((status, body).into_response())
}

/// Checkbox groups arrive as repeated keys, which `serde_urlencoded` cannot put in a `Vec`; the
/// form is read as pairs instead.
fn values<'a>(pairs: &'a [(String, String)], key: &str) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn first(pairs: &[(String, String)], key: &str) -> String {
    values(pairs, key).next().unwrap_or_default().to_owned()
}

fn role_ids(pairs: &[(String, String)]) -> Result<Vec<Uuid>, ApiError> {
    values(pairs, "role_id")
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::BadRequest(format!("`{v}` is not a role id")))
        })
        .collect()
}

async fn act(
    state: &AppState,
    page: &PageMember,
    result: Result<(), ApiError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to("/settings/members").into_response()),
        Err(e) => members_with_error(state, page, e).await,
    }
}

pub async fn invite(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Member:Collection:Create")?;
        let sent = invitations::invite(
            &state.db,
            page.member.org_id(),
            invitations::Inviter {
                user_id: page.member.user.id,
                permissions: page.member.granter(),
            },
            &first(&form, "email"),
            &role_ids(&form)?,
            state.invitation_delivery(),
            chrono::Utc::now(),
        )
        .await?;
        Ok::<_, ApiError>(sent)
    }
    .await;
    sent(&state, &page, result).await
}

/// After an invitation was made or resent: its link in place when it was not mailed (a
/// redirect would lose it), else back to the list, which shows it.
async fn sent(
    state: &AppState,
    page: &PageMember,
    result: Result<invitations::Sent, ApiError>,
) -> Result<Response, PageError> {
    let sent = match result {
        Ok(sent) => sent,
        Err(e) => return members_with_error(state, page, e).await,
    };
    match sent.token {
        Some(token) => {
            let link = invitations::link(&state.config.server.public_url, &token)
                .map_err(ApiError::internal)?;
            let mut body = members_page(state, page, None).await?;
            body.new_link = Some((sent.invitation.email, link.to_string()));
            Ok(render(&body))
        }
        None => {
            state.jobs_wake.notify_one();
            Ok(Redirect::to("/settings/members").into_response())
        }
    }
}

pub async fn resend_invitation(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Member:Collection:Create")?;
        let sent = invitations::resend(
            &state.db,
            page.member.org_id(),
            id,
            state.invitation_delivery(),
            chrono::Utc::now(),
        )
        .await?;
        Ok::<_, ApiError>(sent)
    }
    .await;
    sent(&state, &page, result).await
}

pub async fn revoke_invitation(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Member:Collection:Create")?;
        invitations::revoke(&state.db, page.member.org_id(), id, chrono::Utc::now())
            .await
            .map_err(ApiError::from)
    }
    .await;
    act(&state, &page, result).await
}

pub async fn set_member_roles(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Member:Instance:Update")?;
        members::set_roles(
            &state.db,
            page.member.org_id(),
            id,
            &role_ids(&form)?,
            page.member.granter(),
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    act(&state, &page, result).await
}

#[derive(Deserialize)]
pub struct NoFields {}

pub async fn remove_member(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Member:Instance:Delete")?;
        members::remove_member(&state.db, page.member.org_id(), id)
            .await
            .map_err(ApiError::from)
    }
    .await;
    act(&state, &page, result).await
}

pub async fn create_role(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Role:Collection:Create")?;
        let permissions = values(&form, "permission")
            .map(|p| {
                p.parse::<Permission>()
                    .map_err(|e| ApiError::Unprocessable(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        roles::create_role(
            &state.db,
            page.member.org_id(),
            &first(&form, "name"),
            &permissions,
        )
        .await
        .map(|_| ())
        .map_err(ApiError::from)
    }
    .await;
    act(&state, &page, result).await
}

pub async fn delete_role(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = async {
        page.member.require("Role:Instance:Delete")?;
        roles::delete_role(&state.db, page.member.org_id(), id)
            .await
            .map_err(ApiError::from)
    }
    .await;
    act(&state, &page, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_grid_offers_every_permission_once_in_words() {
        let offered: Vec<String> = catalog()
            .into_iter()
            .flat_map(|row| row.cells.into_iter().map(|(p, _)| p))
            .collect();
        let mut expected: Vec<String> = Permission::catalog()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        let mut sorted = offered.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
        assert_eq!(describe("Call:Collection:List"), "Calls: list");
        assert_eq!(
            describe("Phone:Instance:Delete"),
            "Phone numbers: delete one"
        );
        assert_eq!(describe("Twilio:*:*"), "Twilio connection: any action");
    }

    #[test]
    fn masks_all_but_prefix_and_last_four() {
        assert_eq!(
            super::mask_sid("AC0123456789abcdef0123456789ab1234"),
            "AC••••••••1234"
        );
    }
}
