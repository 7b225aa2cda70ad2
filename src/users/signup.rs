//! Sign-up: a new organization with its first user as owner, created atomically.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{EmailAddress, UserError};
use crate::auth::password;
use crate::entity::{
    member, organization, organization_twilio_settings, password_credential, user,
};

pub struct NewAccount {
    pub user: user::Model,
    pub organization: organization::Model,
    pub member: member::Model,
}

pub fn check_org_name(name: &str) -> Result<String, UserError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(UserError::InvalidOrgName("organization name is required"));
    }
    if name.chars().any(char::is_control) {
        return Err(UserError::InvalidOrgName(
            "organization name must be one line of text",
        ));
    }
    if name.chars().count() > 120 {
        return Err(UserError::InvalidOrgName(
            "organization name must be at most 120 characters",
        ));
    }
    Ok(name.to_owned())
}

pub async fn find_user_by_email(
    db: &impl sea_orm::ConnectionTrait,
    email: &EmailAddress,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await
}

/// Creates a user with a password. Fails with 409 when the e-mail is taken.
pub async fn create_user(
    db: &impl sea_orm::ConnectionTrait,
    email: &EmailAddress,
    password_hash: String,
) -> Result<user::Model, UserError> {
    if find_user_by_email(db, email).await?.is_some() {
        return Err(UserError::EmailTaken(email.clone()));
    }
    let now = Utc::now();
    let user = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_string()),
        name: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        // Two sign-ups racing for one e-mail: the unique index decides.
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => UserError::EmailTaken(email.clone()),
        _ => e.into(),
    })?;
    password_credential::ActiveModel {
        user_id: Set(user.id),
        password_hash: Set(password_hash),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(user)
}

pub async fn sign_up(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    organization_name: &str,
) -> Result<NewAccount, UserError> {
    let email: EmailAddress = email.parse()?;
    password::check_strength(password).map_err(UserError::WeakPassword)?;
    let org_name = check_org_name(organization_name)?;
    let hash = password::hash(password.to_owned())
        .await
        .map_err(UserError::Hashing)?;

    crate::db::write_transaction::<_, _, NewAccount, UserError>(db, |txn| {
        Box::pin(async move {
            let user = create_user(txn, &email, hash).await?;
            let now = Utc::now();
            let organization = organization::ActiveModel {
                id: Set(Uuid::now_v7()),
                name: Set(org_name),
                twilio_account_sid: Set(None),
                twilio_auth_token: Set(None),
                byo_twilio: Set(false),
                twilio_sandbox: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            organization_twilio_settings::ActiveModel {
                organization_id: Set(organization.id),
                call_recording_enabled: Set(false),
                event_sink_sid: Set(None),
                sms_subscription_sid: Set(None),
                call_subscription_sid: Set(None),
                sms_events_active: Set(false),
                call_events_active: Set(false),
                caller_lookup_url: Set(None),
                caller_lookup_auth: Set(None),
                delete_recordings_from_twilio: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            let member = member::ActiveModel {
                id: Set(Uuid::now_v7()),
                organization_id: Set(organization.id),
                user_id: Set(user.id),
                is_owner: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            Ok(NewAccount {
                user,
                organization,
                member,
            })
        })
    })
    .await
    .map_err(crate::db::transaction_error)
}
