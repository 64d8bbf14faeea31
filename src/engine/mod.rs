//! The engine's actors: the conversation registry and conversations, the agent supervisors,
//! the distributor, the message writer and the event bus.

pub mod agent;
pub mod automation;
pub mod booking;
pub mod clock;
pub mod conversation;
pub mod crm;
pub mod desk;
pub mod distributor;
pub mod events;
pub mod insights;
pub mod live_answer;
pub mod metrics;
pub mod registry;
pub mod remote;
pub mod sender;
pub mod timers;
pub mod webhooks;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::cluster::routing::{Answer, Request, Router, WireError};
use crate::config::Settings;
use crate::domain::conversation::SenderType;
use crate::domain::limits::LimitHit;
use crate::domain::TenantId;
use crate::knowledge::KnowledgeIndex;
use crate::secrets::SecretBox;
use crate::store::cache::IntegrationCache;
use crate::store::tenant_settings::TenantSettingsCache;
use crate::store::{conversations, Store, StoreError};
use sender::ChannelSender;

use agent::Supervisors;
use distributor::Distributor;
use events::EventBus;
use registry::{ConversationRegistry, Wire};
use writer::{Inbound, Ingested, MessageWriter};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the conversation is closed")]
    Closed,
    #[error("someone else already owns the conversation")]
    Taken,
    #[error("the conversation belongs to someone else")]
    Forbidden,
    #[error("agent not found")]
    AgentNotFound,
    #[error("user not found")]
    UserNotFound,
    #[error("the agent is at its limit: {0}")]
    Limit(LimitHit),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("engine unavailable: {0}")]
    Unavailable(String),
}

impl From<MailboxError> for EngineError {
    fn from(e: MailboxError) -> Self {
        EngineError::Unavailable(e.to_string())
    }
}

/// What every conversation actor needs; cheap to clone.
#[derive(Clone)]
pub struct EngineParts {
    /// The rules every conversation starts from (its tenant's settings are its own later).
    pub rules: conversation::state::Rules,
    pub store: Store,
    pub writer: MessageWriter,
    pub supervisors: Addr<Supervisors>,
    pub distributor: Addr<Distributor>,
    pub sender: ChannelSender,
    pub events: EventBus,
    pub settings: Arc<Settings>,
    /// The knowledge base's search index (rebuilt from the store before the engine starts).
    pub knowledge: KnowledgeIndex,
    /// The integrations inbound webhooks read, cached; API writes invalidate them.
    pub integrations: Arc<IntegrationCache>,
    /// Tenants' run-time settings (`PATCH /api/v1/settings`), cached; the API invalidates.
    pub tenant_settings: Arc<TenantSettingsCache>,
    /// The wall clock of durable timers (escalation timeouts, follow-ups) and of business
    /// hours; tests move or set it.
    pub clock: clock::Clock,
    /// "Typing…" on channels that show it (WhatsApp through Evolution).
    pub presence: crate::channels::presence::PresenceSender,
    /// AI turns from the provider call to the stored reply: a graceful shutdown waits for
    /// them (src/shutdown.rs).
    pub turns: Arc<crate::shutdown::InFlight>,
    /// What the API changed, for the other nodes' caches and actors (cluster mode).
    pub changes: crate::cluster::invalidate::Announcer,
}

/// Handle to the running engine.
#[derive(Clone)]
pub struct Engine {
    pub registry: Addr<ConversationRegistry>,
    pub parts: EngineParts,
    /// Cluster mode: the tenants this node owns and the way to the others' owners.
    pub router: Option<Router>,
}

impl Engine {
    /// Starts the actors and resumes what a previous run left unanswered.
    pub async fn start(
        store: Store,
        settings: Arc<Settings>,
        secrets: Arc<SecretBox>,
        knowledge: KnowledgeIndex,
        clock: clock::Clock,
        claims: Arc<crate::cluster::work::WorkClaims>,
        router: Option<Router>,
    ) -> Result<Engine, StoreError> {
        let engine_settings = &settings.engine;
        let events = EventBus::new(engine_settings.event_buffer);
        let changes = crate::cluster::invalidate::Announcer::new(engine_settings.event_buffer);
        let writer = MessageWriter::start(
            store.clone(),
            engine_settings.batch_max_messages,
            Duration::from_millis(engine_settings.batch_max_wait_ms),
            engine_settings.writer_queue_capacity,
            writer::lanes_for(
                store.backend_name(),
                engine_settings.writer_lanes,
                settings.database.store_threads,
            ),
            router.as_ref().map(|r| r.leases().clone()),
        )
        .claiming(claims.clone());
        let supervisors = Supervisors::new(
            store.clone(),
            writer.clone(),
            settings.clone(),
            secrets.clone(),
            events.clone(),
            knowledge.clone(),
            clock.clone(),
        )
        .start();
        let registry =
            ConversationRegistry::new(Duration::from_secs(engine_settings.passivate_after_seconds))
                .start();
        let distributor = Distributor::new(
            store.clone(),
            writer.clone(),
            supervisors.clone(),
            registry.clone(),
            Duration::from_secs(engine_settings.queue_check_interval_seconds.max(1)),
            distributor::SlaClock {
                check_every: Duration::from_millis(engine_settings.sla_check_interval_ms.max(100)),
                minute: Duration::from_millis(engine_settings.sla_minute_ms.max(1)),
            },
            events.clone(),
        )
        .require_presence(engine_settings.require_presence)
        .departments_cached_for(Duration::from_secs(
            engine_settings.departments_cache_seconds,
        ))
        .owning(router.as_ref().map(|r| r.leases().clone()))
        .start();
        let presence = crate::channels::presence::PresenceSender::new(
            &settings.outbound,
            &settings.typing,
            secrets.clone(),
        );
        let sender = ChannelSender::new(
            store.clone(),
            settings.outbound.clone(),
            secrets,
            events.clone(),
        )
        .with_writer(writer.clone())
        .with_claims(claims);
        let parts = EngineParts {
            rules: conversation::state::Rules::from_settings(&settings),
            store: store.clone(),
            writer,
            supervisors,
            distributor,
            sender: sender.clone(),
            events,
            integrations: Arc::new(IntegrationCache::new(
                store.clone(),
                std::time::Duration::from_secs(settings.engine.integration_cache_seconds),
                settings.engine.integration_cache_capacity,
            )),
            tenant_settings: Arc::new(TenantSettingsCache::new(
                store.clone(),
                settings.tenant_defaults(),
                Duration::from_secs(settings.engine.tenant_settings_cache_seconds),
            )),
            settings,
            knowledge,
            clock: clock.clone(),
            presence,
            turns: Arc::default(),
            changes,
        };
        // Listening before any conversation runs, so no closing or request goes unseen.
        crm::start(
            store.clone(),
            &parts.events,
            &parts.settings.calendar.timezone,
        );
        registry
            .send(Wire(parts.clone(), router.clone()))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let engine = Engine {
            registry,
            parts,
            router,
        };
        // Older replies first: a resumed conversation may queue new ones behind them.
        if let Err(e) = sender.resume_pending().await {
            tracing::warn!(error = %e, "pending channel deliveries not resumed");
        }
        engine.resume(None).await?;
        // Durable follow-ups (schedule_followup) wake their conversations from here.
        timers::TimerActor::new(
            store.clone(),
            engine.registry.clone(),
            Duration::from_secs(1),
            clock,
        )
        .start();
        Ok(engine)
    }

    /// Takes an inbound message: stores it (acknowledged only once durable), wakes its
    /// conversation and announces a conversation it opened. Every channel's webhook and the
    /// web chat socket come in through here.
    pub async fn accept(&self, inbound: Inbound) -> Result<Ingested, StoreError> {
        let Some(router) = self
            .router
            .as_ref()
            .filter(|r| !r.leases().holds(&inbound.tenant_id))
        else {
            return self.accept_here(inbound).await;
        };
        // The tenant's owner writes its conversations: two nodes never open two
        // conversations for one contact.
        let request = Request::Accept(Box::new(inbound));
        match router.forward(&request).await {
            Some(Answer::Ingested(ingested)) => Ok(*ingested),
            Some(Answer::Failed(WireError::Fenced)) => Err(StoreError::Fenced(
                "the tenant's owner changed while storing".into(),
            )),
            Some(other) => Err(StoreError::Unavailable(format!(
                "the tenant's owner did not store the message: {other:?}"
            ))),
            None => match request {
                Request::Accept(inbound) => self.accept_here(*inbound).await,
                Request::Conversation { .. } | Request::Chat(_) => {
                    Err(StoreError::Corrupt("request changed".into()))
                }
            },
        }
    }

    /// [`Engine::accept`] on the node that owns the tenant.
    pub async fn accept_here(&self, inbound: Inbound) -> Result<Ingested, StoreError> {
        let ingested = self.parts.writer.ingest(inbound).await?;
        if let (Some(rating), false) = (ingested.rating, ingested.duplicate) {
            // A CSAT answer: stored on the closed conversation, nothing for anyone to answer.
            self.parts.events.publish(
                &ingested.conversation.tenant_id,
                Some(&ingested.conversation.id),
                events::EngineEvent::MessageReceived {
                    message_id: ingested.message.id.clone(),
                    seq: ingested.message.seq,
                },
            );
            self.parts.events.publish(
                &ingested.conversation.tenant_id,
                Some(&ingested.conversation.id),
                events::EngineEvent::CsatRated {
                    rating,
                    message_id: ingested.message.id.clone(),
                },
            );
            return Ok(ingested);
        }
        if !ingested.duplicate && ingested.message.sender_type == SenderType::Contact {
            if ingested.opened_with_this_message() {
                self.registry.do_send(registry::DeliverFirst(
                    ingested.conversation.tenant_id.clone(),
                    conversation::Seed {
                        conversation: ingested.conversation.clone(),
                        contact: ingested.contact.clone(),
                        message: ingested.message.clone(),
                    },
                ));
            } else {
                self.registry.do_send(registry::Deliver(
                    ingested.conversation.tenant_id.clone(),
                    ingested.conversation.id.clone(),
                    conversation::CustomerMessage(ingested.message.clone()),
                ));
            }
        }
        if ingested.new_conversation {
            self.parts.events.publish(
                &ingested.conversation.tenant_id,
                Some(&ingested.conversation.id),
                events::EngineEvent::ConversationStarted {
                    channel: ingested.conversation.channel.clone(),
                    contact_id: ingested.contact.id.clone(),
                },
            );
        }
        Ok(ingested)
    }

    /// After a restart (or, in cluster mode, when this node takes a tenant over: `only`):
    /// every conversation with unanswered customer messages (or still waiting for an owner)
    /// gets its actor back, which re-arms its timer or re-queues it. In cluster mode the
    /// registry sends each to its tenant's owner, taking tenants nobody holds.
    pub async fn resume(&self, only: Option<TenantId>) -> Result<(), StoreError> {
        let pending = self
            .parts
            .store
            .run(move |conn| {
                let mut ids = conversations::with_unanswered(conn, only.as_ref(), i64::MAX)?;
                ids.extend(
                    conversations::queued(conn, i64::MAX)?
                        .into_iter()
                        .filter(|c| only.as_ref().is_none_or(|t| *t == c.tenant_id))
                        .map(|c| (c.tenant_id, c.id)),
                );
                Ok(ids)
            })
            .await?;
        if !pending.is_empty() {
            tracing::info!(conversations = pending.len(), "resuming conversations");
        }
        for (tenant, id) in pending {
            self.registry
                .do_send(registry::Deliver(tenant, id, conversation::Resume));
        }
        Ok(())
    }

    /// Cluster mode: this node lost `tenant`'s lease; its actors and agent supervisors for
    /// the tenant stop, so none acts on state the new owner has moved on from.
    pub async fn evict(&self, tenant: TenantId) {
        let stopped = self
            .registry
            .send(registry::Evict(tenant.clone()))
            .await
            .unwrap_or(0);
        self.parts
            .supervisors
            .do_send(agent::EvictTenant(tenant.clone()));
        self.parts
            .distributor
            .do_send(distributor::ForgetTenant(tenant.clone()));
        tracing::warn!(tenant = %tenant, conversations = stopped, "tenant lease lost; its work left to its new owner");
    }
}
