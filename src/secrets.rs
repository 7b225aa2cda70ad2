//! Encryption at rest for third-party credentials (Twilio auth tokens, lookup API keys).
//!
//! A database dump alone must not hand out the organizations' Twilio accounts, so such values are
//! sealed with XChaCha20-Poly1305 under a server key that lives outside the database.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Sealed values start with this so a future key rotation can tell formats apart.
const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("stored secret is not in a format this server understands")]
    Malformed,
    #[error("stored secret could not be decrypted: was LOQUENT_SECRET_KEY changed?")]
    WrongKey,
    #[error("could not read or create the secret key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    BadKey(String),
}

impl SecretBox {
    /// A key given as base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`).
    pub fn from_base64(key: &str) -> Result<Self, String> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| {
            "expected base64 of 32 random bytes (openssl rand -base64 32)".to_owned()
        })?;
        if bytes.len() != 32 {
            return Err(format!(
                "expected 32 bytes of key material, got {}",
                bytes.len()
            ));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| "key has the wrong length".to_owned())?;
        Ok(Self { cipher })
    }

    /// The configured key, or the one kept in `{data_dir}/secret.key`, created on first run with
    /// permissions 0600 so only the server's user can read it.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(key) = configured {
            return Self::from_base64(key).map_err(SecretError::BadKey);
        }
        let path = data_dir.join("secret.key");
        let key_file_error = |source| SecretError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text)
                .map_err(|e| SecretError::BadKey(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(key_file_error)?;
                let key = STANDARD.encode(rand::random::<[u8; 32]>());
                write_private(&path, key.as_bytes()).map_err(key_file_error)?;
                tracing::info!(path = %path.display(), "generated a new secret key");
                Self::from_base64(&key).map_err(SecretError::BadKey)
            }
            Err(e) => Err(key_file_error(e)),
        }
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let bytes = STANDARD.decode(body).map_err(|_| SecretError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SecretError::Malformed)?;
        let plaintext = self
            .cipher
            .decrypt(&nonce, ciphertext)
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::Malformed)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_with_fresh_nonces() {
        let secrets = SecretBox::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let a = secrets.seal("twilio-token");
        let b = secrets.seal("twilio-token");
        assert_ne!(a, b, "each seal uses a new nonce");
        assert!(!a.contains("twilio-token"));
        assert_eq!(secrets.open(&a).unwrap(), "twilio-token");
    }

    #[test]
    fn another_key_cannot_open() {
        let one = SecretBox::from_base64(&STANDARD.encode([1u8; 32])).unwrap();
        let two = SecretBox::from_base64(&STANDARD.encode([2u8; 32])).unwrap();
        assert!(matches!(
            two.open(&one.seal("x")),
            Err(SecretError::WrongKey)
        ));
        assert!(matches!(one.open("plain"), Err(SecretError::Malformed)));
    }

    #[cfg(unix)]
    #[test]
    fn generated_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load_or_create(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SecretBox::load_or_create(None, dir.path()).unwrap();
        assert_eq!(second.open(&first.seal("same key")).unwrap(), "same key");
    }
}
