//! Typed configuration, loaded once at start: defaults, then an optional `loquent.toml`, then
//! `LOQUENT_*` environment variables, layered with `figment`. Every value is checked here so a bad
//! setting stops the server at start with a message naming it, instead of failing on the first
//! request that uses it.
//!
//! Each area's settings are one struct below, and each field is one setting: its serde name is
//! the TOML key and `LOQUENT_` + that name in upper case is the environment variable, its
//! attributes hold the default and the check. The file stays flat (`listen = ...`,
//! `twilio_api_base = ...`); the areas group the settings for the code only.

mod check;
mod read;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use serde::{Deserialize, Deserializer};
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Whether the built-in sandbox (emulated Twilio, OpenAI and Gemini) is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SandboxMode {
    /// On only while the server has neither platform Twilio credentials nor any AI provider
    /// key: a fresh install, which no production server is.
    #[default]
    Auto,
    On,
    Off,
}

/// The built-in sandbox.
#[derive(Debug, Clone, Deserialize)]
pub struct Sandbox {
    #[serde(rename = "sandbox", default, deserialize_with = "check::sandbox_mode")]
    pub mode: SandboxMode,
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
    pub server: Server,
    /// Where the SQLite file, local storage and the generated secret key live by default.
    pub data_dir: PathBuf,
    pub database: Database,
    pub storage: StorageLocation,
    /// Base64 of 32 bytes; `None` means "use or create `secret.key` in the data dir".
    pub secret_key: Option<Secret<String>>,
    pub twilio: Twilio,
    pub ai: Ai,
    pub mail: Mail,
    pub calls: Calls,
    pub jobs: Jobs,
    pub s3: S3,
    pub sandbox: Sandbox,
}

/// How the server is reached and what it accepts.
#[derive(Debug, Clone, Deserialize)]
pub struct Server {
    #[serde(
        default = "Server::default_listen",
        deserialize_with = "check::socket_addr"
    )]
    pub listen: SocketAddr,
    /// The base URL Twilio and browsers reach us at; webhook URLs and signatures use it.
    /// Unset, it is `http://` + `listen` (see `derived_defaults`).
    #[serde(deserialize_with = "check::origin")]
    pub public_url: Url,
    /// Largest accepted request body for the JSON API and forms.
    #[serde(
        default = "Server::default_max_body_bytes",
        deserialize_with = "check::max_body_bytes"
    )]
    pub max_body_bytes: usize,
    /// How long a sign-in lasts.
    #[serde(
        default = "Server::default_session_ttl_hours",
        deserialize_with = "check::session_ttl_hours"
    )]
    pub session_ttl_hours: u32,
    #[serde(default, deserialize_with = "check::log_format")]
    pub log_format: LogFormat,
    /// Reverse proxies in front of the server (addresses or networks, comma-separated): a
    /// request from one of them is taken to come from the address it names last in
    /// `X-Forwarded-For` that is not itself a trusted proxy. Unset, the connection's address is
    /// the client's and `X-Forwarded-For` is ignored (anyone can send it).
    #[serde(default, deserialize_with = "check::ip_networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Server {
    fn default_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }

    fn default_max_body_bytes() -> usize {
        1024 * 1024
    }

    fn default_session_ttl_hours() -> u32 {
        24 * 30
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    /// `sqlite:...` or `postgres://...`; unset, a SQLite file in the data dir (see
    /// `derived_defaults`).
    #[serde(rename = "database_url", deserialize_with = "check::database_url")]
    pub url: Secret<String>,
}

impl Database {
    /// The kind follows from the URL's scheme, which [`check::database_url`] limited to these.
    pub fn kind(&self) -> DatabaseKind {
        if self.url.expose().starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else {
            DatabaseKind::Postgres
        }
    }
}

/// The settings that belong to no area, read together and spread over [`Config`].
#[derive(Deserialize)]
struct Data {
    #[serde(default = "Data::default_dir")]
    data_dir: PathBuf,
    /// Unset, `storage` under the data dir (see `derived_defaults`).
    #[serde(rename = "storage_url", deserialize_with = "check::storage")]
    storage: StorageLocation,
    #[serde(default, deserialize_with = "check::secret_key")]
    secret_key: Option<Secret<String>>,
}

impl Data {
    fn default_dir() -> PathBuf {
        PathBuf::from("./data")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Twilio {
    #[serde(
        rename = "twilio_api_base",
        default = "Twilio::default_api_base",
        deserialize_with = "check::http_url"
    )]
    pub api_base: Url,
    #[serde(
        rename = "twilio_events_base",
        default = "Twilio::default_events_base",
        deserialize_with = "check::http_url"
    )]
    pub events_base: Url,
    /// Platform Twilio credentials, used to create subaccounts for organizations without BYO.
    #[serde(
        rename = "twilio_account_sid",
        default,
        deserialize_with = "check::account_sid"
    )]
    pub account_sid: Option<String>,
    #[serde(rename = "twilio_auth_token", default)]
    pub auth_token: Option<Secret<String>>,
}

impl Twilio {
    fn default_api_base() -> Url {
        check::constant_url("https://api.twilio.com")
    }

    fn default_events_base() -> Url {
        check::constant_url("https://events.twilio.com")
    }

    /// A subaccount needs both halves of the platform credentials.
    fn check_pair(&self) -> Result<(), ConfigError> {
        if self.account_sid.is_some() != self.auth_token.is_some() {
            return Err(invalid(
                "twilio_auth_token",
                "LOQUENT_TWILIO_ACCOUNT_SID and LOQUENT_TWILIO_AUTH_TOKEN go together",
            ));
        }
        Ok(())
    }
}

/// The realtime voice providers agents talk through.
#[derive(Debug, Clone, Deserialize)]
pub struct Ai {
    #[serde(
        default = "Ai::default_openai_base_url",
        deserialize_with = "check::http_url"
    )]
    pub openai_base_url: Url,
    #[serde(default)]
    pub openai_api_key: Option<Secret<String>>,
    #[serde(
        default = "Ai::default_gemini_base_url",
        deserialize_with = "check::http_url"
    )]
    pub gemini_base_url: Url,
    #[serde(default)]
    pub gemini_api_key: Option<Secret<String>>,
    /// The OpenAI model that turns recordings into transcripts. `whisper-1` by default: it is the
    /// one whose answer (`verbose_json`) times each sentence, so the two channels interleave
    /// into a conversation; `gpt-4o-transcribe` answers a channel as one untimed block.
    #[serde(default = "Ai::default_transcription_model")]
    pub transcription_model: String,
    /// The OpenAI chat model that runs analyzers and extracts to-dos and contact details.
    #[serde(default = "Ai::default_analysis_model")]
    pub analysis_model: String,
}

impl Ai {
    fn default_openai_base_url() -> Url {
        check::constant_url("https://api.openai.com/v1")
    }

    fn default_transcription_model() -> String {
        "whisper-1".to_owned()
    }

    fn default_analysis_model() -> String {
        "gpt-4o-mini".to_owned()
    }

    fn default_gemini_base_url() -> Url {
        check::constant_url("https://generativelanguage.googleapis.com")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    /// `smtp://` or `smtps://`, credentials included; unset, no call reports or password-reset
    /// links are mailed.
    #[serde(default, deserialize_with = "check::smtp_url")]
    pub smtp_url: Option<Secret<String>>,
    /// The From of the call reports, `Name <address>` or a bare address; unset, `Loquent
    /// <loquent@HOST>` with the public URL's host name (`localhost` for an IP address).
    #[serde(default, deserialize_with = "check::mail_from")]
    pub mail_from: Option<lettre::message::Mailbox>,
}

/// How live calls behave.
#[derive(Debug, Clone, Deserialize)]
pub struct Calls {
    /// Caller audio per message to the agent's provider; `None` is each provider's default
    /// (OpenAI 40 ms, Gemini 60 ms). Longer batches cost less CPU per call and hold a batch's
    /// first frame back longer.
    #[serde(
        rename = "uplink_batch_ms",
        default,
        deserialize_with = "check::uplink_batch"
    )]
    pub uplink_batch: Option<Duration>,
    /// Live calls per core up to which the server counts as lightly loaded: caller audio then
    /// goes to the provider frame by frame, as it comes (the least added latency); above it, in
    /// batches of `uplink_batch_ms` (the least CPU per call). `0`: always in batches.
    #[serde(
        default = "Calls::default_light_load_calls_per_core",
        deserialize_with = "check::calls_per_core"
    )]
    pub light_load_calls_per_core: usize,
    /// Whether URLs that users configure (caller lookups) may reach loopback, private and
    /// link-local addresses. Off: on a shared server they would let a user probe its network.
    #[serde(default, deserialize_with = "check::flag")]
    pub allow_private_lookups: bool,
}

impl Calls {
    fn default_light_load_calls_per_core() -> usize {
        100
    }
}

/// The durable job runner.
#[derive(Debug, Clone, Deserialize)]
pub struct Jobs {
    /// Whether `serve` runs jobs too. Off, only `loquent worker` processes run them.
    #[serde(default = "Jobs::default_run_jobs", deserialize_with = "check::flag")]
    pub run_jobs: bool,
    /// Recordings downloaded and transcribed at a time, per process.
    #[serde(
        default = "Jobs::default_concurrency",
        deserialize_with = "check::concurrency"
    )]
    pub recording_concurrency: usize,
    /// Post-call steps (analyzers, to-dos, contact details, reports) run at a time, per kind and
    /// process.
    #[serde(
        default = "Jobs::default_concurrency",
        deserialize_with = "check::concurrency"
    )]
    pub post_call_concurrency: usize,
    /// How long a claimed job is its worker's, in seconds. A job whose worker died runs again
    /// once this has passed; leases are never renewed, so it must exceed the longest run
    /// (a recording's download and transcription).
    #[serde(
        default = "Jobs::default_lease_secs",
        deserialize_with = "check::lease_secs"
    )]
    pub job_lease_secs: u64,
}

impl Jobs {
    fn default_lease_secs() -> u64 {
        15 * 60
    }

    /// [`Self::job_lease_secs`] as a duration.
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.job_lease_secs)
    }

    fn default_run_jobs() -> bool {
        true
    }

    fn default_concurrency() -> usize {
        5
    }
}

/// Where an `s3://` storage URL is served and how to sign in to it. Unset, AWS's regional
/// endpoint; the keys may also be left to the instance's role.
#[derive(Debug, Clone, Deserialize)]
pub struct S3 {
    /// An S3-compatible endpoint (MinIO, R2, ...), e.g. `http://127.0.0.1:9000`.
    #[serde(default, deserialize_with = "check::optional_http_url")]
    pub s3_endpoint: Option<Url>,
    #[serde(default = "S3::default_region")]
    pub s3_region: String,
    #[serde(default)]
    pub s3_access_key_id: Option<String>,
    #[serde(default)]
    pub s3_secret_access_key: Option<Secret<String>>,
}

impl S3 {
    fn default_region() -> String {
        "us-east-1".to_owned()
    }
}

/// Every setting's environment variable is this and its key in upper case.
const ENV_PREFIX: &str = "LOQUENT_";

fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: env_name(key),
        message: message.into(),
    }
}

impl Config {
    /// Loads from the process environment and `loquent.toml` (or the file `LOQUENT_CONFIG` names).
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the process environment"
    )]
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
        let mut sources = Figment::new();
        let mut file_keys = Vec::new();
        if let Some(path) = file {
            let layer = read::file(path)?;
            file_keys = layer.keys();
            sources = sources.merge(layer.without(&read::cleared_by(env)));
        }
        let sources = sources.merge(read::environment(env));
        let defaults = derived_defaults(&sources);
        let mut reader = read::Reader::new(sources.join(defaults));

        let server: Server = reader.section()?;
        let database: Database = reader.section()?;
        let Data {
            data_dir,
            storage,
            secret_key,
        } = reader.section()?;
        let twilio: Twilio = reader.section()?;
        let ai: Ai = reader.section()?;
        let mail: Mail = reader.section()?;
        let calls: Calls = reader.section()?;
        let jobs: Jobs = reader.section()?;
        let s3: S3 = reader.section()?;
        let sandbox: Sandbox = reader.section()?;
        // After every section, so that all keys are known; before the checks across settings,
        // so that a misspelt key is reported as such rather than as the setting it left unset.
        reader.reject_unknown(file, &file_keys)?;
        twilio.check_pair()?;

        Ok(Self {
            server,
            data_dir,
            database,
            storage,
            secret_key,
            twilio,
            ai,
            mail,
            calls,
            jobs,
            s3,
            sandbox,
        })
    }

    /// Whether this server serves the built-in sandbox (see [`SandboxMode`]).
    pub fn sandbox_on(&self) -> bool {
        match self.sandbox.mode {
            SandboxMode::On => true,
            SandboxMode::Off => false,
            SandboxMode::Auto => {
                self.twilio.account_sid.is_none()
                    && self.ai.openai_api_key.is_none()
                    && self.ai.gemini_api_key.is_none()
            }
        }
    }

    /// Session cookies get `Secure` only when browsers reach us over TLS; otherwise a local
    /// `http://127.0.0.1` install could never sign in.
    pub fn cookies_secure(&self) -> bool {
        self.server.public_url.scheme() == "https"
    }
}

/// The absolute URL of one of our paths (with its query, if any) under `public_url`, as Twilio,
/// browsers and e-mails must see it; Twilio signs requests against exactly this string.
pub fn public_url_of(public_url: &Url, path_and_query: &str) -> String {
    let base = public_url.as_str().trim_end_matches('/');
    format!("{base}{path_and_query}")
}

/// Defaults that follow from other settings: `public_url` from `listen`, the database and the
/// storage from `data_dir`. They sit under both sources, so a value written in either wins; when
/// the setting they follow is invalid they fall back to its default, and its own check reports it.
fn derived_defaults(sources: &Figment) -> read::Layer {
    let listen = sources
        .extract_inner::<String>("listen")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(Server::default_listen);
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    let data_dir = sources
        .extract_inner::<PathBuf>("data_dir")
        .unwrap_or_else(|_| Data::default_dir());
    read::Layer::defaults([
        ("public_url", format!("http://{host}:{}/", listen.port())),
        (
            "database_url",
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("loquent.db").display()
            ),
        ),
        (
            "storage_url",
            format!("file://{}", data_dir.join("storage").display()),
        ),
    ])
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
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.database.kind(), DatabaseKind::Sqlite);
        assert!(config.database.url.expose().contains("data/loquent.db"));
        assert_eq!(
            config.storage,
            StorageLocation::Local(PathBuf::from("./data/storage"))
        );
        assert!(!config.cookies_secure());
        assert_eq!(config.calls.uplink_batch, None);
        assert_eq!(config.calls.light_load_calls_per_core, 100);
        let config =
            Config::from_sources(None, &env(&[("LOQUENT_UPLINK_BATCH_MS", "60")])).unwrap();
        assert_eq!(
            config.calls.uplink_batch,
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
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.server.public_url.as_str(), "https://env.example/");
        assert!(config.cookies_secure());
        assert_eq!(
            public_url_of(&config.server.public_url, "/twilio/voice"),
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
        assert_eq!(config.database.kind(), DatabaseKind::Postgres);
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

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("loquent.toml");
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    #[test]
    fn file_values_may_be_typed_or_text() {
        for text in [
            "uplink_batch_ms = 60\nallow_private_lookups = true\nsession_ttl_hours = 48\nmax_body_bytes = 2048\n",
            "uplink_batch_ms = \"60\"\nallow_private_lookups = \"yes\"\nsession_ttl_hours = \" 48 \"\nmax_body_bytes = \"2048\"\n",
        ] {
            let (_dir, file) = file_with(text);
            let config = Config::from_sources(Some(&file), &env(&[])).unwrap();
            assert_eq!(
                config.calls.uplink_batch,
                Some(std::time::Duration::from_millis(60)),
                "{text}"
            );
            assert!(config.calls.allow_private_lookups, "{text}");
            assert_eq!(config.server.session_ttl_hours, 48, "{text}");
            assert_eq!(config.server.max_body_bytes, 2048, "{text}");
        }
    }

    #[test]
    fn environment_values_stay_text() {
        let config = Config::from_sources(
            None,
            &env(&[
                (
                    "LOQUENT_TWILIO_ACCOUNT_SID",
                    "AC0123456789abcdef0123456789abcdef",
                ),
                ("LOQUENT_TWILIO_AUTH_TOKEN", "12345678901234567890"),
                ("LOQUENT_OPENAI_API_KEY", "true"),
                ("LOQUENT_ALLOW_PRIVATE_LOOKUPS", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config
                .twilio
                .auth_token
                .as_ref()
                .map(|t| t.expose().as_str()),
            Some("12345678901234567890")
        );
        assert_eq!(
            config
                .ai
                .openai_api_key
                .as_ref()
                .map(|k| k.expose().as_str()),
            Some("true")
        );
        assert!(config.calls.allow_private_lookups);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let (_dir, file) = file_with("public_url = \"\"\nlog_format = \" \"\n");
        let config = Config::from_sources(
            Some(&file),
            &env(&[
                ("LOQUENT_LISTEN", ""),
                ("LOQUENT_ALLOW_PRIVATE_LOOKUPS", " "),
                ("LOQUENT_UPLINK_BATCH_MS", ""),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.server.log_format, LogFormat::Human);
        assert!(!config.calls.allow_private_lookups);
        assert_eq!(config.calls.uplink_batch, None);
    }

    #[test]
    fn an_empty_variable_clears_what_the_file_sets() {
        let (_dir, file) = file_with("listen = \"0.0.0.0:9000\"\nsmtp_url = \"smtp://mail:25\"\n");
        let config = Config::from_sources(
            Some(&file),
            &env(&[("LOQUENT_LISTEN", ""), ("LOQUENT_SMTP_URL", " ")]),
        )
        .unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert!(config.mail.smtp_url.is_none());
    }

    #[test]
    fn defaults_follow_listen_and_data_dir() {
        let config = Config::from_sources(
            None,
            &env(&[
                ("LOQUENT_LISTEN", "0.0.0.0:9000"),
                ("LOQUENT_DATA_DIR", "/srv/loquent"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.public_url.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(
            config.database.url.expose(),
            "sqlite:///srv/loquent/loquent.db?mode=rwc"
        );
        assert_eq!(
            config.storage,
            StorageLocation::Local(PathBuf::from("/srv/loquent/storage"))
        );
        let config = Config::from_sources(None, &env(&[("LOQUENT_LISTEN", "[::1]:9000")])).unwrap();
        assert_eq!(config.server.public_url.as_str(), "http://[::1]:9000/");
        // A written value wins over the derived one.
        let config = Config::from_sources(
            None,
            &env(&[
                ("LOQUENT_LISTEN", "0.0.0.0:9000"),
                ("LOQUENT_STORAGE_URL", "/var/blobs"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.storage,
            StorageLocation::Local(PathBuf::from("/var/blobs"))
        );
    }

    #[test]
    fn more_errors_name_the_setting() {
        for (key, value) in [
            ("LOQUENT_MAX_BODY_BYTES", "10"),
            ("LOQUENT_SESSION_TTL_HOURS", "0"),
            ("LOQUENT_ALLOW_PRIVATE_LOOKUPS", "maybe"),
            ("LOQUENT_SMTP_URL", "http://mail.example"),
            ("LOQUENT_TWILIO_API_BASE", "not a url"),
            ("LOQUENT_GEMINI_BASE_URL", "file:///x"),
            ("LOQUENT_PUBLIC_URL", "https://x.example/path"),
            ("LOQUENT_STORAGE_URL", "s3://"),
        ] {
            let err = Config::from_sources(None, &env(&[(key, value)])).unwrap_err();
            assert!(
                err.to_string().starts_with(key),
                "{key}={value} gave `{err}`"
            );
        }
    }

    #[test]
    fn file_errors_name_the_variable_and_the_file() {
        for (text, setting) in [
            ("session_ttl_hours = \"soon\"", "LOQUENT_SESSION_TTL_HOURS"),
            ("listen = 8080", "LOQUENT_LISTEN"),
            (
                "allow_private_lookups = 2.5",
                "LOQUENT_ALLOW_PRIVATE_LOOKUPS",
            ),
            ("uplink_batch_ms = -20", "LOQUENT_UPLINK_BATCH_MS"),
        ] {
            let (_dir, file) = file_with(text);
            let err = Config::from_sources(Some(&file), &env(&[])).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with(setting), "{text} gave `{message}`");
            assert!(
                message.contains(&file.display().to_string()),
                "{text} gave `{message}`"
            );
        }
    }

    #[test]
    fn twilio_credentials_go_together() {
        let err = Config::from_sources(
            None,
            &env(&[(
                "LOQUENT_TWILIO_ACCOUNT_SID",
                "AC0123456789abcdef0123456789abcdef",
            )]),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("LOQUENT_TWILIO_AUTH_TOKEN"),
            "{err}"
        );
        // A misspelt half is reported as the typo, not as the missing half.
        let (_dir, file) = file_with(
            "twilio_acount_sid = \"AC0123456789abcdef0123456789abcdef\"\ntwilio_auth_token = \"t\"\n",
        );
        let err = Config::from_sources(Some(&file), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("twilio_acount_sid"), "{err}");
    }

    #[test]
    fn errors_never_show_secrets() {
        let (_dir, file) = file_with("twilio_auth_token = 987654321\n");
        let err = Config::from_sources(Some(&file), &env(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("LOQUENT_TWILIO_AUTH_TOKEN"),
            "{err}"
        );
        assert!(!err.to_string().contains("987654321"), "{err}");
        for (key, value, secret) in [
            ("LOQUENT_DATABASE_URL", "mysql://u:hunter2@db/x", "hunter2"),
            ("LOQUENT_SMTP_URL", "https://u:hunter2@mail", "hunter2"),
            ("LOQUENT_SECRET_KEY", "hunter2", "hunter2"),
        ] {
            let err = Config::from_sources(None, &env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().starts_with(key), "{err}");
            assert!(!err.to_string().contains(secret), "{key} gave `{err}`");
        }
    }

    #[test]
    fn other_loquent_variables_are_not_settings() {
        Config::from_sources(
            None,
            &env(&[
                ("LOQUENT_CONFIG", "elsewhere.toml"),
                ("LOQUENT_LOG", "debug"),
                ("LOQUENT_USER_PASSWORD", "pw"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn the_report_sender_is_an_address() {
        let config = Config::from_sources(
            None,
            &env(&[("LOQUENT_MAIL_FROM", "Front Desk <desk@example.com>")]),
        )
        .unwrap();
        assert_eq!(
            config.mail.mail_from.unwrap().to_string(),
            "Front Desk <desk@example.com>"
        );
        assert!(
            Config::from_sources(None, &env(&[]))
                .unwrap()
                .mail
                .mail_from
                .is_none()
        );
        let err = Config::from_sources(None, &env(&[("LOQUENT_MAIL_FROM", "nobody")])).unwrap_err();
        assert!(err.to_string().starts_with("LOQUENT_MAIL_FROM"), "{err}");
    }
}
