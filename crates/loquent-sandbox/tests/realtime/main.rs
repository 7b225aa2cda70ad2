//! The OpenAI Realtime and Gemini Live emulators: their wire protocol as the real services
//! speak it, and conformance of every event (ours and the emulator's) with OpenAI's published
//! Realtime event schemas.

mod common;
mod conformance;
mod gemini;
mod openai;
mod schema;
