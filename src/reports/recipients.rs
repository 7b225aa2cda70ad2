//! Who receives an organization's call reports: e-mail addresses, each once per organization.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::ReportError;
use crate::entity::report_recipient;
use crate::users::EmailAddress;

/// A recipient as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub id: Uuid,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

impl From<report_recipient::Model> for RecipientView {
    fn from(m: report_recipient::Model) -> Self {
        Self {
            id: m.id,
            email: m.email,
            created_at: m.created_at,
        }
    }
}

/// The organization's recipients, in the order they were added.
pub async fn list(
    db: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<Vec<report_recipient::Model>, ReportError> {
    Ok(report_recipient::Entity::find()
        .filter(report_recipient::Column::OrganizationId.eq(org_id))
        .order_by_asc(report_recipient::Column::CreatedAt)
        .order_by_asc(report_recipient::Column::Email)
        .all(db)
        .await?)
}

/// Adds `email` (trimmed, lower-cased) to the organization's recipients.
pub async fn add(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    email: &str,
) -> Result<report_recipient::Model, ReportError> {
    let email: EmailAddress = email.parse()?;
    let taken = || ReportError::DuplicateRecipient(email.to_string());
    let existing = report_recipient::Entity::find()
        .filter(report_recipient::Column::OrganizationId.eq(org_id))
        .filter(report_recipient::Column::Email.eq(email.as_str()))
        .one(db)
        .await?;
    if existing.is_some() {
        return Err(taken());
    }
    let row = report_recipient::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        email: Set(email.as_str().to_owned()),
        created_at: Set(Utc::now()),
    };
    // The unique index (organization, email) settles two adds racing past the check above.
    row.insert(db).await.map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => taken(),
        _ => e.into(),
    })
}

/// Removes recipient `id`; another organization's recipient is not found.
pub async fn remove(db: &impl ConnectionTrait, org_id: Uuid, id: Uuid) -> Result<(), ReportError> {
    let result = report_recipient::Entity::delete_many()
        .filter(report_recipient::Column::Id.eq(id))
        .filter(report_recipient::Column::OrganizationId.eq(org_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(ReportError::RecipientNotFound(id));
    }
    Ok(())
}
