//! An agent's admitted model requests go to the store in batches (every
//! `engine.request_count_flush_ms`), and come back from it when the supervisor starts or the
//! agent's limits change, so a restart does not reset its minute, hour and day windows.

use actix::prelude::*;

use super::{AgentSupervisor, Supervisors};
use crate::store::request_windows;

impl AgentSupervisor {
    /// Starts the periodic recording (from `Actor::started`).
    pub(super) fn record_requests_periodically(&mut self, ctx: &mut Context<Self>) {
        let every = std::time::Duration::from_millis(self.settings.engine.request_count_flush_ms);
        ctx.run_interval(every, |act, ctx| {
            let recording = act.record_requests(ctx.address());
            ctx.spawn(recording.into_actor(act));
        });
    }

    /// Writes the requests admitted since the last batch; a failed write gives them back to
    /// the next one.
    fn record_requests(
        &mut self,
        me: Addr<AgentSupervisor>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let requests = self.gate.take_unrecorded();
        let store = self.store.clone();
        let agent = self.config.id.clone();
        async move {
            if requests == 0 {
                return;
            }
            let at = chrono::Utc::now().timestamp();
            let written = store
                .run({
                    let agent = agent.clone();
                    move |conn| request_windows::record(conn, &agent, at, requests)
                })
                .await;
            if let Err(e) = written {
                tracing::warn!(agent = %agent, requests, error = %e, "request counts not recorded; retrying with the next batch");
                me.do_send(Unrecorded(requests));
            }
        }
    }
}

/// Requests whose recording failed.
#[derive(Message)]
#[rtype(result = "()")]
struct Unrecorded(u32);

impl Handler<Unrecorded> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Unrecorded, _: &mut Self::Context) {
        self.gate.restore_unrecorded(msg.0);
    }
}

/// Records every running agent's pending request counts now (a graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecordRequests;

impl Handler<RecordRequests> for AgentSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: RecordRequests, ctx: &mut Self::Context) -> Self::Result {
        Box::pin(self.record_requests(ctx.address()))
    }
}

impl Handler<RecordRequests> for Supervisors {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: RecordRequests, _: &mut Self::Context) -> Self::Result {
        let running: Vec<_> = self.running.values().cloned().collect();
        Box::pin(async move {
            futures::future::join_all(running.iter().map(|addr| addr.send(RecordRequests))).await;
        })
    }
}
