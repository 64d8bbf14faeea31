//! The store: diesel over SQLite (embedded default) or PostgreSQL, chosen at run time from the
//! URL scheme. One query code path serves both: repository functions take `&mut DbConn` and
//! expand their diesel query once per backend with [`db_run!`], so each is type-checked against
//! both SQLite and PostgreSQL at compile time. Blocking diesel calls only ever run on the
//! store's `SyncArbiter` threads ([`Store::run`]).

pub mod cache;
pub mod claims;
pub mod distribution;
pub mod executor;
pub mod pool;
pub mod schema;

pub mod activities;
pub mod agent_slugs;
pub mod agents;
pub mod analytics;
pub mod auto_create;
pub mod automations;
pub mod board;
pub mod calendar;
pub mod canned;
pub mod contacts;
pub mod contacts_admin;
pub mod conversations;
pub mod crm;
pub mod csat;
pub mod deliveries;
pub mod departments;
pub mod escalation;
pub mod feedback;
pub mod funnels;
pub mod integrations;
pub mod knowledge;
pub mod memories;
pub mod message_status;
pub mod messages;
pub mod notes;
pub mod ownership;
pub mod presence;
pub mod receipts;
pub mod request_windows;
pub mod sealed;
pub mod sub_agents;
pub mod tags;
pub mod tenant_settings;
pub mod tenants;
pub mod timers;
pub mod tools;
pub mod turns;
pub mod users;
pub mod visitor_quotas;
pub mod webhooks;

pub use executor::Store;
pub use pool::{DbConn, DbPool};

/// Runs `$body` with `$c` bound to the concrete connection of whichever backend `$conn` holds.
#[macro_export]
macro_rules! db_run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite(pooled) => {
                let $c: &mut diesel::SqliteConnection = &mut *pooled;
                $body
            }
            $crate::store::DbConn::Postgres(pooled) => {
                let $c: &mut diesel::PgConnection = &mut *pooled;
                $body
            }
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Cluster mode: the write belongs to a tenant this node no longer owns (its lease ran
    /// out or was taken over); nothing was written. The new owner serves a retry.
    #[error("fenced: {0}")]
    Fenced(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    /// A store job panicked; the thread caught it and serves the next job.
    #[error("store job panicked: {0}")]
    Panicked(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(err: r2d2::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Rows per multi-row INSERT: far under SQLite's 32,766 and PostgreSQL's 65,535 bind
/// parameters for the widest table (conversations, 29 columns).
pub const ROWS_PER_INSERT: usize = 500;

/// The current time, truncated to microseconds so it round-trips identically through both
/// backends (PostgreSQL keeps microseconds).
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    let micros = now.and_utc().timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .unwrap_or(now)
}

/// Decodes a JSON column written by the engine; a bad value is corruption, not bad input.
pub fn json_column<T: serde::de::DeserializeOwned>(raw: &str, column: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}
