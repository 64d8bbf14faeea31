//! The agent set-up wizard (admins): `POST /agents/wizard/start` creates a draft agent;
//! `PUT /agents/wizard/{id}/step/{1..4}` saves a step (validated on its own, and only once the
//! steps before it are saved); `POST /agents/wizard/{id}/publish` makes the agent active with
//! a unique slug, its public URL and that URL as a QR code (SVG), and makes it the default
//! agent of the step-4 integrations — the engine takes it from its next conversation, no
//! restart. `GET /a/{slug}` is the public card of a published agent.
//!
//! What each step changes on the draft agent: 1 → name, agent_type, description, emoji;
//! 2 and 3 → the generated system_prompt; 4 → settings.welcome_message. Everything the
//! wizard collected is kept in `ai_agents.wizard`.

use actix_web::{web, HttpResponse};
use qrcode::render::svg;
use qrcode::QrCode;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::agent::{
    self, AgentSettings, AgentStatus, AgentType, InvalidField, ProviderKind,
};
use crate::domain::wizard::{self, Step1, Step2, Step3, Step4, WizardState};
use crate::domain::{AgentId, IntegrationId, Role, TenantId};
use crate::engine::agent::AgentChanged;
use crate::engine::Engine;
use crate::store::agents::{self as agents_store, AgentChanges, AiAgent};
use crate::store::integrations::{self, IntegrationChanges};
use crate::store::{self, agent_slugs, json_column, DbConn, Store, StoreError, StoreResult};

const DRAFT_NAME: &str = "Novo agente";

#[derive(Debug, Serialize, ToSchema)]
pub struct WizardView {
    /// The draft agent's id (also the wizard's).
    pub id: String,
    pub status: AgentStatus,
    pub completed_steps: Vec<u8>,
    /// The first step not saved yet; null when all four are.
    pub next_step: Option<u8>,
    pub steps: WizardState,
    /// Generated from steps 1 to 3 once step 2 is saved.
    pub system_prompt: String,
    pub slug: Option<String>,
    pub public_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    pub id: String,
    pub status: AgentStatus,
    pub slug: String,
    pub public_url: String,
    /// The public URL as a QR code, an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWizard {
    /// A working name until step 1 gives the real one.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicAgent {
    pub slug: String,
    pub name: String,
    pub emoji: String,
    pub description: String,
    pub agent_type: AgentType,
    pub public_url: String,
    /// The enabled web chat integration the agent answers on: the public chat page opens its
    /// sessions there (`POST /api/v1/webchat/{id}/session`). Null: no web chat yet.
    pub webchat_integration_id: Option<String>,
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

fn parse_id(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).ok_or(ApiError::NotFound)
}

fn field_error(step: u8) -> impl Fn(InvalidField) -> ApiError {
    move |e| ApiError::Validation {
        message: format!("step {step}: {e}"),
        details: Some(serde_json::json!({"field": e.path(), "step": step})),
    }
}

pub fn public_url(settings: &Settings, slug: &str) -> String {
    format!(
        "{}/a/{slug}",
        settings.wizard.public_base_url.trim().trim_end_matches('/')
    )
}

/// The URL as a scannable QR code: an SVG with a quiet zone, 8 px per module.
pub fn qr_svg(url: &str) -> ApiResult<String> {
    let code = QrCode::new(url.as_bytes())
        .map_err(|e| ApiError::Internal(format!("QR code not generated: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .module_dimensions(8, 8)
        .quiet_zone(true)
        .build())
}

fn state_of(row: &AiAgent) -> StoreResult<WizardState> {
    // Agents created outside the wizard have `{}` here, which reads as no step saved.
    json_column(&row.wizard, "ai_agents.wizard")
}

fn view(row: AiAgent, settings: &Settings) -> ApiResult<WizardView> {
    let state = state_of(&row)?;
    let status = row.status()?;
    Ok(WizardView {
        id: row.id.0,
        completed_steps: state.completed(),
        next_step: state.next_step(),
        system_prompt: row.system_prompt,
        public_url: row.slug.as_deref().map(|s| public_url(settings, s)),
        slug: row.slug,
        status,
        steps: state,
    })
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The draft agent of the tenant, or why the wizard cannot work on it.
fn draft(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &AgentId,
) -> StoreResult<Result<AiAgent, ApiError>> {
    let row = agents_store::find(conn, tenant, id)?;
    if row.status != AgentStatus::Draft.as_str() {
        return Ok(Err(ApiError::Conflict(
            "the agent is not a draft: it was already published".into(),
        )));
    }
    Ok(Ok(row))
}

#[utoipa::path(post, path = "/api/v1/agents/wizard/start", tag = "wizard", request_body = StartWizard,
    responses((status = 201, body = WizardView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    // The body is optional: an empty one starts an unnamed draft.
    let input: StartWizard = if body.iter().all(u8::is_ascii_whitespace) {
        StartWizard::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?
    };
    let name = match input.name.as_deref() {
        Some(name) => {
            if let Some(reason) = crate::domain::validate::check_name(name) {
                return Err(ApiError::field("name", reason));
            }
            name.trim().to_string()
        }
        None => DRAFT_NAME.to_string(),
    };
    let kind = ProviderKind::inferred(
        false,
        false,
        !settings.llm.default_api_key.expose_secret().is_empty(),
    );
    let now = store::now();
    let row = AiAgent {
        id: AgentId::new(),
        tenant_id: staff.tenant_id.clone(),
        name,
        description: String::new(),
        agent_type: AgentType::Custom.as_str().to_string(),
        emoji: String::new(),
        system_prompt: String::new(),
        model: agent::DEFAULT_MODEL.to_string(),
        temperature: agent::DEFAULT_TEMPERATURE,
        max_tokens: agent::DEFAULT_MAX_TOKENS,
        enabled: true,
        status: AgentStatus::Draft.as_str().to_string(),
        max_conversations: agent::DEFAULT_MAX_CONVERSATIONS,
        specialties: "[]".into(),
        provider_kind: kind.as_str().to_string(),
        provider_base_url: None,
        provider_api_key: None,
        settings: to_json(&AgentSettings::default())?,
        limits: "{}".into(),
        department_id: None,
        slug: None,
        wizard: to_json(&WizardState::default())?,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            agents_store::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(view(stored, &settings)?))
}

#[utoipa::path(get, path = "/api/v1/agents/wizard/{id}", tag = "wizard",
    responses((status = 200, body = WizardView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| agents_store::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(view(row, &settings)?))
}

/// A validated step, ready to be stored.
enum Step {
    One(Step1),
    Two(Step2),
    Three(Step3),
    Four(Step4),
}

fn parse_step(step: u8, body: &[u8]) -> ApiResult<Step> {
    fn decode<T: serde::de::DeserializeOwned>(step: u8, body: &[u8]) -> ApiResult<T> {
        serde_json::from_slice(body).map_err(|e| ApiError::Validation {
            message: format!("step {step}: invalid body: {e}"),
            details: Some(serde_json::json!({"step": step})),
        })
    }
    Ok(match step {
        1 => Step::One(
            decode::<Step1>(1, body)?
                .validated()
                .map_err(field_error(1))?,
        ),
        2 => Step::Two(
            decode::<Step2>(2, body)?
                .validated()
                .map_err(field_error(2))?,
        ),
        3 => Step::Three(
            decode::<Step3>(3, body)?
                .validated()
                .map_err(field_error(3))?,
        ),
        4 => Step::Four(
            decode::<Step4>(4, body)?
                .validated()
                .map_err(field_error(4))?,
        ),
        _ => {
            return Err(ApiError::Validation {
                message: "step must be 1, 2, 3 or 4".into(),
                details: Some(serde_json::json!({"field": "step"})),
            })
        }
    })
}

/// Stores a step on the draft and what it implies for the agent's own columns.
fn save_step(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &AgentId,
    number: u8,
    step: Step,
) -> StoreResult<Result<AiAgent, ApiError>> {
    let row = match draft(conn, tenant, id)? {
        Ok(row) => row,
        Err(refused) => return Ok(Err(refused)),
    };
    let mut state = state_of(&row)?;
    let missing = state.missing_before(number);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u8::to_string).collect();
        return Ok(Err(ApiError::Conflict(format!(
            "step {number} comes after step {}: save {} first",
            list.join(" and "),
            if missing.len() == 1 { "it" } else { "them" }
        ))));
    }
    let mut changes = AgentChanges::default();
    match step {
        Step::One(s) => {
            changes.name = Some(s.name.clone());
            changes.agent_type = Some(s.template.as_str().to_string());
            changes.description = Some(s.description.clone());
            changes.emoji = Some(s.emoji.clone());
            state.step_1 = Some(s);
        }
        Step::Two(s) => state.step_2 = Some(s),
        Step::Three(s) => state.step_3 = Some(s),
        Step::Four(s) => {
            for raw in &s.integration_ids {
                let integration = IntegrationId(raw.clone());
                match integrations::find(conn, tenant, &integration) {
                    Ok(_) => {}
                    Err(StoreError::NotFound) => {
                        return Ok(Err(ApiError::Validation {
                            message: format!(
                            "step 4: integration_ids: {raw} is not an integration of this tenant"
                        ),
                            details: Some(
                                serde_json::json!({"field": "integration_ids", "step": 4}),
                            ),
                        }))
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut settings = row.settings()?;
            settings.welcome_message = s.welcome_message.clone();
            changes.settings = Some(
                serde_json::to_string(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
            state.step_4 = Some(s);
        }
    }
    // The prompt follows steps 1 to 3 whichever of them changed.
    if let Some(prompt) = state.system_prompt() {
        changes.system_prompt = Some(prompt);
    }
    changes.wizard =
        Some(serde_json::to_string(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    changes.updated_at = Some(store::now());
    agents_store::update(conn, tenant, id, &changes).map(Ok)
}

#[utoipa::path(put, path = "/api/v1/agents/wizard/{id}/step/{step}", tag = "wizard",
    request_body(content = Object, description = "Step 1: {name, template, niche, description?, emoji?}; 2: {personality[], tone, language?, instructions?}; 3: {custom_fields[]}; 4: {integration_ids[], welcome_message?}"),
    responses((status = 200, body = WizardView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_step(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (raw_id, raw_step) = path.into_inner();
    let id = parse_id(&raw_id)?;
    let number = raw_step.parse::<u8>().unwrap_or(0);
    let step = parse_step(number, &body)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .transaction(move |conn| save_step(conn, &tenant, &id, number, step))
        .await??;
    Ok(HttpResponse::Ok().json(view(row, &settings)?))
}

#[utoipa::path(post, path = "/api/v1/agents/wizard/{id}/publish", tag = "wizard",
    responses((status = 200, body = Published), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let agent_id = id.clone();
    let row = store
        .transaction(move |conn| {
            let row = match draft(conn, &tenant, &id)? {
                Ok(row) => row,
                Err(refused) => return Ok(Err(refused)),
            };
            let mut state = state_of(&row)?;
            if let Some(next) = state.next_step() {
                let missing: Vec<String> = (next..=wizard::STEPS)
                    .filter(|s| !state.has(*s))
                    .map(|s| s.to_string())
                    .collect();
                return Ok(Err(ApiError::Conflict(format!(
                    "the wizard is not complete: step {} missing",
                    missing.join(", ")
                ))));
            }
            let name = state
                .step_1
                .as_ref()
                .map_or_else(|| row.name.clone(), |s| s.name.clone());
            let integration_ids = state
                .step_4
                .as_ref()
                .map(|s| s.integration_ids.clone())
                .unwrap_or_default();
            // Checked before anything is written, so a refusal leaves the draft as it was.
            for raw in &integration_ids {
                match integrations::find(conn, &tenant, &IntegrationId(raw.clone())) {
                    Ok(_) => {}
                    Err(StoreError::NotFound) => {
                        return Ok(Err(ApiError::Conflict(format!(
                            "integration {raw} of step 4 no longer exists; save step 4 again"
                        ))))
                    }
                    Err(e) => return Err(e),
                }
            }
            state.published_at = Some(chrono::Utc::now());
            let changes = AgentChanges {
                status: Some(AgentStatus::Active.as_str().to_string()),
                enabled: Some(true),
                wizard: Some(
                    serde_json::to_string(&state)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
                updated_at: Some(store::now()),
                ..Default::default()
            };
            let candidates = wizard::slug_candidates(&wizard::slugify(&name));
            let Some(published) =
                agent_slugs::publish_with_slug(conn, &tenant, &id, &candidates, &changes)?
            else {
                return Ok(Err(ApiError::Conflict(
                    "no free slug was found for this name; rename the agent in step 1".into(),
                )));
            };
            for raw in &integration_ids {
                let changes = IntegrationChanges {
                    default_agent_id: Some(Some(id.clone())),
                    updated_at: Some(store::now()),
                    ..Default::default()
                };
                // An error here rolls the whole publication back.
                integrations::update(conn, &tenant, &IntegrationId(raw.clone()), &changes)?;
            }
            Ok(Ok(published))
        })
        .await??;
    // A supervisor of the draft may have been started by a lookup: it re-reads the agent.
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::Agent(agent_id.clone()));
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::AllIntegrations);
    engine.parts.supervisors.do_send(AgentChanged(agent_id));
    // The integrations now name this agent as their default.
    engine.parts.integrations.forget_all();
    let slug = row
        .slug
        .clone()
        .ok_or_else(|| ApiError::Internal("published agent without a slug".into()))?;
    let url = public_url(&settings, &slug);
    Ok(HttpResponse::Ok().json(Published {
        id: row.id.0,
        status: AgentStatus::Active,
        qr_svg: qr_svg(&url)?,
        public_url: url,
        slug,
    }))
}

#[utoipa::path(get, path = "/a/{slug}", tag = "wizard",
    responses((status = 200, body = PublicAgent), (status = 404, body = crate::error::ErrorBody)))]
pub async fn public_agent(
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let slug = path.into_inner();
    if slug.len() > 64 || !slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::NotFound);
    }
    let lookup = slug.clone();
    let (row, webchat) = store
        .run(move |conn| {
            let Some(row) = agent_slugs::find_live(conn, &lookup)? else {
                return Ok(None);
            };
            let webchat =
                crate::store::integrations::webchat_for_agent(conn, &row.tenant_id, &row.id)?;
            Ok(Some((row, webchat)))
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(PublicAgent {
        webchat_integration_id: webchat.map(|i| i.id.0),
        agent_type: row.agent_type()?,
        public_url: public_url(&settings, &slug),
        slug,
        name: row.name,
        emoji: row.emoji,
        description: row.description,
    }))
}

/// Under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents/wizard/start", web::post().to(start))
        .route("/agents/wizard/{id}", web::get().to(get))
        .route("/agents/wizard/{id}/step/{step}", web::put().to(put_step))
        .route("/agents/wizard/{id}/publish", web::post().to(publish));
}

/// Outside `/api/v1`: the public card of a published agent.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/a/{slug}", web::get().to(public_agent));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("http://127.0.0.1:8080/a/sofia").expect("svg");
        assert!(svg.contains("<svg"));
        assert!(svg.contains("<path"));
    }

    #[test]
    fn out_of_range_steps_are_refused() {
        assert!(parse_step(0, b"{}").is_err());
        assert!(parse_step(5, b"{}").is_err());
        let err = parse_step(1, br#"{"name": "A", "template": "CUSTOM"}"#)
            .err()
            .expect("niche missing");
        assert!(err.to_string().contains("step 1"), "{err}");
    }
}
