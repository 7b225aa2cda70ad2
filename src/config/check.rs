//! The check of each setting's value, as the `deserialize_with` of its field. Values arrive as
//! strings from the environment and as strings, numbers or booleans from the file; a message here
//! is shown after the setting's name, and never contains a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Error, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use url::Url;

use super::{LogFormat, SandboxMode, Secret, StorageLocation};

pub(super) fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    String::deserialize(d)?
        .parse()
        .map_err(|_| D::Error::custom("expected an address like 127.0.0.1:8080"))
}

/// `10.0.0.1, 192.168.0.0/16, ::1`: addresses (one host each) and networks.
pub(super) fn ip_networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    String::deserialize(d)?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    D::Error::custom(format!(
                        "`{s}` is not an address or network (like 10.0.0.1 or 10.0.0.0/8)"
                    ))
                })
        })
        .collect()
}

pub(super) fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    parse_http_url(&String::deserialize(d)?).map_err(D::Error::custom)
}

/// A URL without path or query: webhook URLs are built by appending our paths to it.
pub(super) fn origin<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let url = http_url(d)?;
    if url.query().is_some() || url.path() != "/" {
        return Err(D::Error::custom(
            "must be a bare origin like https://loquent.example.com (no path or query)",
        ));
    }
    Ok(url)
}

/// The URL itself may hold a password, so the message leaves it out.
pub(super) fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<Secret<String>, D::Error> {
    let url = String::deserialize(d)?;
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(Secret::new(url))
    } else {
        Err(D::Error::custom(
            "expected sqlite://PATH or postgres://USER@HOST/DB",
        ))
    }
}

pub(super) fn storage<'de, D: Deserializer<'de>>(d: D) -> Result<StorageLocation, D::Error> {
    let value = String::deserialize(d)?;
    if let Some(rest) = value.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(D::Error::custom(
                "s3:// URL needs a bucket: s3://bucket/prefix",
            ));
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
        return Err(D::Error::custom(
            "expected a directory path, file://PATH or s3://bucket/prefix",
        ));
    }
    Ok(StorageLocation::Local(PathBuf::from(value)))
}

pub(super) fn secret_key<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Secret<String>>, D::Error> {
    let key = String::deserialize(d)?;
    crate::secrets::SecretBox::from_base64(&key).map_err(D::Error::custom)?;
    Ok(Some(Secret::new(key)))
}

pub(super) fn account_sid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let sid = String::deserialize(d)?;
    if sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(sid))
    } else {
        Err(D::Error::custom(
            "expected AC followed by 32 hexadecimal characters",
        ))
    }
}

/// The URL holds the mail password, so the message leaves it out.
pub(super) fn smtp_url<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Secret<String>>, D::Error> {
    let value = String::deserialize(d)?;
    let url = Url::parse(&value).map_err(D::Error::custom)?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(D::Error::custom("expected smtp://HOST:PORT or smtps://"));
    }
    Ok(Some(Secret::new(value)))
}

pub(super) fn mail_from<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<lettre::message::Mailbox>, D::Error> {
    String::deserialize(d)?
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| D::Error::custom("expected an address such as `Loquent <calls@example.com>`"))
}

pub(super) fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<LogFormat, D::Error> {
    match String::deserialize(d)?.as_str() {
        "human" | "text" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        _ => Err(D::Error::custom("expected `human` or `json`")),
    }
}

pub(super) fn sandbox_mode<'de, D: Deserializer<'de>>(d: D) -> Result<SandboxMode, D::Error> {
    match String::deserialize(d)?.as_str() {
        "auto" => Ok(SandboxMode::Auto),
        "on" | "true" | "1" => Ok(SandboxMode::On),
        "off" | "false" | "0" => Ok(SandboxMode::Off),
        _ => Err(D::Error::custom("expected `auto`, `on` or `off`")),
    }
}

pub(super) fn session_ttl_hours<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let hours = whole_number(d)?;
    if hours == 0 {
        return Err(D::Error::custom("must be at least 1"));
    }
    u32::try_from(hours).map_err(|_| D::Error::custom("too large"))
}

pub(super) fn max_body_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let bytes = whole_number(d)?;
    if bytes < 1024 {
        return Err(D::Error::custom("must be at least 1024"));
    }
    usize::try_from(bytes).map_err(|_| D::Error::custom("too large"))
}

/// Twilio sends 20 ms frames: a batch is a whole number of them, and past 200 ms the wait would
/// be heard.
pub(super) fn uplink_batch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let ms = whole_number(d)?;
    if !(20..=200).contains(&ms) || !ms.is_multiple_of(20) {
        return Err(D::Error::custom(
            "must be a multiple of 20 from 20 to 200 (Twilio sends 20 ms frames)",
        ));
    }
    Ok(Some(Duration::from_millis(ms)))
}

/// Calls per core: a whole number up to 100,000.
pub(super) fn calls_per_core<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = whole_number(d)?;
    if n > 100_000 {
        return Err(D::Error::custom("must be a whole number from 0 to 100000"));
    }
    usize::try_from(n).map_err(D::Error::custom)
}

/// How many at a time: a whole number from 1 to 100.
pub(super) fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = whole_number(d)?;
    if !(1..=100).contains(&n) {
        return Err(D::Error::custom("must be a whole number from 1 to 100"));
    }
    usize::try_from(n).map_err(D::Error::custom)
}

/// A job lease in seconds: from 1 second to a day.
pub(super) fn lease_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = whole_number(d)?;
    if !(1..=86_400).contains(&n) {
        return Err(D::Error::custom(
            "must be a whole number of seconds from 1 to 86400",
        ));
    }
    Ok(n)
}

/// An `http(s)://` URL.
pub(super) fn optional_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    http_url(d).map(Some)
}

/// `true`/`false` in the file; `true`, `1`, `yes` or `false`, `0`, `no` as text.
pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("`true` or `false`")
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<bool, E> {
            match v.trim() {
                "false" | "0" | "no" => Ok(false),
                "true" | "1" | "yes" => Ok(true),
                _ => Err(E::custom("expected `true` or `false`")),
            }
        }
    }
    d.deserialize_any(Flag)
}

/// A number from the file, or the text of one from either source.
fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct WholeNumber;
    impl Visitor<'_> for WholeNumber {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::custom(format!("expected a whole number, got `{v}`")))
        }
    }
    d.deserialize_any(WholeNumber)
}

fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("{e}: `{value}`"))?;
    if !matches!(url.scheme(), "http" | "https" | "ws" | "wss") || url.host().is_none() {
        return Err(format!("expected an http(s) URL, got `{value}`"));
    }
    Ok(url)
}

/// A default written in this module's callers; a typo in it fails every config test.
pub(super) fn constant_url(value: &'static str) -> Url {
    parse_http_url(value).expect("built-in default URLs are valid")
}
