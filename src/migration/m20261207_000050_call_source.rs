//! Where a call came from (issue 24): `phone` (answered by an agent through our voice URL) or
//! `imported` (known from Twilio: history sync, Event Streams, a recording callback); a free
//! string, so later kinds need no migration. NULL on calls stored before this column: those
//! cannot be told apart after the fact, and a wrong guess would be worse than saying nothing.
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
                    .table(Alias::new("call"))
                    .add_column(string_null("source"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("call"))
                    .drop_column(Alias::new("source"))
                    .to_owned(),
            )
            .await
    }
}
