//! Delete an agent; the numbers it answered stay, without an agent.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{AgentError, find};
use crate::entity::{agent, phone_number};

/// The foreign key also says `ON DELETE SET NULL`; unassigning explicitly, in the same
/// transaction, does not depend on SQLite's `foreign_keys` pragma and stamps `updated_at`.
pub async fn delete(db: &DatabaseConnection, org_id: Uuid, id: Uuid) -> Result<(), AgentError> {
    crate::db::write_transaction::<_, _, (), AgentError>(db, |txn| {
        Box::pin(async move {
            find(txn, org_id, id).await?;
            let unassigned = phone_number::Entity::update_many()
                .col_expr(
                    phone_number::Column::AgentId,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(
                    phone_number::Column::UpdatedAt,
                    Expr::value(chrono::Utc::now()),
                )
                .filter(phone_number::Column::OrganizationId.eq(org_id))
                .filter(phone_number::Column::AgentId.eq(id))
                .exec(txn)
                .await?;
            agent::Entity::delete_many()
                .filter(agent::Column::Id.eq(id))
                .filter(agent::Column::OrganizationId.eq(org_id))
                .exec(txn)
                .await?;
            tracing::info!(%org_id, agent_id = %id, numbers = unassigned.rows_affected, "agent deleted");
            Ok(())
        })
    })
    .await
    .map_err(crate::db::transaction_error)
}
