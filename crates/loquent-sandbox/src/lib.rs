//! Emulators of Twilio, OpenAI and Gemini speaking their documented wire formats, for tests and demo mode.
