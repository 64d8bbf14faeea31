//! The store's `SyncArbiter`: a fixed set of threads that own the blocking diesel calls, so
//! no actor or HTTP worker ever blocks its event loop on the database.

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;

use actix::prelude::*;

use super::{DbConn, DbPool, StoreError, StoreResult};

pub struct DbExecutor {
    pool: DbPool,
}

impl Actor for DbExecutor {
    type Context = SyncContext<Self>;
}

/// A unit of database work: a closure run on one pooled connection.
pub struct Exec<F, R>(F, PhantomData<fn() -> R>);

impl<F, R> Message for Exec<F, R>
where
    F: FnOnce(&mut DbConn) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    type Result = StoreResult<R>;
}

impl<F, R> Handler<Exec<F, R>> for DbExecutor
where
    F: FnOnce(&mut DbConn) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    type Result = StoreResult<R>;

    fn handle(&mut self, msg: Exec<F, R>, _: &mut Self::Context) -> Self::Result {
        let conn = self.pool.get()?;
        run_caught(conn, msg.0)
    }
}

/// Runs one job so that a panic inside it costs only that job: a `SyncArbiter` never restarts
/// a thread whose handler panicked, so an uncaught panic would lose a store thread for good.
/// The connection is moved into the guarded closure on purpose: when the job panics it is
/// dropped while the thread unwinds, and r2d2 then discards it instead of handing a
/// connection with a half-finished transaction to the next job.
fn run_caught<F, R>(mut conn: DbConn, work: F) -> StoreResult<R>
where
    F: FnOnce(&mut DbConn) -> StoreResult<R>,
{
    // Unwind safety: the job's captures are dropped with it and the connection is
    // discarded, so nothing the panic may have left half-updated is observed afterwards.
    std::panic::catch_unwind(AssertUnwindSafe(move || work(&mut conn))).unwrap_or_else(|payload| {
        let reason = panic_message(payload.as_ref());
        tracing::error!(panic = %reason, "store job panicked; the thread goes on");
        Err(StoreError::Panicked(reason))
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_string()
    }
}

/// Handle to the store: cheap to clone, usable from any actor or handler.
#[derive(Clone)]
pub struct Store {
    executor: Addr<DbExecutor>,
    pool: DbPool,
}

impl Store {
    /// Starts `threads` executor threads over `pool`. Needs a running actix system.
    pub fn start(pool: DbPool, threads: usize) -> Self {
        let for_threads = pool.clone();
        let executor = SyncArbiter::start(threads, move || DbExecutor {
            pool: for_threads.clone(),
        });
        Store { executor, pool }
    }

    /// Runs `work` on a store thread and awaits its result.
    pub async fn run<F, R>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.executor
            .send(Exec(work, PhantomData))
            .await
            .map_err(|_| StoreError::Unavailable("store executor stopped".into()))?
    }

    /// Like [`Store::run`] inside one transaction.
    pub async fn transaction<F, R>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.run(move |conn| transaction(conn, work)).await
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let pool = self.pool.clone();
        self.run(move |_| pool.ping()).await
    }

    pub fn backend_name(&self) -> &'static str {
        self.pool.backend_name()
    }
}

/// Runs `work` in a transaction on whichever backend `conn` is; nested calls become
/// savepoints. On SQLite the outer transaction is `BEGIN IMMEDIATE`: a deferred one that reads
/// first and writes later fails with "database is locked" instead of waiting for the busy
/// timeout when another connection is writing.
pub fn transaction<F, R>(conn: &mut DbConn, work: F) -> StoreResult<R>
where
    F: FnOnce(&mut DbConn) -> StoreResult<R>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    // The closure needs the `DbConn` wrapper (repositories take it), so the transaction is
    // driven through the manager instead of `Connection::transaction`.
    match conn {
        DbConn::Sqlite(pooled) => {
            let c: &mut diesel::SqliteConnection = &mut *pooled;
            let outermost = AnsiTransactionManager::transaction_manager_status_mut(c)
                .transaction_depth()?
                .is_none();
            if outermost {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            } else {
                AnsiTransactionManager::begin_transaction(c)?;
            }
        }
        DbConn::Postgres(pooled) => {
            let c: &mut diesel::PgConnection = &mut *pooled;
            AnsiTransactionManager::begin_transaction(c)?;
        }
    }
    let result = work(conn);
    match &result {
        Ok(_) => crate::db_run!(conn, |c| AnsiTransactionManager::commit_transaction(c))?,
        Err(_) => {
            // The work's error is what the caller needs; a failed rollback leaves the
            // connection broken, and r2d2 discards broken connections.
            let _ = crate::db_run!(conn, |c| AnsiTransactionManager::rollback_transaction(c));
        }
    }
    result
}
