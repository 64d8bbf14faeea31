//! The work queues' claims as a node sees them (src/store/claims.rs): who this node is, how
//! long a claim holds, and the poller that takes over due work nobody holds (left by a
//! node that died, or whose claim ran out).

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::engine::sender::ChannelSender;
use crate::engine::webhooks::WebhookDispatcher;
use crate::shutdown::Shutdown;
use crate::store::claims::{self, WorkQueue};
use crate::store::Store;

/// The claimant of a single node: after a restart it holds what it held before, so its
/// unfinished work resumes at once.
pub const SINGLE_NODE: &str = "local";

/// Items claimed per poll and queue; the rest wait for the next poll.
pub const CLAIM_BATCH: i64 = 200;

#[derive(Debug, Clone)]
pub struct WorkClaims {
    pub node: String,
    hold: chrono::Duration,
    poll: Duration,
}

impl WorkClaims {
    pub fn new(node: String, settings: &super::ClusterSettings) -> Self {
        WorkClaims {
            node,
            hold: chrono::Duration::seconds(
                i64::try_from(settings.claim_seconds).unwrap_or(i64::MAX / 1000),
            ),
            poll: Duration::from_millis(settings.poll_interval_ms),
        }
    }

    /// Now, and the end of a claim taken now.
    pub fn window(&self) -> (NaiveDateTime, NaiveDateTime) {
        let now = crate::store::now();
        (now, now + self.hold)
    }

    /// Whether a claim of this node that runs `until` still covers an attempt started now:
    /// at least half of it is left, so the attempt ends well before another node may take it.
    pub fn still_holds(&self, until: NaiveDateTime) -> bool {
        crate::store::now() + self.hold / 2 < until
    }

    /// Claims (or renews) `id` for this node before an attempt: false when another node
    /// holds it or it is done. A store that does not answer claims nothing; the item stays
    /// pending for a later poll.
    pub async fn hold(&self, store: &Store, queue: WorkQueue, id: &str) -> bool {
        let (now, until) = self.window();
        let (node, id) = (self.node.clone(), id.to_string());
        match store
            .run(move |conn| claims::claim(conn, queue, &id, &node, now, until))
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(queue = ?queue, error = %e, "work item not claimed; left for a later poll");
                false
            }
        }
    }

    /// Claims due unheld items of `queue`; their ids.
    pub async fn claim_due(&self, store: &Store, queue: WorkQueue) -> Vec<String> {
        let (now, until) = self.window();
        let node = self.node.clone();
        match store
            .run(move |conn| claims::claim_due(conn, queue, &node, now, until, CLAIM_BATCH))
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(queue = ?queue, error = %e, "due work not claimed");
                Vec::new()
            }
        }
    }
}

/// Polls the work queues until the node stops: due webhook deliveries and channel sends that
/// no node holds are claimed and run here.
pub fn spawn_poller(
    claims: Arc<WorkClaims>,
    dispatcher: WebhookDispatcher,
    sender: ChannelSender,
    shutdown: &Shutdown,
) {
    let mut stopping = shutdown.watch();
    actix_web::rt::spawn(async move {
        // The first poll after one interval: the start-up already resumed what was pending.
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + claims.poll, claims.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = crate::shutdown::stopping(&mut stopping) => return,
                _ = ticker.tick() => {}
            }
            dispatcher.claim_due(&claims).await;
            sender.claim_due(&claims).await;
        }
    });
}
