//! Who a staff token speaks for *now*. A token says which user it was issued to, in which
//! tenant, with which version of the user's credentials; the user's current role and token
//! version come from the store, through an in-process cache that every change made through
//! this process invalidates at once (and that expires after `auth.access_cache_seconds`, which
//! bounds what a change made elsewhere may take to be seen). So a deleted user's token stops
//! working on the next request, a demoted admin is refused admin routes at once, and a
//! password change ends every token issued before it.
//!
//! Open sessions (WebSocket, SSE) subscribe to [`Access::changes`] and re-check their user
//! when told, and on a periodic tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::token::{Claims, Subject};
use super::AuthError;
use crate::config::AuthSettings;
use crate::domain::{Role, TenantId, UserId};
use crate::store::{users, Store, StoreError};

/// A user as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccess {
    pub tenant: TenantId,
    pub role: Role,
    pub token_version: i64,
}

/// Why a staff token no longer opens anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Not a staff token, or a malformed one.
    NotStaff,
    /// The user was deleted (or never existed in the token's tenant).
    Gone,
    /// The password changed (or tokens were revoked) after the token was issued.
    Revoked,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::NotStaff => "staff token required",
            Denied::Gone => "the user no longer exists",
            Denied::Revoked => "the token was revoked; log in again",
        }
    }
}

impl From<Denied> for AuthError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotStaff => AuthError::Forbidden(denied.message().into()),
            Denied::Gone | Denied::Revoked => AuthError::Unauthenticated(denied.message().into()),
        }
    }
}

/// An authenticated staff member (admin, supervisor or agent), with the role the user has
/// now (see [`Access::staff`]).
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub role: Role,
    /// The token's version of the user's credentials, for sessions that re-check later.
    pub token_version: i64,
}

impl Staff {
    pub fn require(&self, allowed: impl Fn(Role) -> bool) -> Result<(), AuthError> {
        if allowed(self.role) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }
}

/// The rule: a token is good while its user exists in the token's tenant with the same
/// token version; its role is the user's current role, never the one written in the token.
pub fn judge(
    tenant: &TenantId,
    token_version: i64,
    current: Option<&UserAccess>,
) -> Result<Role, Denied> {
    let current = current.ok_or(Denied::Gone)?;
    if current.tenant != *tenant {
        return Err(Denied::Gone);
    }
    if current.token_version != token_version {
        return Err(Denied::Revoked);
    }
    Ok(current.role)
}

pub struct Access {
    store: Store,
    cache: moka::sync::Cache<UserId, Option<Arc<UserAccess>>>,
    /// Bumped by every change: a load that started before a change does not fill the cache
    /// with what it read (it may predate the change).
    epoch: AtomicU64,
    changes: broadcast::Sender<UserId>,
    recheck: Duration,
}

/// How many change notices a slow session may miss before it re-checks anyway (a lagged
/// receiver re-checks, so nothing is lost by keeping this small).
const CHANGE_BUFFER: usize = 256;

impl Access {
    pub fn new(store: Store, settings: &AuthSettings) -> Arc<Access> {
        Arc::new(Access {
            store,
            cache: moka::sync::Cache::builder()
                .max_capacity(settings.access_cache_capacity)
                .time_to_live(Duration::from_secs(settings.access_cache_seconds))
                .build(),
            epoch: AtomicU64::new(0),
            changes: broadcast::channel(CHANGE_BUFFER).0,
            recheck: Duration::from_secs(settings.session_recheck_seconds),
        })
    }

    /// How often an open session re-checks its user.
    pub fn recheck_interval(&self) -> Duration {
        self.recheck
    }

    /// The user's current access, `None` once deleted.
    pub async fn current(&self, user: &UserId) -> Result<Option<Arc<UserAccess>>, StoreError> {
        if let Some(hit) = self.cache.get(user) {
            return Ok(hit);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let id = user.clone();
        let row = self.store.run(move |conn| users::access(conn, &id)).await?;
        let loaded = match row {
            Some((tenant, role, token_version)) => {
                let role = Role::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("users.role: unknown `{role}`")))?;
                Some(Arc::new(UserAccess {
                    tenant,
                    role,
                    token_version,
                }))
            }
            None => None,
        };
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.cache.insert(user.clone(), loaded.clone());
        }
        Ok(loaded)
    }

    /// The staff member a verified token speaks for, as the user is now.
    pub async fn staff(&self, claims: &Claims) -> Result<Staff, AuthError> {
        let user = match (claims.kind, claims.role) {
            (Subject::Staff, Some(_)) => UserId::parse(&claims.sub)
                .ok_or_else(|| AuthError::Unauthenticated("invalid token".into()))?,
            _ => return Err(Denied::NotStaff.into()),
        };
        let role = self.check(&user, &claims.tenant_id, claims.ver).await?;
        Ok(Staff {
            user_id: user,
            tenant_id: claims.tenant_id.clone(),
            role,
            token_version: claims.ver,
        })
    }

    /// [`judge`] against the user's current state.
    pub async fn check(
        &self,
        user: &UserId,
        tenant: &TenantId,
        token_version: i64,
    ) -> Result<Role, AuthError> {
        let current = self.current(user).await?;
        Ok(judge(tenant, token_version, current.as_deref())?)
    }

    /// Call after a user's role, password or existence changed (once the change is
    /// committed): the cache forgets the user and open sessions re-check.
    pub fn changed(&self, user: &UserId) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(user);
        // No session listening is fine.
        let _ = self.changes.send(user.clone());
    }

    /// Ids of users whose access changed, as they change.
    pub fn changes(&self) -> broadcast::Receiver<UserId> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_role_and_version_decide() {
        let tenant = TenantId::new();
        let now = UserAccess {
            tenant: tenant.clone(),
            role: Role::Agent,
            token_version: 2,
        };
        assert_eq!(judge(&tenant, 2, Some(&now)), Ok(Role::Agent));
        assert_eq!(judge(&tenant, 1, Some(&now)), Err(Denied::Revoked));
        assert_eq!(judge(&tenant, 2, None), Err(Denied::Gone));
        assert_eq!(judge(&TenantId::new(), 2, Some(&now)), Err(Denied::Gone));
    }

    #[test]
    fn denials_map_to_the_contract() {
        use crate::error::{ClientError, ErrorCode};
        assert_eq!(AuthError::from(Denied::Gone).code(), ErrorCode::AuthError);
        assert_eq!(
            AuthError::from(Denied::Revoked).code(),
            ErrorCode::AuthError
        );
        assert_eq!(
            AuthError::from(Denied::NotStaff).code(),
            ErrorCode::Forbidden
        );
    }
}
