//! Permission strings `Resource:Level:Variant` (e.g. `Twilio:Collection:Create`), granted through
//! roles. Parsed, not just compared, so a typo in a role is an error when the role is saved rather
//! than a permission that silently never matches.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything a permission can be about. Adding a resource here makes it grantable.
pub const RESOURCES: &[&str] = &[
    "Agent", "Analyzer", "Call", "Contact", "Member", "Phone", "Report", "Role", "Settings",
    "Todo", "Twilio",
];

/// Collection-level actions act on the set (list it, add to it, tear it down); instance-level
/// actions on one item.
const COLLECTION_VARIANTS: &[&str] = &["List", "Create", "Delete"];
const INSTANCE_VARIANTS: &[&str] = &["Read", "Update", "Delete"];

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(example = "Call:Collection:List")]
pub struct Permission(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a permission: expected Resource:Level:Variant, e.g. Call:Collection:List")]
pub struct InvalidPermission(pub String);

impl Permission {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every concrete permission, for role editors.
    pub fn catalog() -> Vec<Permission> {
        let mut all = Vec::new();
        for resource in RESOURCES {
            for variant in COLLECTION_VARIANTS {
                all.push(Permission(format!("{resource}:Collection:{variant}")));
            }
            for variant in INSTANCE_VARIANTS {
                all.push(Permission(format!("{resource}:Instance:{variant}")));
            }
        }
        all
    }

    /// Whether holding `self` allows `wanted`. `*` in any segment of a granted permission matches
    /// anything there, so `Twilio:*:*` grants every Twilio action.
    pub fn grants(&self, wanted: &str) -> bool {
        let mut granted = self.0.split(':');
        let mut asked = wanted.split(':');
        loop {
            match (granted.next(), asked.next()) {
                (None, None) => return true,
                (Some(g), Some(a)) if g == "*" || g == a => {}
                _ => return false,
            }
        }
    }
}

impl FromStr for Permission {
    type Err = InvalidPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidPermission(s.to_owned());
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [resource, level, variant] = parts[..] else {
            return Err(bad());
        };
        if resource != "*" && !RESOURCES.contains(&resource) {
            return Err(bad());
        }
        let variants = match level {
            "Collection" => COLLECTION_VARIANTS,
            "Instance" => INSTANCE_VARIANTS,
            "*" => &["*"][..],
            _ => return Err(bad()),
        };
        if variant != "*" && !variants.contains(&variant) {
            return Err(bad());
        }
        Ok(Self(format!("{resource}:{level}:{variant}")))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_permissions_and_rejects_typos() {
        assert!("Twilio:Collection:Create".parse::<Permission>().is_ok());
        assert!("Call:Collection:List".parse::<Permission>().is_ok());
        assert!("Twilio:Instance:Update".parse::<Permission>().is_ok());
        assert!("Twilio:*:*".parse::<Permission>().is_ok());
        for bad in [
            "Twilio:Collection:Update",
            "twilio:Collection:Create",
            "Call:List",
            "Call:Collection:List:Extra",
            "Calls:Collection:List",
            "",
        ] {
            assert!(bad.parse::<Permission>().is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_grant_within_their_segment_only() {
        let all_twilio: Permission = "Twilio:*:*".parse().unwrap();
        assert!(all_twilio.grants("Twilio:Instance:Update"));
        assert!(!all_twilio.grants("Phone:Instance:Update"));
        let exact: Permission = "Call:Collection:List".parse().unwrap();
        assert!(exact.grants("Call:Collection:List"));
        assert!(!exact.grants("Call:Collection:Create"));
        assert!(!exact.grants("Call:Collection"));
    }

    #[test]
    fn catalog_entries_all_parse() {
        for p in Permission::catalog() {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
        }
    }
}
