//! People the organization talks to, known first by their phone numbers.

pub mod enrich;
pub mod resolve;

/// How a contact came to be (`contact.source`).
pub mod source {
    /// Created for the caller of a live inbound call.
    pub const INBOUND_CALL: &str = "inbound_call";
    /// Created by a call-history sync (seed 000).
    pub const CALL_SYNC: &str = "call_sync";
}
