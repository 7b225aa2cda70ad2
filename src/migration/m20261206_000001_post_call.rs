//! What the post-call pipeline needs beyond the first schema: the recording-deletion switch,
//! structured transcripts, to-do review states, the contact's company, and the links that make
//! jobs visible on their call and their effects idempotent.
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column per statement: SQLite's `ALTER TABLE` adds one column at a time.
async fn add(manager: &SchemaManager<'_>, table: &str, column: ColumnDef) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Seed 001: recordings are deleted from Twilio once stored, unless turned off.
        add(
            manager,
            "organization_twilio_settings",
            boolean("delete_recordings_from_twilio")
                .default(true)
                .take(),
        )
        .await?;
        // The transcript's segments (speaker, start, end, text) as JSON, and where the stored
        // transcript came from: `live` (the realtime session) or `recording`.
        add(
            manager,
            "call",
            json_binary_null("transcript_segments").take(),
        )
        .await?;
        add(manager, "call", string_null("transcript_source").take()).await?;
        // `pending_review`, `approved`, `dismissed`.
        add(
            manager,
            "todo",
            string("status").default("pending_review").take(),
        )
        .await?;
        // The job whose run created the row: a job that runs again (its worker died after
        // inserting) finds its own rows and inserts nothing more.
        add(manager, "todo", uuid_null("job_id").take()).await?;
        add(manager, "call_analysis", uuid_null("job_id").take()).await?;
        add(manager, "contact", string_null("company").take()).await?;
        // The call a job concerns, so its failures show on that call.
        add(manager, "job", uuid_null("call_id").take()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_call")
                    .table(Alias::new("job"))
                    .col(Alias::new("call_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_call_analysis_job")
                    .table(Alias::new("call_analysis"))
                    .col(Alias::new("job_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_todo_job")
                    .table(Alias::new("todo"))
                    .col(Alias::new("job_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in ["idx_todo_job", "idx_call_analysis_job", "idx_job_call"] {
            manager
                .drop_index(Index::drop().name(index).to_owned())
                .await?;
        }
        for (table, column) in [
            ("job", "call_id"),
            ("contact", "company"),
            ("call_analysis", "job_id"),
            ("todo", "job_id"),
            ("todo", "status"),
            ("call", "transcript_source"),
            ("call", "transcript_segments"),
            (
                "organization_twilio_settings",
                "delete_recordings_from_twilio",
            ),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
