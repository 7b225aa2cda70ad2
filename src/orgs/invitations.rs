//! Invitations: how a person joins an organization. An administrator invites an e-mail address
//! with roles; the person follows a link and either chooses a password (a new account) or, with
//! an account already, signs in and joins.
//!
//! - The link is single-use, expires after [`LIFETIME`] and can be revoked. Only the SHA-256 of
//!   its token is stored.
//! - With SMTP configured, a [`KIND`] job makes the token and mails the link (the token exists
//!   nowhere else: not in the job's payload, not in a log). Without, the token is made at once
//!   and handed to the administrator, once, to pass on ([`Delivery::Link`]).
//! - Resending makes a new link and retires the old one; a mail job for an older link
//!   (`link_version`) does nothing, so a late retry cannot replace a newer link.
//! - Accepting is one transaction: the invitation is used (compare-and-swap, so of two racing
//!   uses one wins), the account is created if needed, the membership and its roles are added.
//!   Roles deleted since the invitation are simply not given.
//! - An account belongs to its e-mail: a person with an account accepts signed in as it, never
//!   by creating a second one; a person signed in as someone else is told so.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::OrgError;
use super::members::RoleRef;
use super::roles::grantable;
use crate::auth::{Permission, password, session};
use crate::entity::{invitation, invitation_role, job, member, organization, role, user};
use crate::jobs::{Handler, NewJob, Outcome};
use crate::mail::Mailer;
use crate::users::signup::{create_user, find_user_by_email};
use crate::users::throttle::{self, Key, Limit};
use crate::users::{EmailAddress, UserError};

/// The job that mails an invitation's link.
pub const KIND: &str = "orgs.invitation";

/// How long a link works.
pub const LIFETIME: Duration = Duration::days(7);

/// How many pending invitations an organization lists (and may have).
pub const MAX_PENDING: u64 = 500;

/// Invitations and new links one organization sends: 30, then ten minutes' wait, doubling
/// (a mailed invitation carries the organization's name to any address).
pub const PER_ORGANIZATION: Limit = Limit {
    free: 30,
    first_wait: Duration::minutes(10),
    max_wait: Duration::days(1),
};

/// Invitations and new links to one address, from any organization: nobody's inbox is flooded.
pub const PER_ADDRESS: Limit = Limit {
    free: 5,
    first_wait: Duration::minutes(10),
    max_wait: Duration::days(1),
};

/// Counts one invitation (or new link) from `org` to `email`, or refuses it.
async fn count_sending(
    db: &impl ConnectionTrait,
    org: Uuid,
    email: &EmailAddress,
    now: DateTime<Utc>,
) -> Result<(), OrgError> {
    let org_key = Key::with_purpose("invite-org", &org.to_string());
    let address_key = Key::with_purpose("invite-address", email.as_str());
    match throttle::attempt(
        db,
        &[(&org_key, PER_ORGANIZATION), (&address_key, PER_ADDRESS)],
        now,
    )
    .await?
    {
        Ok(()) => Ok(()),
        Err(throttled) => Err(OrgError::Throttled(throttled)),
    }
}

/// How the link reaches the invited person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A job mails it.
    Mail,
    /// No SMTP server: the administrator is given the link to pass on themselves.
    Link,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// The link works.
    Pending,
    /// The link has expired; resending makes a new one.
    Expired,
}

/// A pending (or expired, not yet accepted or revoked) invitation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    /// The roles the person gets on accepting.
    pub roles: Vec<RoleRef>,
    /// The e-mail of who invited them (null when that account is gone).
    pub invited_by: Option<String>,
    pub status: InvitationStatus,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// An invitation just made or resent.
#[derive(Debug)]
pub struct Sent {
    pub invitation: InvitationView,
    /// The link's token, with [`Delivery::Link`] only: this is its one appearance.
    pub token: Option<String>,
}

/// The page a link opens: who invites whom to what.
#[derive(Debug, Clone)]
pub struct Preview {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub email: EmailAddress,
    pub invited_by: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Whether an account has the invited e-mail (then the person signs in to accept).
    pub has_account: bool,
}

/// Who accepts.
#[derive(Debug, Clone, Copy)]
pub enum Acceptor<'a> {
    /// An account proven by its session or its password: its e-mail must be the invited one.
    Account(&'a user::Model),
    /// A person without an account, choosing its password.
    NewAccount { password: &'a str },
}

/// The outcome of accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

/// The link's address for `token`.
pub fn link(public_url: &Url, token: &str) -> Result<Url, url::ParseError> {
    let mut link = public_url.join("/invitation")?;
    link.query_pairs_mut().append_pair("token", token);
    Ok(link)
}

fn is_open(row: &invitation::Model) -> bool {
    row.accepted_at.is_none() && row.revoked_at.is_none()
}

/// Who invites: their account and, unless they own the organization, their permissions (the
/// roles they give must grant nothing they lack).
#[derive(Debug, Clone, Copy)]
pub struct Inviter<'a> {
    pub user_id: Uuid,
    pub permissions: Option<&'a [Permission]>,
}

/// Invites `email` to `org` with `role_ids` (roles of `org`).
pub async fn invite(
    db: &DatabaseConnection,
    org: Uuid,
    inviter: Inviter<'_>,
    email: &str,
    role_ids: &[Uuid],
    delivery: Delivery,
    now: DateTime<Utc>,
) -> Result<Sent, OrgError> {
    let email: EmailAddress = email.parse().map_err(UserError::from)?;
    let role_ids = {
        let mut ids = role_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    grantable(db, org, &role_ids, inviter.permissions).await?;
    count_sending(db, org, &email, now).await?;
    let inviter = inviter.user_id;
    let (id, token) = crate::db::write_transaction::<_, _, _, OrgError>(db, |txn| {
        let email = email.clone();
        Box::pin(async move {
            if let Some(user) = find_user_by_email(txn, &email).await? {
                let member = member::Entity::find()
                    .filter(member::Column::OrganizationId.eq(org))
                    .filter(member::Column::UserId.eq(user.id))
                    .one(txn)
                    .await?;
                if member.is_some() {
                    return Err(OrgError::AlreadyMember(email));
                }
            }
            let earlier = invitation::Entity::find()
                .filter(invitation::Column::OrganizationId.eq(org))
                .filter(invitation::Column::Email.eq(email.as_str()))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .all(txn)
                .await?;
            if earlier.iter().any(|i| i.expires_at > now) {
                return Err(OrgError::AlreadyInvited(email));
            }
            // An expired invitation to the same address gives way to the new one.
            for old in earlier {
                retire(txn, old.id, now).await?;
            }
            let open = invitation::Entity::find()
                .filter(invitation::Column::OrganizationId.eq(org))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .count(txn)
                .await?;
            if open >= MAX_PENDING {
                return Err(OrgError::TooManyInvitations(MAX_PENDING));
            }
            let id = Uuid::now_v7();
            let token = (delivery == Delivery::Link).then(session::new_token);
            invitation::ActiveModel {
                id: Set(id),
                organization_id: Set(org),
                email: Set(email.to_string()),
                invited_by: Set(Some(inviter)),
                token_hash: Set(token.as_deref().map(session::token_hash)),
                link_version: Set(1),
                expires_at: Set(now + LIFETIME),
                accepted_at: Set(None),
                accepted_by: Set(None),
                revoked_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await
            .map_err(|e| match e.sql_err() {
                // Two invitations racing for one address: the partial unique index decides.
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    OrgError::AlreadyInvited(email.clone())
                }
                _ => e.into(),
            })?;
            for role in &role_ids {
                invitation_role::ActiveModel {
                    invitation_id: Set(id),
                    role_id: Set(*role),
                }
                .insert(txn)
                .await?;
            }
            if delivery == Delivery::Mail {
                enqueue_mail(txn, org, id, 1, now).await?;
            }
            Ok((id, token))
        })
    })
    .await
    .map_err(crate::db::transaction_error)?;
    Ok(Sent {
        invitation: view(db, org, id, now).await?,
        token,
    })
}

async fn retire(txn: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Some(now).into())
        .col_expr(invitation::Column::TokenHash, Option::<String>::None.into())
        .col_expr(invitation::Column::UpdatedAt, now.into())
        .filter(invitation::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

async fn enqueue_mail(
    txn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
    version: i32,
    now: DateTime<Utc>,
) -> Result<(), OrgError> {
    crate::jobs::enqueue(
        txn,
        NewJob {
            kind: KIND.to_owned(),
            organization_id: Some(org),
            call_id: None,
            payload: json!({ "invitation_id": id, "link_version": version }),
            dedupe_key: Some(format!("{KIND}:{id}:{version}")),
            run_at: now,
            max_attempts: 5,
        },
    )
    .await
    .map_err(|e| OrgError::Database(DbErr::Custom(e.to_string())))?;
    Ok(())
}

/// `org`'s invitations that were neither accepted nor revoked, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    org: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<InvitationView>, OrgError> {
    let rows = invitation::Entity::find()
        .filter(invitation::Column::OrganizationId.eq(org))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .order_by_desc(invitation::Column::CreatedAt)
        .order_by_desc(invitation::Column::Id)
        .limit(MAX_PENDING)
        .all(db)
        .await?;
    views(db, rows, now).await
}

async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<invitation::Model>,
    now: DateTime<Utc>,
) -> Result<Vec<InvitationView>, OrgError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut roles_of: HashMap<Uuid, Vec<RoleRef>> = HashMap::new();
    for (given, role) in invitation_role::Entity::find()
        .filter(invitation_role::Column::InvitationId.is_in(ids))
        .find_also_related(role::Entity)
        .all(db)
        .await?
    {
        if let Some(role) = role {
            roles_of
                .entry(given.invitation_id)
                .or_default()
                .push(RoleRef {
                    id: role.id,
                    name: role.name,
                });
        }
    }
    let inviter_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.invited_by).collect();
    let inviters: HashMap<Uuid, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(inviter_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut roles = roles_of.remove(&r.id).unwrap_or_default();
            roles.sort_by(|a, b| a.name.cmp(&b.name));
            InvitationView {
                id: r.id,
                roles,
                invited_by: r.invited_by.and_then(|u| inviters.get(&u).cloned()),
                status: if r.expires_at > now {
                    InvitationStatus::Pending
                } else {
                    InvitationStatus::Expired
                },
                email: r.email,
                expires_at: r.expires_at,
                created_at: r.created_at,
            }
        })
        .collect())
}

/// One of `org`'s open invitations; another organization's is "not found".
async fn find_open(
    db: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<invitation::Model, OrgError> {
    invitation::Entity::find_by_id(id)
        .filter(invitation::Column::OrganizationId.eq(org))
        .one(db)
        .await?
        .filter(is_open)
        .ok_or(OrgError::NotFound("invitation"))
}

async fn view(
    db: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<InvitationView, OrgError> {
    let row = find_open(db, org, id).await?;
    views(db, vec![row], now)
        .await?
        .pop()
        .ok_or(OrgError::NotFound("invitation"))
}

/// Makes a new link for an open invitation, working for another [`LIFETIME`]; the old link
/// stops working at once.
pub async fn resend(
    db: &DatabaseConnection,
    org: Uuid,
    id: Uuid,
    delivery: Delivery,
    now: DateTime<Utc>,
) -> Result<Sent, OrgError> {
    let row = find_open(db, org, id).await?;
    let email: EmailAddress = row.email.parse().map_err(UserError::from)?;
    count_sending(db, org, &email, now).await?;
    let token = crate::db::write_transaction::<_, _, _, OrgError>(db, |txn| {
        Box::pin(async move {
            let row = find_open(txn, org, id).await?;
            let version = row.link_version + 1;
            let token = (delivery == Delivery::Link).then(session::new_token);
            let changed = invitation::Entity::update_many()
                .col_expr(invitation::Column::LinkVersion, version.into())
                .col_expr(
                    invitation::Column::TokenHash,
                    token.as_deref().map(session::token_hash).into(),
                )
                .col_expr(invitation::Column::ExpiresAt, (now + LIFETIME).into())
                .col_expr(invitation::Column::UpdatedAt, now.into())
                .filter(invitation::Column::Id.eq(row.id))
                .filter(invitation::Column::LinkVersion.eq(row.link_version))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .exec(txn)
                .await?;
            if changed.rows_affected != 1 {
                // Accepted, revoked or resent in between.
                return Err(OrgError::NotFound("invitation"));
            }
            if delivery == Delivery::Mail {
                enqueue_mail(txn, org, row.id, version, now).await?;
            }
            Ok(token)
        })
    })
    .await
    .map_err(crate::db::transaction_error)?;
    Ok(Sent {
        invitation: view(db, org, id, now).await?,
        token,
    })
}

/// Revokes an open invitation: its link stops working.
pub async fn revoke(
    db: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), OrgError> {
    let revoked = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Some(now).into())
        .col_expr(invitation::Column::TokenHash, Option::<String>::None.into())
        .col_expr(invitation::Column::UpdatedAt, now.into())
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::OrganizationId.eq(org))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if revoked.rows_affected == 1 {
        Ok(())
    } else {
        Err(OrgError::NotFound("invitation"))
    }
}

/// The invitation of `token`, if it is a link we made (used or not).
async fn by_token_any(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<invitation::Model>, DbErr> {
    // A token is 43 characters; anything else cannot be one (and is not hashed for nothing).
    if token.len() != 43 {
        return Ok(None);
    }
    invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(session::token_hash(token)))
        .one(db)
        .await
}

/// The open, unexpired invitation `token` opens, if any.
async fn by_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<invitation::Model>, DbErr> {
    Ok(by_token_any(db, token)
        .await?
        .filter(|row| is_open(row) && row.expires_at > now))
}

/// What the link of `token` invites to; [`OrgError::InvalidInvitation`] when it does not work.
pub async fn preview(
    db: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Preview, OrgError> {
    let row = by_token(db, token, now)
        .await?
        .ok_or(OrgError::InvalidInvitation)?;
    let org = organization::Entity::find_by_id(row.organization_id)
        .one(db)
        .await?
        .ok_or(OrgError::InvalidInvitation)?;
    let invited_by = match row.invited_by {
        Some(id) => user::Entity::find_by_id(id).one(db).await?.map(|u| u.email),
        None => None,
    };
    let email: EmailAddress = row.email.parse().map_err(UserError::from)?;
    let has_account = find_user_by_email(db, &email).await?.is_some();
    Ok(Preview {
        organization_id: org.id,
        organization_name: org.name,
        email,
        invited_by,
        expires_at: row.expires_at,
        has_account,
    })
}

/// Accepts the invitation of `token`. Accepting again as the account that accepted is a no-op
/// (a form sent twice), not an error.
pub async fn accept(
    db: &DatabaseConnection,
    token: &str,
    acceptor: Acceptor<'_>,
    now: DateTime<Utc>,
) -> Result<Accepted, OrgError> {
    let Some(row) = by_token_any(db, token).await? else {
        return Err(OrgError::InvalidInvitation);
    };
    if let (Acceptor::Account(user), Some(by)) = (acceptor, row.accepted_by)
        && row.accepted_at.is_some()
        && by == user.id
    {
        return Ok(Accepted {
            user_id: user.id,
            organization_id: row.organization_id,
        });
    }
    if !is_open(&row) || row.expires_at <= now {
        return Err(OrgError::InvalidInvitation);
    }
    let email: EmailAddress = row.email.parse().map_err(UserError::from)?;
    enum Who {
        Existing(user::Model),
        New(String),
    }
    let who = match acceptor {
        Acceptor::Account(user) => {
            if user.email != email.as_str() {
                return Err(OrgError::InvitationForAnother {
                    invited: email,
                    signed_in: user.email.clone(),
                });
            }
            Who::Existing(user.clone())
        }
        Acceptor::NewAccount { password: chosen } => {
            if find_user_by_email(db, &email).await?.is_some() {
                return Err(OrgError::SignInToAccept(email));
            }
            password::check_strength(chosen).map_err(UserError::WeakPassword)?;
            Who::New(
                password::hash(chosen.to_owned())
                    .await
                    .map_err(UserError::Hashing)?,
            )
        }
    };
    let hash = session::token_hash(token);
    crate::db::write_transaction::<_, _, _, OrgError>(db, |txn| {
        Box::pin(async move {
            let user = match who {
                Who::Existing(user) => user,
                Who::New(password_hash) => match create_user(txn, &email, password_hash).await {
                    Ok(user) => user,
                    // An account made for this e-mail in between: its owner signs in.
                    Err(UserError::EmailTaken(email)) => {
                        return Err(OrgError::SignInToAccept(email));
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            // Used once: of two uses racing, one updates the row and the other finds it used.
            // The token's hash stays, so that the accepting account can be recognised again.
            let used = invitation::Entity::update_many()
                .col_expr(invitation::Column::AcceptedAt, Some(now).into())
                .col_expr(invitation::Column::AcceptedBy, Some(user.id).into())
                .col_expr(invitation::Column::UpdatedAt, now.into())
                .filter(invitation::Column::Id.eq(row.id))
                .filter(invitation::Column::TokenHash.eq(hash))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .filter(invitation::Column::ExpiresAt.gt(now))
                .exec(txn)
                .await?;
            if used.rows_affected != 1 {
                return Err(OrgError::InvalidInvitation);
            }
            let org = row.organization_id;
            let roles: Vec<Uuid> = invitation_role::Entity::find()
                .filter(invitation_role::Column::InvitationId.eq(row.id))
                .all(txn)
                .await?
                .into_iter()
                .map(|r| r.role_id)
                .collect();
            super::members::join(txn, org, user.id, &roles, now).await?;
            Ok(Accepted {
                user_id: user.id,
                organization_id: org,
            })
        })
    })
    .await
    .map_err(crate::db::transaction_error)
}

/// Mails invitation links (jobs of [`KIND`]).
pub struct SendInvitation {
    pub db: DatabaseConnection,
    /// `None` without `LOQUENT_SMTP_URL`; invitations are then made with [`Delivery::Link`] and
    /// no job is enqueued, so this only skips jobs left from when SMTP was configured.
    pub mailer: Option<Mailer>,
    pub public_url: Url,
}

#[derive(askama::Template)]
#[template(path = "email/invitation.txt")]
struct TextBody<'a> {
    organization: &'a str,
    inviter: Option<&'a str>,
    email: &'a str,
    link: &'a str,
    expires: &'a str,
    has_account: bool,
}

#[derive(askama::Template)]
#[template(path = "email/invitation.html")]
struct HtmlBody<'a> {
    organization: &'a str,
    inviter: Option<&'a str>,
    email: &'a str,
    link: &'a str,
    expires: &'a str,
    has_account: bool,
}

#[async_trait::async_trait]
impl Handler for SendInvitation {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let Some(id) = job.payload["invitation_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
        else {
            return Err("the job names no invitation".to_owned());
        };
        let version = job.payload["link_version"].as_i64().unwrap_or_default();
        let now = Utc::now();
        let db_err = |e: DbErr| format!("database error: {e}");
        let Some(row) = invitation::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_err)?
        else {
            return Ok(Outcome::Skipped("the invitation is gone".to_owned()));
        };
        if !is_open(&row) || row.expires_at <= now {
            return Ok(Outcome::Skipped(
                "the invitation was accepted, revoked or has expired".to_owned(),
            ));
        }
        if i64::from(row.link_version) != version {
            return Ok(Outcome::Skipped("a newer link was sent".to_owned()));
        }
        let Some(mailer) = &self.mailer else {
            return Ok(Outcome::Skipped(
                "no SMTP server is configured (LOQUENT_SMTP_URL)".to_owned(),
            ));
        };
        let token = session::new_token();
        let stored = invitation::Entity::update_many()
            .col_expr(
                invitation::Column::TokenHash,
                Some(session::token_hash(&token)).into(),
            )
            .filter(invitation::Column::Id.eq(row.id))
            .filter(invitation::Column::LinkVersion.eq(row.link_version))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        if stored.rows_affected != 1 {
            return Ok(Outcome::Skipped(
                "the invitation changed while its link was made".to_owned(),
            ));
        }
        let organization = organization::Entity::find_by_id(row.organization_id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|o| o.name)
            .unwrap_or_default();
        let inviter = match row.invited_by {
            Some(id) => user::Entity::find_by_id(id)
                .one(&self.db)
                .await
                .map_err(db_err)?
                .map(|u| u.email),
            None => None,
        };
        let email: EmailAddress = row.email.parse().map_err(|e| format!("{e}"))?;
        let has_account = find_user_by_email(&self.db, &email)
            .await
            .map_err(db_err)?
            .is_some();
        let link = link(&self.public_url, &token).map_err(|e| e.to_string())?;
        let expires = row.expires_at.format("%-d %b %Y, %H:%M UTC").to_string();
        let message = compose(
            mailer,
            &TextBody {
                organization: &organization,
                inviter: inviter.as_deref(),
                email: email.as_str(),
                link: link.as_str(),
                expires: &expires,
                has_account,
            },
        )?;
        mailer.send(message).await.map_err(|e| e.to_string())?;
        Ok(Outcome::Done)
    }
}

fn compose(mailer: &Mailer, body: &TextBody<'_>) -> Result<lettre::Message, String> {
    use askama::Template;
    use lettre::message::MultiPart;
    let text = body.render().map_err(|e| e.to_string())?;
    let html = HtmlBody {
        organization: body.organization,
        inviter: body.inviter,
        email: body.email,
        link: body.link,
        expires: body.expires,
        has_account: body.has_account,
    }
    .render()
    .map_err(|e| e.to_string())?;
    let subject = match body.inviter {
        Some(inviter) => format!("{inviter} invited you to {} on Loquent", body.organization),
        None => format!("You are invited to {} on Loquent", body.organization),
    };
    lettre::Message::builder()
        .from(mailer.from().clone())
        .to(body
            .email
            .parse()
            .map_err(|e| format!("the invited address: {e}"))?)
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())
}
