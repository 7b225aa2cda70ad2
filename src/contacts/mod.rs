//! People the organization talks to, known first by their phone numbers.

pub mod enrich;
pub mod resolve;
