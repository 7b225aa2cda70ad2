//! Organizations (tenants), their members and roles.

pub mod getting_started;
pub mod invitations;
pub mod members;
pub mod membership;
pub mod roles;
pub mod twilio;

use crate::users::{EmailAddress, UserError};

/// Why a change to an organization's members or roles was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// Another organization's member or role is "not found" too, never "forbidden".
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} is already a member")]
    AlreadyMember(EmailAddress),
    #[error("{0} already has a pending invitation: resend it or revoke it")]
    AlreadyInvited(EmailAddress),
    #[error("the organization has {0} pending invitations already: revoke some first")]
    TooManyInvitations(u64),
    #[error(
        "this invitation link does not work: it was used already, was revoked, has expired or was copied incompletely; ask for a new one"
    )]
    InvalidInvitation,
    #[error(
        "this invitation is for {invited}, and you are signed in as {signed_in}: sign out, then open the link again"
    )]
    InvitationForAnother {
        invited: EmailAddress,
        signed_in: String,
    },
    #[error(
        "{0} has an account already: sign in with it, or give its password, to accept the invitation"
    )]
    SignInToAccept(EmailAddress),
    /// A role would give a permission its giver does not hold.
    #[error("you cannot give the permission {0}, which you do not hold yourself")]
    CannotGrant(String),
    #[error("too many invitations; try again in {}", crate::users::wait_words(.0.retry_after_secs()))]
    Throttled(crate::users::throttle::Throttled),
    #[error("the organization's owner cannot be removed")]
    OwnerCannotBeRemoved,
    #[error("role name must be 1 to 60 characters")]
    InvalidRoleName,
    #[error("a role named `{0}` already exists")]
    RoleNameTaken(String),
    /// Creating the new member's account failed (bad e-mail, weak password, ...).
    #[error(transparent)]
    Account(#[from] UserError),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
}
