//! The e-mailed call report: who receives it ([`recipients`]), what it says ([`compose`]) and the
//! job that sends it once a call's other post-call steps are over ([`send`]).

pub mod compose;
pub mod recipients;
pub mod send;

use sea_orm::DbErr;
use uuid::Uuid;

use crate::users::InvalidEmail;

/// Why a report recipient could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    InvalidEmail(#[from] InvalidEmail),
    #[error("{0} already receives the call reports")]
    DuplicateRecipient(String),
    #[error("report recipient not found")]
    RecipientNotFound(Uuid),
    #[error(transparent)]
    Database(#[from] DbErr),
}
