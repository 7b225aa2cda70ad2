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
    let user = check_credentials(db, email, password, client).await?;
    let membership = member::Entity::find()
        .filter(member::Column::UserId.eq(user.id))
        .order_by_asc(member::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or(UserError::NoOrganization)?;
    Ok((user, membership))
}

/// The account whose e-mail and password these are, whether or not it belongs to an
/// organization (accepting an invitation proves the account this way). Throttled and recorded
/// like [`authenticate`], with the same answers whether or not the account exists.
pub async fn check_credentials(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    client: &Client,
) -> Result<user::Model, UserError> {
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
    sign_ins::record(db, user.id, right, client, now).await?;
    if !right {
        return Err(UserError::WrongCredentials);
    }
    throttle::succeeded(db, &account, address.as_ref()).await?;
    Ok(user)
}
