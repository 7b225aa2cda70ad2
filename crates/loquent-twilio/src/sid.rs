//! Validated Twilio identifiers ("SIDs").
//!
//! Parse, don't validate: once a value of one of these types exists it is known to be
//! well formed, so handlers and queries never re-check the shape of an id.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string was rejected as a Twilio id or phone number.
///
/// The messages never echo the rejected input: ids arrive from untrusted requests and
/// this text ends up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error("{kind} must start with {prefix:?}")]
    WrongPrefix {
        kind: &'static str,
        prefix: &'static str,
    },
    #[error("{kind} must be {expected} characters long, got {found}")]
    WrongLength {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{kind} must be its prefix followed by 32 hexadecimal digits")]
    NotHex { kind: &'static str },
    #[error("phone number must be in E.164 form and start with '+' (e.g. +14155550100)")]
    MissingPlus,
    #[error("phone number contains an unexpected character {0:?}")]
    InvalidPhoneChar(char),
    #[error("phone number must have 2 to 15 digits after '+', got {0}")]
    PhoneLength(usize),
    #[error("phone number country code cannot start with 0")]
    LeadingZero,
}

/// Number of hex digits after the two-letter prefix of every Twilio SID.
const SID_HEX_LEN: usize = 32;

fn check_sid(s: &str, kind: &'static str, prefix: &'static str) -> Result<(), ParseIdError> {
    if !s.starts_with(prefix) {
        return Err(ParseIdError::WrongPrefix { kind, prefix });
    }
    let expected = prefix.len() + SID_HEX_LEN;
    if s.len() != expected {
        return Err(ParseIdError::WrongLength {
            kind,
            expected,
            found: s.len(),
        });
    }
    // Twilio emits lowercase hex, but its own API pattern (`^CA[0-9a-fA-F]{32}$`) accepts
    // both cases, so we do too and keep the value exactly as given.
    if !s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseIdError::NotHex { kind });
    }
    Ok(())
}

/// Serde visitor shared by every string newtype here, so deserializing validates and
/// borrowed input (`&str`) is not copied twice.
pub(crate) struct ParseVisitor<T>(
    pub(crate) std::marker::PhantomData<T>,
    pub(crate) &'static str,
);

impl<T> Visitor<'_> for ParseVisitor<T>
where
    T: FromStr<Err = ParseIdError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefix every SID of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// The SID as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consume the SID, returning the underlying string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                check_sid(s, $kind, $prefix)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseIdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                check_sid(&s, $kind, $prefix)?;
                Ok(Self(s))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ParseIdError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(sid: $name) -> String {
                sid.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(ParseVisitor(
                    std::marker::PhantomData,
                    concat!("a Twilio ", $kind, " (", $prefix, " + 32 hex digits)"),
                ))
            }
        }
    };
}

sid_type!(
    /// Account SID (`AC…`): identifies a Twilio account or subaccount.
    ///
    /// Not secret by itself, but prefer [`AccountSid::masked`] in logs and UI so a
    /// screenshot does not hand out half of a credential pair.
    AccountSid,
    "AC",
    "account SID"
);
sid_type!(
    /// Call SID (`CA…`): identifies one call leg.
    CallSid,
    "CA",
    "call SID"
);
sid_type!(
    /// Recording SID (`RE…`).
    RecordingSid,
    "RE",
    "recording SID"
);
sid_type!(
    /// Incoming phone number SID (`PN…`).
    PhoneNumberSid,
    "PN",
    "phone number SID"
);
sid_type!(
    /// Media stream SID (`MZ…`), as sent in Media Streams `start` and used by outbound frames.
    StreamSid,
    "MZ",
    "stream SID"
);

sid_type!(
    /// API key SID (`SK…`): the username half of an API key credential.
    ApiKeySid,
    "SK",
    "API key SID"
);
sid_type!(
    /// Event Streams sink SID (`DG…`).
    SinkSid,
    "DG",
    "sink SID"
);
sid_type!(
    /// Event Streams subscription SID (`DF…`).
    SubscriptionSid,
    "DF",
    "subscription SID"
);

impl AccountSid {
    /// The SID with everything but the prefix and the last four characters hidden,
    /// e.g. `AC••••••••1234`: enough to tell accounts apart on a settings page.
    pub fn masked(&self) -> String {
        // Valid SIDs are ASCII, so byte slicing is safe here.
        let tail = &self.0[self.0.len() - 4..];
        format!("{}••••••••{}", Self::PREFIX, tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const CA: &str = "CA0123456789abcdef0123456789ABCDEF";

    #[test]
    fn sids_accept_prefix_and_32_hex() {
        assert_eq!(AC.parse::<AccountSid>().unwrap().as_str(), AC);
        assert_eq!(CA.parse::<CallSid>().unwrap().to_string(), CA);
        "RE0123456789abcdef0123456789abcdef"
            .parse::<RecordingSid>()
            .unwrap();
        "PN0123456789abcdef0123456789abcdef"
            .parse::<PhoneNumberSid>()
            .unwrap();
        "MZ0123456789abcdef0123456789abcdef"
            .parse::<StreamSid>()
            .unwrap();
        "SK0123456789abcdef0123456789abcdef"
            .parse::<ApiKeySid>()
            .unwrap();
        "DG0123456789abcdef0123456789abcdef"
            .parse::<SinkSid>()
            .unwrap();
        "DF0123456789abcdef0123456789abcdef"
            .parse::<SubscriptionSid>()
            .unwrap();
    }

    #[test]
    fn sids_reject_wrong_prefix_length_and_digits() {
        assert_eq!(
            CA.parse::<AccountSid>(),
            Err(ParseIdError::WrongPrefix {
                kind: "account SID",
                prefix: "AC"
            })
        );
        assert_eq!(
            "CA123".parse::<CallSid>(),
            Err(ParseIdError::WrongLength {
                kind: "call SID",
                expected: 34,
                found: 5
            })
        );
        assert_eq!(
            "CAzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".parse::<CallSid>(),
            Err(ParseIdError::NotHex { kind: "call SID" })
        );
        // Lowercase prefix is a different id in Twilio's eyes.
        assert!(
            "ca0123456789abcdef0123456789abcdef"
                .parse::<CallSid>()
                .is_err()
        );
        assert!("".parse::<RecordingSid>().is_err());
        // Multi-byte characters must not panic the length/hex checks.
        assert!(
            "CAé123456789abcdef0123456789abcde"
                .parse::<CallSid>()
                .is_err()
        );
    }

    #[test]
    fn sid_serde_validates() {
        let sid: CallSid = serde_json::from_str(&format!("\"{CA}\"")).unwrap();
        assert_eq!(serde_json::to_string(&sid).unwrap(), format!("\"{CA}\""));
        let err = serde_json::from_str::<CallSid>(&format!("\"{AC}\"")).unwrap_err();
        assert!(err.to_string().contains("must start with \"CA\""), "{err}");
        assert!(serde_json::from_str::<CallSid>("42").is_err());
    }

    #[test]
    fn account_sid_masks_all_but_last_four() {
        let sid: AccountSid = "AC0123456789abcdef0123456789ab1234".parse().unwrap();
        assert_eq!(sid.masked(), "AC••••••••1234");
    }
}
