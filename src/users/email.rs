//! E-mail addresses as used for sign-in and reports: trimmed, lower-cased, plausibly deliverable.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a valid e-mail address")]
pub struct InvalidEmail(pub String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = InvalidEmail;

    /// Deliberately permissive on the local part (RFC 5322 allows far more than people expect);
    /// strict on what breaks delivery: one `@`, a dotted domain, no spaces, sane length.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let email = s.trim().to_lowercase();
        let bad = || InvalidEmail(s.trim().to_owned());
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(bad());
        }
        Ok(Self(email))
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        let e: EmailAddress = "  Ada@Example.COM ".parse().unwrap();
        assert_eq!(e.as_str(), "ada@example.com");
        assert!(
            "first.last+tag@sub.example.co.uk"
                .parse::<EmailAddress>()
                .is_ok()
        );
    }

    #[test]
    fn rejects_undeliverable_shapes() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@-example.com",
            "ada@example..com",
        ] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad}");
        }
    }
}
