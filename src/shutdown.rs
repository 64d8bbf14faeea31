//! Graceful shutdown (SIGTERM or Ctrl-C, see `Application::run_until_signalled`): the node
//! stops accepting, tells its long-lived connections to reconnect elsewhere (WebSocket: a
//! `reconnect` frame and close code 1012; SSE: `event: reconnect` and the end of the stream),
//! waits for in-flight AI turns and the message writer, and exits within
//! `server.shutdown_timeout_seconds`.
//!
//! Without the notice, an SSE stream whose client had gone kept its connection (CLOSE-WAIT)
//! until the HTTP server's own 30 s shutdown timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// Why a connection is asked to reconnect (the `reason` of the `reconnect` frame and event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectReason {
    /// This node is stopping (a deploy or a scale-down): another node will serve.
    NodeStopping,
}

/// The node-wide "stopping" flag that long-lived connections watch.
#[derive(Clone)]
pub struct Shutdown {
    flag: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (flag, _) = watch::channel(false);
        Shutdown {
            flag: Arc::new(flag),
        }
    }

    /// Starts the shutdown: every watcher is told at once.
    pub fn begin(&self) {
        self.flag.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.flag.borrow()
    }

    pub fn watch(&self) -> watch::Receiver<bool> {
        self.flag.subscribe()
    }
}

/// Resolves once the node is stopping; never when it is not (the flag lives as long as the
/// application, so a closed channel also means "never").
pub async fn stopping(watcher: &mut watch::Receiver<bool>) {
    if watcher.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Work that a graceful shutdown waits for (AI turns from the provider call to the stored
/// reply): a count of live guards and a wake-up when it reaches zero.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One piece of in-flight work; dropping it ends the piece.
pub struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Resolves when no work is in flight. Work may start again afterwards; the caller
    /// bounds the wait with its deadline.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so a guard dropped in between still wakes us.
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_guard() {
        let work = Arc::new(InFlight::default());
        work.idle().await;
        let first = work.enter();
        let second = work.enter();
        assert_eq!(work.count(), 2);
        let waiter = tokio::spawn({
            let work = work.clone();
            async move { work.idle().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one guard is still alive");
        drop(second);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("idle once both are gone")
            .expect("joins");
        assert_eq!(work.count(), 0);
    }

    #[tokio::test]
    async fn watchers_are_told_once_stopping_begins() {
        let shutdown = Shutdown::new();
        let mut watcher = shutdown.watch();
        assert!(!shutdown.is_stopping());
        let told = tokio::spawn(async move { stopping(&mut watcher).await });
        tokio::task::yield_now().await;
        assert!(!told.is_finished());
        shutdown.begin();
        tokio::time::timeout(std::time::Duration::from_secs(5), told)
            .await
            .expect("told")
            .expect("joins");
        assert!(shutdown.is_stopping());
    }
}
