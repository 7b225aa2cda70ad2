//! Twilio wire formats for Loquent, all pure and offline:
//!
//! - [`sid`] and [`phone_number`]: validated ids (`AccountSid`, `CallSid`, …) and [`E164`];
//! - [`signature`]: computing and checking `X-Twilio-Signature` (form posts and JSON bodies);
//! - [`twiml`]: building the TwiML we answer calls with, and parsing it back (the sandbox's
//!   call simulator reads our documents with the same types);
//! - [`media_stream`]: Media Streams WebSocket messages, with a zero-copy path for audio frames;
//! - [`event_stream`]: Event Streams (CloudEvents) deliveries and the typed events we use.
//!
//! Those are pure and offline. The REST client does the I/O:
//!
//! - [`client`]: [`TwilioClient`] — credentials, base URLs, timeouts, retries, paging, errors,
//!   and the [`client::OPERATIONS`] table of everything it calls;
//! - [`accounts`], [`calls`], [`recordings`], [`phone_numbers`], [`events_api`]: the
//!   operations on each resource, as `TwilioClient` methods, with their request and response
//!   types.

pub mod accounts;
pub mod calls;
pub mod client;
pub mod event_stream;
pub mod events_api;
pub mod media_stream;
pub mod phone_number;
pub mod phone_numbers;
pub mod recordings;
pub mod sid;
pub mod signature;
pub mod twiml;

pub use client::{Credentials, RetryPolicy, TwilioClient, TwilioError, TwilioStream};
pub use phone_number::E164;
pub use sid::{
    AccountSid, ApiKeySid, CallSid, ParseIdError, PhoneNumberSid, RecordingSid, SinkSid, StreamSid,
    SubscriptionSid,
};
