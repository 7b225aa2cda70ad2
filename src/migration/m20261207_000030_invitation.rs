//! Invitations (issue 23): an administrator invites a person by e-mail, with roles; the person
//! joins through a single-use, expiring, revocable link. Only a hash of each link's token is
//! kept.
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
                    .table(Alias::new("invitation"))
                    .col(uuid("id").primary_key())
                    .col(uuid("organization_id"))
                    // Lower-cased, as accounts store theirs.
                    .col(string("email"))
                    .col(uuid_null("invited_by"))
                    // The SHA-256 of the current link's token. Null until the link is made (by
                    // the job that mails it) and again while a new one is being made.
                    .col(string_null("token_hash").unique_key())
                    // Counts the links made: a mail job carries the version it was enqueued
                    // for, and one for an older version does nothing.
                    .col(integer("link_version"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("accepted_at"))
                    .col(uuid_null("accepted_by"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("invitation"), Alias::new("organization_id"))
                            .to(Alias::new("organization"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("invitation"), Alias::new("invited_by"))
                            .to(Alias::new("user"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("invitation"), Alias::new("accepted_by"))
                            .to(Alias::new("user"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // One open invitation per organization and address, also when two invitations race
        // (a partial index: the same statement on SQLite and PostgreSQL).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_invitation_open ON invitation (organization_id, email) \
                 WHERE accepted_at IS NULL AND revoked_at IS NULL",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("invitation_role"))
                    .col(uuid("invitation_id"))
                    .col(uuid("role_id"))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("invitation_id"))
                            .col(Alias::new("role_id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("invitation_role"), Alias::new("invitation_id"))
                            .to(Alias::new("invitation"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A role deleted before the invitation is accepted is simply not given.
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("invitation_role"), Alias::new("role_id"))
                            .to(Alias::new("role"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invitation_role_role")
                    .table(Alias::new("invitation_role"))
                    .col(Alias::new("role_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("invitation_role"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("invitation")).to_owned())
            .await
    }
}
