//! Password hashing with argon2id. Hashing is deliberately slow, so it runs on the blocking pool
//! and never stalls the async workers that carry live calls.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted at sign-up.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted: argon2 handles any length, but a megabyte "password" is a denial of service.
pub const MAX_PASSWORD_LEN: usize = 256;

pub fn check_strength(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_LEN} characters"
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await?
}

/// True when `password` matches the stored PHC string. A malformed stored hash counts as a
/// mismatch (and is logged) rather than an error the caller could distinguish.
pub async fn verify(password: String, stored: String) -> anyhow::Result<bool> {
    Ok(tokio::task::spawn_blocking(move || {
        match Argon2::default().verify_password(password.as_bytes(), stored.as_str()) {
            Ok(()) => true,
            Err(argon2::password_hash::Error::PasswordInvalid) => false,
            Err(e) => {
                tracing::warn!(error = %e, "stored password hash could not be checked");
                false
            }
        }
    })
    .await?)
}

/// A fixed hash to verify against when the e-mail is unknown, so a failed login takes the same
/// time whether or not the account exists.
pub async fn dummy_verify(password: String) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = match DUMMY.get() {
        Some(h) => h.clone(),
        None => match hash("loquent-dummy-password".into()).await {
            Ok(h) => DUMMY.get_or_init(|| h).clone(),
            Err(_) => return,
        },
    };
    let _ = verify(password, stored).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), stored).await.unwrap());
        assert!(!verify("x".into(), "garbage".into()).await.unwrap());
    }

    #[test]
    fn strength_limits() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough").is_ok());
        assert!(check_strength(&"x".repeat(300)).is_err());
    }
}
