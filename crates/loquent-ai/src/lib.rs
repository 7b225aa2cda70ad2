//! AI providers: realtime speech sessions, transcription, structured output and audio.
