//! The Twilio emulator driven through `loquent_twilio::TwilioClient` and raw HTTP.
//! One test binary (one link step).

mod common;
mod conformance;
mod load;
mod numbers;
mod paging;
mod recordings;
mod resources;
mod simulated_calls;
