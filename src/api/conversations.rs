//! `/api/v1/conversations`: listing, messages (`after_seq`), human replies, assign, escalate,
//! close and the AI log. Changes go through the conversation's actor, its only writer.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use crate::auth::Staff;
use crate::domain::conversation::{Owner, MAX_MESSAGE_CHARS};
use crate::domain::desk::NoteKind;
use crate::domain::distribution::Priority;
use crate::domain::escalation::EscalationReason;
use crate::domain::role::may_open_conversation;
use crate::domain::ticket::ConversationChanges;
use crate::domain::{
    AgentId, ContactId, ConversationId, DepartmentId, IntegrationId, Role, UserId,
};
use crate::engine::conversation::{
    self as actor, user_in_tenant, Close, Edit, Escalate, HumanReply,
};
use crate::engine::desk::{self, Colleague, TransferRequest};
use crate::engine::registry::Ask;
use crate::engine::{Engine, EngineError};
use crate::store::conversations::{self, Conversation, ListFilter};
use crate::store::messages;
use crate::store::notes::{self as notes_store, Note};
use crate::store::{agents, departments, funnels, json_column, turns, Store, StoreError};
use crate::views::MessageView;

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    /// none | user | ai_agent
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub tenant_id: String,
    pub contact_id: String,
    pub integration_id: Option<String>,
    pub channel: String,
    /// queued | open | closed
    pub status: String,
    pub owner: OwnerView,
    pub priority: String,
    pub category: Option<String>,
    pub department_id: Option<String>,
    pub stage_id: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub tags: serde_json::Value,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub last_seq: i64,
    pub escalation_reason: Option<String>,
    pub close_reason: Option<String>,
    pub first_response_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_message_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl ConversationView {
    pub fn from_row(c: Conversation) -> ApiResult<Self> {
        Ok(ConversationView {
            tags: json_column(&c.tags, "conversations.tags")?,
            metadata: json_column(&c.metadata, "conversations.metadata")?,
            owner: OwnerView {
                kind: c.owner_type.clone(),
                id: c.owner_id.clone(),
            },
            id: c.id.0,
            tenant_id: c.tenant_id.0,
            contact_id: c.contact_id.0,
            integration_id: c.integration_id.map(|i| i.0),
            channel: c.channel,
            status: c.status,
            priority: c.priority,
            category: c.category,
            department_id: c.department_id,
            stage_id: c.stage_id,
            last_seq: c.last_seq,
            escalation_reason: c.escalation_reason.map(|r| r.to_string()),
            close_reason: c.close_reason,
            first_response_at: c.first_response_at.map(|t| t.and_utc()),
            last_message_at: c.last_message_at.map(|t| t.and_utc()),
            closed_at: c.closed_at.map(|t| t.and_utc()),
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        })
    }
}

fn mailbox(e: actix::MailboxError) -> ApiError {
    EngineError::from(e).into()
}

/// Loads a conversation the caller may see: another tenant's is a 404, another agent's a 403.
pub async fn visible(store: &Store, staff: &Staff, raw: &str) -> ApiResult<Conversation> {
    let id = ConversationId::parse(raw).ok_or(ApiError::NotFound)?;
    let tenant = staff.tenant_id.clone();
    let conversation = store
        .run(move |conn| conversations::find(conn, &tenant, &id))
        .await?;
    if !may_open_conversation(staff.role, &staff.user_id, &conversation.owner()) {
        return Err(ApiError::Forbidden(
            "the conversation belongs to someone else".into(),
        ));
    }
    Ok(conversation)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// queued | open | closed
    pub status: Option<String>,
    /// none | user | ai_agent, or a user id
    pub owner: Option<String>,
    /// AI agent id
    pub agent_id: Option<String>,
    /// webchat | evolution | generic …
    pub channel: Option<String>,
    pub integration_id: Option<String>,
    /// Conversations carrying this tag.
    pub tag: Option<String>,
    /// critical | high | medium | low
    pub priority: Option<String>,
    /// The contact's name, phone or e-mail contains this (case-insensitive).
    pub q: Option<String>,
    /// Only this contact's conversations (the console's "previous conversations").
    pub contact_id: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = Page<ConversationView>)), security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = page.limit()?;
    let after = page.cursor_id(ConversationId::parse)?;
    let mut filter = ListFilter::default();
    if let Some(status) = query.status {
        if crate::domain::conversation::Status::parse(&status).is_none() {
            return Err(ApiError::field("status", "must be queued, open or closed"));
        }
        filter.status = Some(status);
    }
    match query.owner.as_deref() {
        None => {}
        Some(kind @ ("none" | "user" | "ai_agent")) => filter.owner_type = Some(kind.to_string()),
        Some(raw) => {
            let user = UserId::parse(raw).ok_or_else(|| {
                ApiError::field("owner", "must be none, user, ai_agent or a user id")
            })?;
            filter.owner_type = Some("user".into());
            filter.owner_id = Some(user.0);
        }
    }
    if let Some(agent) = query.agent_id {
        let agent = AgentId::parse(&agent)
            .ok_or_else(|| ApiError::field("agent_id", "is not an agent id"))?;
        filter.owner_type = Some("ai_agent".into());
        filter.owner_id = Some(agent.0);
    }
    if staff.role == Role::Agent {
        filter.owner_or_unassigned = Some(staff.user_id.0.clone());
    }
    let text = |raw: Option<String>| raw.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    filter.channel = text(query.channel);
    filter.tag = text(query.tag);
    filter.q = text(query.q);
    if let Some(raw) = text(query.contact_id) {
        filter.contact_id = Some(ContactId(super::resource::field_id("contact_id", &raw)?));
    }
    if let Some(raw) = text(query.integration_id) {
        filter.integration_id = Some(IntegrationId(super::resource::field_id(
            "integration_id",
            &raw,
        )?));
    }
    if let Some(raw) = text(query.priority) {
        let priority = Priority::parse(&raw)
            .ok_or_else(|| ApiError::field("priority", "must be critical, high, medium or low"))?;
        filter.priorities = Some(match priority {
            Priority::Medium => vec![priority.as_str().to_string(), "normal".to_string()],
            other => vec![other.as_str().to_string()],
        });
    }
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| conversations::list(conn, &tenant, &filter, limit + 1, after.as_ref()))
        .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |c| c.id.to_string(),
        ConversationView::from_row,
    )?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    responses((status = 200, body = ConversationView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    Ok(HttpResponse::Ok().json(ConversationView::from_row(conversation)?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MessagesQuery {
    /// Only messages with a larger `seq` (default 0: from the start).
    pub after_seq: Option<i64>,
    /// Only messages with a smaller `seq`: the page is then the `limit` messages just
    /// before it (the newest of them last), for reading history backwards from the end.
    pub before_seq: Option<i64>,
    /// 1..=500, default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    /// Pass as `after_seq` for the next page; null at the end (and with `before_seq`).
    pub next_after_seq: Option<i64>,
    /// With `before_seq`: pass as `before_seq` for the earlier page; null at the start.
    pub prev_before_seq: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(MessagesQuery),
    responses((status = 200, body = MessagePage)), security(("bearer" = [])))]
pub async fn messages(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    query: web::Query<MessagesQuery>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let after = query.after_seq.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::field("after_seq", "must not be negative"));
    }
    let limit = match query.limit {
        None => 100,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 500")),
    };
    let before = match query.before_seq {
        None => None,
        Some(n) if n > after => Some(n),
        Some(_) => {
            return Err(ApiError::field(
                "before_seq",
                "must be larger than after_seq and not negative",
            ))
        }
    };
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| match before {
            Some(before) => {
                messages::list_before(conn, &tenant, &conversation.id, after, before, limit + 1)
            }
            None => messages::list(conn, &tenant, &conversation.id, after, limit + 1),
        })
        .await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    // Backwards pages drop the extra row from the old end, forward pages from the new end.
    let skip = if before.is_some() && more {
        rows.len() - page
    } else {
        0
    };
    let items: Vec<MessageView> = rows
        .into_iter()
        .skip(skip)
        .take(page)
        .map(MessageView::from_row)
        .collect();
    let (next_after_seq, prev_before_seq) = match (before, more) {
        (None, true) => (items.last().map(|m| m.seq), None),
        (Some(_), true) => (None, items.first().map(|m| m.seq)),
        (_, false) => (None, None),
    };
    Ok(HttpResponse::Ok().json(MessagePage {
        items,
        next_after_seq,
        prev_before_seq,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub content: String,
}

/// A staff reply. A first word `/shortcut` is replaced by that canned response (the
/// caller's own, else the tenant's); an unknown one is a 400 and nothing is sent; `//`
/// sends a literal `/`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", request_body = ReplyBody,
    responses((status = 201, body = MessageView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reply(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<ReplyBody>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let content = body.into_inner().content;
    if content.trim().is_empty() {
        return Err(ApiError::field("content", "must not be empty"));
    }
    if content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::field("content", "is too long"));
    }
    let content = desk::expand_reply(&engine, &colleague(&staff), content).await?;
    let message = engine
        .registry
        .send(Ask(
            staff.tenant_id.clone(),
            conversation.id,
            HumanReply {
                user: staff.user_id.clone(),
                role: staff.role,
                content,
            },
        ))
        .await
        .map_err(mailbox)?
        .map_err(mailbox)??;
    Ok(HttpResponse::Created().json(MessageView::from_row(message)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub user_id: Option<String>,
    pub agent_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", tag = "conversations", request_body = AssignBody,
    responses((status = 200, body = ConversationView)), security(("bearer" = [])))]
pub async fn assign(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<AssignBody>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let conversation = visible(&store, &staff, &path).await?;
    let owner = match (&body.user_id, &body.agent_id) {
        (Some(user), None) => {
            let user = UserId::parse(user).ok_or(EngineError::UserNotFound)?;
            user_in_tenant(&store, staff.tenant_id.clone(), user.clone()).await?;
            Owner::User(user)
        }
        (None, Some(agent)) => {
            let agent = AgentId::parse(agent).ok_or(EngineError::AgentNotFound)?;
            let tenant = staff.tenant_id.clone();
            let probe = agent.clone();
            let exists = store
                .run(move |conn| agents::exists(conn, &tenant, &probe))
                .await?;
            if !exists {
                return Err(EngineError::AgentNotFound.into());
            }
            Owner::AiAgent(agent)
        }
        _ => {
            return Err(ApiError::validation(
                "give exactly one of user_id or agent_id",
            ))
        }
    };
    let id = conversation.id.clone();
    engine
        .registry
        .send(Ask(
            staff.tenant_id.clone(),
            id.clone(),
            actor::Assign {
                owner,
                admitted: false,
                only_if_unowned: false,
            },
        ))
        .await
        .map_err(mailbox)?
        .map_err(mailbox)??;
    current(&store, &staff, id).await
}

/// Any staff role: the caller becomes the owner (the inbox's "take" on a queued
/// conversation). A compare-and-set in the conversation's actor (`domain::role::may_take`):
/// of two agents taking the same queued conversation the second gets 409 `CONFLICT`.
/// `assign` stays for admins and supervisors.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/take", tag = "conversations",
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn take(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // Not `visible`: a conversation someone else took a moment ago is a 409 for the one who
    // lost the race, not a 403. Another tenant's stays a 404.
    let id = ConversationId::parse(&path).ok_or(ApiError::NotFound)?;
    let tenant = staff.tenant_id.clone();
    let lookup = id.clone();
    store
        .run(move |conn| conversations::find(conn, &tenant, &lookup))
        .await?;
    engine
        .registry
        .send(Ask(
            staff.tenant_id.clone(),
            id.clone(),
            actor::Take {
                user: staff.user_id.clone(),
                role: staff.role,
            },
        ))
        .await
        .map_err(mailbox)?
        .map_err(mailbox)??;
    current(&store, &staff, id).await
}

async fn current(store: &Store, staff: &Staff, id: ConversationId) -> ApiResult<HttpResponse> {
    let tenant = staff.tenant_id.clone();
    let conversation = store
        .run(move |conn| conversations::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from_row(conversation)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateBody {
    pub reason: String,
    pub user_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/escalate", tag = "conversations", request_body = EscalateBody,
    responses((status = 200, body = ConversationView)), security(("bearer" = [])))]
pub async fn escalate(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<EscalateBody>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let body = body.into_inner();
    if body.reason.trim().is_empty() {
        return Err(ApiError::field("reason", "must not be empty"));
    }
    let user = match body.user_id {
        Some(raw) => {
            let user = UserId::parse(&raw).ok_or(EngineError::UserNotFound)?;
            user_in_tenant(&store, staff.tenant_id.clone(), user.clone()).await?;
            Some(user)
        }
        None => None,
    };
    let id = conversation.id.clone();
    engine
        .registry
        .send(Ask(
            staff.tenant_id.clone(),
            id.clone(),
            Escalate {
                reason: EscalationReason::Staff(body.reason),
                user,
            },
        ))
        .await
        .map_err(mailbox)?
        .map_err(mailbox)??;
    current(&store, &staff, id).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", tag = "conversations", request_body = CloseBody,
    responses((status = 200, body = ConversationView)), security(("bearer" = [])))]
pub async fn close(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: Option<web::Json<CloseBody>>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let reason = body.and_then(|b| b.into_inner().reason);
    let id = conversation.id.clone();
    engine
        .registry
        .send(Ask(staff.tenant_id.clone(), id.clone(), Close { reason }))
        .await
        .map_err(mailbox)?
        .map_err(mailbox)??;
    current(&store, &staff, id).await
}

/// Staff change the conversation as a ticket: tags, priority, category, department, stage.
/// Whoever may open the conversation may edit it. Checked in full before anything changes;
/// one `conversation_updated` event names the fields changed.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "conversations", request_body = ConversationChanges,
    responses((status = 200, body = ConversationView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<ConversationChanges>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let changes = body
        .into_inner()
        .normalized()
        .map_err(|bad| ApiError::field(bad.field, &bad.message))?;
    let tenant = staff.tenant_id.clone();
    let wanted = changes.clone();
    let funnel_id = store
        .run(move |conn| {
            if let Some(department) = &wanted.department_id {
                let found = DepartmentId::parse(department)
                    .map(|id| departments::find(conn, &tenant, &id))
                    .transpose();
                match found {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(StoreError::NotFound) => return Ok(Err("department_id")),
                    Err(e) => return Err(e),
                }
            }
            match &wanted.stage_id {
                None => Ok(Ok(None)),
                Some(stage) => match funnels::funnel_of_stage(conn, &tenant, stage)? {
                    Some(funnel) => Ok(Ok(Some(funnel))),
                    None => Ok(Err("stage_id")),
                },
            }
        })
        .await?
        .map_err(|field| ApiError::field(field, "is not one of this tenant's"))?;
    let id = conversation.id.clone();
    engine
        .registry
        .send(Ask(
            staff.tenant_id.clone(),
            id.clone(),
            Edit {
                changes,
                funnel_id,
                user: staff.user_id.clone(),
            },
        ))
        .await
        .map_err(mailbox)?
        .map_err(mailbox)??;
    current(&store, &staff, id).await
}

/// The acting staff member, as `engine::desk` takes them.
pub fn colleague(staff: &Staff) -> Colleague {
    Colleague {
        tenant: staff.tenant_id.clone(),
        user: staff.user_id.clone(),
        role: staff.role,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// A colleague, who owns the conversation at once.
    pub user_id: Option<String>,
    /// A department: the conversation waits in its queue for one of its humans.
    pub department_id: Option<String>,
    /// A private note for whoever takes it over (staff only).
    pub note: Option<String>,
}

/// Hands the conversation to a colleague or a department with an optional private note.
/// Agents transfer their own; supervisors and admins any of their tenant. A colleague must
/// be able to take it now (available, online when presence is required, under their
/// `max_conversations`): otherwise 409 `ROUTING_ERROR` and nothing changes.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "conversations", request_body = TransferBody,
    responses((status = 200, body = ConversationView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn transfer(
    staff: Staff,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<TransferBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let request = TransferRequest {
        user_id: body.user_id,
        department_id: body.department_id,
        note: body.note,
    };
    let conversation = desk::transfer(&engine, &colleague(&staff), &path, request).await?;
    Ok(HttpResponse::Ok().json(ConversationView::from_row(conversation)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteView {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    /// note | transfer (given with a transfer)
    pub kind: String,
    pub content: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl NoteView {
    pub fn from_row(n: Note) -> Self {
        NoteView {
            id: n.id,
            conversation_id: n.conversation_id.0,
            author_id: n.author_id,
            kind: n.kind.as_str().to_string(),
            content: n.content,
            created_at: n.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub content: String,
}

/// A private note between colleagues: stored apart from the messages, shown to staff only,
/// never sent to the customer, a channel or the AI. Whoever may open the conversation may
/// write one, closed conversations included.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", tag = "conversations", request_body = NoteBody,
    responses((status = 201, body = NoteView), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_note(
    staff: Staff,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<NoteBody>,
) -> ApiResult<HttpResponse> {
    let who = colleague(&staff);
    let conversation = desk::open(&engine, &who, &path).await?;
    let note = desk::add_note(
        &engine,
        &who,
        &conversation,
        &body.content,
        NoteKind::Note,
        "content",
    )
    .await?;
    Ok(HttpResponse::Created().json(NoteView::from_row(note)))
}

/// The conversation's private notes, oldest first (`cursor`: the last note id of a page).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/notes", tag = "conversations", params(PageQuery),
    responses((status = 200, body = Page<NoteView>)), security(("bearer" = [])))]
pub async fn notes(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let limit = query.limit()?;
    let after = query.cursor_id(|raw| uuid::Uuid::parse_str(raw).ok().map(|u| u.to_string()))?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| {
            notes_store::list(conn, &tenant, &conversation.id, limit + 1, after.as_deref())
        })
        .await?;
    let page = Page::from_rows(rows, limit, |n| n.id.clone(), |n| Ok(NoteView::from_row(n)))?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}/ai-log", tag = "conversations",
    responses((status = 200, description = "Every AI turn: model, status, error_reason, tokens, cost_usd, latency_ms, retries, tools_used")),
    security(("bearer" = [])))]
pub async fn ai_log(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let conversation = visible(&store, &staff, &path).await?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| turns::for_conversation(conn, &tenant, &conversation.id))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": rows })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations", web::get().to(list))
        .route("/conversations/{id}", web::get().to(get))
        .route("/conversations/{id}", web::patch().to(update))
        .route("/conversations/{id}/messages", web::get().to(messages))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route("/conversations/{id}/assign", web::post().to(assign))
        .route("/conversations/{id}/take", web::post().to(take))
        .route("/conversations/{id}/transfer", web::post().to(transfer))
        .route("/conversations/{id}/notes", web::get().to(notes))
        .route("/conversations/{id}/notes", web::post().to(add_note))
        .route("/conversations/{id}/escalate", web::post().to(escalate))
        .route("/conversations/{id}/close", web::post().to(close))
        .route("/conversations/{id}/ai-log", web::get().to(ai_log));
}
