//! Lenient decoders for fields Twilio sends with varying JSON types.
//!
//! The spec types some numeric-looking fields as numbers (a call recording's `price`,
//! an available number's `latitude`) while the API sends strings (`"-0.00250"`,
//! `"19.720000"`); we accept both.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

/// `"4"`, `4`, `null` → `Some("4")`, `Some("4")`, `None`.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(d)?.map(|v| match v {
        StringOrNumber::String(s) => s,
        StringOrNumber::Number(n) => n.to_string(),
    }))
}

/// `"19.72"`, `19.72`, `null` or `""` → `Some(19.72)`, `Some(19.72)`, `None`, `None`.
pub(crate) fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<StringOrNumber>::deserialize(d)? {
        None => Ok(None),
        Some(StringOrNumber::Number(n)) => Ok(n.as_f64()),
        Some(StringOrNumber::String(s)) if s.trim().is_empty() => Ok(None),
        Some(StringOrNumber::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a number")),
    }
}
