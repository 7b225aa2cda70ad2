//! An index for the calls list filtered by contact (`GET /api/calls?contact_id=`, a contact's
//! page): the organization's calls of one contact, newest first, read in order from the index.
//! Before it, both databases walked the organization's calls from the newest until they found
//! a page of the contact's, which for a contact with a few calls among 1,000,000 meant reading
//! all of them (see docs/PERFORMANCE.md, "Calls list"). `idx_call_contact` stays: deleting a
//! contact sets its calls' `contact_id` to null through it.
//!
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_call_org_contact_created")
                    .table(Alias::new("call"))
                    .col(Alias::new("organization_id"))
                    .col(Alias::new("contact_id"))
                    .col(Alias::new("created_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_call_org_contact_created")
                    .table(Alias::new("call"))
                    .to_owned(),
            )
            .await
    }
}
