//! `/api/v1/users`: staff users (human agents). The first full resource; the others follow
//! its pattern: tenant from the token, 404 for ids outside it, validated write bodies with
//! unknown fields refused, write-only secrets.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use crate::accounts::{self, AccountError, NewUser, PasswordHasher};
use crate::auth::Access;
use crate::auth::Staff;
use crate::domain::{validate, Role, UserId};
use crate::engine::Engine;
use crate::store::{self, json_column, users, Store};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub max_conversations: i32,
    pub specialties: Vec<String>,
    pub department_ids: Vec<String>,
    pub available: bool,
    /// online | offline | away, from the user's WebSocket sessions.
    pub presence: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl UserView {
    pub fn from_row(user: users::User) -> ApiResult<Self> {
        let role = Role::parse(&user.role)
            .ok_or_else(|| ApiError::Internal(format!("stored role `{}` unknown", user.role)))?;
        Ok(UserView {
            specialties: json_column(&user.specialties, "users.specialties")?,
            department_ids: json_column(&user.department_ids, "users.department_ids")?,
            id: user.id.0,
            tenant_id: user.tenant_id.0,
            name: user.name,
            email: user.email,
            role,
            max_conversations: user.max_conversations,
            available: user.available,
            presence: user.presence,
            created_at: user.created_at.and_utc(),
            updated_at: user.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    pub email: String,
    /// Write-only; stored as an argon2id hash.
    pub password: String,
    pub role: Role,
    #[serde(default = "default_max_conversations")]
    pub max_conversations: i32,
    #[serde(default)]
    pub specialties: Vec<String>,
    #[serde(default)]
    pub department_ids: Vec<String>,
    #[serde(default = "default_available")]
    pub available: bool,
}

fn default_max_conversations() -> i32 {
    10
}

fn default_available() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub name: Option<String>,
    pub email: Option<String>,
    /// Write-only. A new password ends every token issued before it. On your own account it
    /// needs `current_password`; an admin resets another user's without it.
    pub password: Option<String>,
    /// Write-only: your present password, required to change it.
    pub current_password: Option<String>,
    pub role: Option<Role>,
    pub max_conversations: Option<i32>,
    pub specialties: Option<Vec<String>>,
    pub department_ids: Option<Vec<String>>,
    pub available: Option<bool>,
}

impl UpdateUser {
    /// Fields a user may change on their own account without being an admin.
    fn only_self_service(&self) -> bool {
        self.email.is_none()
            && self.role.is_none()
            && self.max_conversations.is_none()
            && self.specialties.is_none()
            && self.department_ids.is_none()
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Invalid { field, reason } => ApiError::field(field, reason),
            AccountError::EmailTaken => {
                ApiError::Conflict("a user with this e-mail already exists".into())
            }
            AccountError::BadCredentials => ApiError::Auth("invalid e-mail or password".into()),
            AccountError::Store(e) => e.into(),
            AccountError::Hashing(e) => ApiError::Internal(e),
        }
    }
}

fn parse_id(raw: &str) -> ApiResult<UserId> {
    UserId::parse(raw).ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(PageQuery),
    responses((status = 200, description = "A page of users", body = Page<UserView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let page = super::pagination::tenant_page(
        &store,
        &staff.tenant_id,
        &query,
        UserId::parse,
        users::list,
        |u| u.id.to_string(),
        UserView::from_row,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    body: web::Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::manages_users)?;
    let body = body.into_inner();
    let user = accounts::create_user(
        &store,
        &hasher,
        NewUser {
            tenant_id: staff.tenant_id.clone(),
            name: body.name,
            email: body.email,
            password: body.password,
            role: body.role,
            max_conversations: body.max_conversations,
            specialties: body.specialties,
            department_ids: body.department_ids,
            available: body.available,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(UserView::from_row(user)?))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    if id != staff.user_id {
        staff.require(Role::oversees_tenant)?;
    }
    let tenant = staff.tenant_id.clone();
    let user = store
        .run(move |conn| users::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from_row(user)?))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    access: web::Data<Access>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<UpdateUser>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let body = body.into_inner();
    let own_account = id == staff.user_id;
    if !(staff.role.manages_users() || own_account && body.only_self_service()) {
        // Hide whether the id exists in the tenant only when it is not the caller's.
        staff.require(Role::manages_users)?;
    }
    if own_account && body.role.is_some_and(|r| r != staff.role) {
        return Err(ApiError::field(
            "role",
            "cannot be changed on your own account",
        ));
    }
    let mut changes = users::UserChanges::default();
    if let Some(name) = body.name {
        if let Some(reason) = validate::check_name(&name) {
            return Err(ApiError::field("name", reason));
        }
        changes.name = Some(name.trim().to_string());
    }
    if let Some(email) = body.email {
        let email = validate::normalize_email(&email);
        if !validate::is_email(&email) {
            return Err(ApiError::field("email", "is not a valid e-mail address"));
        }
        changes.email = Some(email);
    }
    if let Some(max) = body.max_conversations {
        if max < 0 {
            return Err(ApiError::field("max_conversations", "must not be negative"));
        }
        changes.max_conversations = Some(max);
    }
    if body.current_password.is_some() && body.password.is_none() {
        return Err(ApiError::field(
            "current_password",
            "is only accepted with a new password",
        ));
    }
    if let Some(password) = body.password {
        if let Some(reason) = validate::check_password(&password) {
            return Err(ApiError::field("password", reason));
        }
        if own_account {
            // A stolen token alone must not be enough to take the account over.
            let current = body.current_password.ok_or_else(|| {
                ApiError::field("current_password", "is required to change your password")
            })?;
            let tenant = staff.tenant_id.clone();
            let me = id.clone();
            let stored = store
                .run(move |conn| users::find(conn, &tenant, &me))
                .await?;
            if !hasher
                .verify_off_thread(current, stored.password_hash)
                .await?
            {
                return Err(ApiError::field("current_password", "is not correct"));
            }
        }
        changes.password_hash = Some(hasher.hash_off_thread(password).await?);
    }
    let revoke_tokens = changes.password_hash.is_some();
    let access_changes = revoke_tokens || body.role.is_some();
    changes.role = body.role.map(|r| r.as_str().to_string());
    changes.specialties = body.specialties.as_deref().map(accounts::json_list);
    changes.department_ids = body.department_ids.as_deref().map(accounts::json_list);
    changes.available = body.available;
    changes.updated_at = Some(store::now());
    let tenant = staff.tenant_id.clone();
    let target = id.clone();
    let user = store
        .run(move |conn| users::update_revoking(conn, &tenant, &target, &changes, revoke_tokens))
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => {
                ApiError::Conflict("a user with this e-mail already exists".into())
            }
            other => other.into(),
        })?;
    if access_changes {
        access.changed(&id);
        engine
            .parts
            .changes
            .announce(crate::cluster::invalidate::Change::User(id.clone()));
    }
    Ok(HttpResponse::Ok().json(UserView::from_row(user)?))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    access: web::Data<Access>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::manages_users)?;
    let id = parse_id(&path)?;
    if id == staff.user_id {
        return Err(ApiError::validation("you cannot delete your own account"));
    }
    let tenant = staff.tenant_id.clone();
    let target = id.clone();
    store
        .run(move |conn| users::delete(conn, &tenant, &target))
        .await?;
    // Its tokens and open sessions end now.
    access.changed(&id);
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::User(id.clone()));
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
