//! Sign-in protection (issue 23): the attempts counted per account and per client address, in
//! the database so every server process sees the same counts; each user's sign-in history; and
//! password-reset links (only a hash of each link's token is kept).
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
                    .table(Alias::new("sign_in_throttle"))
                    // `account:` + the SHA-256 of the e-mail as typed (lower-cased), or
                    // `address:` + the client's address (IPv6 by its /64).
                    .col(string("key").primary_key())
                    // Attempts since the last success or the last quiet day.
                    .col(integer("attempts"))
                    // No attempt is checked before this instant.
                    .col(timestamp_with_time_zone_null("blocked_until"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("sign_in"))
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(boolean("succeeded"))
                    .col(string_null("address"))
                    .col(text_null("user_agent"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("sign_in"), Alias::new("user_id"))
                            .to(Alias::new("user"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_user_created")
                    .table(Alias::new("sign_in"))
                    .col(Alias::new("user_id"))
                    .col(Alias::new("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("password_reset"))
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    // The SHA-256 of the link's token; set by the job that mails the link, which
                    // makes the token (a retried job makes a new one).
                    .col(string_null("token_hash").unique_key())
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("password_reset"), Alias::new("user_id"))
                            .to(Alias::new("user"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("password_reset")).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("sign_in")).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("sign_in_throttle"))
                    .to_owned(),
            )
            .await
    }
}
