//! People who sign in: e-mail addresses, sign-up and password sign-in.

pub mod email;
pub mod login;
pub mod signup;

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
    /// Deliberately the same whether or not the account exists.
    #[error("e-mail or password is incorrect")]
    WrongCredentials,
    #[error("this account is not a member of any organization")]
    NoOrganization,
    #[error("password hashing failed")]
    Hashing(#[source] anyhow::Error),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}
