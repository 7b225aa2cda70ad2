//! `SameOrigin`: a request a browser made from our own pages, or no browser at all.
//!
//! Browsers attach cookies to cross-site WebSocket upgrades, and the WebSocket handshake has no
//! CORS preflight: without this check any site a signed-in member visits could open
//! `/api/realtime` with the member's session and read the organization's live events
//! (cross-site WebSocket hijacking). Browsers always send `Origin` on a WebSocket upgrade and a
//! page cannot forge it, so comparing it with the public URL's origin is the whole defense.
//!
//! A request without `Origin` is let through: only non-browser clients (scripts, CLIs) omit it,
//! and they hold the session cookie themselves; nothing is hijacked there.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use url::Url;

use crate::app::AppState;
use crate::error::ApiError;

/// Proof that the request's `Origin`, when it has one, is the server's public origin.
#[derive(Debug, Clone, Copy)]
pub struct SameOrigin;

/// Whether `origin` (an `Origin` header's value) is `public_url`'s origin. Compared as parsed
/// origins, so case and a spelled-out default port do not matter; `null` (sandboxed frames,
/// `file:` pages) is never ours.
pub fn is_public_origin(origin: &str, public_url: &Url) -> bool {
    Url::parse(origin.trim())
        .is_ok_and(|o| o.origin().is_tuple() && o.origin() == public_url.origin())
}

impl FromRequestParts<AppState> for SameOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(origin) = parts.headers.get(header::ORIGIN) else {
            return Ok(Self);
        };
        let public_url = &state.config.server.public_url;
        match origin.to_str() {
            Ok(origin) if is_public_origin(origin, public_url) => Ok(Self),
            _ => Err(ApiError::CrossOrigin(
                public_url.origin().ascii_serialization(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_origin_is_ours() {
        let public: Url = "https://loquent.example.com/".parse().unwrap();
        assert!(is_public_origin("https://loquent.example.com", &public));
        assert!(is_public_origin("HTTPS://Loquent.Example.com:443", &public));
        for foreign in [
            "https://evil.example",
            "http://loquent.example.com",
            "https://loquent.example.com:8443",
            "https://loquent.example.com.evil.example",
            "null",
            "",
        ] {
            assert!(!is_public_origin(foreign, &public), "{foreign}");
        }
        let local: Url = "http://127.0.0.1:8080/".parse().unwrap();
        assert!(is_public_origin("http://127.0.0.1:8080", &local));
        assert!(!is_public_origin("http://localhost:8080", &local));
    }
}
