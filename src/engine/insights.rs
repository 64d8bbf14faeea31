//! What the conversation actor learns from a conversation besides answering it: memories of
//! the contact, the classification of a new conversation and feedback on AI replies. The
//! rules are pure (`domain::{memory, classification, feedback}`); these functions do the I/O
//! around them (store reads and writes on the store's threads, LLM side calls through the
//! agent's supervisor) so the actor stays a thin shell that spawns them.

use std::sync::Arc;

use actix::prelude::*;

use super::agent::{AgentSupervisor, SideCall, SupervisorOf, Supervisors};
use super::events::{EngineEvent, FeedbackDetected};
use crate::config::{MemoryExtractor, Settings};
use crate::domain::agent::{ProviderKind, TurnStatus};
use crate::domain::classification::{self, Classification};
use crate::domain::conversation::SenderType;
use crate::domain::feedback::Detection;
use crate::domain::memory::{self, Utterance};
use crate::domain::{AgentId, ContactId, ConversationId, TenantId};
use crate::llm::extract;
use crate::store::feedback::{self as feedback_store, FeedbackEvent};
use crate::store::memories::{self, Owner};
use crate::store::{messages, DbConn, Store, StoreError};

/// The AI agent that owns the conversation when memories are extracted.
pub struct MemoryAgent {
    pub id: AgentId,
    pub provider_kind: ProviderKind,
    pub supervisor: Addr<AgentSupervisor>,
}

/// One extraction: whose memories, from which conversation, over how many messages.
pub struct MemoryJob {
    pub tenant: TenantId,
    pub contact: ContactId,
    pub conversation: ConversationId,
    pub agent: Option<MemoryAgent>,
    /// Most recent messages read.
    pub window: i64,
}

/// Extracts facts from the conversation's recent messages (LLM or rules, see
/// `[memory] extractor`) and stores them; returns how many were new.
pub async fn extract_memories(
    store: Store,
    settings: Arc<Settings>,
    job: MemoryJob,
) -> Result<usize, StoreError> {
    let id = job.conversation.clone();
    let window = job.window;
    let recent = store
        .run(move |conn| messages::recent(conn, &id, window))
        .await?;
    let transcript: Vec<(bool, String)> = recent
        .into_iter()
        .filter(|m| m.sender_type != SenderType::System)
        .map(|m| (m.sender_type == SenderType::Contact, m.content))
        .collect();
    if !transcript.iter().any(|(from_customer, _)| *from_customer) {
        return Ok(0);
    }
    let config = &settings.memory;
    let mut facts = None;
    if let Some(agent) = job.agent.as_ref().filter(|a| {
        config.extractor == MemoryExtractor::Auto && a.provider_kind == ProviderKind::Openai
    }) {
        let call = SideCall {
            conversation_id: job.conversation.clone(),
            purpose: TurnStatus::Memory,
            messages: extract::memory_messages(&transcript),
            max_tokens: config.llm_max_tokens,
        };
        match agent.supervisor.send(call).await {
            Ok(Ok(answer)) => {
                facts = memory::parse_llm(&answer, config.max_chars);
                if facts.is_none() {
                    tracing::info!(conversation = %job.conversation, "memory extraction answer unusable; rules used");
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(conversation = %job.conversation, error = %e, "memory extraction by LLM failed; rules used")
            }
            Err(e) => {
                tracing::warn!(conversation = %job.conversation, error = %e, "agent unreachable for memory extraction; rules used")
            }
        }
    }
    let mut facts = facts.unwrap_or_else(|| {
        let utterances: Vec<Utterance> = transcript
            .iter()
            .map(|(from_customer, text)| Utterance {
                from_customer: *from_customer,
                text,
            })
            .collect();
        memory::extract_rules(&utterances, config.max_chars)
    });
    facts.truncate(config.max_per_extraction);
    if facts.is_empty() {
        return Ok(0);
    }
    let owner = Owner {
        tenant: job.tenant,
        contact: job.contact,
        agent: job.agent.map(|a| a.id),
        conversation: job.conversation,
    };
    let keep = config.max_per_contact;
    store
        .run(move |conn| memories::remember(conn, &owner, &facts, keep))
        .await
}

/// Classifies a new conversation's first customer message: rules always, refined by the
/// LLM of `agent` in `llm` mode. Never fails: the rules' result is the fallback.
pub async fn classify(
    settings: Arc<Settings>,
    supervisors: Addr<Supervisors>,
    agent: Option<AgentId>,
    conversation: ConversationId,
    text: String,
    vip: bool,
) -> Classification {
    let rules = classification::classify(&text, vip);
    let config = &settings.classification;
    // Called in `llm` mode only (the tenant's setting, read by the conversation).
    let Some(agent) = agent else {
        return rules;
    };
    let supervisor = match supervisors.send(SupervisorOf(agent)).await {
        Ok(Ok(Some(addr))) => addr,
        _ => return rules,
    };
    let call = SideCall {
        conversation_id: conversation.clone(),
        purpose: TurnStatus::Classification,
        messages: extract::classification_messages(&text),
        max_tokens: config.llm_max_tokens,
    };
    match supervisor.send(call).await {
        Ok(Ok(answer)) => match classification::parse_llm(&answer) {
            Some(mut by_llm) => {
                // The model does not know the contact; the VIP rule applies on top.
                if vip {
                    by_llm.priority = classification::raise(by_llm.priority);
                }
                by_llm
            }
            None => {
                tracing::info!(conversation = %conversation, "classification answer unusable; rules used");
                rules
            }
        },
        Ok(Err(e)) => {
            tracing::info!(conversation = %conversation, error = %e, "classification by LLM unavailable; rules used");
            rules
        }
        Err(_) => rules,
    }
}

/// Stores a classification on the conversation (repeatable: a retried batch writes it again).
pub fn store_classification(
    conn: &mut DbConn,
    conversation: &ConversationId,
    classification: &Classification,
) -> Result<(), StoreError> {
    crate::store::conversations::set_classification(
        conn,
        conversation,
        classification.category.as_str(),
        classification.priority.as_str(),
        classification.to_json(),
    )
}

/// Negative feedback on an AI reply, ready to record.
pub struct FeedbackRecord {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    /// The AI reply the customer reacted to.
    pub reply_message_id: String,
    /// The customer's message that carried the feedback.
    pub customer_message_id: String,
    pub agent: Option<String>,
    pub detection: Detection,
}

impl FeedbackRecord {
    /// The `feedback_detected` event.
    pub fn event(&self) -> EngineEvent {
        EngineEvent::FeedbackDetected(FeedbackDetected {
            conversation_id: self.conversation.clone(),
            message_id: self.reply_message_id.clone(),
            customer_message_id: self.customer_message_id.clone(),
            agent_id: self.agent.clone(),
            detection: self.detection.clone(),
        })
    }
}

pub async fn record_feedback(store: Store, record: FeedbackRecord) -> Result<(), StoreError> {
    let event = FeedbackEvent {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: record.tenant,
        conversation_id: record.conversation,
        message_id: Some(record.reply_message_id),
        agent_id: record.agent,
        kind: record.detection.kind.as_str().to_string(),
        score: record.detection.score,
        details: serde_json::json!({
            "customer_message_id": record.customer_message_id,
            "signals": record.detection.signals,
        })
        .to_string(),
        created_at: crate::store::now(),
    };
    store
        .run(move |conn| feedback_store::insert(conn, &event))
        .await
}
