//! The one place where domain errors become API errors: which status each failure is, and what
//! the caller is told. Domain modules know nothing of HTTP; dashboard pages reuse this mapping
//! through `PageError: From<ApiError>`.

use super::ApiError;
use crate::agents::AgentError;
use crate::analyzers::AnalyzerError;
use crate::orgs::OrgError;
use crate::orgs::twilio::{TwilioAccountError, TwilioFailure};
use crate::phone_numbers::NumberError;
use crate::users::UserError;

impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::InvalidEmail(_)
            | UserError::WeakPassword(_)
            | UserError::InvalidOrgName(_) => Self::Unprocessable(err.to_string()),
            UserError::EmailTaken(_) => Self::Conflict(err.to_string()),
            UserError::UnknownUser(_) => Self::NotFound("account"),
            UserError::InvalidResetLink => Self::BadRequest(err.to_string()),
            UserError::WrongCredentials => Self::InvalidCredentials(err.to_string()),
            UserError::NoOrganization => Self::NoOrganization,
            UserError::Throttled(throttled) => Self::TooManyRequests {
                message: err.to_string(),
                retry_after_secs: throttled.retry_after_secs(),
            },
            UserError::Hashing(e) => Self::Internal(e),
            UserError::Database(e) => e.into(),
        }
    }
}

impl From<OrgError> for ApiError {
    fn from(err: OrgError) -> Self {
        match err {
            OrgError::NotFound(what) => Self::NotFound(what),
            OrgError::InvalidRoleName => Self::Unprocessable(err.to_string()),
            OrgError::InvalidInvitation => Self::BadRequest(err.to_string()),
            OrgError::CannotGrant(permission) => Self::Forbidden(permission),
            OrgError::Throttled(throttled) => Self::TooManyRequests {
                message: err.to_string(),
                retry_after_secs: throttled.retry_after_secs(),
            },
            OrgError::AlreadyMember(_)
            | OrgError::AlreadyInvited(_)
            | OrgError::TooManyInvitations(_)
            | OrgError::InvitationForAnother { .. }
            | OrgError::SignInToAccept(_)
            | OrgError::OwnerCannotBeRemoved
            | OrgError::RoleNameTaken(_) => Self::Conflict(err.to_string()),
            OrgError::Account(e) => e.into(),
            OrgError::Database(e) => e.into(),
        }
    }
}

impl From<TwilioFailure> for ApiError {
    fn from(failure: TwilioFailure) -> Self {
        tracing::warn!(error = %failure.error, action = failure.action, "Twilio request failed");
        Self::Upstream(failure.to_string())
    }
}

impl From<TwilioAccountError> for ApiError {
    fn from(err: TwilioAccountError) -> Self {
        match err {
            TwilioAccountError::NotConnected
            | TwilioAccountError::InvalidAccountSid
            | TwilioAccountError::InvalidAuthToken
            | TwilioAccountError::Rejected(_)
            | TwilioAccountError::NoPlatformAccount => Self::BadRequest(err.to_string()),
            TwilioAccountError::AlreadyConnected => Self::Conflict(err.to_string()),
            TwilioAccountError::IncompleteSubaccount => Self::Upstream(err.to_string()),
            TwilioAccountError::Twilio(failure) => failure.into(),
            TwilioAccountError::Unusable(_) => Self::internal(err),
            TwilioAccountError::OrganizationNotFound => Self::NotFound("organization"),
            TwilioAccountError::SandboxOff | TwilioAccountError::NoSandbox => {
                Self::BadRequest(err.to_string())
            }
            TwilioAccountError::Sandbox(_) => Self::Upstream(err.to_string()),
            TwilioAccountError::Database(e) => e.into(),
        }
    }
}

impl From<NumberError> for ApiError {
    fn from(err: NumberError) -> Self {
        match err {
            NumberError::NotFound(what) => Self::NotFound(what),
            NumberError::NotE164(_)
            | NumberError::BadAreaCode
            | NumberError::NothingSelected
            | NumberError::NotByo
            | NumberError::NotSandbox
            | NumberError::NoTwilioSid(_)
            | NumberError::AlreadyConfigured(_)
            | NumberError::NotConfigured(_) => Self::BadRequest(err.to_string()),
            NumberError::BadFriendlyName => Self::Unprocessable(err.to_string()),
            NumberError::InUse(_) => Self::Conflict(err.to_string()),
            NumberError::Account(e) => e.into(),
            NumberError::Sandbox(e @ crate::sandbox::SandboxError::Refused(_)) => {
                Self::Unprocessable(e.to_string())
            }
            NumberError::Sandbox(e) => Self::Upstream(e.to_string()),
            NumberError::Twilio(failure) => failure.into(),
            NumberError::Database(e) => e.into(),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        match err {
            AgentError::NotFound => Self::NotFound("agent"),
            AgentError::InvalidFields(fields) => Self::InvalidFields(fields),
            AgentError::Database(e) => e.into(),
        }
    }
}

impl From<crate::jobs::JobError> for ApiError {
    fn from(err: crate::jobs::JobError) -> Self {
        use crate::jobs::JobError;
        match err {
            JobError::NotFound => Self::NotFound("job"),
            JobError::NotFailed(_) => Self::Conflict(err.to_string()),
            JobError::Database(e) => e.into(),
        }
    }
}

impl From<AnalyzerError> for ApiError {
    fn from(err: AnalyzerError) -> Self {
        match err {
            AnalyzerError::NotFound => Self::NotFound("analyzer"),
            AnalyzerError::InvalidFields(fields) => Self::InvalidFields(fields),
            AnalyzerError::Database(e) => e.into(),
        }
    }
}

impl From<crate::todos::TodoError> for ApiError {
    fn from(err: crate::todos::TodoError) -> Self {
        use crate::todos::TodoError;
        match err {
            TodoError::NotFound => Self::NotFound("to-do"),
            TodoError::InvalidStatus(_) | TodoError::InvalidCursor | TodoError::InvalidLimit => {
                Self::BadRequest(err.to_string())
            }
            TodoError::Database(e) => e.into(),
        }
    }
}

impl From<crate::reports::ReportError> for ApiError {
    fn from(err: crate::reports::ReportError) -> Self {
        use crate::reports::ReportError;
        match err {
            ReportError::InvalidEmail(_) => Self::Unprocessable(err.to_string()),
            ReportError::DuplicateRecipient(_) => Self::Conflict(err.to_string()),
            ReportError::RecipientNotFound(_) => Self::NotFound("report recipient"),
            ReportError::Database(e) => e.into(),
        }
    }
}

impl From<crate::call_sync::SyncError> for ApiError {
    fn from(err: crate::call_sync::SyncError) -> Self {
        use crate::call_sync::SyncError;
        match err {
            SyncError::NumberNotFound => Self::NotFound("phone number"),
            SyncError::BadBatchSize => Self::Unprocessable(err.to_string()),
            SyncError::AlreadyRunning => Self::Conflict(err.to_string()),
            SyncError::Account(e) => e.into(),
            SyncError::Twilio(failure) => failure.into(),
            SyncError::Database(e) => e.into(),
        }
    }
}

impl From<crate::event_streams::StreamsError> for ApiError {
    fn from(err: crate::event_streams::StreamsError) -> Self {
        use crate::event_streams::StreamsError;
        match err {
            StreamsError::NothingChosen => Self::Unprocessable(err.to_string()),
            StreamsError::Account(e) => e.into(),
            StreamsError::Twilio(failure) => failure.into(),
            StreamsError::Database(e) => e.into(),
        }
    }
}

impl From<crate::calls::CallLookupError> for ApiError {
    fn from(err: crate::calls::CallLookupError) -> Self {
        use crate::calls::CallLookupError;
        match err {
            CallLookupError::NotFound => Self::NotFound("call"),
            CallLookupError::NoRecording => Self::NotFound("recording"),
            CallLookupError::InvalidQuery(_) => Self::BadRequest(err.to_string()),
            CallLookupError::NoTranscript | CallLookupError::NoAnalyzers => {
                Self::Conflict(err.to_string())
            }
            CallLookupError::Jobs(e) => e.into(),
            CallLookupError::Database(e) => e.into(),
        }
    }
}

impl From<crate::contacts::ContactError> for ApiError {
    fn from(err: crate::contacts::ContactError) -> Self {
        use crate::contacts::ContactError;
        match err {
            ContactError::NotFound => Self::NotFound("contact"),
            ContactError::InvalidQuery(_) => Self::BadRequest(err.to_string()),
            ContactError::InvalidFields(fields) => Self::InvalidFields(fields),
            ContactError::Calls(e) => e.into(),
            ContactError::Database(e) => e.into(),
        }
    }
}
