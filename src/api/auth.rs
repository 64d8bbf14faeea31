//! The authenticated staff member as an actix-web extractor (the tokens and the access
//! rules themselves are `crate::auth`'s).

use futures::future::LocalBoxFuture;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::auth::request::bearer;
use crate::auth::{Access, Claims, Staff, TokenKeys};

/// The verified claims of the request's bearer token and the access checker.
pub fn verified(req: &HttpRequest, token: &str) -> Result<(Claims, web::Data<Access>), ApiError> {
    let keys = req
        .app_data::<web::Data<TokenKeys>>()
        .ok_or_else(|| ApiError::Internal("token keys not configured".into()))?;
    let access = req
        .app_data::<web::Data<Access>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("access checker not configured".into()))?;
    Ok((keys.verify(token)?, access))
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = bearer(req)
            .map_err(ApiError::from)
            .and_then(|token| verified(req, token));
        Box::pin(async move {
            let (claims, access) = checked?;
            Ok(access.staff(&claims).await?)
        })
    }
}
