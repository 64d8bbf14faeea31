//! A caller that may be staff or a web chat customer, authenticated by `Authorization:
//! Bearer` or by `?token=` (what browsers' EventSource and calendar apps can send).

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;

use super::auth::{bearer, verified, Claims, Staff, Subject};
use super::error::ApiError;
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

/// The token of a request: the `Authorization` header, else the `token` query parameter.
pub fn request_token(req: &HttpRequest) -> Result<String, ApiError> {
    if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        return bearer(req).map(str::to_string);
    }
    query_param(req, "token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Auth("missing token (Authorization: Bearer or ?token=)".into()))
}

pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The caller a contact token speaks for (staff tokens go through [`super::access`]).
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
    let checked = request_token(req).and_then(|token| verified(req, &token));
    Box::pin(async move {
        let (claims, access) = checked?;
        match claims.kind {
            Subject::Staff => access.staff(&claims).await.map(Caller::Staff),
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
