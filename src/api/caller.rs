//! A caller that may be staff or a web chat customer, authenticated by `Authorization:
//! Bearer` or by `?token=` (what browsers' EventSource and calendar apps can send).

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;

use super::auth::verified;
use super::error::ApiError;
use crate::auth::request::request_token;
use crate::auth::{Claims, Staff, Subject};
use crate::domain::{ContactId, ConversationId, TenantId};

#[derive(Debug, Clone)]
pub enum Caller {
    Staff(Staff),
    Contact {
        tenant_id: TenantId,
        contact_id: ContactId,
        conversation_id: ConversationId,
    },
}

impl Caller {
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Caller::Staff(staff) => &staff.tenant_id,
            Caller::Contact { tenant_id, .. } => tenant_id,
        }
    }

    pub fn staff(self) -> Result<Staff, ApiError> {
        match self {
            Caller::Staff(staff) => Ok(staff),
            Caller::Contact { .. } => Err(ApiError::Forbidden("staff token required".into())),
        }
    }
}

/// The caller a contact token speaks for (staff tokens go through [`crate::auth::access`]).
fn contact_from_claims(claims: Claims) -> Result<Caller, ApiError> {
    let invalid = || ApiError::Auth("invalid token".into());
    Ok(Caller::Contact {
        contact_id: ContactId::parse(&claims.sub).ok_or_else(invalid)?,
        conversation_id: claims.conversation_id.ok_or_else(invalid)?,
        tenant_id: claims.tenant_id,
    })
}

/// The caller of a request, staff as the user is now (for handlers that authenticate only
/// on some paths; others take [`Caller`] as an extractor).
pub fn caller_from_request(req: &HttpRequest) -> LocalBoxFuture<'static, Result<Caller, ApiError>> {
    let checked = request_token(req)
        .map_err(ApiError::from)
        .and_then(|token| verified(req, &token));
    Box::pin(async move {
        let (claims, access) = checked?;
        match claims.kind {
            Subject::Staff => Ok(Caller::Staff(access.staff(&claims).await?)),
            Subject::Contact => contact_from_claims(claims),
        }
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        caller_from_request(req)
    }
}
