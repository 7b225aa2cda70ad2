//! What the emulated agent says, and what the emulated transcriber hears.

use crate::speech::Phrase;

/// One spoken reply: its transcript and how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub text: &'static str,
    pub ms: u64,
}

/// The answer to a caller turn that is not a tool call. A question gets a long answer, which
/// leaves room to barge in.
pub(crate) fn reply_to(phrase: Option<Phrase>) -> Reply {
    match phrase {
        Some(Phrase::Hello) => Reply {
            text: "Hi! How can I help you today?",
            ms: 600,
        },
        Some(Phrase::Question) => Reply {
            text: "Good question. Let me explain that in some detail, step by step, so nothing is left out.",
            ms: 2_000,
        },
        // A tool phrase whose tool the session did not declare: the model can only talk.
        Some(Phrase::EndCall) => Reply {
            text: "Goodbye!",
            ms: 400,
        },
        Some(Phrase::Transfer | Phrase::LookupCaller) => Reply {
            text: "I'm afraid I can't do that on this line.",
            ms: 600,
        },
        None => Reply {
            text: "Sorry, could you say that again?",
            ms: 500,
        },
    }
}

/// The reply once a tool's result came back.
pub(crate) fn after_tool(name: &str) -> Reply {
    match name {
        "end_call" => Reply {
            text: "Thanks for calling, goodbye.",
            ms: 500,
        },
        "transfer_call" => Reply {
            text: "Putting you through now.",
            ms: 500,
        },
        _ => Reply {
            text: "Thanks, I have that now.",
            ms: 500,
        },
    }
}

/// A response nobody spoke to: the agent greets first.
pub(crate) fn greeting() -> Reply {
    Reply {
        text: "Hello, thanks for calling. How can I help?",
        ms: 600,
    }
}

/// What a transcriber writes for the caller's phrase.
pub(crate) fn caller_text(phrase: Option<Phrase>) -> &'static str {
    match phrase {
        Some(Phrase::Hello) => "Hello.",
        Some(Phrase::Question) => "I have a question.",
        Some(Phrase::EndCall) => "That's all, goodbye.",
        Some(Phrase::Transfer) => "Can you put me through to someone?",
        Some(Phrase::LookupCaller) => "Do you know who I am?",
        None => "(inaudible)",
    }
}

/// The words of `text` spoken once `spent` of `total` milliseconds have been played, as a char
/// index: transcripts advance with the audio.
pub(crate) fn spoken_chars(text: &str, spent: u64, total: u64) -> usize {
    if total == 0 || spent >= total {
        return text.len();
    }
    let mut cut = (text.len() as u64 * spent / total) as usize;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_advance_with_the_audio() {
        let text = "Thanks for calling, goodbye.";
        assert_eq!(spoken_chars(text, 0, 500), 0);
        assert_eq!(spoken_chars(text, 250, 500), text.len() / 2);
        assert_eq!(spoken_chars(text, 600, 500), text.len());
        assert_eq!(spoken_chars("héllo", 1, 3), 1, "never inside a character");
        assert!(reply_to(Some(Phrase::Question)).ms > reply_to(Some(Phrase::Hello)).ms);
    }
}
