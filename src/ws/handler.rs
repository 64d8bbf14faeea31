//! What each client frame does. Plain async functions over the engine, the store and the hub
//! (no socket type in sight): the session actor runs one frame at a time through [`handle`]
//! and writes the frames it returns to its own client.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::hub::{Audience, Join, Leave, Relay, SessionId};
use crate::domain::agent::TurnStatus;
use crate::domain::conversation::{SenderType, MAX_MESSAGE_CHARS};
use crate::domain::desk::NoteKind;
use crate::domain::quota::VisitorRequest;
use crate::domain::scheduling::{self, extract_email, extract_phone};
use crate::domain::summary::{self, Speaker};
use crate::domain::AgentId;
use crate::domain::{ConversationId, MessageId, TenantId};
use crate::engine::agent::{SideCall, SupervisorOf};
use crate::engine::booking;
use crate::engine::conversation::{HumanReply, Take};
use crate::engine::desk::{self, Colleague, TransferRequest};
use crate::engine::registry::{self, Ask};
use crate::engine::writer::Inbound;
use crate::error::ErrorCode;
use crate::llm::prompt;
use crate::store::contacts::ChannelIdentity;
use crate::store::conversations::{self, Conversation};
use crate::store::messages::{self, Message};
use crate::store::{auto_create, contacts, integrations, receipts, visitor_quotas, StoreError};
use crate::views::{EventView, MessageView};

use super::protocol::{ClientFrame, ServerFrame};
use super::{authorize, Deps, Principal, WsError};

/// One socket's identity and the shared dependencies.
pub struct Core {
    pub id: SessionId,
    pub principal: Principal,
    pub deps: Arc<Deps>,
    /// Conversations found in this socket's tenant (`realtime.known_conversations`).
    known: Mutex<Known>,
}

/// Conversations a socket has read and found in its tenant, at most `cap` of them: when full
/// it starts over (a socket that wrote to that many is rare, and forgetting costs one read).
#[derive(Debug, Default)]
struct Known(HashSet<ConversationId>);

impl Known {
    fn contains(&self, conversation: &ConversationId) -> bool {
        self.0.contains(conversation)
    }

    fn insert(&mut self, conversation: &ConversationId, cap: usize) {
        if cap == 0 {
            return;
        }
        if self.0.len() >= cap {
            self.0.clear();
        }
        self.0.insert(conversation.clone());
    }
}

impl Core {
    pub fn new(id: SessionId, principal: Principal, deps: Arc<Deps>) -> Self {
        Core {
            id,
            principal,
            deps,
            known: Mutex::default(),
        }
    }

    fn is_known(&self, conversation: &ConversationId) -> bool {
        self.known
            .lock()
            .is_ok_and(|known| known.contains(conversation))
    }

    fn remember(&self, conversation: &ConversationId) {
        let cap = self.deps.settings.realtime.known_conversations;
        if let Ok(mut known) = self.known.lock() {
            known.insert(conversation, cap);
        }
    }
}

type Frames = Result<Vec<ServerFrame>, WsError>;

/// What is left of a frame once its ordered part is done: a commit to wait for.
pub type Rest = futures::future::BoxFuture<'static, Vec<ServerFrame>>;

/// A frame's answer, or the rest of its work. The ordered part (checks, and handing the
/// message to its conversation) runs before the session reads the next frame, so a
/// socket's messages keep their order; the rest may overlap the next frames' work.
pub enum Handled {
    Now(Vec<ServerFrame>),
    Later(Rest),
}

/// Runs one frame; errors become an `error` frame for this client only.
pub async fn handle(core: Arc<Core>, frame: ClientFrame) -> Handled {
    let kind = frame.kind();
    let result = match frame {
        ClientFrame::Ping => Ok(vec![ServerFrame::Pong]),
        ClientFrame::Message {
            conversation_id,
            content,
            client_msg_id,
        } if matches!(core.principal, Principal::Staff { .. }) => {
            return match staff_message(core.clone(), &conversation_id, content, client_msg_id).await
            {
                Ok(rest) => Handled::Later(rest),
                Err(e) => Handled::Now(error_frames(&core, kind, e)),
            };
        }
        ClientFrame::Message {
            conversation_id,
            content,
            client_msg_id,
        } => message(&core, &conversation_id, content, client_msg_id).await,
        ClientFrame::Typing {
            conversation_id,
            is_typing,
        } => typing(&core, &conversation_id, is_typing).await,
        ClientFrame::Read {
            conversation_id,
            message_id,
        } => read(&core, &conversation_id, &message_id).await,
        ClientFrame::Sync {
            conversation_id,
            last_message_id,
            after_seq,
        } => sync(&core, conversation_id, last_message_id, after_seq).await,
        ClientFrame::Subscribe { conversation_id } => subscribe(&core, &conversation_id).await,
        ClientFrame::Unsubscribe { conversation_id } => unsubscribe(&core, &conversation_id).await,
        ClientFrame::RequestSummary { conversation_id } => {
            request_summary(&core, &conversation_id).await
        }
        ClientFrame::RequestSuggestions { conversation_id } => {
            request_suggestions(&core, &conversation_id).await
        }
        ClientFrame::ScheduleConfirm {
            conversation_id,
            date,
            time,
            email,
            phone,
        } => schedule_confirm(&core, &conversation_id, &date, &time, &email, phone).await,
        ClientFrame::SetAutoCreate {
            conversation_id,
            enabled,
        } => set_auto_create(&core, &conversation_id, enabled).await,
        ClientFrame::Take { conversation_id } => take(&core, &conversation_id).await,
        ClientFrame::Transfer {
            conversation_id,
            user_id,
            department_id,
            note,
        } => {
            let request = TransferRequest {
                user_id,
                department_id,
                note,
            };
            transfer(&core, &conversation_id, request).await
        }
        ClientFrame::Note {
            conversation_id,
            content,
        } => note(&core, &conversation_id, &content).await,
    };
    Handled::Now(result.unwrap_or_else(|e| error_frames(&core, kind, e)))
}

fn error_frames(core: &Core, kind: &str, e: WsError) -> Vec<ServerFrame> {
    if e.code == ErrorCode::Internal {
        tracing::warn!(session = core.id, frame = kind, error = %e.message, "socket frame failed");
    }
    vec![ServerFrame::error(e.code, e.message)]
}

async fn join(core: &Core, conversation: &Conversation) -> Result<(), WsError> {
    follow(
        core,
        conversation.id.clone(),
        conversation.tenant_id.clone(),
    )
    .await
}

/// Makes this socket follow a conversation (the hub's `Join`).
async fn follow(
    core: &Core,
    conversation: ConversationId,
    tenant: TenantId,
) -> Result<(), WsError> {
    core.deps
        .hub
        .send(Join {
            id: core.id,
            conversation,
            tenant,
        })
        .await?;
    Ok(())
}

fn relay(core: &Core, conversation: &Conversation, frame: &ServerFrame) {
    core.deps.hub.do_send(Relay {
        conversation: conversation.id.clone(),
        tenant: conversation.tenant_id.clone(),
        frame: frame.encode(),
        except: Some(core.id),
        audience: Audience::Everyone,
    });
}

/// A colleague's message: checked and handed to its conversation now (in the socket's
/// order); its commit and `message_sent` are the rest.
async fn staff_message(
    core: Arc<Core>,
    raw_conversation: &str,
    content: String,
    client_msg_id: Option<String>,
) -> Result<Rest, WsError> {
    check_message(&content, client_msg_id.as_deref())?;
    let Some(who) = colleague(&core.principal) else {
        return Err(WsError::new(ErrorCode::AuthError, "not a staff socket"));
    };
    // A conversation's tenant never changes: once this socket found it in its tenant, the
    // read is not repeated. Its owner does change; the conversation checks it as it stores.
    let id = ConversationId::parse(raw_conversation)
        .ok_or_else(|| WsError::not_found("conversation"))?;
    if !core.is_known(&id) {
        authorize(&core.deps.store, &core.principal, raw_conversation).await?;
        core.remember(&id);
    }
    let content = desk::expand_reply(&core.deps.engine, &who, content).await?;
    let Colleague { tenant, user, role } = who;
    // Queued at the conversation in this socket's order now; awaiting it is the rest.
    let reply = registry::ask_in_order(
        &core.deps.engine.registry,
        tenant.clone(),
        id.clone(),
        HumanReply {
            user,
            role,
            content,
        },
    );
    Ok(Box::pin(async move {
        let result: Frames = async {
            let stored = reply.await??;
            // Writing into a conversation is following it.
            follow(&core, id, tenant).await?;
            Ok(vec![ServerFrame::MessageSent {
                client_msg_id,
                message: MessageView::from_row(stored),
            }])
        }
        .await;
        result.unwrap_or_else(|e| error_frames(&core, "message", e))
    }))
}

fn check_message(content: &str, client_msg_id: Option<&str>) -> Result<(), WsError> {
    if content.trim().is_empty() {
        return Err(WsError::validation("content must not be empty"));
    }
    if content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(WsError::validation(format!(
            "content is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    if client_msg_id.is_some_and(|k| k.is_empty() || k.chars().count() > 128) {
        return Err(WsError::validation(
            "client_msg_id must be 1 to 128 characters",
        ));
    }
    Ok(())
}

/// A web chat customer's message.
async fn message(
    core: &Core,
    raw_conversation: &str,
    content: String,
    client_msg_id: Option<String>,
) -> Frames {
    check_message(&content, client_msg_id.as_deref())?;
    let Principal::Contact { contact, .. } = &core.principal else {
        return Err(WsError::new(ErrorCode::AuthError, "not a customer socket"));
    };
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    let stored = customer_message(
        core,
        &conversation,
        contact,
        content,
        client_msg_id.as_deref(),
    )
    .await?;
    Ok(vec![ServerFrame::MessageSent {
        client_msg_id,
        message: MessageView::from_row(stored),
    }])
}

/// A web chat customer's message enters the engine exactly like a channel's: durable first
/// (de-duplicated on `client_msg_id`), then handed to the conversation's actor.
async fn customer_message(
    core: &Core,
    conversation: &Conversation,
    contact: &crate::domain::ContactId,
    content: String,
    client_msg_id: Option<&str>,
) -> Result<Message, WsError> {
    let not_webchat = || {
        WsError::new(
            ErrorCode::Forbidden,
            "this conversation does not take web chat messages",
        )
    };
    let integration_id = conversation
        .integration_id
        .clone()
        .ok_or_else(not_webchat)?;
    let tenant = conversation.tenant_id.clone();
    let probe = (integration_id.clone(), tenant.clone(), contact.clone());
    let (integration, contact_row) = core
        .deps
        .store
        .run(move |conn| {
            let integration = integrations::find(conn, &probe.1, &probe.0)?;
            let contact = contacts::find(conn, &probe.1, &probe.2)?;
            Ok((integration, contact))
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_webchat(),
            other => other.into(),
        })?;
    if integration.kind != "webchat" || !integration.enabled {
        return Err(not_webchat());
    }
    let external = contact_row.external_id.ok_or_else(not_webchat)?;
    let key = client_msg_id
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ingested = core
        .deps
        .engine
        .accept(Inbound {
            tenant_id: tenant,
            integration_id,
            channel: "webchat",
            contact: ChannelIdentity {
                external_id: external,
                ..Default::default()
            },
            // Scoped by contact: ids are unique per integration, keys only per customer.
            external_id: format!("{}:{key}", contact.as_str()),
            content,
            content_type: "text".into(),
            metadata: serde_json::json!({}),
            from_business: false,
        })
        .await?;
    if ingested.conversation.id != conversation.id {
        // The old conversation was closed: this message opened a new one.
        join(core, &ingested.conversation).await?;
    }
    Ok(ingested.message)
}

async fn typing(core: &Core, raw_conversation: &str, is_typing: bool) -> Frames {
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    relay(
        core,
        &conversation,
        &ServerFrame::Typing {
            user_id: core.principal.id().to_string(),
            conversation_id: conversation.id.to_string(),
            is_typing,
        },
    );
    Ok(Vec::new())
}

async fn read(core: &Core, raw_conversation: &str, raw_message: &str) -> Frames {
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    let message_id = MessageId::parse(raw_message).ok_or_else(|| WsError::not_found("message"))?;
    let tenant = conversation.tenant_id.clone();
    let conversation_id = conversation.id.clone();
    let reader_is_customer = core.principal.is_contact();
    core.deps
        .store
        .run(move |conn| {
            let message = receipts::find(conn, &tenant, &message_id)?;
            if message.conversation_id != conversation_id {
                return Err(StoreError::NotFound);
            }
            receipts::mark_read(
                conn,
                &tenant,
                &conversation_id,
                message.seq,
                reader_is_customer,
            )
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => WsError::not_found("message"),
            other => other.into(),
        })?;
    relay(
        core,
        &conversation,
        &ServerFrame::Read {
            conversation_id: conversation.id.to_string(),
            message_id: raw_message.to_string(),
            user_id: core.principal.id().to_string(),
        },
    );
    Ok(Vec::new())
}

/// Everything after the client's last message, in order. The socket follows the
/// conversation before the query runs, so a message arriving meanwhile is in the answer, in
/// the live frames, or in both — never in neither.
async fn sync(
    core: &Core,
    raw_conversation: Option<String>,
    last_message_id: Option<String>,
    after_seq: Option<i64>,
) -> Frames {
    if last_message_id.is_some() && after_seq.is_some() {
        return Err(WsError::validation(
            "give last_message_id or after_seq, not both",
        ));
    }
    if after_seq.is_some_and(|s| s < 0) {
        return Err(WsError::validation("after_seq must not be negative"));
    }
    let last = match &last_message_id {
        Some(raw) => {
            let id = MessageId::parse(raw).ok_or_else(|| WsError::not_found("message"))?;
            let tenant = core.principal.tenant().clone();
            Some(
                core.deps
                    .store
                    .run(move |conn| receipts::find(conn, &tenant, &id))
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => WsError::not_found("message"),
                        other => other.into(),
                    })?,
            )
        }
        None => None,
    };
    let raw = match (&raw_conversation, &last, &core.principal) {
        (Some(raw), _, _) => raw.clone(),
        (None, Some(message), _) => message.conversation_id.to_string(),
        (
            None,
            None,
            Principal::Contact {
                conversation,
                contact,
                ..
            },
        ) => {
            // The customer's current conversation: a closed one may have been followed by a
            // new one since the token was issued.
            let contact = contact.clone();
            let current = core
                .deps
                .store
                .run(move |conn| conversations::find_active_for_contact(conn, &contact))
                .await?;
            current.map_or_else(|| conversation.to_string(), |c| c.id.to_string())
        }
        (None, None, Principal::Staff { .. }) => {
            return Err(WsError::validation(
                "sync needs conversation_id or last_message_id",
            ))
        }
    };
    let conversation = authorize(&core.deps.store, &core.principal, &raw).await?;
    if let Some(message) = &last {
        if message.conversation_id != conversation.id {
            return Err(WsError::validation(
                "last_message_id is not a message of that conversation",
            ));
        }
    }
    let after = last.map_or(after_seq.unwrap_or(0), |m| m.seq);
    join(core, &conversation).await?;
    let limit = core.deps.settings.realtime.sync_max_messages;
    let tenant = conversation.tenant_id.clone();
    let id = conversation.id.clone();
    let mut rows = core
        .deps
        .store
        .run(move |conn| messages::list(conn, &tenant, &id, after, limit + 1))
        .await?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(vec![ServerFrame::SyncData {
        conversation_id: conversation.id.to_string(),
        messages: rows.into_iter().map(MessageView::from_row).collect(),
        has_more,
    }])
}

async fn subscribe(core: &Core, raw_conversation: &str) -> Frames {
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    join(core, &conversation).await?;
    Ok(Vec::new())
}

async fn unsubscribe(core: &Core, raw_conversation: &str) -> Frames {
    // Leaving needs no check: a socket can only leave rooms it was allowed into.
    let id = ConversationId::parse(raw_conversation)
        .ok_or_else(|| WsError::not_found("conversation"))?;
    core.deps
        .hub
        .send(Leave {
            id: core.id,
            conversation: id,
        })
        .await?;
    Ok(Vec::new())
}

/// The conversation's last `realtime.summary_max_messages` messages, oldest first: what a
/// summary or reply suggestions are written from.
async fn recent_messages(
    core: &Core,
    conversation: &Conversation,
) -> Result<Vec<Message>, WsError> {
    let id = conversation.id.clone();
    let window = core.deps.settings.realtime.summary_max_messages;
    Ok(core
        .deps
        .store
        .run(move |conn| messages::recent(conn, &id, window))
        .await?)
}

fn speaker_lines(rows: &[Message]) -> Vec<(Speaker, &str)> {
    rows.iter()
        .map(|m| (Speaker::from_sender_type(m.sender_type), m.content.as_str()))
        .collect()
}

async fn request_summary(core: &Core, raw_conversation: &str) -> Frames {
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    take_visitor_quota(core, &conversation, VisitorRequest::Summary).await?;
    let rows = recent_messages(core, &conversation).await?;
    let lines = speaker_lines(&rows);
    let written = written_by_model(
        core,
        &conversation,
        &rows,
        TurnStatus::Summary,
        prompt::summary_request,
    )
    .await;
    let (summary, source) = match written {
        Some(text) => (text, "llm"),
        None => (summary::extractive(&lines, 5), "extractive"),
    };
    Ok(vec![ServerFrame::Summary {
        conversation_id: conversation.id.to_string(),
        summary,
        source,
    }])
}

/// Replies the human agent could send now (staff only; the customer gets its own quick
/// replies after each AI answer): written by the conversation's AI agent's LLM as a side
/// call, like a summary, else by rules.
async fn request_suggestions(core: &Core, raw_conversation: &str) -> Frames {
    if core.principal.is_contact() {
        return Err(WsError::new(
            ErrorCode::Forbidden,
            "reply suggestions are for staff",
        ));
    }
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    let rows = recent_messages(core, &conversation).await?;
    let written = written_by_model(
        core,
        &conversation,
        &rows,
        TurnStatus::Suggestions,
        prompt::reply_suggestions_request,
    )
    .await
    .map(|answer| summary::parse_staff_replies(&answer))
    .filter(|replies| !replies.is_empty());
    let (suggestions, source) = match written {
        Some(replies) => (replies, "llm"),
        None => {
            let last_customer = rows
                .iter()
                .rev()
                .find(|m| m.sender_type == SenderType::Contact)
                .map(|m| m.content.as_str());
            let human_spoke = rows.iter().any(|m| m.sender_type == SenderType::User);
            let lang = summary::detect_lang(rows.iter().map(|m| m.content.as_str()));
            let today = chrono::Utc::now().date_naive();
            let wants_meeting =
                last_customer.is_some_and(|text| scheduling::read_wish(text, today).intent);
            (
                summary::staff_replies(last_customer, human_spoke, wants_meeting, lang),
                "rules",
            )
        }
    };
    Ok(vec![ServerFrame::Suggestions {
        conversation_id: conversation.id.to_string(),
        suggestions,
        source: Some(source),
    }])
}

/// The AI agent whose LLM writes the summary: the one holding the conversation, else the
/// last one that answered in it (a human reading a conversation the AI handed over).
fn summarizing_agent(conversation: &Conversation, rows: &[Message]) -> Option<AgentId> {
    let owner = conversation
        .owner_id
        .as_deref()
        .filter(|_| conversation.owner_type == "ai_agent");
    let last_ai = || {
        rows.iter()
            .rev()
            .find(|m| m.sender_type == SenderType::AiAgent)
            .and_then(|m| m.sender_id.as_deref())
    };
    owner.or_else(last_ai).and_then(AgentId::parse)
}

/// What the conversation's AI agent's model writes, as a side call, from the transcript of
/// `rows` with the instruction of `request`; `None` when there is nothing to write from,
/// the agent has no LLM, is at a limit or the request fails — the caller then answers
/// without one.
async fn written_by_model(
    core: &Core,
    conversation: &Conversation,
    rows: &[Message],
    purpose: TurnStatus,
    request: fn(&str, summary::Lang) -> Vec<crate::llm::ChatMessage>,
) -> Option<String> {
    let (transcript, lang) = summary::transcript(&speaker_lines(rows));
    if transcript.is_empty() {
        return None;
    }
    let agent = summarizing_agent(conversation, rows)?;
    let messages = request(&transcript, lang);
    let conversation = &conversation.id;
    let supervisor = core
        .deps
        .engine
        .parts
        .supervisors
        .send(SupervisorOf(agent.clone()))
        .await
        .ok()?
        .ok()??;
    let answer = supervisor
        .send(SideCall {
            conversation_id: conversation.clone(),
            purpose,
            messages,
            max_tokens: core.deps.settings.realtime.summary_max_tokens,
        })
        .await
        .ok()?;
    match answer {
        Ok(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Ok(_) => None,
        Err(e) => {
            tracing::info!(agent = %agent, purpose = purpose.as_str(), error = %e, "no LLM side call; rules instead");
            None
        }
    }
}

async fn schedule_confirm(
    core: &Core,
    raw_conversation: &str,
    date: &str,
    time: &str,
    email: &str,
    phone: Option<String>,
) -> Frames {
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    let email = email.trim().to_lowercase();
    if extract_email(&email).as_deref() != Some(email.as_str()) {
        return Err(WsError::validation("email is not a valid e-mail address"));
    }
    let phone = match phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(raw) => Some(
            extract_phone(raw).ok_or_else(|| WsError::validation("phone is not a phone number"))?,
        ),
        None => None,
    };
    let calendar = &core.deps.settings.calendar;
    let start = booking::parse_start(calendar, date, time).map_err(WsError::validation)?;
    let counted = take_visitor_quota(core, &conversation, VisitorRequest::Booking).await?;
    let booked = booking::book_for_conversation(
        &core.deps.store,
        calendar,
        &conversation,
        start,
        Some(email),
        phone,
    )
    .await;
    let event = match booked {
        Ok(event) => event,
        Err(e) => {
            if counted {
                give_back_visitor_quota(core, &conversation, VisitorRequest::Booking).await;
            }
            return Err(e.into());
        }
    };
    let view = EventView::from(event.clone());
    let frame = ServerFrame::ScheduleConfirmed {
        conversation_id: conversation.id.to_string(),
        event: view.clone(),
    };
    relay(core, &conversation, &frame);
    Ok(vec![ServerFrame::ScheduleConfirmed {
        conversation_id: conversation.id.to_string(),
        event: view,
    }])
}

/// A web-chat visitor's request counts against its conversation's cap
/// (`webchat.max_*_per_conversation`); over it the frame is refused with `RATE_LIMITED`.
/// Staff are not capped here (their summaries still count against the agent's limits).
/// `Ok(true)` when a unit was taken.
async fn take_visitor_quota(
    core: &Core,
    conversation: &Conversation,
    kind: VisitorRequest,
) -> Result<bool, WsError> {
    if !matches!(core.principal, Principal::Contact { .. }) {
        return Ok(false);
    }
    let limits = &core.deps.settings.webchat;
    let cap = match kind {
        VisitorRequest::Summary => limits.max_summaries_per_conversation,
        VisitorRequest::Booking => limits.max_bookings_per_conversation,
    };
    let id = conversation.id.clone();
    let taken = core
        .deps
        .store
        .run(move |conn| visitor_quotas::take(conn, &id, kind, cap))
        .await?;
    if taken {
        Ok(true)
    } else {
        Err(WsError::new(
            ErrorCode::RateLimited,
            kind.over_cap_message(cap),
        ))
    }
}

async fn give_back_visitor_quota(core: &Core, conversation: &Conversation, kind: VisitorRequest) {
    let id = conversation.id.clone();
    let result = core
        .deps
        .store
        .run(move |conn| visitor_quotas::give_back(conn, &id, kind))
        .await;
    if let Err(e) = result {
        tracing::warn!(conversation = %conversation.id, error = %e, "visitor quota not given back");
    }
}

async fn set_auto_create(core: &Core, raw_conversation: &str, enabled: bool) -> Frames {
    let conversation = authorize(&core.deps.store, &core.principal, raw_conversation).await?;
    let tenant = conversation.tenant_id.clone();
    let id = conversation.id.clone();
    core.deps
        .store
        .run(move |conn| auto_create::set(conn, &tenant, &id, enabled))
        .await?;
    Ok(vec![ServerFrame::AutoCreateUpdated {
        conversation_id: conversation.id.to_string(),
        enabled,
    }])
}

/// Staff take a conversation: the same compare-and-set as `POST /conversations/{id}/take`,
/// so of two colleagues taking it at once the second gets `CONFLICT`. Not `authorize`: a
/// conversation someone took a moment ago is a conflict for the loser, not a `FORBIDDEN`.
async fn take(core: &Core, raw_conversation: &str) -> Frames {
    let Principal::Staff { user, role, .. } = &core.principal else {
        // Someone else's conversation stays unseen (NOT_FOUND) even to this refusal.
        authorize(&core.deps.store, &core.principal, raw_conversation).await?;
        return Err(WsError::new(
            ErrorCode::Forbidden,
            "customers cannot take conversations",
        ));
    };
    let id = ConversationId::parse(raw_conversation)
        .ok_or_else(|| WsError::not_found("conversation"))?;
    let tenant = core.principal.tenant().clone();
    let lookup = id.clone();
    let conversation = core
        .deps
        .store
        .run(move |conn| conversations::find(conn, &tenant, &lookup))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => WsError::not_found("conversation"),
            other => other.into(),
        })?;
    core.deps
        .engine
        .registry
        .send(Ask(
            conversation.tenant_id.clone(),
            id,
            Take {
                user: user.clone(),
                role: *role,
            },
        ))
        .await???;
    // Taking is following.
    join(core, &conversation).await?;
    let mut data = serde_json::Map::new();
    data.insert(
        "owner".into(),
        serde_json::json!({"type": "user", "id": user}),
    );
    Ok(vec![ServerFrame::ConversationAssigned {
        conversation_id: conversation.id.to_string(),
        data,
    }])
}

/// The staff member behind a socket, as `engine::desk` takes them.
fn colleague(principal: &Principal) -> Option<Colleague> {
    match principal {
        Principal::Staff { tenant, user, role } => Some(Colleague {
            tenant: tenant.clone(),
            user: user.clone(),
            role: *role,
        }),
        Principal::Contact { .. } => None,
    }
}

/// Refuses a customer socket without telling it whether the conversation exists.
async fn staff_only(core: &Core, raw_conversation: &str, what: &str) -> Result<Colleague, WsError> {
    match colleague(&core.principal) {
        Some(who) => Ok(who),
        None => {
            authorize(&core.deps.store, &core.principal, raw_conversation).await?;
            Err(WsError::new(
                ErrorCode::Forbidden,
                format!("customers cannot {what}"),
            ))
        }
    }
}

/// Staff hand a conversation over, as `POST /conversations/{id}/transfer`; the answer is the
/// `conversation_transferred` frame (colleagues get the event).
async fn transfer(core: &Core, raw_conversation: &str, request: TransferRequest) -> Frames {
    let who = staff_only(core, raw_conversation, "transfer conversations").await?;
    let conversation = desk::transfer(&core.deps.engine, &who, raw_conversation, request).await?;
    let mut data = serde_json::Map::new();
    data.insert("owner".into(), serde_json::json!(conversation.owner()));
    data.insert(
        "department_id".into(),
        serde_json::json!(conversation.department_id),
    );
    data.insert("by".into(), serde_json::json!(who.user));
    Ok(vec![ServerFrame::ConversationTransferred {
        conversation_id: conversation.id.to_string(),
        data,
    }])
}

/// A private note, as `POST /conversations/{id}/notes`; the answer is the `note_added`
/// frame (colleagues get the event; the customer's socket never does).
async fn note(core: &Core, raw_conversation: &str, content: &str) -> Frames {
    let who = staff_only(core, raw_conversation, "write private notes").await?;
    let conversation = desk::open(&core.deps.engine, &who, raw_conversation).await?;
    let note = desk::add_note(
        &core.deps.engine,
        &who,
        &conversation,
        content,
        NoteKind::Note,
        "content",
    )
    .await?;
    let mut data = serde_json::Map::new();
    data.insert("note_id".into(), serde_json::json!(note.id));
    data.insert("author_id".into(), serde_json::json!(note.author_id));
    data.insert("kind".into(), serde_json::json!(note.kind));
    data.insert("content".into(), serde_json::json!(note.content));
    Ok(vec![ServerFrame::NoteAdded {
        conversation_id: conversation.id.to_string(),
        data,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_conversations_are_remembered_up_to_the_cap_then_start_over() {
        let (a, b, c) = (
            ConversationId::new(),
            ConversationId::new(),
            ConversationId::new(),
        );
        let mut known = Known::default();
        known.insert(&a, 2);
        known.insert(&b, 2);
        assert!(known.contains(&a) && known.contains(&b));
        known.insert(&c, 2);
        assert!(known.contains(&c), "the newest is kept");
        assert!(
            !known.contains(&a) && !known.contains(&b),
            "full: started over"
        );
    }

    #[test]
    fn a_cap_of_zero_remembers_nothing() {
        let a = ConversationId::new();
        let mut known = Known::default();
        known.insert(&a, 0);
        assert!(!known.contains(&a));
    }
}
