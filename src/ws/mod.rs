//! The WebSocket endpoint `/ws?token=…` (docs/protocol.md): who a socket speaks for, what it may
//! see, the frame handlers, and the session actor. Only `session.rs` knows about
//! actix-web-actors; everything else here is plain async code over the engine and the store.

pub mod handler;
pub mod hub;
pub mod protocol;
pub mod session;

use std::sync::Arc;

use actix::Addr;

use crate::auth::{Access, Claims, Subject};
use crate::config::Settings;
use crate::domain::access::{self, Denied};
use crate::domain::{ContactId, ConversationId};
use crate::engine::{Engine, EngineError};
use crate::error::{ClientError, ErrorBody, ErrorCode};
use crate::store::conversations::{self, Conversation};
use crate::store::{contacts, Store, StoreError};
use hub::Hub;

pub use session::routes;

pub use crate::domain::access::{agent_may_follow, Principal};

/// Whether `who` may see `conversation`: another tenant's, or another customer's, is not
/// found (its existence is not revealed); another agent's is forbidden.
pub fn check_access(who: &Principal, conversation: &Conversation) -> Result<(), WsError> {
    access::may_see(
        who,
        &conversation.tenant_id,
        &conversation.contact_id,
        &conversation.owner(),
    )
    .map_err(|denied| match denied {
        Denied::NotFound => WsError::not_found("conversation"),
        Denied::Forbidden => WsError::new(
            ErrorCode::Forbidden,
            "the conversation belongs to someone else",
        ),
    })
}

/// Loads a conversation by the id a client sent and checks access: every frame that names a
/// conversation goes through here.
pub async fn authorize(store: &Store, who: &Principal, raw: &str) -> Result<Conversation, WsError> {
    let id = ConversationId::parse(raw).ok_or_else(|| WsError::not_found("conversation"))?;
    let tenant = who.tenant().clone();
    let conversation = store
        .run(move |conn| conversations::find(conn, &tenant, &id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => WsError::not_found("conversation"),
            other => other.into(),
        })?;
    check_access(who, &conversation)?;
    Ok(conversation)
}

/// Turns a verified token into a principal, checking that the user (or the customer and
/// its conversation) still exists: a deleted user's unexpired token opens no socket. Staff
/// get the role the user has now, not the one written in the token.
pub async fn principal(
    store: &Store,
    access: &Access,
    claims: &Claims,
) -> Result<Principal, WsError> {
    let tenant = claims.tenant_id.clone();
    match (claims.kind, claims.role) {
        (Subject::Staff, Some(_)) => {
            let staff = access.staff(claims).await?;
            Ok(Principal::Staff {
                tenant,
                user: staff.user_id,
                role: staff.role,
            })
        }
        (Subject::Contact, _) => {
            let contact = ContactId::parse(&claims.sub).ok_or_else(WsError::bad_token)?;
            let conversation = claims
                .conversation_id
                .clone()
                .ok_or_else(WsError::bad_token)?;
            let probe = (tenant.clone(), contact.clone(), conversation.clone());
            let found = store
                .run(move |conn| {
                    contacts::find(conn, &probe.0, &probe.1)?;
                    conversations::find(conn, &probe.0, &probe.2)
                })
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => WsError::bad_token(),
                    other => other.into(),
                })?;
            if found.contact_id != contact {
                return Err(WsError::bad_token());
            }
            Ok(Principal::Contact {
                tenant,
                contact,
                conversation,
            })
        }
        (Subject::Staff, None) => Err(WsError::bad_token()),
    }
}

/// What every session needs; shared by all sessions of the process.
pub struct Deps {
    pub store: Store,
    pub engine: Engine,
    pub hub: Addr<Hub>,
    pub settings: Arc<Settings>,
    /// Open sessions, for Prometheus.
    pub sessions_gauge: prometheus::IntGauge,
    /// Staff sessions re-check their user on every frame and when told of a change.
    pub access: Arc<Access>,
    /// When the node stops, every session is told to reconnect elsewhere and closes.
    pub shutdown: crate::shutdown::Shutdown,
}

impl Principal {
    /// Whether the socket may stay open: a staff user must still exist with the token's
    /// version and the role the socket was opened with (a changed role reconnects, so the
    /// socket's view is recomputed). Customers' sockets live as long as their token.
    pub async fn still_valid(&self, access: &Access, token_version: i64) -> Result<(), WsError> {
        let Principal::Staff { tenant, user, role } = self else {
            return Ok(());
        };
        let now = access.check(user, tenant, token_version).await?;
        if now != *role {
            return Err(WsError::new(
                ErrorCode::AuthError,
                "your role changed; reconnect",
            ));
        }
        Ok(())
    }
}

/// A socket-level error: becomes an `error` frame, the socket stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsError {
    pub code: ErrorCode,
    pub message: String,
}

impl WsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WsError {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        WsError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        WsError::new(ErrorCode::ValidationError, message)
    }

    fn bad_token() -> Self {
        WsError::new(ErrorCode::AuthError, "invalid token")
    }
}

impl WsError {
    /// The frame form of another layer's error: its code and sentence.
    pub fn from_client(err: &impl ClientError) -> Self {
        WsError::new(err.code(), err.public_message())
    }
}

/// Every other layer's error reaches the socket by its code ([`ClientError`]).
impl<E: ClientError> From<E> for WsError {
    fn from(err: E) -> Self {
        WsError::from_client(&err)
    }
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The handshake is still HTTP: a refused one answers with the status and body REST gives
/// the same code.
impl actix_web::ResponseError for WsError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.code.http_status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        ErrorBody {
            error: self.message.clone(),
            code: self.code,
            details: None,
        }
        .response()
    }
}

impl From<actix::MailboxError> for WsError {
    fn from(err: actix::MailboxError) -> Self {
        EngineError::from(err).into()
    }
}

/// `HttpServer::on_connect`: sets TCP_USER_TIMEOUT so the kernel drops a peer that stops
/// reading (zero receive window) or vanishes. A session whose client stopped reading is
/// stuck in a blocked write that no timer of the HTTP layer covers; only this frees it.
pub fn tune_connection(
    connection: &dyn std::any::Any,
    _extensions: &mut actix_web::dev::Extensions,
    user_timeout: std::time::Duration,
) {
    if user_timeout.is_zero() {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let socket = socket2::SockRef::from(stream);
        if let Err(e) = socket.set_tcp_user_timeout(Some(user_timeout)) {
            tracing::debug!(error = %e, "TCP_USER_TIMEOUT not set");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = connection;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::Owner;
    use crate::domain::{Role, TenantId, UserId};

    fn conversation(tenant: &TenantId, contact: &ContactId, owner: Owner) -> Conversation {
        let mut c = Conversation::new_for(tenant, contact, None, "webchat");
        c.owner_type = owner.kind().into();
        c.owner_id = owner.id().map(str::to_string);
        c
    }

    #[test]
    fn access_rules_match_rest() {
        let tenant = TenantId::new();
        let other_tenant = TenantId::new();
        let contact = ContactId::new();
        let me = UserId::new();
        let colleague = UserId::new();
        let agent = Principal::Staff {
            tenant: tenant.clone(),
            user: me.clone(),
            role: Role::Agent,
        };
        let supervisor = Principal::Staff {
            tenant: tenant.clone(),
            user: colleague.clone(),
            role: Role::Supervisor,
        };
        let mine = conversation(&tenant, &contact, Owner::User(me.clone()));
        let unassigned = conversation(&tenant, &contact, Owner::Nobody);
        let theirs = conversation(&tenant, &contact, Owner::User(colleague.clone()));
        let ai = conversation(
            &tenant,
            &contact,
            Owner::AiAgent(crate::domain::AgentId::new()),
        );
        let foreign = conversation(&other_tenant, &contact, Owner::Nobody);
        assert!(check_access(&agent, &mine).is_ok());
        assert!(check_access(&agent, &unassigned).is_ok());
        assert_eq!(
            check_access(&agent, &theirs).map_err(|e| e.code),
            Err(ErrorCode::Forbidden)
        );
        assert_eq!(
            check_access(&agent, &ai).map_err(|e| e.code),
            Err(ErrorCode::Forbidden)
        );
        assert!(check_access(&supervisor, &theirs).is_ok());
        assert_eq!(
            check_access(&supervisor, &foreign).map_err(|e| e.code),
            Err(ErrorCode::NotFound)
        );

        let customer = Principal::Contact {
            tenant: tenant.clone(),
            contact: contact.clone(),
            conversation: mine.id.clone(),
        };
        assert!(check_access(&customer, &ai).is_ok());
        let stranger = conversation(&tenant, &ContactId::new(), Owner::Nobody);
        assert_eq!(
            check_access(&customer, &stranger).map_err(|e| e.code),
            Err(ErrorCode::NotFound)
        );
    }
}
