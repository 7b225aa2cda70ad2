//! Password reset by e-mail: a person who forgot their password asks for a link, follows it and
//! chooses a new password.
//!
//! - A request is throttled like sign-in (per e-mail as typed and per address) and answered the
//!   same whether or not the account exists. For an account, it stores a `password_reset` row
//!   (expiring an hour later) and enqueues one [`KIND`] job, in one transaction.
//! - The job makes the link's token, stores only its SHA-256 and mails the link. The token exists
//!   nowhere else: not in the job's payload, not in a log. A retried job (the SMTP server was
//!   down) makes a new token, so an e-mail that was never sent leaves no working link.
//! - The link works once, within the hour: the new password ends every session of the user,
//!   lifts their sign-in wait and retires their other links.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::sign_ins::Client;
use super::throttle::{self, Key, Limit};
use super::{EmailAddress, UserError};
use crate::auth::password;
use crate::entity::{job, password_reset, user};
use crate::jobs::{Handler, NewJob, Outcome};
use crate::mail::Mailer;

/// The job that mails a reset link.
pub const KIND: &str = "auth.password_reset";

/// How long a link works.
pub const LIFETIME: Duration = Duration::hours(1);

/// Requests for one e-mail: three, then a minute's wait, doubling.
pub const PER_ACCOUNT: Limit = Limit {
    free: 3,
    first_wait: Duration::minutes(1),
    max_wait: Duration::minutes(30),
};

/// Requests from one address.
pub const PER_ADDRESS: Limit = Limit {
    free: 10,
    first_wait: Duration::minutes(1),
    max_wait: Duration::minutes(30),
};

/// Asks for a reset link for `email`. `Ok` whether or not an account has that e-mail: the
/// answer must not tell. [`UserError::Throttled`] when asked too often.
pub async fn request(
    db: &DatabaseConnection,
    email: &str,
    client: &Client,
    now: DateTime<Utc>,
) -> Result<(), UserError> {
    let address: EmailAddress = email.parse()?;
    let account_key = Key::with_purpose("reset-account", address.as_str());
    let address_key = client.address.map(|a| Key::address(a).for_purpose("reset"));
    let mut keys = vec![(&account_key, PER_ACCOUNT)];
    if let Some(key) = &address_key {
        keys.push((key, PER_ADDRESS));
    }
    if let Err(throttled) = throttle::attempt(db, &keys, now).await? {
        return Err(UserError::Throttled(throttled));
    }
    let Some(user) = super::signup::find_user_by_email(db, &address).await? else {
        return Ok(());
    };
    let txn = db.begin().await?;
    let id = Uuid::now_v7();
    password_reset::ActiveModel {
        id: Set(id),
        user_id: Set(user.id),
        token_hash: Set(None),
        expires_at: Set(now + LIFETIME),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    crate::jobs::enqueue(
        &txn,
        NewJob {
            kind: KIND.to_owned(),
            organization_id: None,
            call_id: None,
            payload: json!({ "reset_id": id }),
            dedupe_key: Some(format!("{KIND}:{id}")),
            run_at: now,
            max_attempts: 5,
        },
    )
    .await
    .map_err(|e| UserError::Database(DbErr::Custom(e.to_string())))?;
    txn.commit().await?;
    Ok(())
}

fn token_hash(token: &str) -> String {
    crate::auth::session::token_hash(token)
}

/// The unused, unexpired reset that `token` opens, if any.
async fn open(
    db: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<password_reset::Model>, DbErr> {
    // A token is 43 characters; anything else cannot be one (and is not hashed for nothing).
    if token.len() != 43 {
        return Ok(None);
    }
    password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(token_hash(token)))
        .filter(password_reset::Column::UsedAt.is_null())
        .filter(password_reset::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// Whether `token` is a link that still works (for the page that asks for the new password).
pub async fn is_open(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, UserError> {
    Ok(open(db, token, now).await?.is_some())
}

/// Sets a new password through the link of `token`; returns the user.
pub async fn complete(
    db: &DatabaseConnection,
    token: &str,
    new_password: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, UserError> {
    password::check_strength(new_password).map_err(UserError::WeakPassword)?;
    let reset = open(db, token, now)
        .await?
        .ok_or(UserError::InvalidResetLink)?;
    let user = user::Entity::find_by_id(reset.user_id)
        .one(db)
        .await?
        .ok_or(UserError::InvalidResetLink)?;
    let hash = password::hash(new_password.to_owned())
        .await
        .map_err(UserError::Hashing)?;
    let txn = db.begin().await?;
    // Used once: of two uses racing, one updates the row and the other finds it used.
    let used = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, now.into())
        .filter(password_reset::Column::Id.eq(reset.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(UserError::InvalidResetLink);
    }
    // The user's other links are retired too: the person has chosen their password.
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, now.into())
        .filter(password_reset::Column::UserId.eq(user.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    super::password::set(&txn, &user, hash).await?;
    txn.commit().await?;
    Ok(user)
}

/// Mails reset links (jobs of [`KIND`]).
pub struct SendResetLink {
    pub db: DatabaseConnection,
    /// `None` without `LOQUENT_SMTP_URL`: nothing can be sent (the pages say so before anyone
    /// asks).
    pub mailer: Option<Mailer>,
    pub public_url: Url,
}

#[derive(askama::Template)]
#[template(path = "email/password_reset.txt")]
struct TextBody<'a> {
    link: &'a str,
    expires: &'a str,
}

#[derive(askama::Template)]
#[template(path = "email/password_reset.html")]
struct HtmlBody<'a> {
    link: &'a str,
    expires: &'a str,
}

#[async_trait::async_trait]
impl Handler for SendResetLink {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let Some(reset_id) = job.payload["reset_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
        else {
            return Err("the job names no reset".to_owned());
        };
        let now = Utc::now();
        let db_err = |e: DbErr| format!("database error: {e}");
        let Some(reset) = password_reset::Entity::find_by_id(reset_id)
            .one(&self.db)
            .await
            .map_err(db_err)?
        else {
            return Ok(Outcome::Skipped("the reset request is gone".to_owned()));
        };
        if reset.used_at.is_some() || reset.expires_at <= now {
            return Ok(Outcome::Skipped(
                "the link was used or has expired".to_owned(),
            ));
        }
        let Some(mailer) = &self.mailer else {
            return Ok(Outcome::Skipped(
                "no SMTP server is configured (LOQUENT_SMTP_URL)".to_owned(),
            ));
        };
        let Some(user) = user::Entity::find_by_id(reset.user_id)
            .one(&self.db)
            .await
            .map_err(db_err)?
        else {
            return Ok(Outcome::Skipped("the user is gone".to_owned()));
        };
        let token = crate::auth::session::new_token();
        password_reset::Entity::update_many()
            .col_expr(
                password_reset::Column::TokenHash,
                Some(token_hash(&token)).into(),
            )
            .filter(password_reset::Column::Id.eq(reset.id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        let mut link = self
            .public_url
            .join("/reset-password")
            .map_err(|e| e.to_string())?;
        link.query_pairs_mut().append_pair("token", &token);
        let expires = reset
            .expires_at
            .format("%H:%M UTC on %-d %b %Y")
            .to_string();
        let message = compose(mailer, &user.email, link.as_str(), &expires)?;
        mailer.send(message).await.map_err(|e| e.to_string())?;
        Ok(Outcome::Done)
    }
}

fn compose(
    mailer: &Mailer,
    to: &str,
    link: &str,
    expires: &str,
) -> Result<lettre::Message, String> {
    use askama::Template;
    use lettre::message::MultiPart;
    let text = TextBody { link, expires }
        .render()
        .map_err(|e| e.to_string())?;
    let html = HtmlBody { link, expires }
        .render()
        .map_err(|e| e.to_string())?;
    lettre::Message::builder()
        .from(mailer.from().clone())
        .to(to.parse().map_err(|e| format!("the user's address: {e}"))?)
        .subject("Reset your Loquent password")
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())
}
