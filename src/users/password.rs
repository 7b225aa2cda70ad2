//! Changing a user's password from outside their session: the operator's
//! `loquent user reset-password`, and the e-mailed reset link (`users::reset`).

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::throttle::{self, Key};
use super::{EmailAddress, UserError};
use crate::auth::password;
use crate::entity::{password_credential, session, user};

/// Sets `email`'s password to `new_password` and ends every session of that user (whoever knew
/// the old password is signed out). The account's sign-in wait, if any, is lifted: the person
/// now knows the password. Returns the user and how many sessions were ended.
pub async fn reset(
    db: &DatabaseConnection,
    email: &str,
    new_password: &str,
) -> Result<(user::Model, u64), UserError> {
    let address: EmailAddress = email.parse()?;
    password::check_strength(new_password).map_err(UserError::WeakPassword)?;
    let user = super::signup::find_user_by_email(db, &address)
        .await?
        .ok_or_else(|| UserError::UnknownUser(address.clone()))?;
    let hash = password::hash(new_password.to_owned())
        .await
        .map_err(UserError::Hashing)?;
    let txn = db.begin().await?;
    let ended = set(&txn, &user, hash).await?;
    txn.commit().await?;
    Ok((user, ended))
}

/// In `txn`: `user`'s password becomes `hash`, every session of theirs ends and their account's
/// sign-in wait is lifted. Returns how many sessions ended.
pub(super) async fn set(
    txn: &impl sea_orm::ConnectionTrait,
    user: &user::Model,
    hash: String,
) -> Result<u64, UserError> {
    let now = Utc::now();
    password_credential::Entity::insert(password_credential::ActiveModel {
        user_id: Set(user.id),
        password_hash: Set(hash),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(password_credential::Column::UserId)
            .update_columns([
                password_credential::Column::PasswordHash,
                password_credential::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let ended = session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user.id))
        .exec(txn)
        .await?
        .rows_affected;
    throttle::forget(txn, &Key::account(&user.email)).await?;
    Ok(ended)
}
