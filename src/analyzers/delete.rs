//! Delete an analyzer, with its links to numbers and the runs it appended to calls.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{AnalyzerError, find};
use crate::entity::{analyzer, call_analysis, phone_number_analyzer};

/// The foreign keys also say `ON DELETE CASCADE`; deleting the dependent rows explicitly, in the
/// same transaction, does not depend on SQLite's `foreign_keys` pragma. A run of this analyzer
/// still queued ends skipped when it finds the analyzer gone.
pub async fn delete(db: &DatabaseConnection, org_id: Uuid, id: Uuid) -> Result<(), AnalyzerError> {
    crate::db::write_transaction::<_, _, (), AnalyzerError>(db, |txn| {
        Box::pin(async move {
            find(txn, org_id, id).await?;
            phone_number_analyzer::Entity::delete_many()
                .filter(phone_number_analyzer::Column::OrganizationId.eq(org_id))
                .filter(phone_number_analyzer::Column::AnalyzerId.eq(id))
                .exec(txn)
                .await?;
            let runs = call_analysis::Entity::delete_many()
                .filter(call_analysis::Column::OrganizationId.eq(org_id))
                .filter(call_analysis::Column::AnalyzerId.eq(id))
                .exec(txn)
                .await?;
            analyzer::Entity::delete_many()
                .filter(analyzer::Column::Id.eq(id))
                .filter(analyzer::Column::OrganizationId.eq(org_id))
                .exec(txn)
                .await?;
            tracing::info!(%org_id, analyzer_id = %id, runs = runs.rows_affected, "analyzer deleted");
            Ok(())
        })
    })
    .await
    .map_err(crate::db::transaction_error)
}
