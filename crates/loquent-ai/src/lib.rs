//! AI providers: realtime speech sessions, transcription, structured output and audio.

pub mod audio;
pub mod http;
pub mod realtime;
pub mod structured;
pub mod transcription;
