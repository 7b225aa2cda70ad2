//! Phone calls: live ones answered by an agent, and (later) imported history.
//!
//! This module is the one home of the `call` row: every write to it goes through `start`,
//! `status` or `end`, so the rules about what may replace what live in one place.

pub mod after;
pub mod end;
pub mod recording;
pub mod start;
pub mod status;
pub mod transcript;

/// What can go wrong writing a call. Carries nothing of HTTP: the webhook boundary decides what a
/// caller of ours is told.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}
