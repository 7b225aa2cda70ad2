//! Reading the sources into `figment` layers, and the areas out of them. Every layer is flat,
//! one key per setting; a string that is empty once trimmed counts as unset, because people
//! `export LOQUENT_X=` to clear a variable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{ConfigError, ENV_PREFIX, env_name};

/// One source's settings.
pub(super) struct Layer {
    metadata: Metadata,
    settings: Dict,
}

impl Layer {
    fn new(metadata: Metadata, settings: impl IntoIterator<Item = (String, Value)>) -> Self {
        let settings = settings
            .into_iter()
            .filter_map(|(key, value)| match value {
                Value::String(tag, s) => {
                    let s = s.trim();
                    (!s.is_empty()).then(|| (key, Value::String(tag, s.to_owned())))
                }
                other => Some((key, other)),
            })
            .collect();
        Self { metadata, settings }
    }

    pub(super) fn defaults<const N: usize>(settings: [(&str, String); N]) -> Self {
        Self::new(
            Metadata::named("default"),
            settings.map(|(key, value)| (key.to_owned(), Value::from(value))),
        )
    }

    pub(super) fn keys(&self) -> Vec<String> {
        self.settings.keys().cloned().collect()
    }

    /// This layer without `keys`.
    pub(super) fn without(mut self, keys: &BTreeSet<String>) -> Self {
        self.settings.retain(|key, _| !keys.contains(key));
        self
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.settings.clone()))
    }
}

/// The TOML file: flat keys, each a setting's name without the prefix, in lower case.
pub(super) fn file(path: &Path) -> Result<Layer, ConfigError> {
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
    let mut settings = Vec::with_capacity(table.len());
    for (key, value) in table {
        let value = Value::serialize(value).map_err(|e| parse_error(format!("`{key}`: {e}")))?;
        settings.push((key, value));
    }
    Ok(Layer::new(
        Metadata::named("config file").source(path),
        settings,
    ))
}

/// `LOQUENT_*` variables, always strings. Other `LOQUENT_*` variables (`LOQUENT_CONFIG`,
/// `LOQUENT_LOG`, `LOQUENT_USER_PASSWORD`) are read elsewhere and ignored here.
pub(super) fn environment(env: &BTreeMap<String, String>) -> Layer {
    Layer::new(
        Metadata::named("environment"),
        env.iter()
            .filter_map(|(name, value)| Some((setting_key(name)?, Value::from(value.clone())))),
    )
}

/// The settings an empty `LOQUENT_*` variable clears: they take their defaults even when the
/// file sets them, which is what `export LOQUENT_X=` means.
pub(super) fn cleared_by(env: &BTreeMap<String, String>) -> BTreeSet<String> {
    env.iter()
        .filter(|(_, value)| value.trim().is_empty())
        .filter_map(|(name, _)| setting_key(name))
        .collect()
}

/// `LOQUENT_LISTEN` → `listen`; names with lower-case letters are not ours.
fn setting_key(name: &str) -> Option<String> {
    let key = name.strip_prefix(ENV_PREFIX)?;
    (!key.bytes().any(|b| b.is_ascii_lowercase())).then(|| key.to_ascii_lowercase())
}

/// Reads the areas from the layered sources, remembering which keys they know.
pub(super) struct Reader {
    figment: Figment,
    known: BTreeSet<&'static str>,
}

impl Reader {
    pub(super) fn new(figment: Figment) -> Self {
        Self {
            figment,
            known: BTreeSet::new(),
        }
    }

    /// One area's settings. Its fields' names are keys at the top level, beside every other
    /// area's, so each area ignores the keys it does not know.
    pub(super) fn section<T: for<'de> Deserialize<'de>>(&mut self) -> Result<T, ConfigError> {
        self.known.extend(field_names::<T>());
        self.figment.extract().map_err(setting_error)
    }

    /// A key in the file that no area read is a typo, or a setting from another version.
    pub(super) fn reject_unknown(
        &self,
        file: Option<&Path>,
        file_keys: &[String],
    ) -> Result<(), ConfigError> {
        match (
            file,
            file_keys.iter().find(|k| !self.known.contains(k.as_str())),
        ) {
            (Some(path), Some(key)) => Err(ConfigError::Parse {
                path: path.to_owned(),
                message: format!(
                    "unknown key `{key}` (keys are the LOQUENT_* variable names without the \
                     prefix, in lower case)"
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Names the setting as its environment variable, whichever source set it. Serde's type errors
/// would quote the value, which may be a secret: they say only what was expected.
fn setting_error(error: figment::Error) -> ConfigError {
    let key = error.path.join("_");
    let mut message = match &error.kind {
        Kind::Message(message) => message.clone(),
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => {
            format!("expected {expected}")
        }
        other => other.to_string(),
    };
    if let Some(Source::File(path)) = error.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        message = format!("{message} (set as `{key}` in {})", path.display());
    }
    ConfigError::Invalid {
        setting: if key.is_empty() {
            "configuration".to_owned()
        } else {
            env_name(&key)
        },
        message,
    }
}

/// The field names a derived `Deserialize` struct asks for. Serde exposes them only to the
/// deserializer, so this one stops at the request and returns them.
fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);

    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names")
        }
    }

    impl std::error::Error for Fields {}

    impl de::Error for Fields {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Self(&[])
        }
    }

    struct Probe;

    impl<'de> Deserializer<'de> for Probe {
        type Error = Fields;

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    match T::deserialize(Probe) {
        Err(Fields(fields)) => fields,
        Ok(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(rename = "sample_a")]
        _a: u32,
        _b: Option<String>,
    }

    #[test]
    fn field_names_are_the_serde_names() {
        assert_eq!(field_names::<Sample>(), ["sample_a", "_b"]);
    }

    #[test]
    fn environment_keeps_only_upper_case_loquent_names() {
        let env = [
            ("LOQUENT_LISTEN", "x"),
            ("LOQUENT_listen", "y"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect();
        assert_eq!(environment(&env).keys(), ["listen"]);
    }
}
