//! Call-history sync (seed 000): one row per sync of a number, with its phase and counters, so
//! that progress survives the request and a browser arriving mid-sync sees where it is; and the
//! job group that lets a sync release its recordings a few at a time and count them as they end.
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("call_sync"))
                    .col(uuid("id").primary_key())
                    .col(uuid("organization_id"))
                    .col(uuid("phone_number_id"))
                    .col(date_null("since"))
                    .col(integer("recording_batch_size"))
                    // Seed 000's phases: Fetching ... ProcessingRecordings, Done, or Error.
                    .col(string("phase"))
                    .col(integer("fetched").default(0))
                    .col(integer("imported").default(0))
                    .col(integer("skipped").default(0))
                    .col(integer("recordings_total").default(0))
                    .col(integer("recordings_completed").default(0))
                    .col(string_null("message"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("call_sync"), Alias::new("organization_id"))
                            .to(Alias::new("organization"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_call_sync_number")
                    .table(Alias::new("call_sync"))
                    .col(Alias::new("organization_id"))
                    .col(Alias::new("phone_number_id"))
                    .col(Alias::new("created_at"))
                    .to_owned(),
            )
            .await?;
        // One sync per number at a time: a second one cannot be inserted while one is unfinished
        // (both databases take partial indexes).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_call_sync_unfinished ON call_sync (phone_number_id) \
                 WHERE finished_at IS NULL",
            )
            .await?;
        // Jobs enqueued together and followed as one (a sync's recordings).
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("job"))
                    .add_column(uuid_null("group_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_group")
                    .table(Alias::new("job"))
                    .col(Alias::new("group_id"))
                    .col(Alias::new("status"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_call_sync_unfinished").to_owned())
            .await?;
        manager
            .drop_index(Index::drop().name("idx_job_group").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("job"))
                    .drop_column(Alias::new("group_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("call_sync")).to_owned())
            .await
    }
}
