//! Checking a password sign-in.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::EmailAddress;
use crate::auth::password;
use crate::entity::{member, password_credential, user};
use crate::error::ApiError;

/// One message for every failure, so sign-in does not reveal which e-mails have accounts.
const REJECTED: &str = "e-mail or password is incorrect";

/// The user and the organization to sign in to (their oldest membership).
pub async fn authenticate(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
) -> Result<(user::Model, member::Model), ApiError> {
    let rejected = || ApiError::InvalidCredentials(REJECTED.into());
    if password.len() > password::MAX_PASSWORD_LEN * 4 {
        return Err(rejected());
    }
    let Ok(email) = email.parse::<EmailAddress>() else {
        return Err(rejected());
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
        return Err(rejected());
    };
    if !password::verify(password.to_owned(), credential.password_hash)
        .await
        .map_err(ApiError::Internal)?
    {
        return Err(rejected());
    }
    let membership = member::Entity::find()
        .filter(member::Column::UserId.eq(user.id))
        .order_by_asc(member::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or(ApiError::NoOrganization)?;
    Ok((user, membership))
}
