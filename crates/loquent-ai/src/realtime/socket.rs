//! WebSocket plumbing shared by the providers: URL schemes, TCP and TLS, opening, and reading
//! messages. The framing and the handshake are `loquent-ws`, the same code as the media stream's
//! socket (in its client role), proven by the Autobahn suite's fuzzing server
//! (`scripts/autobahn.sh`).
//!
//! TLS: we build our own rustls `ClientConfig`, naming its crypto provider, because rustls' own
//! builder uses the process-default provider and panics when two providers (ring and aws-lc-rs,
//! both present in the app's dependency graph) are compiled in and none was installed. We use
//! the installed default when there is one, and aws-lc-rs otherwise. Roots come from the
//! operating system's store (`rustls-native-certs`), like reqwest's platform verifier.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use loquent_ws::client::{self, HandshakeError};
use loquent_ws::{SocketError, WebSocket};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{Provider, RealtimeError};

/// A provider's socket: `loquent-ws` in its client role.
pub type Socket = WebSocket<Stream>;

/// An audio delta of 60 ms is about 850 bytes: one read takes it whole, and larger events
/// (session configuration, transcripts) grow the buffer for as long as they are read.
const READ_BUFFER_BYTES: usize = 4096;

/// The largest server message taken; a session's largest are its configuration echoes and
/// long audio deltas, far below this.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// How long opening a connection (TCP, TLS and the upgrade) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The connection under a provider's socket.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

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
    match tokio::time::timeout(OPEN_TIMEOUT, connect(url, headers)).await {
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(message)) => Err(connect_error(message)),
        Err(_) => Err(connect_error(format!(
            "no connection within {} s",
            OPEN_TIMEOUT.as_secs()
        ))),
    }
}

/// Opens a socket exactly as a session does, with no headers, for the WebSocket conformance
/// client (`examples/autobahn_client.rs`, run by `scripts/autobahn.sh`).
#[doc(hidden)]
pub async fn open_for_conformance(url: &str) -> Result<Socket, String> {
    connect(url, &[]).await
}

async fn connect(url: &str, headers: &[(&'static str, String)]) -> Result<Socket, String> {
    let invalid = || "invalid WebSocket URL".to_owned();
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    let tls = match parsed.scheme() {
        "wss" => true,
        "ws" => false,
        _ => return Err(invalid()),
    };
    let (Some(host), Some(port)) = (parsed.host(), parsed.port_or_known_default()) else {
        return Err(invalid());
    };
    let tcp = match &host {
        url::Host::Domain(name) => TcpStream::connect((*name, port)).await,
        url::Host::Ipv4(ip) => TcpStream::connect((*ip, port)).await,
        url::Host::Ipv6(ip) => TcpStream::connect((*ip, port)).await,
    }
    .map_err(|e| format!("could not connect: {e}"))?;
    // Nagle off: audio messages are small and latency-sensitive.
    tcp.set_nodelay(true)
        .map_err(|e| format!("could not connect: {e}"))?;
    let stream = if tls {
        let name = match &host {
            url::Host::Domain(name) => rustls::pki_types::ServerName::try_from(name.to_string()),
            url::Host::Ipv4(ip) => Ok(rustls::pki_types::ServerName::from(std::net::IpAddr::V4(
                *ip,
            ))),
            url::Host::Ipv6(ip) => Ok(rustls::pki_types::ServerName::from(std::net::IpAddr::V6(
                *ip,
            ))),
        }
        .map_err(|_| invalid())?;
        let tls = TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS failed: {e}"))?;
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let request = client::Request {
        host: &authority,
        target: &parsed[url::Position::BeforePath..url::Position::AfterQuery],
        headers: &headers,
    };
    client::handshake(stream, request, READ_BUFFER_BYTES, MAX_MESSAGE_BYTES)
        .await
        .map_err(|error| match error {
            HandshakeError::Io(error) => format!("connection failed: {error}"),
            other => other.to_string(),
        })
}

/// One received message, as the providers care about it.
pub(crate) enum Incoming {
    /// A JSON message (from a Text or a Binary frame), or why it was not one.
    Json(Result<Value, String>),
    /// The peer closed; the reason is `None` for a normal close. The answer is queued: see
    /// [`finish_close`].
    Closed(Option<String>),
    /// The connection ended without a close frame, or failed.
    Ended(Option<String>),
}

/// What `socket.next()` gave, read from the socket.
pub(crate) fn decode(
    socket: &Socket,
    next: Option<Result<loquent_ws::Incoming, SocketError>>,
) -> Incoming {
    match next {
        None => Incoming::Ended(Some("connection ended without a close frame".to_owned())),
        Some(Err(error)) => Incoming::Ended(Some(format!("connection failed: {error}"))),
        Some(Ok(loquent_ws::Incoming::Text)) => Incoming::Json(parse(socket.text())),
        // Gemini sends JSON in binary frames (seen for `setupComplete`).
        Some(Ok(loquent_ws::Incoming::Binary)) => {
            Incoming::Json(match std::str::from_utf8(socket.binary()) {
                Ok(text) => parse(text),
                Err(_) => Err("binary frame is not UTF-8".to_owned()),
            })
        }
        Some(Ok(loquent_ws::Incoming::Close(code))) => {
            Incoming::Closed(close_reason(code, socket.text()))
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err("server message is not a JSON object".to_owned()),
        Err(e) => Err(format!("server message is not JSON: {e}")),
    }
}

fn close_reason(code: Option<u16>, reason: &str) -> Option<String> {
    match code {
        None => None,
        Some(loquent_ws::NORMAL) if reason.is_empty() => None,
        Some(code) => Some(format!("closed with code {code}: {reason}")),
    }
}

/// Writes a client message out, waiting for room. A message is never dropped: the session's
/// own pacing (and the bridge's) bounds what waits.
pub(crate) async fn send(socket: &mut Socket, text: &str) -> Result<(), SocketError> {
    socket.queue_text_always(text);
    socket.flush().await.map_err(SocketError::from)
}

/// Sends our close frame (unless one was sent) and ends our side of the connection, within a
/// bound: a peer that stopped reading does not hold us.
pub(crate) async fn close(socket: &mut Socket) {
    let _ =
        tokio::time::timeout(Duration::from_secs(1), socket.close(loquent_ws::NORMAL, "")).await;
}

/// After the peer's close frame: our answer (queued when it was read) goes out.
pub(crate) async fn finish_close(socket: &mut Socket) {
    close(socket).await;
}

/// Maps a write failure.
pub(crate) fn send_error(provider: Provider, error: SocketError) -> RealtimeError {
    match error {
        SocketError::Io(error)
            if matches!(
                error.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::NotConnected
                    | io::ErrorKind::WriteZero
            ) =>
        {
            RealtimeError::Closed
        }
        other => RealtimeError::Protocol {
            provider,
            message: format!("send failed: {other}"),
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
