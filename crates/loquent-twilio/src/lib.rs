//! Twilio wire formats: REST client, TwiML, request signatures, Media Streams and Event Streams types.
