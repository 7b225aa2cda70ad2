//! The opening handshake of the live call's WebSocket (`WSS /twilio/stream`, a web call's
//! `/api/agents/{id}/web-call`) as an axum extractor; the framing after it is `loquent-ws`.

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header, request::Parts};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
pub use loquent_ws::{Incoming, NORMAL, POLICY, SocketError, WRITE_LIMIT, WebSocket};

/// The socket a live call runs on: `WSS /twilio/stream` and a web call's
/// `/api/agents/{id}/web-call`.
pub type CallSocket = WebSocket<TokioIo<hyper::upgrade::Upgraded>>;

/// The opening handshake of `WSS /twilio/stream`, as an extractor: a GET with the WebSocket
/// upgrade headers of RFC 6455 §4.2.1 (HTTP/1.1; Twilio does not use HTTP/2 for streams).
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

/// Why an upgrade request was refused; the response says so in words.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeRejection {
    #[error("a media stream is opened with GET")]
    NotGet,
    #[error(
        "this URL is a WebSocket: the request needs `Connection: upgrade` and `Upgrade: websocket`"
    )]
    NotUpgrade,
    #[error("unsupported WebSocket version: send `Sec-WebSocket-Version: 13`")]
    Version,
    #[error("Sec-WebSocket-Key is missing or is not 16 bytes in base64")]
    BadKey,
    #[error("this connection cannot be upgraded: HTTP/1.1 is required")]
    NotUpgradable,
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotGet => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotUpgrade | Self::Version => StatusCode::UPGRADE_REQUIRED,
            Self::BadKey | Self::NotUpgradable => StatusCode::BAD_REQUEST,
        };
        let version = matches!(self, Self::Version);
        let mut response = (status, self.to_string()).into_response();
        let headers = response.headers_mut();
        if version {
            // RFC 6455 §4.4: name the version we speak.
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        } else if status == StatusCode::UPGRADE_REQUIRED {
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(UpgradeRejection::NotGet);
        }
        let upgrade_asked = parts.version == Version::HTTP_11
            && header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            && header_has_token(&parts.headers, header::UPGRADE, "websocket");
        if !upgrade_asked {
            return Err(UpgradeRejection::NotUpgrade);
        }
        if !header_has_token(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(UpgradeRejection::Version);
        }
        // RFC 6455 §4.2.1: a random 16-byte value, base64-encoded.
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|key| loquent_ws::key_is_valid(key.as_bytes()))
            .cloned()
            .ok_or(UpgradeRejection::BadKey)?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or(UpgradeRejection::NotUpgradable)?;
        Ok(Self { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and runs `run` on the socket once the connection is
    /// handed over (in its own task, as the connection's).
    pub fn on_upgrade<F, Fut>(self, read_buffer: usize, max_message: usize, run: F) -> Response
    where
        F: FnOnce(CallSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept = loquent_ws::accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        #[expect(
            clippy::disallowed_methods,
            reason = "the upgraded connection's task lives and dies with the connection"
        )]
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    run(WebSocket::new(
                        TokioIo::new(upgraded),
                        read_buffer,
                        max_message,
                    ))
                    .await;
                }
                Err(error) => tracing::debug!(%error, "media stream upgrade failed"),
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// Whether a comma-separated header has `token` (case-insensitive), as `Connection: keep-alive,
/// Upgrade` does.
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}
