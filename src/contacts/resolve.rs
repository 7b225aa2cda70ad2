//! The contact behind a phone number: found by the number, or created for it.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entity::{contact, contact_phone};

/// The organization's contact with this number, creating one (with `source`) when there is
/// none. Two calls from a new number at once both end up with the same contact: the number is
/// unique per organization, so the loser of the race reads the winner's row.
pub async fn resolve_or_create(
    db: &DatabaseConnection,
    org_id: Uuid,
    number: &str,
    source: &str,
) -> Result<contact::Model, sea_orm::DbErr> {
    if let Some(found) = find(db, org_id, number).await? {
        return Ok(found);
    }
    let now = Utc::now();
    let created = crate::db::write_transaction::<_, _, contact::Model, sea_orm::DbErr>(db, |tx| {
        let number = number.to_owned();
        let source = source.to_owned();
        Box::pin(async move {
            let contact = contact::ActiveModel {
                id: Set(Uuid::now_v7()),
                organization_id: Set(org_id),
                name: Set(None),
                email: Set(None),
                notes: Set(None),
                company: Set(None),
                source: Set(source),
                last_contacted_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(tx)
            .await?;
            contact_phone::ActiveModel {
                id: Set(Uuid::now_v7()),
                organization_id: Set(org_id),
                contact_id: Set(contact.id),
                number: Set(number),
                created_at: Set(now),
            }
            .insert(tx)
            .await?;
            Ok(contact)
        })
    })
    .await;
    match created {
        Ok(contact) => Ok(contact),
        Err(error) => match find(db, org_id, number).await? {
            Some(found) => Ok(found),
            None => Err(crate::db::transaction_error(error)),
        },
    }
}

async fn find(
    db: &DatabaseConnection,
    org_id: Uuid,
    number: &str,
) -> Result<Option<contact::Model>, sea_orm::DbErr> {
    let Some(phone) = contact_phone::Entity::find()
        .filter(contact_phone::Column::OrganizationId.eq(org_id))
        .filter(contact_phone::Column::Number.eq(number))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    contact::Entity::find_by_id(phone.contact_id)
        .filter(contact::Column::OrganizationId.eq(org_id))
        .one(db)
        .await
}
