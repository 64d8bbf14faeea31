//! Staff working a conversation together: private notes, transfers and canned replies, the
//! same for REST (`api::conversations`) and the WebSocket (`ws::handler`). The rules are
//! `domain::desk` and `domain::canned`; this runs them against the store and the
//! conversation's actor and tells listeners.
//!
//! Notes live in their own table and travel only as the staff event `note_added`: nothing
//! that reads messages (the AI's prompt, channels, the web chat, webhooks' message
//! payloads) can carry one.

use crate::domain::canned::{self, Reply};
use crate::domain::conversation::{Owner, MAX_MESSAGE_CHARS};
use crate::domain::desk::{self, NoteKind, TransferTarget};
use crate::domain::role::may_open_conversation;
use crate::domain::{ConversationId, DepartmentId, Role, TenantId, UserId};
use crate::engine::conversation::Transfer;
use crate::engine::events::{EngineEvent, NoteAdded};
use crate::engine::registry::Ask;
use crate::engine::{Engine, EngineError};
use crate::error::{ClientError, ErrorCode};
use crate::store::conversations::{self, Conversation};
use crate::store::notes::{self, Note};
use crate::store::{canned as canned_store, departments, users, StoreError};

/// Who is acting: a staff member of a tenant.
#[derive(Debug, Clone)]
pub struct Colleague {
    pub tenant: TenantId,
    pub user: UserId,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    /// The colleague cannot take the conversation now.
    #[error("the colleague cannot take conversations now")]
    Unavailable,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => DeskError::NotFound,
            other => DeskError::Engine(EngineError::Store(other)),
        }
    }
}

impl From<actix::MailboxError> for DeskError {
    fn from(e: actix::MailboxError) -> Self {
        DeskError::Engine(e.into())
    }
}

impl From<desk::Invalid> for DeskError {
    fn from(e: desk::Invalid) -> Self {
        DeskError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl ClientError for DeskError {
    fn code(&self) -> ErrorCode {
        match self {
            DeskError::Invalid { .. } => ErrorCode::ValidationError,
            DeskError::Forbidden(_) => ErrorCode::Forbidden,
            DeskError::NotFound => ErrorCode::NotFound,
            DeskError::Unavailable => ErrorCode::RoutingError,
            DeskError::Engine(e) => e.code(),
        }
    }

    fn public_message(&self) -> String {
        match self {
            DeskError::Engine(e) => e.public_message(),
            other => other.to_string(),
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            DeskError::Invalid { field, .. } => Some(serde_json::json!({ "field": field })),
            DeskError::Engine(e) => e.details(),
            _ => None,
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> DeskError {
    DeskError::Invalid {
        field,
        message: message.into(),
    }
}

/// A conversation of the colleague's tenant they may open (another tenant's is not found).
pub async fn open(engine: &Engine, who: &Colleague, raw: &str) -> Result<Conversation, DeskError> {
    let id = ConversationId::parse(raw).ok_or(DeskError::NotFound)?;
    let tenant = who.tenant.clone();
    let conversation = engine
        .parts
        .store
        .run(move |conn| conversations::find(conn, &tenant, &id))
        .await?;
    if !may_open_conversation(who.role, &who.user, &conversation.owner()) {
        return Err(DeskError::Forbidden(
            "the conversation belongs to someone else",
        ));
    }
    Ok(conversation)
}

/// Stores a private note and tells staff (`note_added`).
pub async fn add_note(
    engine: &Engine,
    who: &Colleague,
    conversation: &Conversation,
    content: &str,
    kind: NoteKind,
    field: &'static str,
) -> Result<Note, DeskError> {
    let content = desk::note_text(content, field)?;
    let note = Note {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: conversation.tenant_id.clone(),
        conversation_id: conversation.id.clone(),
        author_id: who.user.to_string(),
        kind,
        content,
        created_at: crate::store::now(),
    };
    let row = note.clone();
    engine
        .parts
        .store
        .run(move |conn| notes::insert(conn, &row))
        .await?;
    tracing::info!(tenant = %who.tenant, conversation = %conversation.id, user = %who.user, kind = kind.as_str(), "private note added");
    engine.parts.events.publish(
        &conversation.tenant_id,
        Some(&conversation.id),
        EngineEvent::NoteAdded(NoteAdded {
            note_id: note.id.clone(),
            author_id: who.user.clone(),
            kind,
            content: note.content.clone(),
        }),
    );
    Ok(note)
}

/// A transfer request: `{user_id | department_id, note}`.
#[derive(Debug, Clone, Default)]
pub struct TransferRequest {
    pub user_id: Option<String>,
    pub department_id: Option<String>,
    pub note: Option<String>,
}

/// Hands a conversation to a colleague (who must be able to take it now: available, online
/// when presence is required, under their `max_conversations`) or to a department's queue,
/// with an optional private note. Agents transfer their own conversations; supervisors and
/// admins any of their tenant.
pub async fn transfer(
    engine: &Engine,
    who: &Colleague,
    raw: &str,
    request: TransferRequest,
) -> Result<Conversation, DeskError> {
    let target =
        desk::transfer_target(request.user_id.as_deref(), request.department_id.as_deref())?;
    // Checked before anything changes.
    let note = request
        .note
        .as_deref()
        .map(|n| desk::note_text(n, "note"))
        .transpose()?;
    let conversation = open(engine, who, raw).await?;
    let from = conversation.owner();
    if !desk::may_transfer(who.role, &who.user, &from) {
        return Err(DeskError::Forbidden(
            "agents transfer only conversations they own",
        ));
    }
    if conversation.status() == crate::domain::conversation::Status::Closed {
        return Err(EngineError::Closed.into());
    }
    check_target(engine, who, &target, &from).await?;
    engine
        .registry
        .send(Ask(
            conversation.tenant_id.clone(),
            conversation.id.clone(),
            Transfer {
                target: target.clone(),
                expected: from.clone(),
            },
        ))
        .await?
        .map_err(DeskError::from)??;
    let note_id = match note {
        Some(text) => Some(
            add_note(
                engine,
                who,
                &conversation,
                &text,
                NoteKind::Transfer,
                "note",
            )
            .await?
            .id,
        ),
        None => None,
    };
    let (owner, department_id) = match &target {
        TransferTarget::User(user) => (Owner::User(user.clone()), None),
        TransferTarget::Department(department) => (Owner::Nobody, Some(department.clone())),
    };
    tracing::info!(tenant = %who.tenant, conversation = %conversation.id, user = %who.user, to = ?target, "conversation transferred");
    engine.parts.events.publish(
        &conversation.tenant_id,
        Some(&conversation.id),
        EngineEvent::ConversationTransferred {
            from,
            owner,
            department_id,
            by: who.user.clone(),
            note_id,
        },
    );
    let tenant = who.tenant.clone();
    let id = conversation.id.clone();
    Ok(engine
        .parts
        .store
        .run(move |conn| conversations::find(conn, &tenant, &id))
        .await?)
}

/// The target exists in the tenant and, for a colleague, can take the conversation now.
async fn check_target(
    engine: &Engine,
    who: &Colleague,
    target: &TransferTarget,
    from: &Owner,
) -> Result<(), DeskError> {
    let tenant = who.tenant.clone();
    match target {
        TransferTarget::Department(department) => {
            let id: DepartmentId = department.clone();
            engine
                .parts
                .store
                .run(move |conn| departments::find(conn, &tenant, &id).map(|_| ()))
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => {
                        invalid("department_id", "is not a department of this tenant")
                    }
                    other => other.into(),
                })
        }
        TransferTarget::User(user) => {
            if from == &Owner::User(user.clone()) {
                return Err(invalid("user_id", "already owns the conversation"));
            }
            let probe = user.clone();
            let (row, load) = engine
                .parts
                .store
                .run(move |conn| {
                    let row = users::find(conn, &tenant, &probe)?;
                    let load = conversations::open_count_by_user(conn, &tenant)?
                        .into_iter()
                        .find(|(id, _)| id == probe.as_str())
                        .map_or(0, |(_, n)| n);
                    Ok((row, load))
                })
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => invalid("user_id", "is not a user of this tenant"),
                    other => other.into(),
                })?;
            let online = !engine.parts.settings.engine.require_presence || row.presence == "online";
            if !row.available || !online || load >= i64::from(row.max_conversations) {
                return Err(DeskError::Unavailable);
            }
            Ok(())
        }
    }
}

/// A staff reply as it is sent: `/shortcut …` becomes the canned text (the colleague's own,
/// else the tenant's); an unknown shortcut is refused and nothing is sent.
pub async fn expand_reply(
    engine: &Engine,
    who: &Colleague,
    content: String,
) -> Result<String, DeskError> {
    let (name, rest) = match canned::read(&content) {
        Reply::Literal(text) => return Ok(text.into_owned()),
        Reply::Shortcut { name, rest } => (name, rest.to_string()),
    };
    let tenant = who.tenant.clone();
    let user = who.user.clone();
    let lookup = name.clone();
    let text = engine
        .parts
        .store
        .run(move |conn| canned_store::lookup(conn, &tenant, &user, &lookup))
        .await?
        .ok_or_else(|| {
            invalid(
                "content",
                format!("starts with /{name}, which is not a canned response (start with // to send a literal /)"),
            )
        })?;
    let expanded = canned::expand(&text, &rest);
    if expanded.chars().count() > MAX_MESSAGE_CHARS {
        return Err(invalid("content", "is too long once expanded"));
    }
    Ok(expanded)
}
