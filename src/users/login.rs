//! Checking a password sign-in, throttled and recorded.

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::sign_ins::{self, Client};
use super::throttle::{self, Key};
use super::{EmailAddress, UserError};
use crate::auth::password;
use crate::entity::{member, password_credential, user};

/// The user and the organization to sign in to (their oldest membership).
///
/// Every failure is [`UserError::WrongCredentials`] and every refusal for too many attempts
/// [`UserError::Throttled`], the same whether or not the account exists, so sign-in does not
/// reveal which e-mails have accounts (see [`throttle`]). Attempts that reach an account's
/// password are kept in its sign-in history.
pub async fn authenticate(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    client: &Client,
) -> Result<(user::Model, member::Model), UserError> {
    let now = Utc::now();
    let account = Key::account(email);
    let address = client.address.map(Key::address);
    let mut keys = vec![(&account, throttle::ACCOUNT)];
    if let Some(address) = &address {
        keys.push((address, throttle::ADDRESS));
    }
    if let Err(throttled) = throttle::attempt(db, &keys, now).await? {
        return Err(UserError::Throttled(throttled));
    }
    if password.len() > password::MAX_PASSWORD_LEN * 4 {
        return Err(UserError::WrongCredentials);
    }
    let Ok(email) = email.parse::<EmailAddress>() else {
        return Err(UserError::WrongCredentials);
    };
    let found = match super::signup::find_user_by_email(db, &email).await? {
        Some(user) => password_credential::Entity::find_by_id(user.id)
            .one(db)
            .await?
            .map(|c| (user, c)),
        None => None,
    };
    let Some((user, credential)) = found else {
        password::dummy_verify(password.to_owned()).await;
        return Err(UserError::WrongCredentials);
    };
    let right = password::verify(password.to_owned(), credential.password_hash)
        .await
        .map_err(UserError::Hashing)?;
    let membership = if right {
        member::Entity::find()
            .filter(member::Column::UserId.eq(user.id))
            .order_by_asc(member::Column::CreatedAt)
            .one(db)
            .await?
    } else {
        None
    };
    sign_ins::record(db, user.id, membership.is_some(), client, now).await?;
    if !right {
        return Err(UserError::WrongCredentials);
    }
    let membership = membership.ok_or(UserError::NoOrganization)?;
    throttle::succeeded(db, &account, address.as_ref()).await?;
    Ok((user, membership))
}
