//! WebSocket plumbing shared by the providers: URL schemes, TLS, opening, and reading frames.
//!
//! TLS: we build our own rustls `ClientConfig` instead of letting tokio-tungstenite build one,
//! because its builder uses the process-default crypto provider and panics when two providers
//! (ring and aws-lc-rs, both present in the app's dependency graph) are compiled in and none was
//! installed. We use the installed default when there is one, and aws-lc-rs otherwise. Roots come
//! from the operating system's store (`rustls-native-certs`), like reqwest's platform verifier.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::{Provider, RealtimeError};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Turns a configured base URL into its WebSocket form: `https` → `wss`, `http` → `ws`
/// (`ws`/`wss` pass through), without a trailing slash.
pub(crate) fn websocket_base(provider: Provider, base_url: &str) -> Result<String, RealtimeError> {
    let invalid = |why: &str| {
        Err(RealtimeError::InvalidConfig(format!(
            "{provider} base URL {base_url:?} {why}"
        )))
    };
    let trimmed = base_url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return invalid("has no scheme");
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "wss",
        "http" | "ws" => "ws",
        _ => return invalid("must use http, https, ws or wss"),
    };
    if rest.is_empty() || rest.contains(['?', '#']) {
        return invalid("must be a scheme, a host and an optional path");
    }
    Ok(format!("{scheme}://{rest}"))
}

/// Percent-encodes a query-string value (keys and model ids are nearly always plain already).
pub(crate) fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = rustls::crypto::CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(format!(
                    "no trusted root certificates found in the system store ({} errors)",
                    native.errors.len()
                ));
            }
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup failed: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Opens a WebSocket. `url` may carry secrets (Gemini's `key=`): it never goes into an error.
pub(crate) async fn open(
    provider: Provider,
    url: &str,
    headers: &[(&'static str, String)],
) -> Result<Socket, RealtimeError> {
    let connect_error = |message: String| RealtimeError::Connect { provider, message };
    let mut request = url
        .into_client_request()
        .map_err(|e| connect_error(format!("invalid URL: {}", describe(&e))))?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value)
            .map_err(|_| connect_error(format!("header {name} has an invalid value")))?;
        request.headers_mut().insert(*name, value);
    }
    let connector = if url.starts_with("wss://") {
        Connector::Rustls(tls_config().map_err(connect_error)?)
    } else {
        Connector::Plain
    };
    // Nagle off: audio frames are small and latency-sensitive.
    let (socket, _response) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(socket_config()),
        true,
        Some(connector),
    )
    .await
    .map_err(|e| connect_error(describe(&e)))?;
    Ok(socket)
}

/// tungstenite zero-fills its read buffer (128 KiB by default) before every read, including the
/// reads that find nothing because the bridge polled the session while waiting on the caller:
/// with a thousand calls those buffers do not fit in the cache, and the zeroing was the largest
/// single user-space item of a bridge's profile at 4 KiB. An audio delta of 60 ms is about 850
/// bytes, so one read still takes it whole; larger events are read in several steps.
const READ_BUFFER_BYTES: usize = 1024;

fn socket_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)
}

/// An error message that never echoes the request URL, with the body of an HTTP rejection.
fn describe(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            format!("handshake rejected with HTTP {}: {body}", response.status())
        }
        tungstenite::Error::Url(_) => "invalid WebSocket URL".to_owned(),
        other => other.to_string(),
    }
}

/// One received frame, as the providers care about it.
pub(crate) enum Incoming {
    /// A JSON message (from a Text or a Binary frame), or why it was not one.
    Json(Result<Value, String>),
    /// The peer closed; the reason is `None` for a normal close.
    Closed(Option<String>),
    /// Ping, pong, raw frames.
    Ignore,
}

pub(crate) fn decode(message: Message) -> Incoming {
    match message {
        Message::Text(text) => Incoming::Json(parse(text.as_str())),
        // Gemini sends JSON in binary frames (seen for `setupComplete`).
        Message::Binary(bytes) => Incoming::Json(match std::str::from_utf8(&bytes) {
            Ok(text) => parse(text),
            Err(_) => Err("binary frame is not UTF-8".to_owned()),
        }),
        Message::Close(frame) => Incoming::Closed(close_reason(frame.as_ref())),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Incoming::Ignore,
    }
}

pub(crate) fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err("server message is not a JSON object".to_owned()),
        Err(e) => Err(format!("server message is not JSON: {e}")),
    }
}

fn close_reason(frame: Option<&CloseFrame>) -> Option<String> {
    let frame = frame?;
    if frame.code == CloseCode::Normal && frame.reason.is_empty() {
        return None;
    }
    Some(format!(
        "closed with code {}: {}",
        u16::from(frame.code),
        frame.reason.as_str()
    ))
}

/// After the peer's close frame: keeps reading briefly so tungstenite sends our close reply.
pub(crate) async fn finish_close<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    use futures_util::StreamExt as _;
    let drain = async { while let Some(Ok(_)) = stream.next().await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

/// The reason reported when the stream ended or failed without a close frame.
pub(crate) fn end_reason(error: Option<tungstenite::Error>) -> Option<String> {
    match error {
        None => Some("connection ended without a close frame".to_owned()),
        Some(tungstenite::Error::ConnectionClosed) => None,
        Some(error) => Some(format!("connection failed: {}", describe(&error))),
    }
}

/// Maps a write failure.
pub(crate) fn send_error(provider: Provider, error: tungstenite::Error) -> RealtimeError {
    match error {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            RealtimeError::Closed
        }
        other => RealtimeError::Protocol {
            provider,
            message: format!("send failed: {}", describe(&other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_become_websocket_urls() {
        let ws = |url| websocket_base(Provider::OpenAi, url);
        assert_eq!(
            ws("https://api.openai.com/v1").unwrap(),
            "wss://api.openai.com/v1"
        );
        assert_eq!(
            ws("http://127.0.0.1:8080/v1/").unwrap(),
            "ws://127.0.0.1:8080/v1"
        );
        assert_eq!(ws("WSS://host").unwrap(), "wss://host");
        assert!(ws("ftp://host").is_err());
        assert!(ws("api.openai.com").is_err());
        assert!(ws("https://").is_err());
        assert!(ws("https://host/v1?x=1").is_err());
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query_value("gpt-realtime_2.1~x"), "gpt-realtime_2.1~x");
        assert_eq!(query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn tls_config_builds_without_an_installed_provider() {
        // Either the system has roots (normal) or we get a clear message, never a panic.
        match tls_config() {
            Ok(config) => assert!(!config.alpn_protocols.contains(&b"h2".to_vec())),
            Err(message) => assert!(message.contains("root certificates"), "{message}"),
        }
    }
}
