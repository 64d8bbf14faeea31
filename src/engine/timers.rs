//! The timer actor: polls the durable `scheduled_timers` (follow-ups, escalation timeouts)
//! on the engine's [`Clock`] and wakes each due conversation through the registry (which
//! rehydrates it when it passivated). A timer is claimed before it is delivered, so it fires
//! at most once even with several pollers; a crash between claim and delivery loses that
//! timer rather than firing it twice.

use std::time::Duration;

use actix::prelude::*;

use super::clock::Clock;
use super::conversation::{EscalationTimeoutDue, FollowupDue};
use super::registry::{ConversationRegistry, Deliver};
use crate::store::timers::TimerKind;
use crate::store::{claims, timers, Store};

/// Timers handled per poll; the rest wait for the next one.
const BATCH: i64 = 200;

pub struct TimerActor {
    store: Store,
    registry: Addr<ConversationRegistry>,
    every: Duration,
    clock: Clock,
    busy: bool,
}

impl TimerActor {
    pub fn new(
        store: Store,
        registry: Addr<ConversationRegistry>,
        every: Duration,
        clock: Clock,
    ) -> Self {
        TimerActor {
            store,
            registry,
            every,
            clock,
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
        let now = self.clock.now();
        let work = async move {
            // Claimed in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL): pollers of
            // several nodes take disjoint timers.
            let due = store
                .run(move |conn| claims::due_timers(conn, now, BATCH))
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
    let Ok(kind) = timer.kind.parse::<TimerKind>() else {
        tracing::warn!(timer = %timer.id, kind = %timer.kind, "unknown timer kind dropped");
        return;
    };
    let payload: serde_json::Value = serde_json::from_str(&timer.payload).unwrap_or_default();
    match kind {
        TimerKind::Followup => {
            let message = payload["message"].as_str().unwrap_or_default().to_string();
            let agent_id = payload["agent_id"].as_str().map(str::to_string);
            registry.do_send(Deliver(
                timer.tenant_id,
                timer.conversation_id,
                FollowupDue { message, agent_id },
            ));
        }
        TimerKind::EscalationTimeout => {
            registry.do_send(Deliver(
                timer.tenant_id,
                timer.conversation_id,
                EscalationTimeoutDue,
            ));
        }
    }
}

impl Actor for TimerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.every, |act, ctx| act.poll(ctx));
    }
}
