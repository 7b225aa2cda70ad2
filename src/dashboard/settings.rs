//! Settings pages: the organization, its members and their roles.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::Permission;
use crate::auth::csrf::CsrfForm;
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
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    chrome: Chrome,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    roles: Vec<RoleView>,
    catalog: Vec<(String, Vec<String>)>,
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

pub async fn overview(page: PageMember) -> Result<Response, PageError> {
    let org = &page.member.organization;
    // Only the masked SID is ever shown: the full one identifies the account to attackers.
    let twilio = org.twilio_account_sid.as_deref().map(mask_sid);
    Ok(render(&SettingsPage {
        org_id: org.id.to_string(),
        twilio,
        byo: org.byo_twilio,
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

/// Permissions grouped by resource, for the role editor.
fn catalog() -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for p in Permission::catalog() {
        let resource = p.as_str().split(':').next().unwrap_or_default().to_owned();
        match groups.last_mut() {
            Some((r, list)) if *r == resource => list.push(p.to_string()),
            _ => groups.push((resource, vec![p.to_string()])),
        }
    }
    groups
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
    let body = render(&members_page(state, page, Some(err.to_string())).await?);
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
    #[test]
    fn masks_all_but_prefix_and_last_four() {
        assert_eq!(
            super::mask_sid("AC0123456789abcdef0123456789ab1234"),
            "AC••••••••1234"
        );
    }
}
