//! The signed-in member, as an extractor: a handler that takes `CurrentMember` cannot run without
//! a valid session, and one that takes `Allowed<P>` cannot run without permission `P`.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use uuid::Uuid;

use super::permission::Permission;
use super::session;
use crate::app::AppState;
use crate::entity::{member, member_role, organization, role, user};
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct CurrentMember {
    pub session_id: Uuid,
    pub user: user::Model,
    pub organization: organization::Model,
    pub member: member::Model,
    pub permissions: Vec<Permission>,
}

impl CurrentMember {
    pub fn org_id(&self) -> Uuid {
        self.organization.id
    }

    /// What this member may give others through roles: `None` for an owner (everything), else
    /// their own permissions.
    pub fn granter(&self) -> Option<&[Permission]> {
        (!self.member.is_owner).then_some(self.permissions.as_slice())
    }

    /// Owners pass every check; everyone else needs a role granting `permission`.
    pub fn can(&self, permission: &str) -> bool {
        self.member.is_owner || self.permissions.iter().any(|p| p.grants(permission))
    }

    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(permission.to_owned()))
        }
    }

    /// Resolves a session token to the member it signs in, or `None` when the token is unknown,
    /// expired, or its membership is gone.
    pub async fn from_token(
        db: &DatabaseConnection,
        token: &str,
    ) -> Result<Option<Self>, ApiError> {
        let Some(session) = crate::entity::session::Entity::find()
            .filter(crate::entity::session::Column::TokenHash.eq(session::token_hash(token)))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        Self::from_session(db, session).await
    }

    /// [`Self::from_token`] for a session known by its id (after it was changed).
    pub async fn from_session_id(
        db: &DatabaseConnection,
        session_id: Uuid,
    ) -> Result<Option<Self>, ApiError> {
        match crate::entity::session::Entity::find_by_id(session_id)
            .one(db)
            .await?
        {
            Some(session) => Self::from_session(db, session).await,
            None => Ok(None),
        }
    }

    async fn from_session(
        db: &DatabaseConnection,
        session: crate::entity::session::Model,
    ) -> Result<Option<Self>, ApiError> {
        let now = Utc::now();
        if session.expires_at <= now {
            return Ok(None);
        }
        let Some(member) = member::Entity::find()
            .filter(member::Column::OrganizationId.eq(session.organization_id))
            .filter(member::Column::UserId.eq(session.user_id))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let (Some(user), Some(organization)) = (
            user::Entity::find_by_id(session.user_id).one(db).await?,
            organization::Entity::find_by_id(session.organization_id)
                .one(db)
                .await?,
        ) else {
            return Ok(None);
        };
        let permissions = permissions_of(db, member.id).await?;

        // Touch at most every few minutes: a write per request would serialize SQLite.
        if now - session.last_seen_at > Duration::minutes(5) {
            let session_id = session.id;
            let mut active = session.clone().into_active_model();
            active.last_seen_at = Set(now);
            if let Err(e) = active.update(db).await {
                tracing::warn!(error = %e, %session_id, "could not touch session");
            }
        }

        Ok(Some(Self {
            session_id: session.id,
            user,
            organization,
            member,
            permissions,
        }))
    }
}

/// The union of the permissions of a member's roles. Strings that no longer parse (a role saved
/// by an older version) are skipped with a warning rather than failing the request.
pub async fn permissions_of(
    db: &DatabaseConnection,
    member_id: Uuid,
) -> Result<Vec<Permission>, ApiError> {
    let roles = role::Entity::find()
        .inner_join(member_role::Entity)
        .filter(member_role::Column::MemberId.eq(member_id))
        .all(db)
        .await?;
    let mut permissions: Vec<Permission> = roles
        .iter()
        .flat_map(|r| crate::orgs::roles::permission_strings(&r.permissions))
        .filter_map(|s| match s.parse() {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unknown permission in a role");
                None
            }
        })
        .collect();
    permissions.sort();
    permissions.dedup();
    Ok(permissions)
}

impl FromRequestParts<AppState> for CurrentMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(member) = parts.extensions.get::<CurrentMember>() {
            return Ok(member.clone());
        }
        let token = session::read_cookie(&parts.headers, session::COOKIE)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let member = Self::from_token(&state.db, token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        parts.extensions.insert(member.clone());
        Ok(member)
    }
}

/// `Option<CurrentMember>`: `None` without a session (or with one that ended), for the few
/// routes that serve both signed-in and anonymous callers.
impl axum::extract::OptionalFromRequestParts<AppState> for CurrentMember {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(member) => Ok(Some(member)),
            Err(ApiError::Unauthorized) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A permission as a type, so handler signatures state what they require.
pub trait RequiredPermission {
    const PERMISSION: &'static str;
}

/// A signed-in member holding permission `P`; 401 without a session, 403 without the permission.
pub struct Allowed<P>(pub CurrentMember, PhantomData<P>);

impl<P> std::ops::Deref for Allowed<P> {
    type Target = CurrentMember;
    fn deref(&self) -> &CurrentMember {
        &self.0
    }
}

impl<P: RequiredPermission + Send + Sync> FromRequestParts<AppState> for Allowed<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let member = CurrentMember::from_request_parts(parts, state).await?;
        member.require(P::PERMISSION)?;
        Ok(Self(member, PhantomData))
    }
}

/// Declares permission marker types: `permissions! { ListMembers = "Member:Collection:List" }`.
macro_rules! permissions {
    ($($name:ident = $perm:literal),* $(,)?) => {
        $(
            #[doc = concat!("Requires `", $perm, "`.")]
            pub struct $name;
            impl $crate::auth::RequiredPermission for $name {
                const PERMISSION: &'static str = $perm;
            }
        )*
    };
}
pub(crate) use permissions;
