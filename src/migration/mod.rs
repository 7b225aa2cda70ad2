//! Schema migrations, applied by `loquent migrate` and on every `serve` start.

use sea_orm_migration::prelude::*;

mod m20261121_000001_initial;
mod m20261206_000001_post_call;
mod m20261206_000010_call_search;
mod m20261206_000020_call_sync;
mod m20261206_000030_call_list;
mod m20261207_000001_event_streams;
mod m20261207_000010_search_doc;
mod m20261207_000020_sign_in;
mod m20261207_000030_invitation;
mod m20261207_000040_sandbox;
mod m20261207_000050_call_source;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_initial::Migration),
            Box::new(m20261206_000001_post_call::Migration),
            Box::new(m20261206_000010_call_search::Migration),
            Box::new(m20261206_000020_call_sync::Migration),
            Box::new(m20261206_000030_call_list::Migration),
            Box::new(m20261207_000001_event_streams::Migration),
            Box::new(m20261207_000010_search_doc::Migration),
            Box::new(m20261207_000020_sign_in::Migration),
            Box::new(m20261207_000030_invitation::Migration),
            Box::new(m20261207_000040_sandbox::Migration),
            Box::new(m20261207_000050_call_source::Migration),
        ]
    }
}
