//! Checking a password sign-in.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::{EmailAddress, UserError};
use crate::auth::password;
use crate::entity::{member, password_credential, user};

/// The user and the organization to sign in to (their oldest membership).
/// Every failure is [`UserError::WrongCredentials`], so sign-in does not reveal which e-mails
/// have accounts.
pub async fn authenticate(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
) -> Result<(user::Model, member::Model), UserError> {
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
    if !password::verify(password.to_owned(), credential.password_hash)
        .await
        .map_err(UserError::Hashing)?
    {
        return Err(UserError::WrongCredentials);
    }
    let membership = member::Entity::find()
        .filter(member::Column::UserId.eq(user.id))
        .order_by_asc(member::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or(UserError::NoOrganization)?;
    Ok((user, membership))
}
