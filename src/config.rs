//! Typed configuration, loaded once at start: defaults, then an optional `loquent.toml`, then
//! `LOQUENT_*` environment variables. Every value is checked here so a bad setting stops the
//! server at start with a message naming it, instead of failing on the first request that uses it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

/// A value that must never reach a log line or an API response.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The only way to read the value: the call site shows where a secret is used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {message}")]
    Invalid { setting: String, message: String },
    #[error("could not read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Where the database lives. SQLite is the zero-setup default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// Where recordings and other blobs are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The base URL Twilio and browsers reach us at; webhook URLs and signatures use it.
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub database_url: Secret<String>,
    pub database_kind: DatabaseKind,
    pub storage: StorageLocation,
    /// Base64 of 32 bytes; `None` means "use or create `secret.key` in the data dir".
    pub secret_key: Option<Secret<String>>,
    pub twilio_api_base: Url,
    pub twilio_events_base: Url,
    /// Platform Twilio credentials, used to create subaccounts for organizations without BYO.
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret<String>>,
    pub openai_base_url: Url,
    pub openai_api_key: Option<Secret<String>>,
    pub gemini_base_url: Url,
    pub gemini_api_key: Option<Secret<String>>,
    pub smtp_url: Option<Secret<String>>,
    pub log_format: LogFormat,
    /// How long a sign-in lasts.
    pub session_ttl_hours: u32,
    /// Largest accepted request body for the JSON API and forms.
    pub max_body_bytes: usize,
    /// Whether URLs that users configure (caller lookups) may reach loopback, private and
    /// link-local addresses. Off: on a shared server they would let a user probe its network.
    pub allow_private_lookups: bool,
    /// Caller audio per message to the agent's provider; `None` is each provider's default
    /// (OpenAI 40 ms, Gemini 60 ms). Longer batches cost less CPU per call and hold a batch's
    /// first frame back longer.
    pub uplink_batch: Option<std::time::Duration>,
}

/// The settings as written by a person, before checking. Field names are the TOML keys; the
/// environment variable is `LOQUENT_` + the upper-cased name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    storage_url: Option<String>,
    secret_key: Option<String>,
    twilio_api_base: Option<String>,
    twilio_events_base: Option<String>,
    twilio_account_sid: Option<String>,
    twilio_auth_token: Option<String>,
    openai_base_url: Option<String>,
    openai_api_key: Option<String>,
    gemini_base_url: Option<String>,
    gemini_api_key: Option<String>,
    smtp_url: Option<String>,
    log_format: Option<String>,
    session_ttl_hours: Option<String>,
    max_body_bytes: Option<String>,
    allow_private_lookups: Option<String>,
    uplink_batch_ms: Option<String>,
}

const KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "database_url",
    "storage_url",
    "secret_key",
    "twilio_api_base",
    "twilio_events_base",
    "twilio_account_sid",
    "twilio_auth_token",
    "openai_base_url",
    "openai_api_key",
    "gemini_base_url",
    "gemini_api_key",
    "smtp_url",
    "log_format",
    "session_ttl_hours",
    "max_body_bytes",
    "allow_private_lookups",
    "uplink_batch_ms",
];

impl RawConfig {
    fn slot(&mut self, key: &str) -> &mut Option<String> {
        match key {
            "listen" => &mut self.listen,
            "public_url" => &mut self.public_url,
            "data_dir" => &mut self.data_dir,
            "database_url" => &mut self.database_url,
            "storage_url" => &mut self.storage_url,
            "secret_key" => &mut self.secret_key,
            "twilio_api_base" => &mut self.twilio_api_base,
            "twilio_events_base" => &mut self.twilio_events_base,
            "twilio_account_sid" => &mut self.twilio_account_sid,
            "twilio_auth_token" => &mut self.twilio_auth_token,
            "openai_base_url" => &mut self.openai_base_url,
            "openai_api_key" => &mut self.openai_api_key,
            "gemini_base_url" => &mut self.gemini_base_url,
            "gemini_api_key" => &mut self.gemini_api_key,
            "smtp_url" => &mut self.smtp_url,
            "log_format" => &mut self.log_format,
            "session_ttl_hours" => &mut self.session_ttl_hours,
            "max_body_bytes" => &mut self.max_body_bytes,
            "allow_private_lookups" => &mut self.allow_private_lookups,
            "uplink_batch_ms" => &mut self.uplink_batch_ms,
            other => unreachable!("unknown config key {other}"),
        }
    }
}

fn env_name(key: &str) -> String {
    format!("LOQUENT_{}", key.to_ascii_uppercase())
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: env_name(key),
        message: message.into(),
    }
}

impl Config {
    /// Loads from the process environment and `loquent.toml` (or the file `LOQUENT_CONFIG` names).
    pub fn load() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let file = env
            .get("LOQUENT_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("loquent.toml"));
        let explicit = env.contains_key("LOQUENT_CONFIG");
        Self::from_sources(
            Some(file.as_path()).filter(|p| explicit || p.exists()),
            &env,
        )
    }

    /// The pure form of [`Config::load`], for tests and embedding.
    pub fn from_sources(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<RawConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => RawConfig::default(),
        };
        for key in KEYS {
            if let Some(value) = env.get(&env_name(key)) {
                *raw.slot(key) = Some(value.clone());
            }
        }
        Self::from_raw(raw)
    }

    fn from_raw(mut raw: RawConfig) -> Result<Self, ConfigError> {
        // Empty strings from an `export X=` count as unset: people do that to "clear" a variable.
        for key in KEYS {
            let slot = raw.slot(key);
            if slot.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *slot = None;
            }
        }

        let listen: SocketAddr = raw
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .map_err(|_| invalid("listen", "expected an address like 127.0.0.1:8080"))?;

        let public_url = match raw.public_url.as_deref() {
            Some(s) => parse_http_url("public_url", s)?,
            None => {
                let host = if listen.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else if listen.is_ipv6() {
                    format!("[{}]", listen.ip())
                } else {
                    listen.ip().to_string()
                };
                Url::parse(&format!("http://{host}:{}/", listen.port()))
                    .map_err(|e| invalid("listen", e.to_string()))?
            }
        };
        if public_url.query().is_some() || public_url.path() != "/" {
            return Err(invalid(
                "public_url",
                "must be a bare origin like https://loquent.example.com (no path or query)",
            ));
        }

        let data_dir = PathBuf::from(raw.data_dir.as_deref().unwrap_or("./data"));

        let database_url = raw.database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("loquent.db").display()
            )
        });
        let database_kind = if database_url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            DatabaseKind::Postgres
        } else {
            return Err(invalid(
                "database_url",
                "expected sqlite://PATH or postgres://USER@HOST/DB",
            ));
        };

        let storage = match raw.storage_url.as_deref() {
            None => StorageLocation::Local(data_dir.join("storage")),
            Some(s) => parse_storage("storage_url", s)?,
        };

        if let Some(key) = raw.secret_key.as_deref() {
            crate::secrets::SecretBox::from_base64(key).map_err(|e| invalid("secret_key", e))?;
        }

        let url_or = |key: &str, value: Option<&str>, default: &str| {
            parse_http_url(key, value.unwrap_or(default))
        };

        if let Some(sid) = raw.twilio_account_sid.as_deref()
            && !(sid.len() == 34
                && sid.starts_with("AC")
                && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid(
                "twilio_account_sid",
                "expected AC followed by 32 hexadecimal characters",
            ));
        }
        if raw.twilio_account_sid.is_some() != raw.twilio_auth_token.is_some() {
            return Err(invalid(
                "twilio_auth_token",
                "LOQUENT_TWILIO_ACCOUNT_SID and LOQUENT_TWILIO_AUTH_TOKEN go together",
            ));
        }

        let log_format = match raw.log_format.as_deref().unwrap_or("human") {
            "human" | "text" => LogFormat::Human,
            "json" => LogFormat::Json,
            _ => return Err(invalid("log_format", "expected `human` or `json`")),
        };

        let session_ttl_hours = parse_number("session_ttl_hours", raw.session_ttl_hours, 24 * 30)?;
        if session_ttl_hours == 0 {
            return Err(invalid("session_ttl_hours", "must be at least 1"));
        }
        let max_body_bytes = parse_number("max_body_bytes", raw.max_body_bytes, 1024 * 1024)?;
        if max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }

        let allow_private_lookups = match raw.allow_private_lookups.as_deref().map(str::trim) {
            None | Some("" | "false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(_) => {
                return Err(invalid(
                    "allow_private_lookups",
                    "expected `true` or `false`",
                ));
            }
        };

        // Twilio sends 20 ms frames: a batch is a whole number of them, and past 200 ms the
        // wait would be heard.
        let uplink_batch = match raw.uplink_batch_ms {
            None => None,
            Some(ms) => {
                let ms: u64 = parse_number("uplink_batch_ms", Some(ms), 0)?;
                if !(20..=200).contains(&ms) || !ms.is_multiple_of(20) {
                    return Err(invalid(
                        "uplink_batch_ms",
                        "must be a multiple of 20 from 20 to 200 (Twilio sends 20 ms frames)",
                    ));
                }
                Some(std::time::Duration::from_millis(ms))
            }
        };

        if let Some(smtp) = raw.smtp_url.as_deref() {
            let url = Url::parse(smtp).map_err(|e| invalid("smtp_url", e.to_string()))?;
            if !matches!(url.scheme(), "smtp" | "smtps") {
                return Err(invalid("smtp_url", "expected smtp://HOST:PORT or smtps://"));
            }
        }

        Ok(Self {
            listen,
            public_url,
            data_dir,
            database_url: Secret::new(database_url),
            database_kind,
            storage,
            secret_key: raw.secret_key.map(Secret::new),
            twilio_api_base: url_or(
                "twilio_api_base",
                raw.twilio_api_base.as_deref(),
                "https://api.twilio.com",
            )?,
            twilio_events_base: url_or(
                "twilio_events_base",
                raw.twilio_events_base.as_deref(),
                "https://events.twilio.com",
            )?,
            twilio_account_sid: raw.twilio_account_sid,
            twilio_auth_token: raw.twilio_auth_token.map(Secret::new),
            openai_base_url: url_or(
                "openai_base_url",
                raw.openai_base_url.as_deref(),
                "https://api.openai.com/v1",
            )?,
            openai_api_key: raw.openai_api_key.map(Secret::new),
            gemini_base_url: url_or(
                "gemini_base_url",
                raw.gemini_base_url.as_deref(),
                "https://generativelanguage.googleapis.com",
            )?,
            gemini_api_key: raw.gemini_api_key.map(Secret::new),
            smtp_url: raw.smtp_url.map(Secret::new),
            log_format,
            session_ttl_hours,
            max_body_bytes,
            allow_private_lookups,
            uplink_batch,
        })
    }

    /// Session cookies get `Secure` only when browsers reach us over TLS; otherwise a local
    /// `http://127.0.0.1` install could never sign in.
    pub fn cookies_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The absolute URL of one of our paths, as Twilio and e-mails must see it.
    pub fn public_url_for(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

fn parse_http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| invalid(key, format!("{e}: `{value}`")))?;
    if !matches!(url.scheme(), "http" | "https" | "ws" | "wss") || url.host().is_none() {
        return Err(invalid(
            key,
            format!("expected an http(s) URL, got `{value}`"),
        ));
    }
    Ok(url)
}

fn parse_storage(key: &str, value: &str) -> Result<StorageLocation, ConfigError> {
    if let Some(rest) = value.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid(key, "s3:// URL needs a bucket: s3://bucket/prefix"));
        }
        return Ok(StorageLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        });
    }
    if let Some(path) = value.strip_prefix("file://") {
        return Ok(StorageLocation::Local(PathBuf::from(path)));
    }
    if value.contains("://") {
        return Err(invalid(
            key,
            "expected a directory path, file://PATH or s3://bucket/prefix",
        ));
    }
    Ok(StorageLocation::Local(PathBuf::from(value)))
}

fn parse_number<T: std::str::FromStr>(
    key: &str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| invalid(key, format!("expected a whole number, got `{v}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.database_kind, DatabaseKind::Sqlite);
        assert!(config.database_url.expose().contains("data/loquent.db"));
        assert_eq!(
            config.storage,
            StorageLocation::Local(PathBuf::from("./data/storage"))
        );
        assert!(!config.cookies_secure());
        assert_eq!(config.uplink_batch, None);
        let config =
            Config::from_sources(None, &env(&[("LOQUENT_UPLINK_BATCH_MS", "60")])).unwrap();
        assert_eq!(
            config.uplink_batch,
            Some(std::time::Duration::from_millis(60))
        );
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("loquent.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://file.example\"\n",
        )
        .unwrap();
        let config = Config::from_sources(
            Some(&file),
            &env(&[("LOQUENT_PUBLIC_URL", "https://env.example")]),
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.public_url.as_str(), "https://env.example/");
        assert!(config.cookies_secure());
        assert_eq!(
            config.public_url_for("/twilio/voice"),
            "https://env.example/twilio/voice"
        );
    }

    #[test]
    fn errors_name_the_setting() {
        for (key, value) in [
            ("LOQUENT_LISTEN", "not-an-address"),
            ("LOQUENT_PUBLIC_URL", "ftp://x"),
            ("LOQUENT_DATABASE_URL", "mysql://x"),
            ("LOQUENT_STORAGE_URL", "gs://bucket"),
            ("LOQUENT_SECRET_KEY", "short"),
            ("LOQUENT_LOG_FORMAT", "xml"),
            ("LOQUENT_SESSION_TTL_HOURS", "soon"),
            ("LOQUENT_TWILIO_ACCOUNT_SID", "ACnope"),
            ("LOQUENT_UPLINK_BATCH_MS", "50"),
            ("LOQUENT_UPLINK_BATCH_MS", "0"),
            ("LOQUENT_UPLINK_BATCH_MS", "220"),
        ] {
            let err = Config::from_sources(None, &env(&[(key, value)])).unwrap_err();
            assert!(
                err.to_string().starts_with(key),
                "{key}={value} gave `{err}`"
            );
        }
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("loquent.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = Config::from_sources(Some(&file), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = Config::from_sources(
            None,
            &env(&[
                ("LOQUENT_OPENAI_API_KEY", "sk-very-secret"),
                ("LOQUENT_DATABASE_URL", "postgres://u:hunter2@db/loquent"),
            ]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-very-secret"));
        assert!(!debug.contains("hunter2"));
        assert_eq!(config.database_kind, DatabaseKind::Postgres);
    }

    #[test]
    fn s3_storage_is_parsed() {
        let config = Config::from_sources(
            None,
            &env(&[("LOQUENT_STORAGE_URL", "s3://recordings/loquent/prod/")]),
        )
        .unwrap();
        assert_eq!(
            config.storage,
            StorageLocation::S3 {
                bucket: "recordings".into(),
                prefix: "loquent/prod".into()
            }
        );
    }
}
