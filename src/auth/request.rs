//! The token of an HTTP request: `Authorization: Bearer`, or `?token=` where a client cannot
//! set headers (browsers' EventSource and WebSocket, calendar apps).

use actix_web::HttpRequest;

use super::AuthError;

/// Reads `Authorization: Bearer <token>`.
pub fn bearer(req: &HttpRequest) -> Result<&str, AuthError> {
    let unauthenticated = |why: &str| AuthError::Unauthenticated(why.into());
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("missing Authorization header"))?;
    let value = header
        .to_str()
        .map_err(|_| unauthenticated("malformed Authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthenticated("Authorization must be `Bearer <token>`"))
}

/// The token of a request: the `Authorization` header, else the `token` query parameter.
pub fn request_token(req: &HttpRequest) -> Result<String, AuthError> {
    if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        return bearer(req).map(str::to_string);
    }
    query_param(req, "token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AuthError::Unauthenticated("missing token (Authorization: Bearer or ?token=)".into())
        })
}

pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
