//! `POST /api/v1/auth/token`: e-mail and password in, a bearer token out. Log-in is
//! throttled per client address and per account (each try costs an argon2 hash), and the
//! hashes themselves wait for one of a few slots (see [`PasswordHasher`]).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use crate::accounts::{self, PasswordHasher};
use crate::auth::TokenKeys;
use crate::config::AuthSettings;
use crate::domain::{validate, Role};
use crate::error::{ErrorBody, ErrorCode};
use crate::store::{users, Store};
use crate::telemetry::TrustedProxies;

/// Keys a limiter keeps before it forgets those whose bucket is full again (a flood of
/// distinct addresses or e-mails must not grow memory for good).
const MAX_TRACKED_KEYS: usize = 100_000;

/// Log-in attempts allowed per minute from one client address and for one account.
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

/// Why a log-in was refused before its password was looked at, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl LoginLimiter {
    pub fn new(settings: &AuthSettings) -> Self {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
        };
        LoginLimiter {
            per_ip: RateLimiter::keyed(quota(settings.login_per_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(settings.login_per_account_per_minute)),
        }
    }

    /// Takes one attempt from the address's and the account's buckets (the account's only
    /// when the address had room, so one address cannot drain others' accounts faster).
    pub fn admit(&self, client: Option<IpAddr>, email: &str) -> Result<(), Throttled> {
        let wait = |not_until: governor::NotUntil<_>| Throttled {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        };
        if let Some(ip) = client {
            if self.per_ip.len() > MAX_TRACKED_KEYS {
                self.per_ip.retain_recent();
            }
            self.per_ip.check_key(&ip).map_err(wait)?;
        }
        if self.per_account.len() > MAX_TRACKED_KEYS {
            self.per_account.retain_recent();
        }
        self.per_account
            .check_key(&validate::normalize_email(email))
            .map_err(wait)
    }
}

/// 429 `RATE_LIMITED` with `Retry-After` in whole seconds (at least 1).
fn throttled_response(throttled: Throttled) -> HttpResponse {
    let seconds = throttled.retry_after.as_secs_f64().ceil().max(1.0);
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", format!("{seconds:.0}")))
        .json(ErrorBody {
            error: "too many log-in attempts; try again later".into(),
            code: ErrorCode::RateLimited,
            details: None,
        })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenUser {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub user: TokenUser,
}

impl TokenResponse {
    /// A fresh staff token for `user`, who signed in (or was just created) with `role`.
    pub fn signed_in(keys: &TokenKeys, user: users::User, role: Role) -> ApiResult<Self> {
        let token = keys.issue_staff(&user.id, &user.tenant_id, role, user.token_version)?;
        Ok(TokenResponse {
            token,
            user: TokenUser {
                id: user.id.0,
                tenant_id: user.tenant_id.0,
                name: user.name,
                email: user.email,
                role,
            },
        })
    }
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "too many attempts; see Retry-After")))]
pub async fn token(
    req: HttpRequest,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    keys: web::Data<TokenKeys>,
    limiter: web::Data<LoginLimiter>,
    proxies: web::Data<TrustedProxies>,
    body: web::Json<TokenRequest>,
) -> ApiResult<HttpResponse> {
    if let Err(throttled) = limiter.admit(proxies.client_of(&req), &body.email) {
        return Ok(throttled_response(throttled));
    }
    let user = accounts::authenticate(&store, &hasher, &body.email, &body.password).await?;
    let role = Role::parse(&user.role)
        .ok_or_else(|| ApiError::Internal(format!("stored role `{}` unknown", user.role)))?;
    Ok(HttpResponse::Ok().json(TokenResponse::signed_in(&keys, user, role)?))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(token));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_ip: u32, per_account: u32) -> AuthSettings {
        let mut auth = crate::config::Settings::load_from(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            "test",
            false,
            &[],
        )
        .expect("test settings")
        .auth;
        auth.login_per_ip_per_minute = per_ip;
        auth.login_per_account_per_minute = per_account;
        auth
    }

    #[test]
    fn addresses_and_accounts_have_their_own_buckets() {
        let limiter = LoginLimiter::new(&settings(3, 2));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limiter.admit(Some(a), "x@t.test").is_ok());
        assert!(limiter.admit(Some(a), "y@t.test").is_ok());
        assert!(limiter.admit(Some(a), "z@t.test").is_ok());
        let throttled = limiter
            .admit(Some(a), "w@t.test")
            .expect_err("address spent");
        assert!(throttled.retry_after > Duration::ZERO);
        // The account bucket counts across addresses, and e-mails are normalized.
        assert!(limiter.admit(Some(b), " X@T.test").is_ok());
        assert!(limiter.admit(Some(b), "x@t.test").is_err());
        assert!(limiter.admit(Some(b), "q@t.test").is_ok());
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        let response = throttled_response(Throttled {
            retry_after: Duration::from_millis(1200),
        });
        assert_eq!(response.status(), 429);
        assert_eq!(
            response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        let response = throttled_response(Throttled {
            retry_after: Duration::ZERO,
        });
        assert_eq!(
            response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }
}
