//! A caller that may be staff or a web chat customer, authenticated by `Authorization:
//! Bearer` or by `?token=` (what browsers' EventSource and calendar apps can send).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::auth::{bearer, Claims, Staff, Subject, TokenKeys};
use super::error::ApiError;
use crate::domain::{ContactId, ConversationId, TenantId, UserId};

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

pub fn caller_from_claims(claims: Claims) -> Result<Caller, ApiError> {
    let invalid = || ApiError::Auth("invalid token".into());
    match (claims.kind, claims.role) {
        (Subject::Staff, Some(role)) => Ok(Caller::Staff(Staff {
            user_id: UserId::parse(&claims.sub).ok_or_else(invalid)?,
            tenant_id: claims.tenant_id,
            role,
        })),
        (Subject::Contact, _) => Ok(Caller::Contact {
            contact_id: ContactId::parse(&claims.sub).ok_or_else(invalid)?,
            conversation_id: claims.conversation_id.ok_or_else(invalid)?,
            tenant_id: claims.tenant_id,
        }),
        (Subject::Staff, None) => Err(invalid()),
    }
}

fn caller_from_request(req: &HttpRequest) -> Result<Caller, ApiError> {
    let keys = req
        .app_data::<web::Data<TokenKeys>>()
        .ok_or_else(|| ApiError::Internal("token keys not configured".into()))?;
    let claims = keys.verify(&request_token(req)?)?;
    caller_from_claims(claims)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller_from_request(req))
    }
}
