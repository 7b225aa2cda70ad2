//! People who sign in: e-mail addresses, sign-up and password sign-in.

pub mod email;
pub mod login;
pub mod password;
pub mod reset;
pub mod sign_ins;
pub mod signup;
pub mod throttle;

pub use email::{EmailAddress, InvalidEmail};

/// Why an account could not be created or signed in.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    InvalidEmail(#[from] InvalidEmail),
    /// What is wrong with the password, in words for the person choosing it.
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0}")]
    InvalidOrgName(&'static str),
    #[error("an account with the e-mail {0} already exists")]
    EmailTaken(EmailAddress),
    #[error("there is no account with the e-mail {0}")]
    UnknownUser(EmailAddress),
    #[error(
        "this password reset link does not work: it was used already, has expired or was copied incompletely; ask for a new one"
    )]
    InvalidResetLink,
    /// Deliberately the same whether or not the account exists.
    #[error("e-mail or password is incorrect")]
    WrongCredentials,
    #[error("this account is not a member of any organization")]
    NoOrganization,
    /// The same whether or not the account exists.
    #[error("too many sign-in attempts; try again in {}", wait_words(.0.retry_after_secs()))]
    Throttled(throttle::Throttled),
    #[error("password hashing failed")]
    Hashing(#[source] anyhow::Error),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}

/// "12 seconds", "3 minutes": how long to wait, for a person.
pub(crate) fn wait_words(secs: i64) -> String {
    match secs {
        1 => "1 second".to_owned(),
        s if s < 60 => format!("{s} seconds"),
        s => {
            let minutes = (s + 59) / 60;
            if minutes == 1 {
                "1 minute".to_owned()
            } else {
                format!("{minutes} minutes")
            }
        }
    }
}
