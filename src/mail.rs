//! Sending mail over SMTP (`LOQUENT_SMTP_URL`): one [`Mailer`] per process, shared by the jobs
//! that send (the call reports).
//!
//! The URL carries the SMTP password: it is handed to lettre and never formatted into a log line
//! or an error. lettre's own errors describe the connection or the server's reply, not the URL.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use url::Url;

use crate::config::Mail;

/// Why mail could not be set up or sent, in words for the organization (no secrets).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The URL was checked at start-up; lettre may still reject a combination (an unknown `tls`
    /// parameter). Its message is not repeated: it could quote the URL.
    #[error(
        "LOQUENT_SMTP_URL cannot be used: expected smtp://[user:pass@]host[:port][?tls=required|opportunistic] or smtps://"
    )]
    InvalidUrl,
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the message could not be sent through the SMTP server: {0}")]
    Send(String),
}

/// Sends mail through the configured SMTP server, from the configured address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the transport: it holds the credentials.
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The mailer of `mail`, or `None` without `LOQUENT_SMTP_URL`. `smtp://` is plain SMTP
    /// (port 25; `?tls=required` or `?tls=opportunistic` for STARTTLS, port 587), `smtps://` TLS
    /// from the first byte (port 465). TLS uses rustls with the process's crypto provider, which
    /// must be installed first (`crate::install_crypto_provider`); call it inside the tokio
    /// runtime, where lettre keeps its connection pool.
    pub fn from_config(mail: &Mail, public_url: &Url) -> Result<Option<Self>, MailError> {
        let Some(url) = &mail.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|_| MailError::InvalidUrl)?
            .build();
        let from = mail
            .mail_from
            .clone()
            .unwrap_or_else(|| default_from(public_url));
        Ok(Some(Self { transport, from }))
    }

    /// Who the mail is from.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Hands `message` to the SMTP server; `Ok` once the server accepted it.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }
}

/// `Loquent <loquent@HOST>` with the public URL's host name; `localhost` when the host is an IP
/// address (not a valid bare e-mail domain) or missing.
pub fn default_from(public_url: &Url) -> Mailbox {
    let host = match public_url.host() {
        Some(url::Host::Domain(domain)) => domain.to_owned(),
        _ => "localhost".to_owned(),
    };
    format!("Loquent <loquent@{host}>")
        .parse()
        .unwrap_or_else(|_| {
            "Loquent <loquent@localhost>"
                .parse()
                .expect("a fixed valid address")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sender_follows_the_public_host() {
        let from = default_from(&Url::parse("https://calls.example.com").unwrap());
        assert_eq!(from.to_string(), "Loquent <loquent@calls.example.com>");
        let from = default_from(&Url::parse("http://127.0.0.1:8080").unwrap());
        assert_eq!(from.to_string(), "Loquent <loquent@localhost>");
    }

    /// In a runtime: lettre's connection pool lives on it.
    #[tokio::test]
    async fn a_rejected_url_does_not_repeat_the_password() {
        let mail = Mail {
            smtp_url: Some(crate::config::Secret::new(
                "smtp://user:hunter2@mail.example?tls=sometimes".to_owned(),
            )),
            mail_from: None,
        };
        let public = Url::parse("https://calls.example.com").unwrap();
        let err = Mailer::from_config(&mail, &public).unwrap_err().to_string();
        assert!(err.contains("LOQUENT_SMTP_URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let mail = Mail {
            smtp_url: Some(crate::config::Secret::new(
                "smtp://user:hunter2@mail.example:2525".to_owned(),
            )),
            mail_from: None,
        };
        let mailer = Mailer::from_config(&mail, &public).unwrap().unwrap();
        assert!(!format!("{mailer:?}").contains("hunter2"));
        assert_eq!(
            mailer.from().to_string(),
            "Loquent <loquent@calls.example.com>"
        );
    }

    #[tokio::test]
    async fn starttls_and_tls_urls_build_with_the_installed_provider() {
        crate::install_crypto_provider();
        let public = Url::parse("https://calls.example.com").unwrap();
        for url in [
            "smtp://u:p@mail.example?tls=required",
            "smtp://mail.example?tls=opportunistic",
            "smtps://u:p@mail.example",
        ] {
            let mail = Mail {
                smtp_url: Some(crate::config::Secret::new(url.to_owned())),
                mail_from: None,
            };
            assert!(
                Mailer::from_config(&mail, &public).unwrap().is_some(),
                "{url}"
            );
        }
    }
}
