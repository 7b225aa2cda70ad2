//! Whole conversations of the realtime clients against the sandbox's OpenAI Realtime and Gemini
//! Live emulators, through the public API only: caller audio in (the sandbox's speech tones),
//! agent audio out, barge-in, tool calls, faults and echo mode.

mod common;
mod gemini;
mod openai;
