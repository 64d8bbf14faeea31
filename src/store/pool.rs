//! Connection pools for both backends, SQLite pragmas, embedded migrations.

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;

use super::{StoreError, StoreResult};
use crate::config::{DatabaseKind, DatabaseSettings};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

#[derive(Clone)]
pub enum DbPool {
    Sqlite { pool: SqlitePool, path: PathBuf },
    Postgres(PgPool),
}

pub enum DbConn {
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
    Postgres(PooledConnection<ConnectionManager<PgConnection>>),
}

/// WAL for concurrent readers beside the writer, foreign keys enforced, and a busy timeout
/// so writers queue instead of failing with SQLITE_BUSY.
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u64,
    synchronous: String,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
             PRAGMA foreign_keys = ON;",
            self.busy_timeout_ms, self.synchronous
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl DbPool {
    /// Opens the pool named by `database.url`; fails fast with a clear message when the
    /// database cannot be reached.
    pub fn connect(settings: &DatabaseSettings) -> StoreResult<Self> {
        let kind = settings
            .kind()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let timeout = Duration::from_millis(settings.connect_timeout_ms);
        match kind {
            DatabaseKind::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot create directory {}: {e}",
                            parent.display()
                        ))
                    })?;
                }
                let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
                let pool = Pool::builder()
                    .max_size(settings.pool_size)
                    .connection_timeout(timeout)
                    .connection_customizer(Box::new(SqlitePragmas {
                        busy_timeout_ms: settings.sqlite_busy_timeout_ms,
                        synchronous: settings.sqlite_synchronous.clone(),
                    }))
                    .build(manager)
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot open SQLite database {}: {e}",
                            path.display()
                        ))
                    })?;
                Ok(DbPool::Sqlite { pool, path })
            }
            DatabaseKind::Postgres => {
                let manager = ConnectionManager::<PgConnection>::new(settings.url.expose_secret());
                // No `SELECT 1` before every checkout: a round trip per store call. A
                // connection that broke fails its query, and r2d2 drops it when returned.
                let pool = Pool::builder()
                    .max_size(settings.pool_size)
                    .connection_timeout(timeout)
                    .test_on_check_out(false)
                    .build(manager)
                    .map_err(|e| {
                        StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}"))
                    })?;
                Ok(DbPool::Postgres(pool))
            }
        }
    }

    pub fn get(&self) -> StoreResult<DbConn> {
        Ok(match self {
            DbPool::Sqlite { pool, .. } => DbConn::Sqlite(pool.get()?),
            DbPool::Postgres(pool) => DbConn::Postgres(pool.get()?),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DbPool::Sqlite { .. } => "sqlite",
            DbPool::Postgres(_) => "postgres",
        }
    }

    /// Whether the store answers. For SQLite the file must also still exist: a deleted
    /// database file keeps answering through open handles but would lose everything on restart.
    pub fn ping(&self) -> StoreResult<()> {
        if let DbPool::Sqlite { path, .. } = self {
            if !path.exists() {
                return Err(StoreError::Unavailable(format!(
                    "database file {} is gone",
                    path.display()
                )));
            }
        }
        let mut conn = self.get()?;
        crate::db_run!(&mut conn, |c| c.batch_execute("SELECT 1"))?;
        Ok(())
    }
}

/// Applies pending migrations; returns how many ran (0 when the schema is current).
pub fn run_migrations(conn: &mut DbConn) -> StoreResult<usize> {
    let applied = match conn {
        DbConn::Sqlite(pooled) => {
            let c: &mut SqliteConnection = &mut *pooled;
            c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len())
        }
        DbConn::Postgres(pooled) => {
            let c: &mut PgConnection = &mut *pooled;
            c.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}
