//! `POST /api/v1/auth/token`: e-mail and password in, a bearer token out.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TokenKeys;
use super::error::{ApiError, ApiResult};
use crate::accounts::{self, PasswordHasher};
use crate::domain::Role;
use crate::store::Store;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenUser {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub user: TokenUser,
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn token(
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    keys: web::Data<TokenKeys>,
    body: web::Json<TokenRequest>,
) -> ApiResult<HttpResponse> {
    let user = accounts::authenticate(&store, &hasher, &body.email, &body.password).await?;
    let role = Role::parse(&user.role)
        .ok_or_else(|| ApiError::Internal(format!("stored role `{}` unknown", user.role)))?;
    let token = keys.issue_staff(&user.id, &user.tenant_id, role, user.token_version)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        token,
        user: TokenUser {
            id: user.id.0,
            tenant_id: user.tenant_id.0,
            name: user.name,
            email: user.email,
            role,
        },
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(token));
}
