//! Server-side sessions. The browser holds a random token in an HttpOnly cookie; the database
//! holds only its SHA-256, so a leaked database cannot be replayed as cookies.

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;
use crate::entity::session;

pub const COOKIE: &str = "loquent_session";

/// Long enough that sessions (and mailed links) are not guessable, short enough for a cookie or
/// a URL: 32 random bytes as 43 URL-safe characters.
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// Creates a session row and returns the token for the cookie.
pub async fn start(
    db: &DatabaseConnection,
    config: &Config,
    user_id: Uuid,
    organization_id: Uuid,
) -> Result<String, sea_orm::DbErr> {
    let token = new_token();
    let now = Utc::now();
    session::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(token_hash(&token)),
        user_id: Set(user_id),
        organization_id: Set(organization_id),
        expires_at: Set(now + Duration::hours(i64::from(config.server.session_ttl_hours))),
        created_at: Set(now),
        last_seen_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(token)
}

pub async fn end(db: &DatabaseConnection, token: &str) -> Result<(), sea_orm::DbErr> {
    session::Entity::delete_many()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes expired sessions; called periodically so the table does not grow forever.
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, sea_orm::DbErr> {
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Reads one cookie's value from the request headers.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for the session: HttpOnly (scripts cannot read it), SameSite=Lax (not sent on
/// cross-site POSTs), Secure when we are served over https.
pub fn set_cookie(config: &Config, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if config.cookies_secure() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}

pub fn session_cookie(config: &Config, token: &str) -> HeaderValue {
    set_cookie(
        config,
        COOKIE,
        token,
        i64::from(config.server.session_ttl_hours) * 3600,
    )
}

pub fn clear_session_cookie(config: &Config) -> HeaderValue {
    set_cookie(config, COOKIE, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; loquent_session=tok; b=2"),
        );
        assert_eq!(read_cookie(&headers, COOKIE), Some("tok"));
        assert_eq!(read_cookie(&headers, "missing"), None);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
