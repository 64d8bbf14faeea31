//! CRM auto-create: under a conversation's auto-create switch (`set_auto_create`), a
//! booking request becomes a `task`, a booked meeting a `meeting` and a closing a
//! `follow_up` activity (docs/protocol.md). The rules are plain functions in [`rules`]; the
//! [`Crm`] actor only listens to the event bus and runs them against the store.
//!
//! The actor keeps its own queue of the events it acts on and has one store job in flight
//! at a time, taking every queued message in it: a flood of messages costs one round trip
//! per batch, never one per message, and a slow store never makes it lag the bus.

pub mod rules;

use std::collections::VecDeque;

use actix::prelude::*;
use chrono_tz::Tz;
use tokio::sync::broadcast;

use super::events::{EngineEvent, EventBus, TenantEvent};
use crate::domain::{ConversationId, MessageId, TenantId};
use crate::store::auto_create::{self, NewActivity};
use crate::store::calendar::CalendarEvent;
use crate::store::conversations::Conversation;
use crate::store::{messages, receipts, Store};

/// Customer messages read per store round trip.
const BATCH: usize = 512;

enum Pending {
    Message(ConversationId, MessageId),
    Closed(TenantId, ConversationId),
}

pub struct Crm {
    store: Store,
    /// Subscribed when the actor is made, so nothing published before it runs is missed.
    events: Option<broadcast::Receiver<TenantEvent>>,
    /// `calendar.timezone`: the day and time a customer names are local to it.
    tz: Tz,
    pending: VecDeque<Pending>,
    working: bool,
}

impl Crm {
    pub fn new(store: Store, events: &EventBus, tz: Tz) -> Self {
        Crm {
            store,
            events: Some(events.subscribe()),
            tz,
            pending: VecDeque::new(),
            working: false,
        }
    }

    fn on_event(&mut self, event: TenantEvent, ctx: &mut Context<Self>) {
        let Some(conversation) = event.conversation_id else {
            return;
        };
        match event.event {
            EngineEvent::MessageReceived { message_id, .. } => {
                self.pending
                    .push_back(Pending::Message(conversation, message_id));
            }
            EngineEvent::ConversationClosed { .. } => {
                self.pending
                    .push_back(Pending::Closed(event.tenant_id, conversation));
            }
            _ => return,
        }
        self.pump(ctx);
    }

    /// Takes what is queued into one store job: every closing, and the messages of
    /// conversations with the switch on, read in one query.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.working || self.pending.is_empty() {
            return;
        }
        let mut asked: Vec<(ConversationId, MessageId)> = Vec::new();
        let mut closed: Vec<(TenantId, ConversationId)> = Vec::new();
        while asked.len() < BATCH {
            match self.pending.pop_front() {
                Some(Pending::Message(conversation, message)) => {
                    asked.push((conversation, message));
                }
                Some(Pending::Closed(tenant, conversation)) => closed.push((tenant, conversation)),
                None => break,
            }
        }
        self.working = true;
        let store = self.store.clone();
        let tz = self.tz;
        ctx.spawn(
            async move {
                store
                    .run(move |conn| {
                        let conversations: Vec<ConversationId> = asked
                            .iter()
                            .map(|(c, _)| c.clone())
                            .chain(closed.iter().map(|(_, c)| c.clone()))
                            .collect();
                        let on = auto_create::enabled_among(conn, &conversations)?;
                        let ids: Vec<MessageId> = asked
                            .into_iter()
                            .filter(|(c, _)| on.contains(c))
                            .map(|(_, m)| m)
                            .collect();
                        let now = chrono::Utc::now();
                        for row in receipts::by_ids(conn, &ids)? {
                            if let Some(task) = rules::meeting_request(&row, tz, now) {
                                warn_unless_stored(auto_create::create_once(conn, &task), &task);
                            }
                        }
                        for (tenant, conversation) in closed {
                            if !on.contains(&conversation) {
                                continue;
                            }
                            let rows =
                                messages::recent(conn, &conversation, rules::FOLLOW_UP_WINDOW)?;
                            let follow_up = rules::closing_follow_up(tenant, conversation, &rows);
                            warn_unless_stored(
                                auto_create::create_once(conn, &follow_up),
                                &follow_up,
                            );
                        }
                        Ok(())
                    })
                    .await
            }
            .into_actor(self)
            .map(|result, act, ctx| {
                act.working = false;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "auto-created activities not stored");
                }
                act.pump(ctx);
            }),
        );
    }
}

fn warn_unless_stored(result: crate::store::StoreResult<Option<String>>, activity: &NewActivity) {
    if let Err(e) = result {
        tracing::warn!(conversation = %activity.conversation_id, kind = activity.kind, error = %e, "auto-created activity not stored");
    }
}

impl Actor for Crm {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(events) = self.events.take() else {
            return;
        };
        ctx.add_stream(futures::stream::unfold(events, |mut receiver| async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((Box::new(event), receiver)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "auto-create fell behind the event bus");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }));
    }
}

impl StreamHandler<Box<TenantEvent>> for Crm {
    fn handle(&mut self, event: Box<TenantEvent>, ctx: &mut Self::Context) {
        self.on_event(*event, ctx);
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// Starts the subscriber on the current arbiter; `timezone` is `calendar.timezone`.
pub fn start(store: Store, events: &EventBus, timezone: &str) -> Addr<Crm> {
    let tz = timezone.parse().unwrap_or(chrono_tz::America::Sao_Paulo);
    Crm::new(store, events, tz).start()
}

/// A meeting booked for `conversation` becomes its activity when auto-create is on. The
/// booking is already answered; the activity follows in the background.
pub fn meeting_booked(store: &Store, conversation: &Conversation, event: &CalendarEvent) {
    let meeting = rules::booked_meeting(conversation, event);
    let store = store.clone();
    actix::spawn(async move {
        let activity = meeting.clone();
        let result = store
            .run(move |conn| auto_create::create_if_enabled(conn, &activity))
            .await;
        warn_unless_stored(result, &meeting);
    });
}
