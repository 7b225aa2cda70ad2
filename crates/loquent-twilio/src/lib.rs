//! Twilio wire formats for Loquent, all pure and offline:
//!
//! - [`sid`] and [`phone_number`]: validated ids (`AccountSid`, `CallSid`, …) and [`E164`];
//! - [`signature`]: computing and checking `X-Twilio-Signature` (form posts and JSON bodies);
//! - [`twiml`]: building the TwiML we answer calls with, and parsing it back (the sandbox's
//!   call simulator reads our documents with the same types);
//! - [`media_stream`]: Media Streams WebSocket messages, with a zero-copy path for audio frames;
//! - [`event_stream`]: Event Streams (CloudEvents) deliveries and the typed events we use.
//!
//! Nothing here does I/O; the REST client (paging, retries) is to be added beside these.

pub mod event_stream;
pub mod media_stream;
pub mod phone_number;
pub mod sid;
pub mod signature;
pub mod twiml;

pub use phone_number::E164;
pub use sid::{AccountSid, CallSid, ParseIdError, PhoneNumberSid, RecordingSid, StreamSid};
