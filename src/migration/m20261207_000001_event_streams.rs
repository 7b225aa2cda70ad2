//! Twilio Event Streams (seed 001): the events received, kept once per event id so that Twilio's
//! retries add nothing, with what became of each; and the SMS messages the messaging events
//! describe.
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn organization_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(Alias::new(table), Alias::new("organization_id"))
        .to(Alias::new("organization"), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("twilio_event"))
                    .col(uuid("id").primary_key())
                    .col(uuid("organization_id"))
                    // The CloudEvents `id`: unique per event, the same on every retry.
                    .col(string("event_id"))
                    .col(string("event_type"))
                    .col(json_binary("data"))
                    .col(timestamp_with_time_zone("received_at"))
                    // Set once the event has been acted on, with `outcome`: `done`, or
                    // `skipped: ` and why. NULL while it waits or after a failed attempt.
                    .col(timestamp_with_time_zone_null("handled_at"))
                    .col(text_null("outcome"))
                    .foreign_key(&mut organization_fk("twilio_event"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_twilio_event_id")
                    .table(Alias::new("twilio_event"))
                    .col(Alias::new("organization_id"))
                    .col(Alias::new("event_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("message"))
                    .col(uuid("id").primary_key())
                    .col(uuid("organization_id"))
                    .col(uuid_null("phone_number_id"))
                    .col(uuid_null("contact_id"))
                    .col(string("message_sid").unique_key())
                    // `inbound` or `outbound`.
                    .col(string("direction"))
                    .col(string("from_number"))
                    .col(string("to_number"))
                    .col(text_null("body"))
                    // Twilio's status in lower case: received, queued, sent, delivered, ...
                    .col(string("status"))
                    .col(integer_null("error_code"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut organization_fk("message"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("message"), Alias::new("phone_number_id"))
                            .to(Alias::new("phone_number"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("message"), Alias::new("contact_id"))
                            .to(Alias::new("contact"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_contact")
                    .table(Alias::new("message"))
                    .col(Alias::new("organization_id"))
                    .col(Alias::new("contact_id"))
                    .col(Alias::new("created_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("message")).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("twilio_event")).to_owned())
            .await
    }
}
