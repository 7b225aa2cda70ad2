//! Phone calls: live ones answered by an agent, and (later) imported history.
//!
//! This module is the one home of the `call` row: every write to it goes through `start`,
//! `status` or `end`, so the rules about what may replace what live in one place. Members read
//! calls through `list` (filters, transcript `search`, keyset paging) and `details`, and ask for
//! a `rerun` of the analyses.

pub mod after;
pub mod details;
pub mod end;
pub mod external;
pub mod list;
pub mod recording;
pub mod rerun;
pub mod search;

/// Where a call came from: the values of `call.source`.
pub mod source {
    /// Answered by an agent through our voice URL.
    pub const PHONE: &str = "phone";
    /// Known from Twilio rather than answered by us: history sync, Event Streams, a recording
    /// callback naming a call we had not seen.
    pub const IMPORTED: &str = "imported";
    /// A member talking to an agent from the browser.
    pub const WEB: &str = "web";
}
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

/// What can go wrong reading a call or acting on one for a member. Carries nothing of HTTP: the
/// API boundary decides the status.
#[derive(Debug, thiserror::Error)]
pub enum CallLookupError {
    /// No such call in the caller's organization (another organization's is as unknown).
    #[error("call not found")]
    NotFound,
    /// The call has no stored recording.
    #[error("this call has no recording")]
    NoRecording,
    /// A query value that cannot be used, with what to change.
    #[error("{0}")]
    InvalidQuery(String),
    #[error("this call has no transcript yet, so there is nothing to analyze")]
    NoTranscript,
    #[error(
        "no active analyzer is attached to this call's number; attach one on the Analyzers page"
    )]
    NoAnalyzers,
    #[error(transparent)]
    Jobs(#[from] crate::jobs::JobError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

impl From<crate::paging::PagingError> for CallLookupError {
    fn from(err: crate::paging::PagingError) -> Self {
        Self::InvalidQuery(err.to_string())
    }
}

impl From<search::InvalidSearch> for CallLookupError {
    fn from(err: search::InvalidSearch) -> Self {
        Self::InvalidQuery(err.to_string())
    }
}
