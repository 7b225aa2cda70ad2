//! AI providers: realtime speech sessions, transcription, structured output and audio.

pub mod audio;
pub mod realtime;
