//! The built-in sandbox as an organization's Twilio account (issue 24): which organizations
//! use it, so that their Twilio client talks to the sandbox whatever the configured API host.
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("organization"))
                    .add_column(boolean("twilio_sandbox").default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("organization"))
                    .drop_column(Alias::new("twilio_sandbox"))
                    .to_owned(),
            )
            .await
    }
}
