//! Hub: the WebSocket fan-out. Rooms per conversation (the sockets that follow it) and per
//! tenant (its staff sockets), presence per user counted over all of that user's sockets,
//! typing and read relays, and the tenant events of the engine turned into frames.
//!
//! Every socket has a bounded outbound queue. The hub only ever `try_send`s into it: a full
//! queue means the client stopped reading, and that socket is dropped from the hub (its
//! session then closes it) instead of the hub buffering for it or waiting on it.
//!
//! Events of one conversation reach sockets in the order the engine published them: they go
//! through one pipeline, and message rows are loaded in batches, one batch at a time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use bytestring::ByteString;
use tokio::sync::mpsc;

use super::protocol::{PresenceStatus, ServerFrame};
use crate::config::Settings;
use crate::domain::access::{agent_may_follow, Principal};
use crate::domain::conversation::{Owner, SenderType};
use crate::domain::scheduling;
use crate::domain::summary;
use crate::domain::{ConversationId, MessageId, Role, TenantId, UserId};
use crate::engine::distributor::{CapacityFreed, Distributor};
pub use crate::engine::events::Audience;
use crate::engine::events::{
    AiTyping, AnswerDelta, EngineEvent, EventBus, EventKind, LiveItem, RoomFrame, TenantEvent,
};
use crate::store::messages::Message;
use crate::store::{presence, receipts, Store};
use crate::views::MessageView;

pub type SessionId = u64;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique socket id.
pub fn next_session_id() -> SessionId {
    NEXT_SESSION.fetch_add(1, Ordering::Relaxed)
}

/// Message rows loaded per store round trip.
const LOAD_BATCH: usize = 512;

struct Session {
    principal: Principal,
    outbox: mpsc::Sender<ByteString>,
    rooms: HashSet<ConversationId>,
    idle: bool,
}

struct Room {
    tenant: TenantId,
    members: HashSet<SessionId>,
    /// The customer's last message asked for a meeting (shapes the suggestions).
    customer_wants_meeting: bool,
}

#[derive(Default)]
struct UserPresence {
    sockets: HashSet<SessionId>,
    status: Option<PresenceStatus>,
}

enum Pending {
    Message(MessageId),
    Conversation(TenantEvent),
}

/// Counters for tests, the benchmark and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    pub sessions: usize,
    pub rooms: usize,
    pub users_connected: usize,
    pub frames_sent: u64,
    pub slow_consumers: u64,
    pub events_lagged: u64,
}

pub struct Hub {
    store: Store,
    events: EventBus,
    distributor: Addr<Distributor>,
    tz: chrono_tz::Tz,
    sessions: HashMap<SessionId, Session>,
    rooms: HashMap<ConversationId, Room>,
    tenant_staff: HashMap<TenantId, HashSet<SessionId>>,
    users: HashMap<TenantId, HashMap<UserId, UserPresence>>,
    pipeline: VecDeque<Pending>,
    loading: bool,
    presence_dirty: HashMap<(TenantId, UserId), PresenceStatus>,
    presence_writing: bool,
    delivered: Vec<MessageId>,
    delivered_writing: bool,
    /// Sockets whose queue overflowed during the current handler; dropped at its end.
    overflowed: Vec<SessionId>,
    stats: HubStats,
    /// Cluster mode: presence is the cluster's (`cluster::presence`), not this node's.
    clustered: bool,
    /// Where this node's presence changes go in cluster mode.
    cluster_link: Option<mpsc::UnboundedSender<PresenceChange>>,
    /// The cluster's view of who is around, per tenant (cluster mode).
    cluster_view: HashMap<TenantId, HashMap<UserId, PresenceStatus>>,
    /// The next presence write first sets everyone offline (the cluster's view replaces
    /// what the store holds).
    presence_replace: bool,
}

/// A user's presence changed: on this node (hub → cluster) or in the cluster (→ hub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    pub tenant: TenantId,
    pub user: UserId,
    pub status: PresenceStatus,
}

impl Hub {
    pub fn new(
        store: Store,
        events: EventBus,
        distributor: Addr<Distributor>,
        settings: &Settings,
    ) -> Self {
        Hub {
            store,
            events,
            distributor,
            tz: settings
                .calendar
                .timezone
                .parse()
                .unwrap_or(chrono_tz::America::Sao_Paulo),
            sessions: HashMap::new(),
            rooms: HashMap::new(),
            tenant_staff: HashMap::new(),
            users: HashMap::new(),
            pipeline: VecDeque::new(),
            loading: false,
            presence_dirty: HashMap::new(),
            presence_writing: false,
            delivered: Vec::new(),
            delivered_writing: false,
            overflowed: Vec::new(),
            stats: HubStats::default(),
            clustered: settings.cluster.enabled(),
            cluster_link: None,
            cluster_view: HashMap::new(),
            presence_replace: false,
        }
    }

    /// Queues a frame for one socket; a full queue marks it a slow consumer.
    fn send(&mut self, id: SessionId, frame: &ByteString) -> bool {
        let Some(session) = self.sessions.get(&id) else {
            return false;
        };
        match session.outbox.try_send(frame.clone()) {
            Ok(()) => {
                self.stats.frames_sent += 1;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflowed.push(id);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The session is gone and its goodbye is on the way.
                false
            }
        }
    }

    /// Drops the sockets that overflowed; their sessions see the queue end and close.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        while let Some(id) = self.overflowed.pop() {
            if let Some(session) = self.sessions.get(&id) {
                tracing::warn!(session = id, who = %session.principal.id(), "slow consumer: socket dropped from the hub");
                self.stats.slow_consumers += 1;
                self.remove_session(id, ctx);
            }
        }
    }

    fn remove_session(&mut self, id: SessionId, ctx: &mut Context<Self>) {
        let Some(session) = self.sessions.remove(&id) else {
            return;
        };
        for conversation in &session.rooms {
            self.leave_room(id, conversation);
        }
        let tenant = session.principal.tenant().clone();
        if let Some(staff) = self.tenant_staff.get_mut(&tenant) {
            staff.remove(&id);
            if staff.is_empty() {
                self.tenant_staff.remove(&tenant);
            }
        }
        if let Principal::Staff { user, .. } = &session.principal {
            if let Some(presence) = self.users.get_mut(&tenant).and_then(|u| u.get_mut(user)) {
                presence.sockets.remove(&id);
            }
            self.refresh_presence(&tenant, user, ctx);
        }
    }

    fn leave_room(&mut self, id: SessionId, conversation: &ConversationId) {
        if let Some(room) = self.rooms.get_mut(conversation) {
            room.members.remove(&id);
            if room.members.is_empty() {
                self.rooms.remove(conversation);
            }
        }
    }

    fn join_room(&mut self, id: SessionId, conversation: ConversationId, tenant: TenantId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        // Rooms never mix tenants, whatever a caller passes.
        if session.principal.tenant() != &tenant {
            return;
        }
        session.rooms.insert(conversation.clone());
        self.rooms
            .entry(conversation)
            .or_insert_with(|| Room {
                tenant,
                members: HashSet::new(),
                customer_wants_meeting: false,
            })
            .members
            .insert(id);
    }

    /// Recomputes a user's presence from their sockets; a change is broadcast to the tenant's
    /// staff and written to the store (which the distributor reads).
    fn refresh_presence(&mut self, tenant: &TenantId, user: &UserId, ctx: &mut Context<Self>) {
        let sessions = &self.sessions;
        let Some(presence) = self.users.get_mut(tenant).and_then(|u| u.get_mut(user)) else {
            return;
        };
        let status = if presence.sockets.is_empty() {
            PresenceStatus::Offline
        } else if presence
            .sockets
            .iter()
            .all(|s| sessions.get(s).is_some_and(|s| s.idle))
        {
            PresenceStatus::Away
        } else {
            PresenceStatus::Online
        };
        if presence.status == Some(status) {
            return;
        }
        presence.status = Some(status);
        if status == PresenceStatus::Offline {
            if let Some(users) = self.users.get_mut(tenant) {
                users.remove(user);
                if users.is_empty() {
                    self.users.remove(tenant);
                }
            }
        }
        if let Some(link) = &self.cluster_link {
            // The user may have sockets on other nodes too: what staff see and the store
            // holds is the cluster's view, which comes back as `ClusterPresence::Changed`.
            let _ = link.send(PresenceChange {
                tenant: tenant.clone(),
                user: user.clone(),
                status,
            });
            return;
        }
        self.show_presence(tenant, user, status, ctx);
    }

    /// A user's presence changed as this node's staff see it: a frame to them, and the store.
    fn show_presence(
        &mut self,
        tenant: &TenantId,
        user: &UserId,
        status: PresenceStatus,
        ctx: &mut Context<Self>,
    ) {
        let frame = ServerFrame::Presence {
            user_id: user.to_string(),
            status,
        }
        .encode();
        let staff: Vec<SessionId> = self
            .tenant_staff
            .get(tenant)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in staff {
            self.send(id, &frame);
        }
        self.presence_dirty
            .insert((tenant.clone(), user.clone()), status);
        self.flush_presence(ctx);
    }

    /// One presence write at a time, latest state per user: two quick changes of one user
    /// can never land in the store out of order.
    fn flush_presence(&mut self, ctx: &mut Context<Self>) {
        if self.presence_writing || (self.presence_dirty.is_empty() && !self.presence_replace) {
            return;
        }
        self.presence_writing = true;
        let replace = std::mem::take(&mut self.presence_replace);
        let batch: Vec<((TenantId, UserId), PresenceStatus)> =
            self.presence_dirty.drain().collect();
        let store = self.store.clone();
        let online_tenants: HashSet<TenantId> = batch
            .iter()
            .filter(|(_, s)| *s == PresenceStatus::Online)
            .map(|((t, _), _)| t.clone())
            .collect();
        ctx.spawn(
            async move {
                store
                    .run(move |conn| {
                        let batch: Vec<(&TenantId, &UserId, &str)> = batch
                            .iter()
                            .map(|((tenant, user), status)| (tenant, user, status.as_str()))
                            .collect();
                        if replace {
                            presence::replace_all(conn, &batch)
                        } else {
                            presence::set_all(conn, &batch)
                        }
                    })
                    .await
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.presence_writing = false;
                match result {
                    // Someone came online: queued conversations may now have a taker.
                    Ok(()) => {
                        for tenant in online_tenants {
                            act.distributor.do_send(CapacityFreed(tenant));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "presence not stored"),
                }
                act.flush_presence(ctx);
            }),
        );
    }

    fn flush_delivered(&mut self, ctx: &mut Context<Self>) {
        if self.delivered_writing || self.delivered.is_empty() {
            return;
        }
        self.delivered_writing = true;
        let ids = std::mem::take(&mut self.delivered);
        let store = self.store.clone();
        ctx.spawn(
            async move {
                store
                    .run(move |conn| receipts::mark_delivered(conn, &ids))
                    .await
            }
            .into_actor(self)
            .map(|result, act, ctx| {
                act.delivered_writing = false;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "delivery receipts not stored");
                }
                act.flush_delivered(ctx);
            }),
        );
    }

    /// A live AI answer goes to everyone following the conversation, customer included.
    fn on_answer_delta(&mut self, delta: AnswerDelta, ctx: &mut Context<Self>) {
        let Some(room) = self
            .rooms
            .get(&delta.conversation_id)
            .filter(|r| r.tenant == delta.tenant_id)
        else {
            return;
        };
        let members: Vec<SessionId> = room.members.iter().copied().collect();
        let conversation_id = delta.conversation_id.to_string();
        let frame = match delta.done {
            None => ServerFrame::AiAnswerDelta {
                conversation_id,
                stream_id: delta.stream_id,
                index: delta.index,
                delta: delta.delta,
            },
            Some(status) => ServerFrame::AiAnswerDone {
                conversation_id,
                stream_id: delta.stream_id,
                index: delta.index,
                status: status.to_string(),
            },
        }
        .encode();
        for id in members {
            self.send(id, &frame);
        }
        self.settle(ctx);
    }

    /// The AI writing goes to everyone following the conversation, customer included.
    fn on_ai_typing(&mut self, typing: AiTyping, ctx: &mut Context<Self>) {
        let Some(room) = self
            .rooms
            .get(&typing.conversation_id)
            .filter(|r| r.tenant == typing.tenant_id)
        else {
            return;
        };
        let members: Vec<SessionId> = room.members.iter().copied().collect();
        let frame = ServerFrame::AiTyping {
            conversation_id: typing.conversation_id.to_string(),
            sender_type: SenderType::AiAgent,
            agent_id: typing.agent_id,
            is_typing: typing.is_typing,
        }
        .encode();
        for id in members {
            self.send(id, &frame);
        }
        self.settle(ctx);
    }

    fn on_event(&mut self, event: TenantEvent, ctx: &mut Context<Self>) {
        match &event.event {
            EngineEvent::MessageReceived { message_id, .. }
            | EngineEvent::MessageSent { message_id, .. } => {
                let followed = event
                    .conversation_id
                    .as_ref()
                    .is_some_and(|c| self.rooms.contains_key(c));
                if !followed {
                    return;
                }
                self.pipeline
                    .push_back(Pending::Message(message_id.clone()));
            }
            EngineEvent::ConversationAssigned { .. }
            | EngineEvent::ConversationEscalated { .. }
            | EngineEvent::ConversationClosed { .. }
            | EngineEvent::FeedbackDetected(_)
            | EngineEvent::ConversationClassified(_)
            | EngineEvent::ConversationUpdated { .. }
            | EngineEvent::ConversationTransferred { .. }
            | EngineEvent::NoteAdded(_) => {
                self.pipeline.push_back(Pending::Conversation(event));
            }
            // Not for sockets: the console reads these over SSE and the REST API.
            EngineEvent::ConversationStarted { .. }
            | EngineEvent::LimitReached { .. }
            | EngineEvent::DeliveryFailed { .. }
            | EngineEvent::SlaBreached { .. }
            | EngineEvent::CsatRated { .. } => return,
        }
        self.pump(ctx);
    }

    /// Works the pipeline in order: conversation events at its head go out at once, a run
    /// of messages is loaded in one batch and the rest waits for it.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.loading {
            return;
        }
        while matches!(self.pipeline.front(), Some(Pending::Conversation(_))) {
            if let Some(Pending::Conversation(event)) = self.pipeline.pop_front() {
                self.on_conversation_event(event);
            }
        }
        let mut batch = Vec::new();
        while batch.len() < LOAD_BATCH {
            match self.pipeline.front() {
                Some(Pending::Message(_)) => {
                    if let Some(Pending::Message(id)) = self.pipeline.pop_front() {
                        batch.push(id);
                    }
                }
                _ => break,
            }
        }
        self.settle(ctx);
        if batch.is_empty() {
            return;
        }
        self.loading = true;
        let store = self.store.clone();
        let ids = batch.clone();
        ctx.spawn(
            async move { store.run(move |conn| receipts::by_ids(conn, &ids)).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.loading = false;
                    match result {
                        Ok(rows) => {
                            let mut by_id: HashMap<MessageId, Message> =
                                rows.into_iter().map(|m| (m.id.clone(), m)).collect();
                            for id in batch {
                                if let Some(row) = by_id.remove(&id) {
                                    act.fan_out_message(row);
                                }
                            }
                        }
                        // Followers miss these live; `sync` gives them back.
                        Err(e) => tracing::warn!(error = %e, "message rows not loaded for fan-out"),
                    }
                    act.settle(ctx);
                    act.flush_delivered(ctx);
                    act.pump(ctx);
                }),
        );
    }

    fn fan_out_message(&mut self, row: Message) {
        let Some(room) = self.rooms.get(&row.conversation_id) else {
            return;
        };
        if room.tenant != row.tenant_id {
            return;
        }
        let members: Vec<SessionId> = room.members.iter().copied().collect();
        let from_customer = row.sender_type == SenderType::Contact;
        let frame = ServerFrame::Message {
            message: MessageView::from_row(row.clone()),
        }
        .encode();
        let mut reached_other_side = false;
        for id in &members {
            let customer_socket = self
                .sessions
                .get(id)
                .is_some_and(|s| s.principal.is_contact());
            if self.send(*id, &frame) && customer_socket != from_customer {
                reached_other_side = true;
            }
        }
        if reached_other_side && row.status == receipts::SENT {
            self.delivered.push(row.id.clone());
        }
        match row.sender_type {
            SenderType::Contact => self.after_customer_message(&row, &members),
            SenderType::AiAgent => self.after_ai_reply(&row, &members),
            SenderType::User | SenderType::System => {}
        }
    }

    /// A customer message asking for a meeting brings up the slot picker for everyone in the
    /// room (the task to book it is `engine::crm`'s).
    fn after_customer_message(&mut self, row: &Message, members: &[SessionId]) {
        let today = chrono::Utc::now().with_timezone(&self.tz).date_naive();
        let wish = scheduling::read_wish(&row.content, today);
        if let Some(room) = self.rooms.get_mut(&row.conversation_id) {
            room.customer_wants_meeting = wish.intent;
        }
        if !wish.intent {
            return;
        }
        let frame = ServerFrame::SlotPicker {
            conversation_id: row.conversation_id.to_string(),
            email: wish.email.clone(),
            phone: wish.phone.clone(),
            date: wish.date.map(|d| d.format("%Y-%m-%d").to_string()),
            time: wish.time.map(|t| t.format("%H:%M").to_string()),
        }
        .encode();
        for id in members {
            self.send(*id, &frame);
        }
    }

    fn after_ai_reply(&mut self, row: &Message, members: &[SessionId]) {
        let wants_meeting = self
            .rooms
            .get(&row.conversation_id)
            .is_some_and(|r| r.customer_wants_meeting);
        let lang = summary::detect_lang([row.content.as_str()]);
        let suggestions = summary::suggestions(&row.content, wants_meeting, lang);
        if suggestions.is_empty() {
            return;
        }
        let frame = ServerFrame::Suggestions {
            conversation_id: row.conversation_id.to_string(),
            suggestions,
            source: None,
        }
        .encode();
        // Quick replies are the customer's to send.
        for id in members {
            if self
                .sessions
                .get(id)
                .is_some_and(|s| s.principal.is_contact())
            {
                self.send(*id, &frame);
            }
        }
    }

    fn on_conversation_event(&mut self, event: TenantEvent) {
        let Some(conversation) = event.conversation_id.clone() else {
            return;
        };
        let data = match event.data() {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let owner: Option<Owner> = event.event.owner().cloned();
        let id = conversation.to_string();
        let kind = event.kind();
        // The customer's socket learns that a human takes over, never why: reasons such as
        // `vip_contact` or `ai_transfer: …` are the engine's judgement of the customer.
        let customer_frame = (kind == EventKind::ConversationEscalated).then(|| {
            ServerFrame::ConversationEscalated {
                conversation_id: id.clone(),
                data: customer_escalation_data(&data),
            }
            .encode()
        });
        let frame = match kind {
            EventKind::ConversationAssigned => ServerFrame::ConversationAssigned {
                conversation_id: id,
                data,
            },
            EventKind::ConversationEscalated => ServerFrame::ConversationEscalated {
                conversation_id: id,
                data,
            },
            EventKind::FeedbackDetected => ServerFrame::FeedbackDetected {
                conversation_id: id,
                data,
            },
            EventKind::ConversationClassified => ServerFrame::ConversationClassified {
                conversation_id: id,
                data,
            },
            EventKind::ConversationUpdated => ServerFrame::ConversationUpdated {
                conversation_id: id,
                data,
            },
            EventKind::ConversationClosed => ServerFrame::ConversationClosed {
                conversation_id: id,
                data,
            },
            EventKind::ConversationTransferred => ServerFrame::ConversationTransferred {
                conversation_id: id,
                data,
            },
            EventKind::NoteAdded => ServerFrame::NoteAdded {
                conversation_id: id,
                data,
            },
            // `on_event` queues no other kind here.
            EventKind::ConversationStarted
            | EventKind::MessageReceived
            | EventKind::MessageSent
            | EventKind::LimitReached
            | EventKind::DeliveryFailed
            | EventKind::SlaBreached
            | EventKind::CsatRated => return,
        }
        .encode();
        // How the engine judged the customer is for staff eyes, not the customer's socket.
        let staff_only = matches!(
            kind,
            EventKind::FeedbackDetected
                | EventKind::ConversationClassified
                | EventKind::ConversationUpdated
                // Colleagues' notes and hand-overs are never the customer's to see.
                | EventKind::ConversationTransferred
                | EventKind::NoteAdded
        );
        let mut recipients: HashSet<SessionId> = self
            .rooms
            .get(&conversation)
            .filter(|r| r.tenant == event.tenant_id)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        if staff_only {
            recipients.retain(|sid| {
                matches!(
                    self.sessions.get(sid).map(|s| &s.principal),
                    Some(Principal::Staff { .. })
                )
            });
        }
        if let Some(staff) = self.tenant_staff.get(&event.tenant_id) {
            for sid in staff {
                let Some(Principal::Staff { user, role, .. }) =
                    self.sessions.get(sid).map(|s| &s.principal)
                else {
                    continue;
                };
                let concerns_agent = owner.as_ref().is_some_and(|o| agent_may_follow(user, o));
                if role.oversees_tenant() || concerns_agent {
                    recipients.insert(*sid);
                }
            }
        }
        for sid in &recipients {
            let is_customer = matches!(
                self.sessions.get(sid).map(|s| &s.principal),
                Some(Principal::Contact { .. })
            );
            let chosen = match &customer_frame {
                Some(neutral) if is_customer => neutral,
                _ => &frame,
            };
            self.send(*sid, chosen);
        }
        // An agent may follow only its own and unassigned conversations: a new owner takes
        // the conversation out of other agents' rooms (they were just told why).
        if let Some(owner) = owner {
            let members: Vec<SessionId> = self
                .rooms
                .get(&conversation)
                .map(|r| r.members.iter().copied().collect())
                .unwrap_or_default();
            for sid in members {
                let revoke = match self.sessions.get(&sid).map(|s| &s.principal) {
                    Some(Principal::Staff {
                        user,
                        role: Role::Agent,
                        ..
                    }) => !agent_may_follow(user, &owner),
                    _ => false,
                };
                if revoke {
                    if let Some(session) = self.sessions.get_mut(&sid) {
                        session.rooms.remove(&conversation);
                    }
                    self.leave_room(sid, &conversation);
                }
            }
        }
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.store.clone();
        // Before any socket registers: nobody is connected to a process that just started.
        // In a cluster other nodes' users are: the cluster's view replaces the store's
        // (`ClusterPresence::Snapshot`) instead.
        if !self.clustered {
            ctx.wait(
                async move { store.run(presence::reset_all).await }
                    .into_actor(self)
                    .map(|result, _, _| {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "stale presence not reset");
                        }
                    }),
            );
        }
        let receiver = self.events.subscribe();
        ctx.add_stream(futures::stream::unfold(
            receiver,
            |mut receiver| async move {
                use tokio::sync::broadcast::error::RecvError;
                match receiver.recv().await {
                    Ok(event) => Some((BusItem::Event(Box::new(event)), receiver)),
                    Err(RecvError::Lagged(missed)) => Some((BusItem::Lagged(missed), receiver)),
                    Err(RecvError::Closed) => None,
                }
            },
        ));
        // What other cluster nodes show live: the same frames for this node's sockets.
        let peers = self.events.subscribe_peers();
        ctx.add_stream(futures::stream::unfold(peers, |mut peers| async move {
            use tokio::sync::broadcast::error::RecvError;
            let item = match peers.recv().await {
                Ok(LiveItem::Event(event)) => BusItem::Event(Box::new(event)),
                Ok(LiveItem::Answer(delta)) => BusItem::Answer(Box::new(delta)),
                Ok(LiveItem::Typing(typing)) => BusItem::Typing(Box::new(typing)),
                Ok(LiveItem::Room(frame)) => BusItem::Room(Box::new(frame)),
                Err(RecvError::Lagged(missed)) => BusItem::Lagged(missed),
                Err(RecvError::Closed) => return None,
            };
            Some((item, peers))
        }));
        let answers = self.events.subscribe_answers();
        ctx.add_stream(futures::stream::unfold(answers, |mut answers| async move {
            use tokio::sync::broadcast::error::RecvError;
            match answers.recv().await {
                Ok(delta) => Some((BusItem::Answer(Box::new(delta)), answers)),
                // A gap in live deltas only costs a flicker: the whole message follows.
                Err(RecvError::Lagged(missed)) => Some((BusItem::Lagged(missed), answers)),
                Err(RecvError::Closed) => None,
            }
        }));
        let typing = self.events.subscribe_typing();
        ctx.add_stream(futures::stream::unfold(typing, |mut typing| async move {
            use tokio::sync::broadcast::error::RecvError;
            match typing.recv().await {
                Ok(t) => Some((BusItem::Typing(Box::new(t)), typing)),
                // A missed hint is harmless: the answer itself follows.
                Err(RecvError::Lagged(missed)) => Some((BusItem::Lagged(missed), typing)),
                Err(RecvError::Closed) => None,
            }
        }));
    }
}

enum BusItem {
    Event(Box<TenantEvent>),
    Answer(Box<AnswerDelta>),
    Typing(Box<AiTyping>),
    /// A room frame a peer node relayed: for every socket of the room here.
    Room(Box<RoomFrame>),
    Lagged(u64),
}

impl StreamHandler<BusItem> for Hub {
    fn handle(&mut self, item: BusItem, ctx: &mut Self::Context) {
        match item {
            BusItem::Event(event) => self.on_event(*event, ctx),
            BusItem::Answer(delta) => self.on_answer_delta(*delta, ctx),
            BusItem::Typing(typing) => self.on_ai_typing(*typing, ctx),
            BusItem::Room(frame) => {
                let RoomFrame {
                    tenant_id,
                    conversation_id,
                    frame,
                    audience,
                } = *frame;
                let relay = Relay {
                    conversation: conversation_id,
                    tenant: tenant_id,
                    frame: ByteString::from(frame),
                    except: None,
                    audience,
                };
                self.relay_to_room(&relay, ctx);
            }
            BusItem::Lagged(missed) => {
                // Listeners missed live frames; their `sync` after the gap gives them back.
                self.stats.events_lagged += missed;
                tracing::warn!(missed, "hub fell behind the event bus");
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        tracing::warn!("event bus closed; the hub relays socket frames only");
    }
}

/// A socket registers with its bounded outbound queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub id: SessionId,
    pub principal: Principal,
    pub outbox: mpsc::Sender<ByteString>,
}

impl Handler<Connect> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Connect, ctx: &mut Self::Context) {
        let tenant = msg.principal.tenant().clone();
        let principal = msg.principal.clone();
        self.sessions.insert(
            msg.id,
            Session {
                principal: msg.principal,
                outbox: msg.outbox,
                rooms: HashSet::new(),
                idle: false,
            },
        );
        match &principal {
            Principal::Contact { conversation, .. } => {
                self.join_room(msg.id, conversation.clone(), tenant);
            }
            Principal::Staff { user, .. } => {
                self.tenant_staff
                    .entry(tenant.clone())
                    .or_default()
                    .insert(msg.id);
                // Who is around, as the newcomer's first presence frames.
                let around: Vec<(&UserId, PresenceStatus)> = if self.cluster_link.is_some() {
                    self.cluster_view
                        .get(&tenant)
                        .map(|users| users.iter().map(|(u, s)| (u, *s)).collect())
                        .unwrap_or_default()
                } else {
                    self.users
                        .get(&tenant)
                        .map(|users| {
                            users
                                .iter()
                                .filter_map(|(u, p)| p.status.map(|s| (u, s)))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let snapshot: Vec<ByteString> = around
                    .into_iter()
                    .map(|(u, status)| {
                        ServerFrame::Presence {
                            user_id: u.to_string(),
                            status,
                        }
                        .encode()
                    })
                    .collect();
                for frame in &snapshot {
                    self.send(msg.id, frame);
                }
                self.users
                    .entry(tenant.clone())
                    .or_default()
                    .entry(user.clone())
                    .or_default()
                    .sockets
                    .insert(msg.id);
                self.refresh_presence(&tenant, user, ctx);
            }
        }
        self.settle(ctx);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect(pub SessionId);

impl Handler<Disconnect> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Self::Context) {
        self.remove_session(msg.0, ctx);
        self.settle(ctx);
    }
}

/// Follow a conversation (the session already checked the socket may see it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub id: SessionId,
    pub conversation: ConversationId,
    pub tenant: TenantId,
}

impl Handler<Join> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Join, _: &mut Self::Context) {
        self.join_room(msg.id, msg.conversation, msg.tenant);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub id: SessionId,
    pub conversation: ConversationId,
}

impl Handler<Leave> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Self::Context) {
        if let Some(session) = self.sessions.get_mut(&msg.id) {
            session.rooms.remove(&msg.conversation);
        }
        self.leave_room(msg.id, &msg.conversation);
    }
}

/// What of an escalation's data a customer may see: that the conversation now waits for (or
/// has) a human, without the internal reason.
fn customer_escalation_data(
    data: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    data.iter()
        .filter(|(key, _)| key.as_str() != "reason")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// A frame for a conversation's room, except the socket it came from.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relay {
    pub conversation: ConversationId,
    pub tenant: TenantId,
    pub frame: ByteString,
    pub except: Option<SessionId>,
    pub audience: Audience,
}

impl Handler<Relay> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Relay, ctx: &mut Self::Context) {
        // The room's sockets on the other nodes of a cluster get it too.
        self.events.publish_room(|| RoomFrame {
            tenant_id: msg.tenant.clone(),
            conversation_id: msg.conversation.clone(),
            frame: msg.frame.to_string(),
            audience: msg.audience,
        });
        self.relay_to_room(&msg, ctx);
    }
}

impl Hub {
    fn relay_to_room(&mut self, msg: &Relay, ctx: &mut Context<Self>) {
        let Some(room) = self
            .rooms
            .get(&msg.conversation)
            .filter(|r| r.tenant == msg.tenant)
        else {
            return;
        };
        let members: Vec<SessionId> = room
            .members
            .iter()
            .copied()
            .filter(|id| Some(*id) != msg.except)
            .collect();
        for id in members {
            let customer = self
                .sessions
                .get(&id)
                .is_some_and(|s| s.principal.is_contact());
            let wanted = match msg.audience {
                Audience::Everyone => true,
                Audience::Customers => customer,
                Audience::Staff => !customer,
            };
            if wanted {
                self.send(id, &msg.frame);
            }
        }
        self.settle(ctx);
    }
}

/// A socket went idle (no client frame for `away_after_seconds`) or became active again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Idle {
    pub id: SessionId,
    pub idle: bool,
}

impl Handler<Idle> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Idle, ctx: &mut Self::Context) {
        let Some(session) = self.sessions.get_mut(&msg.id) else {
            return;
        };
        session.idle = msg.idle;
        if let Principal::Staff { tenant, user, .. } = session.principal.clone() {
            self.refresh_presence(&tenant, &user, ctx);
        }
        self.settle(ctx);
    }
}

/// Cluster mode: where this node's presence changes go from now on (`cluster::presence`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseClusterPresence(pub mpsc::UnboundedSender<PresenceChange>);

impl Handler<UseClusterPresence> for Hub {
    type Result = ();

    fn handle(&mut self, msg: UseClusterPresence, _: &mut Self::Context) {
        // Sockets that came before (none: the node serves after this) are told over.
        for (tenant, users) in &self.users {
            for (user, presence) in users {
                if let Some(status) = presence.status {
                    let _ = msg.0.send(PresenceChange {
                        tenant: tenant.clone(),
                        user: user.clone(),
                        status,
                    });
                }
            }
        }
        self.cluster_link = Some(msg.0);
    }
}

/// The cluster's view of presence (`cluster::presence`): whole at start, then each change.
#[derive(Message)]
#[rtype(result = "()")]
pub enum ClusterPresence {
    /// Everyone not offline anywhere; the store takes this view whole.
    Snapshot(Vec<PresenceChange>),
    Changed(PresenceChange),
}

impl Handler<ClusterPresence> for Hub {
    type Result = ();

    fn handle(&mut self, msg: ClusterPresence, ctx: &mut Self::Context) {
        match msg {
            ClusterPresence::Snapshot(view) => {
                self.cluster_view.clear();
                self.presence_dirty.clear();
                self.presence_replace = true;
                for change in view {
                    self.cluster_view
                        .entry(change.tenant.clone())
                        .or_default()
                        .insert(change.user.clone(), change.status);
                    self.presence_dirty
                        .insert((change.tenant, change.user), change.status);
                }
                self.flush_presence(ctx);
            }
            ClusterPresence::Changed(change) => {
                let users = self.cluster_view.entry(change.tenant.clone()).or_default();
                if change.status == PresenceStatus::Offline {
                    users.remove(&change.user);
                    if users.is_empty() {
                        self.cluster_view.remove(&change.tenant);
                    }
                } else {
                    users.insert(change.user.clone(), change.status);
                }
                self.show_presence(&change.tenant, &change.user, change.status, ctx);
                self.settle(ctx);
            }
        }
    }
}

#[derive(Message)]
#[rtype(result = "HubStats")]
pub struct GetStats;

impl Handler<GetStats> for Hub {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _: &mut Self::Context) -> Self::Result {
        let mut stats = self.stats;
        stats.sessions = self.sessions.len();
        stats.rooms = self.rooms.len();
        stats.users_connected = self.users.values().map(HashMap::len).sum();
        MessageResult(stats)
    }
}

/// Starts the hub on the current arbiter.
pub fn start(engine: &super::Engine, settings: Arc<Settings>) -> Addr<Hub> {
    Hub::new(
        engine.parts.store.clone(),
        engine.parts.events.clone(),
        engine.parts.distributor.clone(),
        &settings,
    )
    .start()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_never_see_why_a_conversation_was_escalated() {
        let data = serde_json::json!({"reason": "vip_contact", "owner": {"type": "none"}});
        let serde_json::Value::Object(data) = data else {
            unreachable!("an object literal")
        };
        let shown = customer_escalation_data(&data);
        assert!(!shown.contains_key("reason"));
        assert_eq!(shown.get("owner"), data.get("owner"));
    }
}
