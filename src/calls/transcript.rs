//! A call's transcript: timed, attributed segments, stored as JSON in `call.transcript_segments`
//! beside the `Speaker: text` lines in `call.transcription` that prompts and e-mails read.

use serde::{Deserialize, Serialize};

/// Where a stored transcript came from. The recording's replaces the live session's.
pub mod source {
    pub const LIVE: &str = "live";
    pub const RECORDING: &str = "recording";
}

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    /// `Caller` or `Agent`.
    pub speaker: String,
    /// Seconds from the start of the call's media (live) or of the recording.
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// `Speaker: text` lines in time order.
pub fn to_text(segments: &[Segment]) -> String {
    let mut text = String::new();
    for segment in segments {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&segment.speaker);
        text.push_str(": ");
        text.push_str(segment.text.trim());
    }
    text
}

/// Sorts segments by start (a caller's words are transcribed after they end, so they may reach
/// us after the agent's reply began), keeping arrival order among equal starts.
pub fn in_time_order(segments: &mut [Segment]) {
    segments.sort_by(|a, b| a.start.total_cmp(&b.start));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(speaker: &str, start: f64, text: &str) -> Segment {
        Segment {
            speaker: speaker.to_owned(),
            start,
            end: start + 1.0,
            text: text.to_owned(),
        }
    }

    #[test]
    fn lines_follow_the_time_the_words_were_said_not_their_arrival() {
        let mut segments = vec![
            segment("Agent", 0.2, "Hello, Acme Plumbing."),
            segment("Agent", 4.0, "Sure, when suits you?"),
            segment("Caller", 2.5, " My tap leaks. "),
        ];
        in_time_order(&mut segments);
        assert_eq!(
            to_text(&segments),
            "Agent: Hello, Acme Plumbing.\nCaller: My tap leaks.\nAgent: Sure, when suits you?"
        );
        assert_eq!(to_text(&[]), "");
    }
}
