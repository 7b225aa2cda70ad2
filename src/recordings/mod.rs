//! Call recordings (seeds 001 and 002): the organization's switches, the completed recording
//! Twilio reports, and the job that stores and transcribes it.
//!
//! A recording is processed once per Recording SID: the completed callback enqueues one job
//! (deduplicated by the SID, so Twilio's retries add nothing), and the job is idempotent (see
//! [`process`]).

/// Where Twilio reports a recording's status (`POST`, form-encoded).
pub const CALLBACK_PATH: &str = "/twilio/recording";

pub mod completed;
pub mod process;
pub mod settings;
