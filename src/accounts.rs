//! Accounts: tenants, staff users, password hashing (argon2id) and log-in. Shared by the
//! REST API, the CLI and the bootstrap at start-up.

use argon2::password_hash::{
    rand_core::OsRng, Output, ParamsString, PasswordHash, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::ExposeSecret;
use std::sync::Arc;

use crate::config::{AuthSettings, BootstrapSettings};
use crate::domain::{validate, Role, TenantId, UserId};
use crate::store::{self, tenants, users, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field} {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("a user with this e-mail already exists in the tenant")]
    EmailTaken,
    #[error("invalid e-mail or password")]
    BadCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Argon2id with the configured cost. Verification reads the cost from each stored hash,
/// so changing the configuration never locks anyone out.
///
/// Every hash and verification off the async workers waits for one of
/// `auth.max_concurrent_hashes` slots: each takes `argon2_memory_kib` of memory, so a flood of
/// log-ins queues instead of growing the process without bound.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    gate: Arc<HashGate>,
}

/// The slots, and how full they are (exported to Prometheus).
struct HashGate {
    slots: Arc<tokio::sync::Semaphore>,
    /// One thread per slot runs every hash. Not the shared blocking pool: argon2's memory,
    /// freed after each hash, stays in the allocator arena of the thread that used it, so
    /// hashes spread over many blocking threads would keep `argon2_memory_kib` per thread
    /// (about +480 MiB under 1,000 concurrent bad log-ins); a fixed pool keeps it to one
    /// per slot.
    pool: rayon::ThreadPool,
    /// Argon2's working memory (`argon2_memory_kib`), one buffer per slot, allocated once
    /// and reused by every hash: freeing and re-allocating it per hash left the allocator
    /// holding fragments of it (+235 to +310 MiB resident under 1,000 concurrent bad log-ins;
    /// +64 MiB with the memory reused).
    memory: std::sync::Mutex<Vec<Vec<Block>>>,
    size: usize,
    in_flight: prometheus::IntGauge,
    peak: prometheus::IntGauge,
    total: prometheus::IntCounter,
}

impl HashGate {
    fn new(size: usize) -> Result<Self, AccountError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(size)
            .thread_name(|i| format!("password-hash-{i}"))
            .build()
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        let metric = |e: prometheus::Error| AccountError::Hashing(e.to_string());
        Ok(HashGate {
            slots: Arc::new(tokio::sync::Semaphore::new(size)),
            pool,
            memory: std::sync::Mutex::new(Vec::with_capacity(size)),
            size,
            in_flight: prometheus::IntGauge::new(
                "password_hashes_in_flight",
                "Password hashes and verifications running now",
            )
            .map_err(metric)?,
            peak: prometheus::IntGauge::new(
                "password_hashes_in_flight_peak",
                "Most password hashes and verifications seen running at once",
            )
            .map_err(metric)?,
            total: prometheus::IntCounter::new(
                "password_hashes_total",
                "Password hashes and verifications computed",
            )
            .map_err(metric)?,
        })
    }
}

/// Concurrent hashes for `max_concurrent_hashes` (0 = one per core).
pub fn hash_slots(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl PasswordHasher {
    pub fn new(settings: &AuthSettings) -> Result<Self, AccountError> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| AccountError::Hashing(e.to_string()))?;
        Ok(PasswordHasher {
            params,
            gate: Arc::new(HashGate::new(hash_slots(settings.max_concurrent_hashes))?),
        })
    }

    /// Exports the slot gauges (`atende_password_hash_slots`, `…_in_flight`, `…_peak`,
    /// `atende_password_hashes_total`).
    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        let slots = prometheus::IntGauge::new(
            "password_hash_slots",
            "Password hashes allowed at once (auth.max_concurrent_hashes)",
        )?;
        slots.set(i64::try_from(self.gate.size).unwrap_or(i64::MAX));
        registry.register(Box::new(slots))?;
        registry.register(Box::new(self.gate.in_flight.clone()))?;
        registry.register(Box::new(self.gate.peak.clone()))?;
        registry.register(Box::new(self.gate.total.clone()))?;
        Ok(())
    }

    pub fn hash(&self, password: &str) -> Result<String, AccountError> {
        self.hash_in(password, &mut Vec::new())
    }

    pub fn verify(&self, password: &str, hash: &str) -> bool {
        self.verify_in(password, hash, &mut Vec::new())
    }

    /// Hashes with the configured cost in `memory` (grown to the cost when smaller).
    fn hash_in(&self, password: &str, memory: &mut Vec<Block>) -> Result<String, AccountError> {
        let salt = SaltString::generate(&mut OsRng);
        let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
        let output = digest(
            algorithm,
            version,
            self.params.clone(),
            password,
            salt.as_salt(),
            memory,
        )
        .map_err(|e| AccountError::Hashing(e.to_string()))?;
        let params = ParamsString::try_from(&self.params)
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
        .to_string())
    }

    /// Checks `password` against a stored PHC string with the cost that string names.
    fn verify_in(&self, password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(version), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            parsed
                .version
                .map_or(Ok(Version::default()), Version::try_from),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        // `Output`'s equality is constant-time.
        digest(algorithm, version, params, password, salt, memory)
            .is_ok_and(|computed| computed == expected)
    }

    /// Runs `work` (hashing: CPU-bound for tens of milliseconds, memory-hungry) on the
    /// hashing threads once a slot is free.
    async fn bounded<R: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher, &mut Vec<Block>) -> R + Send + 'static,
    ) -> Result<R, AccountError> {
        let permit = self
            .gate
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        let hasher = self.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        self.gate.pool.spawn(move || {
            let gate = &hasher.gate;
            gate.in_flight.inc();
            let now = gate.in_flight.get();
            if now > gate.peak.get() {
                gate.peak.set(now);
            }
            let mut memory = gate
                .memory
                .lock()
                .map(|mut spare| spare.pop())
                .unwrap_or_default()
                .unwrap_or_default();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                work(&hasher, &mut memory)
            }));
            if let Ok(mut spare) = gate.memory.lock() {
                spare.push(memory);
            }
            gate.in_flight.dec();
            gate.total.inc();
            drop(permit);
            // A caller that gave up needs no answer.
            let _ = done.send(result);
        });
        match result.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(AccountError::Hashing("the hash panicked".into())),
            Err(_) => Err(AccountError::Hashing("the hashing thread stopped".into())),
        }
    }

    /// Verification costs what hashing does: bounded and off the async workers too.
    pub async fn verify_off_thread(
        &self,
        password: String,
        hash: String,
    ) -> Result<bool, AccountError> {
        self.bounded(move |h, memory| h.verify_in(&password, &hash, memory))
            .await
    }

    pub async fn hash_off_thread(&self, password: String) -> Result<String, AccountError> {
        self.bounded(move |h, memory| h.hash_in(&password, memory))
            .await?
    }
}

/// Argon2 over `memory` (grown to the cost when smaller, never shrunk: it is reused).
fn digest(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &str,
    salt: Salt<'_>,
    memory: &mut Vec<Block>,
) -> argon2::password_hash::Result<Output> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(length, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
            .map_err(Into::into)
    })
}

/// A validated new user, ready to hash and store.
pub struct NewUser {
    pub tenant_id: TenantId,
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: Role,
    pub max_conversations: i32,
    pub specialties: Vec<String>,
    pub department_ids: Vec<String>,
    pub available: bool,
}

impl NewUser {
    pub fn validate(mut self) -> Result<Self, AccountError> {
        if let Some(reason) = validate::check_name(&self.name) {
            return Err(AccountError::Invalid {
                field: "name",
                reason,
            });
        }
        self.name = self.name.trim().to_string();
        self.email = validate::normalize_email(&self.email);
        if !validate::is_email(&self.email) {
            return Err(AccountError::Invalid {
                field: "email",
                reason: "is not a valid e-mail address",
            });
        }
        if let Some(reason) = validate::check_password(&self.password) {
            return Err(AccountError::Invalid {
                field: "password",
                reason,
            });
        }
        if self.max_conversations < 0 {
            return Err(AccountError::Invalid {
                field: "max_conversations",
                reason: "must not be negative",
            });
        }
        Ok(self)
    }
}

pub async fn create_user(
    store: &Store,
    hasher: &PasswordHasher,
    new: NewUser,
) -> Result<users::User, AccountError> {
    let new = new.validate()?;
    let password_hash = hasher.hash_off_thread(new.password.clone()).await?;
    let now = store::now();
    let user = users::User {
        id: UserId::new(),
        tenant_id: new.tenant_id,
        name: new.name,
        email: new.email,
        password_hash,
        role: new.role.as_str().to_string(),
        max_conversations: new.max_conversations,
        specialties: json_list(&new.specialties),
        department_ids: json_list(&new.department_ids),
        available: new.available,
        presence: "offline".into(),
        working_hours: "{}".into(),
        created_at: now,
        updated_at: now,
        token_version: 0,
    };
    let stored = user.clone();
    store
        .run(move |conn| users::insert(conn, &stored))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AccountError::EmailTaken,
            other => AccountError::Store(other),
        })?;
    Ok(user)
}

pub fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

/// Checks e-mail and password; the same answer (and about the same time) for an unknown
/// e-mail as for a wrong password, so log-in cannot be used to discover accounts.
pub async fn authenticate(
    store: &Store,
    hasher: &PasswordHasher,
    email: &str,
    password: &str,
) -> Result<users::User, AccountError> {
    let email = validate::normalize_email(email);
    let candidates = store
        .run(move |conn| users::find_by_email(conn, &email))
        .await?;
    let password = password.to_string();
    hasher
        .bounded(move |hasher, memory| {
            if candidates.is_empty() {
                // Spend the same effort as a real check.
                let _ = hasher.hash_in(&password, memory);
                return Err(AccountError::BadCredentials);
            }
            candidates
                .into_iter()
                .find(|u| hasher.verify_in(&password, &u.password_hash, memory))
                .ok_or(AccountError::BadCredentials)
        })
        .await?
}

/// Finds the tenant with `slug`, creating it when missing.
pub async fn ensure_tenant(store: &Store, slug: &str) -> Result<tenants::Tenant, AccountError> {
    let slug = slug.trim().to_lowercase();
    if slug.is_empty() {
        return Err(AccountError::Invalid {
            field: "tenant",
            reason: "must not be empty",
        });
    }
    let found = {
        let slug = slug.clone();
        store
            .run(move |conn| tenants::find_by_slug(conn, &slug))
            .await?
    };
    if let Some(tenant) = found {
        return Ok(tenant);
    }
    let tenant = tenants::Tenant {
        id: TenantId::new(),
        name: slug.clone(),
        slug,
        created_at: store::now(),
    };
    let stored = tenant.clone();
    store
        .run(move |conn| tenants::insert(conn, &stored))
        .await?;
    Ok(tenant)
}

/// First start with an empty store and bootstrap credentials set: create the tenant and its
/// admin. Returns whether anything was created.
pub async fn bootstrap(
    store: &Store,
    hasher: &PasswordHasher,
    settings: &BootstrapSettings,
) -> Result<bool, AccountError> {
    let email = settings.admin_email.trim();
    if email.is_empty() {
        return Ok(false);
    }
    if store.run(tenants::count).await? > 0 {
        return Ok(false);
    }
    let tenant = ensure_tenant(store, &settings.tenant).await?;
    create_user(
        store,
        hasher,
        NewUser {
            tenant_id: tenant.id,
            name: settings.admin_name.clone(),
            email: email.to_string(),
            password: settings.admin_password.expose_secret().to_string(),
            role: Role::Admin,
            max_conversations: 0,
            specialties: vec![],
            department_ids: vec![],
            available: false,
        },
    )
    .await?;
    tracing::info!(tenant = %settings.tenant, "bootstrap admin created");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher {
            params: Params::new(256, 1, 1, None).expect("valid params"),
            gate: Arc::new(HashGate::new(2).expect("valid metric names")),
        }
    }

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let h = hasher();
        let a = h.hash("correct horse").expect("hashes");
        let b = h.hash("correct horse").expect("hashes");
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", &a));
        assert!(!h.verify("wrong horse", &a));
        assert!(!h.verify("correct horse", "not a hash"));
    }

    /// Stored hashes stay plain PHC strings: the stock verifier reads ours, ours reads the
    /// stock hasher's (other costs included), and a reused buffer larger than the cost works.
    #[test]
    fn hashes_in_reused_memory_match_stock_argon2_both_ways() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let h = hasher();
        let ours = h.hash("correct horse").expect("hashes");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let stock = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(512, 2, 1, None).expect("valid params"),
        )
        .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
        .expect("hashes")
        .to_string();
        let mut memory = Vec::new();
        assert!(h.verify_in("correct horse", &stock, &mut memory));
        assert_eq!(memory.len(), 512, "grown to the stored cost");
        assert!(!h.verify_in("correct horsE", &stock, &mut memory));
        assert!(h.verify_in("correct horse", &ours, &mut memory));
        assert_eq!(memory.len(), 512, "a larger buffer is reused, not shrunk");
    }

    #[test]
    fn hash_slots_default_to_the_cores() {
        assert_eq!(hash_slots(3), 3);
        assert!(hash_slots(0) >= 1);
    }

    #[tokio::test]
    async fn concurrent_hashing_never_exceeds_its_slots() {
        let h = hasher();
        let jobs: Vec<_> = (0..16)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash_off_thread(format!("password {i}")).await })
            })
            .collect();
        for job in jobs {
            assert!(job.await.expect("joins").is_ok());
        }
        assert_eq!(h.gate.total.get(), 16);
        assert!(
            h.gate.peak.get() >= 1 && h.gate.peak.get() <= 2,
            "{}",
            h.gate.peak.get()
        );
        assert_eq!(h.gate.in_flight.get(), 0);
    }

    #[test]
    fn new_user_validation_names_fields() {
        let base = || NewUser {
            tenant_id: TenantId::new(),
            name: " Ana ".into(),
            email: " Ana@Example.com".into(),
            password: "long enough".into(),
            role: Role::Agent,
            max_conversations: 5,
            specialties: vec![],
            department_ids: vec![],
            available: true,
        };
        let ok = base().validate().expect("valid");
        assert_eq!(ok.email, "ana@example.com");
        assert_eq!(ok.name, "Ana");
        let bad = NewUser {
            email: "nope".into(),
            ..base()
        };
        assert!(matches!(
            bad.validate(),
            Err(AccountError::Invalid { field: "email", .. })
        ));
        let bad = NewUser {
            password: "short".into(),
            ..base()
        };
        assert!(matches!(
            bad.validate(),
            Err(AccountError::Invalid {
                field: "password",
                ..
            })
        ));
    }
}
