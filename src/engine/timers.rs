//! The timer actor: polls the durable `scheduled_timers` and wakes each due conversation
//! through the registry (which rehydrates it when it passivated). A timer is claimed before it
//! is delivered, so it fires at most once even with several pollers; a crash between claim
//! and delivery loses that follow-up rather than sending it twice.

use std::time::Duration;

use actix::prelude::*;

use super::conversation::FollowupDue;
use super::registry::{ConversationRegistry, Deliver};
use crate::store::{claims, timers, Store};
use crate::tools::system::FOLLOWUP;

/// Timers handled per poll; the rest wait for the next one.
const BATCH: i64 = 200;

pub struct TimerActor {
    store: Store,
    registry: Addr<ConversationRegistry>,
    every: Duration,
    busy: bool,
}

impl TimerActor {
    pub fn new(store: Store, registry: Addr<ConversationRegistry>, every: Duration) -> Self {
        TimerActor {
            store,
            registry,
            every,
            busy: false,
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let store = self.store.clone();
        let registry = self.registry.clone();
        let work = async move {
            // Claimed in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL): pollers of
            // several nodes take disjoint timers.
            let due = store
                .run(|conn| claims::due_timers(conn, crate::store::now(), BATCH))
                .await;
            match due {
                Ok(due) => {
                    for timer in due {
                        deliver(&registry, timer);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "due timers could not be read"),
            }
        };
        ctx.spawn(work.into_actor(self).map(|_, act, _| act.busy = false));
    }
}

fn deliver(registry: &Addr<ConversationRegistry>, timer: timers::Timer) {
    if timer.kind != FOLLOWUP {
        tracing::warn!(timer = %timer.id, kind = %timer.kind, "unknown timer kind dropped");
        return;
    }
    let payload: serde_json::Value = serde_json::from_str(&timer.payload).unwrap_or_default();
    let message = payload["message"].as_str().unwrap_or_default().to_string();
    let agent_id = payload["agent_id"].as_str().map(str::to_string);
    registry.do_send(Deliver(
        timer.conversation_id,
        FollowupDue { message, agent_id },
    ));
}

impl Actor for TimerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.every, |act, ctx| act.poll(ctx));
    }
}
