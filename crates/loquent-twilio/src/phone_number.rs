//! E.164 phone numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sid::{ParseIdError, ParseVisitor};

/// A phone number in E.164 form: `+`, then 2 to 15 digits, the first not `0`.
///
/// Parsing accepts the common human spellings — spaces, dashes, dots and parentheses, as
/// in `+1 (415) 555-0100` — and normalises them away, but only when a leading `+` says
/// which country the number belongs to. Without it (`415-555-0100`, `0044…`) we would have
/// to guess a country, so the input is rejected instead.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(String);

impl E164 {
    /// Longest number E.164 allows, in digits (country code included).
    pub const MAX_DIGITS: usize = 15;
    /// Shortest digit count we accept (a country code plus at least one digit).
    pub const MIN_DIGITS: usize = 2;

    /// The number as `+` followed by digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the leading `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// Consume the number, returning the underlying string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for E164 {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .trim()
            .strip_prefix('+')
            .ok_or(ParseIdError::MissingPlus)?;
        let mut out = String::with_capacity(1 + E164::MAX_DIGITS);
        out.push('+');
        let mut digits = 0usize;
        for c in rest.chars() {
            match c {
                '0'..='9' => {
                    if digits == 0 && c == '0' {
                        return Err(ParseIdError::LeadingZero);
                    }
                    digits += 1;
                    // Keep counting (for the error message) but stop growing the buffer.
                    if digits <= E164::MAX_DIGITS {
                        out.push(c);
                    }
                }
                ' ' | '-' | '.' | '(' | ')' => {}
                other => return Err(ParseIdError::InvalidPhoneChar(other)),
            }
        }
        if !(E164::MIN_DIGITS..=E164::MAX_DIGITS).contains(&digits) {
            return Err(ParseIdError::PhoneLength(digits));
        }
        Ok(Self(out))
    }
}

impl TryFrom<String> for E164 {
    type Error = ParseIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<&str> for E164 {
    type Error = ParseIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.0)
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<E164> for String {
    fn from(n: E164) -> String {
        n.0
    }
}

impl Serialize for E164 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor(
            std::marker::PhantomData,
            "an E.164 phone number such as +14155550100",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_plain_and_normalises_human_input() {
        let cases = [
            ("+14155550100", "+14155550100"),
            ("+1 (415) 555-0100", "+14155550100"),
            ("  +44 20 7946 0958 ", "+442079460958"),
            ("+33.1.23.45.67.89", "+33123456789"),
            ("+12", "+12"),
            ("+123456789012345", "+123456789012345"),
        ];
        for (input, want) in cases {
            let n: E164 = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(n.as_str(), want);
        }
        assert_eq!(
            "+14155550100".parse::<E164>().unwrap().digits(),
            "14155550100"
        );
    }

    #[test]
    fn e164_rejects_ambiguous_or_malformed_input() {
        assert_eq!("4155550100".parse::<E164>(), Err(ParseIdError::MissingPlus));
        assert_eq!(
            "0044 20 7946".parse::<E164>(),
            Err(ParseIdError::MissingPlus)
        );
        assert_eq!("".parse::<E164>(), Err(ParseIdError::MissingPlus));
        assert_eq!("+".parse::<E164>(), Err(ParseIdError::PhoneLength(0)));
        assert_eq!("+1".parse::<E164>(), Err(ParseIdError::PhoneLength(1)));
        assert_eq!(
            "+1234567890123456".parse::<E164>(),
            Err(ParseIdError::PhoneLength(16))
        );
        assert_eq!("+0441234".parse::<E164>(), Err(ParseIdError::LeadingZero));
        assert_eq!(
            "+1 415 CALL NOW".parse::<E164>(),
            Err(ParseIdError::InvalidPhoneChar('C'))
        );
        assert_eq!(
            "+1415+5550100".parse::<E164>(),
            Err(ParseIdError::InvalidPhoneChar('+'))
        );
        assert_eq!(
            "client:alice".parse::<E164>(),
            Err(ParseIdError::MissingPlus)
        );
    }

    #[test]
    fn e164_serde_normalises_and_validates() {
        let n: E164 = serde_json::from_str("\"+1 415-555-0100\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+14155550100\"");
        assert!(serde_json::from_str::<E164>("\"4155550100\"").is_err());
    }

    #[test]
    fn error_messages_are_helpful() {
        assert_eq!(
            "4155550100".parse::<E164>().unwrap_err().to_string(),
            "phone number must be in E.164 form and start with '+' (e.g. +14155550100)"
        );
    }
}
