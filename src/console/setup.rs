//! First run: while no user exists, `POST /api/v1/setup` creates the tenant and its first
//! admin. It needs the one-time code the server prints in its log at start, so whoever can
//! reach a fresh install over the network cannot take it over; only who can read its log.

use actix_web::{web, HttpResponse};
use rand::Rng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::accounts::{self, NewUser, PasswordHasher};
use crate::api::error::{ApiError, ApiResult};
use crate::api::session::TokenResponse;
use crate::auth::TokenKeys;
use crate::domain::Role;
use crate::store::{users, Store};

/// Letters and digits a person cannot confuse when typing the code from a log.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 16 symbols of 32: 80 bits, far beyond guessing over HTTP.
const CODE_LEN: usize = 16;
const GROUP: usize = 4;
const MAX_TENANT_LEN: usize = 48;

/// The set-up code of this run, and the lock that makes two set-ups at once impossible.
pub struct SetupGate {
    code: String,
    creating: tokio::sync::Mutex<()>,
}

impl SetupGate {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let code = (0..CODE_LEN)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        Self::with_code(code)
    }

    pub fn with_code(code: String) -> Self {
        SetupGate {
            code: normalize(&code),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// The code as printed: groups of four (`ABCD-EFGH-…`).
    pub fn display_code(&self) -> String {
        self.code
            .as_bytes()
            .chunks(GROUP)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Constant-time, so response timing says nothing about how much of a guess was right.
    /// Dashes, spaces and case do not matter.
    pub fn matches(&self, candidate: &str) -> bool {
        let candidate = normalize(candidate);
        candidate.len() == self.code.len()
            && bool::from(candidate.as_bytes().ct_eq(self.code.as_bytes()))
    }

    /// At start: print the code when the install has no user yet.
    pub async fn announce(&self, store: &Store) -> Result<(), crate::store::StoreError> {
        if store.run(users::count_all).await? == 0 {
            tracing::warn!(
                setup_code = %self.display_code(),
                "no user exists yet: open the console (/) and set it up with this one-time code \
                 (set-up code: {})",
                self.display_code()
            );
        }
        Ok(())
    }
}

fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A tenant's slug from the name typed: lowercase ASCII letters, digits and single dashes.
pub fn tenant_slug(name: &str) -> Option<String> {
    let mut slug = String::new();
    for c in name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug
        .trim_end_matches('-')
        .chars()
        .take(MAX_TENANT_LEN)
        .collect();
    let slug = slug.trim_end_matches('-').to_string();
    (!slug.is_empty()).then_some(slug)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True while no user exists: the console shows the set-up page.
    pub needed: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time code from the server's log.
    pub code: String,
    /// The organisation's name; its slug (lowercase, dashes) names the tenant.
    pub tenant: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

#[utoipa::path(get, path = "/api/v1/setup", tag = "setup",
    responses((status = 200, body = SetupStatus)))]
pub async fn status(store: web::Data<Store>) -> ApiResult<HttpResponse> {
    let users = store.run(users::count_all).await?;
    Ok(HttpResponse::Ok().json(SetupStatus { needed: users == 0 }))
}

#[utoipa::path(post, path = "/api/v1/setup", tag = "setup", request_body = SetupRequest,
    responses((status = 201, body = TokenResponse),
        (status = 403, description = "wrong set-up code", body = crate::error::ErrorBody),
        (status = 409, description = "already set up", body = crate::error::ErrorBody),
        (status = 400, body = crate::error::ErrorBody)))]
pub async fn complete(
    gate: web::Data<SetupGate>,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    keys: web::Data<TokenKeys>,
    body: web::Json<SetupRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    // One set-up at a time: the second waits, then finds a user and is refused.
    let _creating = gate.creating.lock().await;
    if store.run(users::count_all).await? > 0 {
        return Err(ApiError::Conflict("the console is already set up".into()));
    }
    if !gate.matches(&body.code) {
        return Err(ApiError::Forbidden("wrong set-up code".into()));
    }
    let slug = tenant_slug(&body.tenant)
        .ok_or_else(|| ApiError::field("tenant", "must contain letters or digits"))?;
    let new = NewUser {
        // Replaced below, once the tenant exists; validated first so a bad field
        // creates nothing.
        tenant_id: crate::domain::TenantId::new(),
        name: body.name,
        email: body.email,
        password: body.password,
        role: Role::Admin,
        max_conversations: 10,
        specialties: vec![],
        department_ids: vec![],
        available: false,
    }
    .validate()?;
    let tenant = accounts::ensure_tenant(&store, &slug).await?;
    let user = accounts::create_user(
        &store,
        &hasher,
        NewUser {
            tenant_id: tenant.id,
            ..new
        },
    )
    .await?;
    tracing::info!(tenant = %tenant.slug, "console set up: first admin created");
    Ok(HttpResponse::Created().json(TokenResponse::signed_in(&keys, user, Role::Admin)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_unambiguous_and_differ() {
        let a = SetupGate::generate();
        let b = SetupGate::generate();
        assert_eq!(a.code.len(), CODE_LEN);
        assert!(a.code.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a.code, b.code);
        assert_eq!(a.display_code().len(), CODE_LEN + CODE_LEN / GROUP - 1);
    }

    #[test]
    fn the_code_matches_however_it_is_typed() {
        let gate = SetupGate::with_code("ABCD-EFGH-JKLM-NPQR".into());
        assert!(gate.matches("abcd efgh jklm npqr"));
        assert!(gate.matches("ABCDEFGHJKLMNPQR"));
        assert!(!gate.matches("ABCDEFGHJKLMNPQS"));
        assert!(!gate.matches("ABCDEFGHJKLMNPQ"));
        assert!(!gate.matches(""));
    }

    #[test]
    fn tenant_slugs() {
        assert_eq!(tenant_slug("Acme Ltda."), Some("acme-ltda".into()));
        assert_eq!(tenant_slug("  --Loja  2 "), Some("loja-2".into()));
        assert_eq!(tenant_slug("São Paulo"), Some("s-o-paulo".into()));
        assert_eq!(tenant_slug("!!!"), None);
        assert_eq!(tenant_slug(&"a".repeat(100)).map(|s| s.len()), Some(48));
    }
}
