//! CSRF protection for HTML form posts, by double submit: every dashboard response makes sure the
//! browser holds a random `loquent_csrf` cookie, every form carries the same value in a hidden
//! field, and a post whose field does not match its cookie is refused. Another site can make a
//! browser post a form, but cannot read our cookie to put it in the form.
//!
//! The JSON API needs no token: it only accepts `application/json`, which a cross-site form cannot
//! send without a CORS preflight we never grant, and the session cookie is SameSite=Lax.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::session::{read_cookie, set_cookie};
use crate::app::AppState;
use crate::error::PageError;

pub const COOKIE: &str = "loquent_csrf";
pub const FIELD: &str = "csrf_token";

/// The token to embed in forms rendered by this request.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// Middleware for dashboard routes: provides a `CsrfToken` and sets the cookie when missing.
pub async fn ensure_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = read_cookie(request.headers(), COOKIE)
        .filter(|t| t.len() >= 32)
        .map(str::to_owned);
    let (token, fresh) = match existing {
        Some(t) => (t, false),
        None => (URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()), true),
    };
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if fresh {
        // A year: the token is not a credential, only proof that the form came from our page.
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state.config, COOKIE, &token, 365 * 24 * 3600),
        );
    }
    response
}

/// A urlencoded form whose `csrf_token` field matched the cookie.
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenOnly {
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let cookie = read_cookie(req.headers(), COOKIE).map(str::to_owned);
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let sent: TokenOnly = serde_urlencoded::from_bytes(&body)
            .map_err(|e| PageError::bad_request(format!("malformed form: {e}")).into_response())?;
        let valid = match (cookie, sent.csrf_token) {
            (Some(c), Some(s)) => !c.is_empty() && bool::from(c.as_bytes().ct_eq(s.as_bytes())),
            _ => false,
        };
        if !valid {
            return Err(PageError::forbidden(
                "This form has expired. Go back, reload the page and try again.",
            )
            .into_response());
        }
        serde_urlencoded::from_bytes(&body)
            .map(CsrfForm)
            .map_err(|e| PageError::bad_request(format!("malformed form: {e}")).into_response())
    }
}
