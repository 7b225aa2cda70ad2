//! Input checked field by field: every problem is reported at once, each with the path of its
//! field in the request body, so a form can show each beside its field.

use serde::Serialize;

/// One rejected input field: `field` is its path in the request body (`name`,
/// `config.vad.threshold`), `message` says what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `field: message; field: message`, for the error's one-line `message`.
    pub fn summary(errors: &[FieldError]) -> String {
        let parts: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        parts.join("; ")
    }
}
