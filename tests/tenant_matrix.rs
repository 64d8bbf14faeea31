//! The cross-tenant matrix (ARCHITECTURE invariant 5, issue 12): two tenants with one of
//! everything; every staff role and a web chat customer of tenant A; every REST route of the
//! OpenAPI document (so a new route is covered without editing this file), every WebSocket
//! frame type and the SSE stream. Nothing of tenant B is ever visible to tenant A: B's ids
//! answer 404 (or 403/401 where the role or the kind of token is refused first), no response,
//! frame or event carries B's ids or names, and B's data is unchanged afterwards. Each role
//! of A gets what README/PROTOCOL say on A's own resources: the table `ACCESS` below.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::matrix::counts;
use support::ws::{SseClient, WsClient};
use support::{Session, TestApp};

/// Marks every name tenant B gets, so a leak of a name is as visible as a leak of an id.
const MARK_B: &str = "zqbeta";
const MARK_A: &str = "zqalpha";
const SSE_WAIT: Duration = Duration::from_secs(10);

/// Who may call a route on their own tenant's resources (README "Contract details", the
/// per-resource notes, PROTOCOL "Auth").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No staff token involved (health, log-in, public agent page, signed webhooks, the web
    /// chat session): outside this matrix.
    Public,
    /// Every staff role.
    Staff,
    /// Every staff role and a web chat customer (for its own conversation).
    StaffOrContact,
    /// Admins and supervisors.
    Overseer,
    Admin,
    /// Depends on whose resource it is (a user's own calendar …): cross-tenant checks only.
    Owner,
}

use Access::*;

/// `METHOD path` → who may call it. A route missing here still gets every cross-tenant
/// check, with `Staff` assumed for the role checks of GETs not run (see `access`).
const ACCESS: &[(&str, Access)] = &[
    ("GET /health", Public),
    ("GET /ready", Public),
    ("GET /metrics", Public),
    ("GET /a/{slug}", Public),
    ("POST /api/v1/auth/token", Public),
    ("POST /api/v1/webchat/{integration_id}/session", Public),
    ("POST /webhooks/generic/{integration_id}", Public),
    ("POST /webhooks/evolution/{integration_id}", Public),
    ("GET /api/v1/activities", Staff),
    ("POST /api/v1/activities", Staff),
    ("GET /api/v1/activities/{id}", Staff),
    ("PATCH /api/v1/activities/{id}", Staff),
    ("DELETE /api/v1/activities/{id}", Staff),
    ("GET /api/v1/agents", Overseer),
    ("POST /api/v1/agents", Admin),
    ("GET /api/v1/agents/{id}", Overseer),
    ("PATCH /api/v1/agents/{id}", Admin),
    ("DELETE /api/v1/agents/{id}", Admin),
    // Every role with a live (active, enabled) bot such as A's; a draft or inactive one only
    // for admins and supervisors (tests/agent_role_scope.rs pins that part).
    ("POST /api/v1/agents/{id}/chat/stream", Staff),
    ("GET /api/v1/agents/{id}/sub-agents", Overseer),
    ("POST /api/v1/agents/{id}/sub-agents", Admin),
    ("GET /api/v1/agents/{id}/sub-agents/{sid}", Overseer),
    ("PATCH /api/v1/agents/{id}/sub-agents/{sid}", Admin),
    ("DELETE /api/v1/agents/{id}/sub-agents/{sid}", Admin),
    ("GET /api/v1/agents/{id}/tools", Overseer),
    ("PUT /api/v1/agents/{id}/tools/{tool_id}", Admin),
    ("DELETE /api/v1/agents/{id}/tools/{tool_id}", Admin),
    ("POST /api/v1/agents/wizard/start", Admin),
    ("GET /api/v1/agents/wizard/{id}", Admin),
    ("PUT /api/v1/agents/wizard/{id}/step/{step}", Admin),
    ("POST /api/v1/agents/wizard/{id}/publish", Admin),
    ("GET /api/v1/analytics/dashboard", Overseer),
    ("GET /api/v1/analytics/agents/{id}", Overseer),
    ("GET /api/v1/automations", Overseer),
    ("POST /api/v1/automations", Admin),
    ("GET /api/v1/automations/{id}", Overseer),
    ("PATCH /api/v1/automations/{id}", Admin),
    ("DELETE /api/v1/automations/{id}", Admin),
    ("GET /api/v1/calendar/available-slots", StaffOrContact),
    ("POST /api/v1/calendar/events", Staff),
    ("GET /api/v1/calendar/{user_id}.ics", Owner),
    ("GET /api/v1/calendar/{user_id}/feed", Owner),
    ("GET /api/v1/calendar/{user_id}/working-hours", Owner),
    ("PUT /api/v1/calendar/{user_id}/working-hours", Owner),
    ("GET /api/v1/contacts", Staff),
    ("POST /api/v1/contacts", Staff),
    ("GET /api/v1/contacts/{id}", Staff),
    ("PATCH /api/v1/contacts/{id}", Staff),
    ("GET /api/v1/contacts/{id}/memories", Staff),
    ("DELETE /api/v1/contacts/{id}/memories", Staff),
    ("DELETE /api/v1/contacts/{id}/memories/{memory_id}", Staff),
    // A's conversation is unassigned, which the `agent` role may open.
    ("GET /api/v1/conversations", Staff),
    ("GET /api/v1/conversations/{id}", Staff),
    ("GET /api/v1/conversations/{id}/messages", Staff),
    ("POST /api/v1/conversations/{id}/messages", Staff),
    ("POST /api/v1/conversations/{id}/assign", Overseer),
    ("POST /api/v1/conversations/{id}/escalate", Staff),
    ("POST /api/v1/conversations/{id}/close", Staff),
    ("GET /api/v1/conversations/{id}/ai-log", Staff),
    ("GET /api/v1/departments", Staff),
    ("POST /api/v1/departments", Admin),
    ("GET /api/v1/departments/{id}", Staff),
    ("PATCH /api/v1/departments/{id}", Admin),
    ("DELETE /api/v1/departments/{id}", Admin),
    ("GET /api/v1/events", Overseer),
    ("GET /api/v1/funnels", Staff),
    ("POST /api/v1/funnels", Admin),
    ("GET /api/v1/funnels/{id}", Staff),
    ("PATCH /api/v1/funnels/{id}", Admin),
    ("DELETE /api/v1/funnels/{id}", Admin),
    ("GET /api/v1/funnels/{id}/stages", Staff),
    ("POST /api/v1/funnels/{id}/stages", Admin),
    ("PATCH /api/v1/funnels/{id}/stages/{stage_id}", Admin),
    ("DELETE /api/v1/funnels/{id}/stages/{stage_id}", Admin),
    ("GET /api/v1/integrations", Overseer),
    ("POST /api/v1/integrations", Admin),
    ("GET /api/v1/integrations/{id}", Overseer),
    ("PATCH /api/v1/integrations/{id}", Admin),
    ("DELETE /api/v1/integrations/{id}", Admin),
    ("GET /api/v1/knowledge/documents", Staff),
    ("POST /api/v1/knowledge/documents", Overseer),
    ("GET /api/v1/knowledge/documents/{id}", Staff),
    ("DELETE /api/v1/knowledge/documents/{id}", Overseer),
    ("POST /api/v1/knowledge/search", Staff),
    ("GET /api/v1/settings/distribution", Overseer),
    ("PUT /api/v1/settings/distribution", Admin),
    ("GET /api/v1/tags", Staff),
    ("POST /api/v1/tags", Overseer),
    ("GET /api/v1/tags/{id}", Staff),
    ("PATCH /api/v1/tags/{id}", Overseer),
    ("DELETE /api/v1/tags/{id}", Overseer),
    ("GET /api/v1/tools", Overseer),
    ("POST /api/v1/tools", Admin),
    ("GET /api/v1/tools/{id}", Overseer),
    ("PATCH /api/v1/tools/{id}", Admin),
    ("DELETE /api/v1/tools/{id}", Admin),
    ("GET /api/v1/users", Overseer),
    ("POST /api/v1/users", Admin),
    // Another user's profile: overseers (a user's own is always readable).
    ("GET /api/v1/users/{id}", Overseer),
    ("PATCH /api/v1/users/{id}", Admin),
    ("DELETE /api/v1/users/{id}", Admin),
    ("GET /api/v1/webhooks", Admin),
    ("POST /api/v1/webhooks", Admin),
    ("GET /api/v1/webhooks/{id}", Admin),
    ("PATCH /api/v1/webhooks/{id}", Admin),
    ("DELETE /api/v1/webhooks/{id}", Admin),
    ("GET /api/v1/webhooks/{id}/deliveries", Admin),
];

fn access(route: &str) -> Option<Access> {
    ACCESS.iter().find(|(r, _)| *r == route).map(|(_, a)| *a)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Supervisor,
    Agent,
}

impl Access {
    fn allows(self, role: Role) -> Option<bool> {
        match (self, role) {
            (Staff | StaffOrContact, _) => Some(true),
            (Overseer, r) if r != Role::Agent => Some(true),
            (Overseer, Role::Agent) => Some(false),
            (Admin, r) => Some(r == Role::Admin),
            _ => None,
        }
    }
}

/// One tenant with one of everything, every name marked.
struct Tenant {
    admin: Session,
    supervisor: Session,
    agent: Session,
    customer_token: String,
    tenant_id: String,
    /// Resource name → id (`agent`, `tool`, `conversation` …).
    ids: BTreeMap<&'static str, String>,
    emails: Vec<String>,
}

impl Tenant {
    fn id(&self, key: &str) -> &str {
        self.ids
            .get(key)
            .unwrap_or_else(|| panic!("fixture has no `{key}`"))
    }

    /// Every string of this tenant that must never reach the other one.
    fn secrets(&self, mark: &str) -> Vec<String> {
        let mut all: Vec<String> = self.ids.values().cloned().collect();
        all.push(self.tenant_id.clone());
        all.push(self.admin.user_id.clone());
        all.push(self.supervisor.user_id.clone());
        all.push(self.agent.user_id.clone());
        all.push(mark.to_string());
        all.extend(self.emails.iter().cloned());
        all
    }
}

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, view) = app.post(path, token, &body).await;
    assert!(status.is_success(), "POST {path}: {status} {view}");
    view
}

fn id_of(view: &Value) -> String {
    view["id"].as_str().expect("an id").to_string()
}

async fn signed_inbound(app: &TestApp, integration: &str, contact: &str, external: &str) -> Value {
    let name = format!("Customer {contact}");
    let body = support::webhook::generic_body(
        contact,
        Some(&name),
        external,
        &format!("hello from {contact}"),
    );
    app.signed_webhook(integration, &body).await
}

async fn build_tenant(app: &TestApp, admin: Session, mark: &str) -> Tenant {
    let t = &admin.token;
    let mut ids = BTreeMap::new();
    let emails = vec![format!("sup@{mark}.test"), format!("agent@{mark}.test")];
    let supervisor = app.staff(&admin, "supervisor", &emails[0]).await;
    let agent = app.staff(&admin, "agent", &emails[1]).await;
    let bot = created(
        app,
        t,
        "/api/v1/agents",
        json!({"name": format!("Bot {mark}")}),
    )
    .await;
    ids.insert("agent", id_of(&bot));
    let sub = created(
        app,
        t,
        &format!("/api/v1/agents/{}/sub-agents", id_of(&bot)),
        json!({"name": format!("Sub {mark}"), "topics": [format!("topic{mark}")],
               "system_prompt": format!("You are {mark}")}),
    )
    .await;
    ids.insert("sub_agent", id_of(&sub));
    let tool = created(
        app,
        t,
        "/api/v1/tools",
        json!({"name": format!("calc_{mark}"), "description": format!("calculator {mark}"),
               "tool_type": "calculator",
               "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}}),
    )
    .await;
    ids.insert("tool", id_of(&tool));
    let (status, attached) = app
        .call(
            Method::PUT,
            &format!("/api/v1/agents/{}/tools/{}", id_of(&bot), id_of(&tool)),
            Some(t),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert!(status.is_success(), "attach: {attached}");
    // No default agent: the conversations stay unassigned and nothing answers them.
    let generic = created(
        app,
        t,
        "/api/v1/integrations",
        json!({"kind": "generic", "name": format!("Generic {mark}"), "secret": support::engine::SECRET}),
    )
    .await;
    ids.insert("integration", id_of(&generic));
    let webchat = created(
        app,
        t,
        "/api/v1/integrations",
        json!({"kind": "webchat", "name": format!("Webchat {mark}")}),
    )
    .await;
    ids.insert("webchat", id_of(&webchat));
    let hook = created(
        app,
        t,
        "/api/v1/webhooks",
        json!({"url": format!("http://127.0.0.1:9/{mark}"), "events": ["message_received"],
               "secret": format!("{mark}-webhook-secret-0123"), "enabled": false}),
    )
    .await;
    ids.insert("webhook", id_of(&hook));
    let automation = created(
        app,
        t,
        "/api/v1/automations",
        json!({"name": format!("Auto {mark}"), "intents": [{"type": "keyword", "value": format!("kw{mark}")}],
               "actions": [{"type": "add_tag", "tag": format!("tag{mark}")}]}),
    )
    .await;
    ids.insert("automation", id_of(&automation));
    let department = created(
        app,
        t,
        "/api/v1/departments",
        json!({"name": format!("Dept {mark}")}),
    )
    .await;
    ids.insert("department", id_of(&department));
    let canned = created(
        app,
        t,
        "/api/v1/canned-responses",
        json!({"shortcut": format!("oi{mark}"), "content": "Olá!", "scope": "tenant"}),
    )
    .await;
    ids.insert("canned", id_of(&canned));
    let funnel = created(
        app,
        t,
        "/api/v1/funnels",
        json!({"name": format!("Funnel {mark}"), "stages": [format!("Stage {mark}")]}),
    )
    .await;
    ids.insert("funnel", id_of(&funnel));
    ids.insert("stage", id_of(&funnel["stages"][0]));
    let tag = created(
        app,
        t,
        "/api/v1/tags",
        json!({"name": format!("Tag {mark}")}),
    )
    .await;
    ids.insert("tag", id_of(&tag));
    let document = created(
        app,
        t,
        "/api/v1/knowledge/documents",
        json!({"title": format!("Doc {mark}"), "content": format!("Prazo de entrega {mark}: dez dias.")}),
    )
    .await;
    ids.insert("document", id_of(&document));
    let wizard = created(
        app,
        t,
        "/api/v1/agents/wizard/start",
        json!({"name": format!("Wizard {mark}")}),
    )
    .await;
    ids.insert("wizard", id_of(&wizard));
    let inbound = signed_inbound(
        app,
        &id_of(&generic),
        &format!("contact-{mark}"),
        &format!("m1-{mark}"),
    )
    .await;
    let conversation = inbound["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_string();
    ids.insert(
        "message",
        inbound["message_id"].as_str().expect("message").to_string(),
    );
    let (status, view) = app
        .get(&format!("/api/v1/conversations/{conversation}"), t)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let contact = view["contact_id"].as_str().expect("contact id").to_string();
    ids.insert("conversation", conversation.clone());
    ids.insert("contact", contact.clone());
    let activity = created(
        app,
        t,
        "/api/v1/activities",
        json!({"kind": "task", "title": format!("Task {mark}"), "contact_id": contact,
               "conversation_id": conversation}),
    )
    .await;
    ids.insert("activity", id_of(&activity));
    let memory = remember(app, &admin.tenant_id, &contact, &conversation, mark).await;
    ids.insert("memory", memory);
    let (status, session) = app
        .call(
            Method::POST,
            &format!("/api/v1/webchat/{}/session", id_of(&webchat)),
            None,
            Some(&json!({"name": format!("Visitor {mark}")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    ids.insert(
        "webchat_conversation",
        session["conversation_id"].as_str().expect("id").to_string(),
    );
    ids.insert(
        "webchat_contact",
        session["contact_id"].as_str().expect("id").to_string(),
    );
    Tenant {
        tenant_id: admin.tenant_id.clone(),
        customer_token: session["token"].as_str().expect("token").to_string(),
        admin,
        supervisor,
        agent,
        ids,
        emails,
    }
}

/// Memories come from conversations; the store writes one directly, as the extractor does.
async fn remember(
    app: &TestApp,
    tenant: &str,
    contact: &str,
    conversation: &str,
    mark: &str,
) -> String {
    use atende::domain::memory::{Fact, MemoryKind};
    use atende::domain::{ContactId, ConversationId, TenantId};
    use atende::store::memories;
    let owner = memories::Owner {
        tenant: TenantId::parse(tenant).expect("tenant id"),
        contact: ContactId::parse(contact).expect("contact id"),
        agent: None,
        conversation: ConversationId::parse(conversation).expect("conversation id"),
    };
    let fact = Fact {
        kind: MemoryKind::Fact,
        content: format!("prefers {mark} deliveries"),
    };
    let contact = owner.contact.clone();
    let tenant = owner.tenant.clone();
    app.store
        .run(move |conn| {
            memories::remember(conn, &owner, &[fact], 100)?;
            memories::list(conn, &tenant, &contact)
        })
        .await
        .expect("memory stored")
        .first()
        .expect("one memory")
        .id
        .clone()
}

/// The id a path parameter takes: chosen by the collection before it.
fn resource_for(collection: &str) -> &'static str {
    match collection {
        "agents" | "analytics" => "agent",
        "sub-agents" => "sub_agent",
        "tools" => "tool",
        "wizard" => "wizard",
        "automations" => "automation",
        "activities" => "activity",
        "calendar" | "users" => "user",
        // A meeting link is keyed (booking_tool.rs checks wrong and missing keys); any id of
        // tenant B without its key must be 404 too.
        "meetings" => "agent",
        "contacts" => "contact",
        "memories" => "memory",
        "conversations" => "conversation",
        "departments" => "department",
        "canned-responses" => "canned",
        "funnels" => "funnel",
        "stages" => "stage",
        "integrations" | "generic" | "evolution" => "integration",
        "webchat" => "webchat",
        "documents" => "document",
        "tags" => "tag",
        "webhooks" => "webhook",
        other => panic!(
            "a route has a path parameter after `{other}`: add its resource to `resource_for` \
             and one of it to `build_tenant`"
        ),
    }
}

/// `path` with `tenant`'s ids in its parameters.
fn concrete(path: &str, tenant: &Tenant) -> String {
    let mut out = Vec::new();
    let mut previous = "";
    for segment in path.split('/') {
        let Some(start) = segment.find('{') else {
            out.push(segment.to_string());
            previous = segment;
            continue;
        };
        let end = segment.find('}').expect("closing brace");
        let name = &segment[start + 1..end];
        let value = if name == "step" {
            "1".to_string()
        } else if name == "user_id" {
            tenant.agent.user_id.clone()
        } else if previous == "users" {
            // Not the caller's own profile, which every user may read.
            tenant.admin.user_id.clone()
        } else {
            tenant.id(resource_for(previous)).to_string()
        };
        out.push(format!(
            "{}{value}{}",
            &segment[..start],
            &segment[end + 1..]
        ));
    }
    out.join("/")
}

/// A body that deserializes for the route, naming `tenant`'s ids where it names any.
fn body_for(route: &str, tenant: &Tenant) -> Option<Value> {
    let (method, path) = route.split_once(' ').expect("METHOD path");
    if method == "GET" || method == "DELETE" {
        return None;
    }
    let future = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    Some(match path {
        "/api/v1/activities" => {
            json!({"kind": "task", "title": "t", "contact_id": tenant.id("contact"),
                                        "conversation_id": tenant.id("conversation")})
        }
        "/api/v1/agents" => json!({"name": "Another bot"}),
        "/api/v1/agents/{id}/chat/stream" => {
            json!({"messages": [{"role": "user", "content": "oi"}]})
        }
        "/api/v1/agents/{id}/sub-agents" => {
            json!({"name": "S", "topics": ["x"], "system_prompt": "p"})
        }
        "/api/v1/agents/{id}/tools/{tool_id}" => json!({"enabled": true}),
        "/api/v1/agents/wizard/{id}/step/{step}" => {
            json!({"name": "W", "template": "SDR", "niche": "shoes"})
        }
        "/api/v1/automations" => json!({"name": "a", "agent_id": tenant.id("agent"),
                                         "intents": [{"type": "keyword", "value": "zz"}],
                                         "actions": [{"type": "add_tag", "tag": "t"}]}),
        "/api/v1/calendar/events" => json!({"starts_at": future, "duration_minutes": 30,
                                             "user_id": tenant.agent.user_id}),
        "/api/v1/calendar/{user_id}/working-hours" => json!({"timezone": "UTC"}),
        "/api/v1/contacts" => json!({"name": "c"}),
        "/api/v1/conversations/{id}" => json!({"priority": "low", "tags": ["t"]}),
        "/api/v1/conversations/{id}/messages" => json!({"content": "hi"}),
        "/api/v1/conversations/{id}/assign" => json!({"user_id": tenant.agent.user_id}),
        "/api/v1/conversations/{id}/transfer" => {
            json!({"user_id": tenant.agent.user_id, "note": "n"})
        }
        "/api/v1/conversations/{id}/notes" => json!({"content": "só a equipe"}),
        "/api/v1/canned-responses" => json!({"shortcut": "novo", "content": "c"}),
        p if method == "PATCH" && p.starts_with("/api/v1/canned-responses/") => {
            json!({"content": "renamed"})
        }
        "/api/v1/conversations/{id}/escalate" | "/api/v1/conversations/{id}/close" => {
            json!({"reason": "r"})
        }
        "/api/v1/departments" => json!({"name": "d"}),
        "/api/v1/settings/distribution" => {
            json!({"method": "round_robin", "assign_to_ai_agent": false,
            "prefer_ai": false, "max_queue_wait_minutes": 10, "first_response_minutes": 0, "sticky": true})
        }
        "/api/v1/funnels" => json!({"name": "f", "stages": ["a"]}),
        "/api/v1/funnels/{id}/stages" => json!({"name": "s"}),
        "/api/v1/integrations" => {
            json!({"kind": "webchat", "name": "w", "default_agent_id": tenant.id("agent")})
        }
        "/api/v1/knowledge/documents" => {
            json!({"title": "t", "content": "c", "agent_id": tenant.id("agent")})
        }
        "/api/v1/knowledge/search" => {
            json!({"query": "prazo de entrega", "agent_id": tenant.id("agent")})
        }
        "/api/v1/tags" => json!({"name": "t"}),
        "/api/v1/tools" => json!({"name": "calc2", "description": "d", "tool_type": "calculator",
                                   "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}}),
        "/api/v1/users" => {
            json!({"name": "n", "email": "new@matrix.test", "password": "pw-12345678", "role": "agent"})
        }
        "/api/v1/webhooks" => json!({"url": "http://127.0.0.1:9/h", "events": ["message_received"],
                                      "secret": "0123456789abcdef0123"}),
        p if method == "PATCH" && p.ends_with("/webhooks/{id}") => json!({"enabled": false}),
        p if method == "PATCH" && p.starts_with("/api/v1/activities/") => {
            json!({"title": "renamed"})
        }
        "/api/v1/agents/{id}" | "/api/v1/tools/{id}" => json!({"description": "renamed"}),
        _ if method == "PATCH" => json!({"name": "renamed"}),
        _ => json!({}),
    })
}

/// Sends `route` (with `tenant`'s ids) as `token`; the status and the body as sent.
async fn send(
    app: &TestApp,
    route: &str,
    tenant: &Tenant,
    token: &str,
) -> (StatusCode, String, String) {
    let (method, path) = route.split_once(' ').expect("METHOD path");
    let mut url = concrete(path, tenant);
    if path.ends_with("/available-slots") {
        let day = (chrono::Utc::now() + chrono::Duration::days(7)).format("%Y-%m-%d");
        url.push_str(&format!("?date={day}"));
    }
    let body = body_for(route, tenant);
    let (status, text) = app
        .call_text(
            Method::from_bytes(method.as_bytes()).expect("method"),
            &url,
            Some(token),
            body.as_ref(),
        )
        .await;
    let request = format!("{url} {}", body.map(|b| b.to_string()).unwrap_or_default());
    (status, text, request)
}

/// The first string of B in `text`, except the ids A itself sent in `request`.
fn leak<'a>(text: &str, secrets: &'a [String], request: &str) -> Option<&'a str> {
    secrets
        .iter()
        .find(|s| !request.contains(s.as_str()) && text.contains(s.as_str()))
        .map(String::as_str)
}

fn assert_no_leak(text: &str, secrets: &[String], request: &str, what: &str) {
    if let Some(secret) = leak(text, secrets, request) {
        panic!("{what} shows tenant B's `{secret}`: {text}");
    }
}

/// Whether `text` is the contract's error body with `code` (any code when None).
fn is_error_body(text: &str, code: Option<&str>) -> bool {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    body["error"].as_str().is_some_and(|e| !e.is_empty())
        && body["code"]
            .as_str()
            .is_some_and(|c| code.is_none_or(|want| want == c))
}

/// The REST routes of the OpenAPI document, as `METHOD path`.
async fn routes(app: &TestApp) -> Vec<String> {
    let (status, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(routes.len() > 50, "the document lists the API: {routes:?}");
    routes
}

/// B's state as B's admin sees it, to prove A's requests changed nothing.
async fn snapshot(app: &TestApp, routes: &[String], b: &Tenant) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for route in routes {
        let (method, path) = route.split_once(' ').expect("METHOD path");
        if method != "GET"
            || access(route).is_none_or(|a| a == Public)
            || path.ends_with("/events")
            || path.ends_with(".ics")
            || path.contains("/analytics/")
            || path.contains("available-slots")
            || path.contains("/feed")
        {
            continue;
        }
        let (status, text, _) = send(app, route, b, &b.admin.token).await;
        out.push((route.clone(), format!("{status} {text}")));
    }
    out
}

struct World {
    app: TestApp,
    a: Tenant,
    b: Tenant,
    routes: Vec<String>,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let admin_a = app.admin().await;
    let admin_b = app.other_tenant(MARK_B).await;
    let a = build_tenant(&app, admin_a, MARK_A).await;
    let b = build_tenant(&app, admin_b, MARK_B).await;
    // A closed conversation is settled: nothing in B moves while the matrix runs.
    let (status, closed) = app
        .post(
            &format!("/api/v1/conversations/{}/close", b.id("conversation")),
            &b.admin.token,
            &json!({"reason": "settled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    let routes = routes(&app).await;
    World { app, a, b, routes }
}

#[actix_web::test]
async fn tenant_a_never_sees_or_changes_tenant_b_over_rest() {
    let World { app, a, b, routes } = world().await;
    let secrets = b.secrets(MARK_B);
    let before = snapshot(&app, &routes, &b).await;
    let callers = [
        ("admin", a.admin.token.as_str()),
        ("supervisor", a.supervisor.token.as_str()),
        ("agent", a.agent.token.as_str()),
        ("customer", a.customer_token.as_str()),
    ];
    let mut checked = 0;
    // Every finding of one run, so one failure report shows the whole matrix.
    let mut problems: Vec<String> = Vec::new();
    macro_rules! check {
        ($ok:expr, $($why:tt)+) => {
            if !$ok {
                problems.push(format!($($why)+));
            }
        };
    }
    for route in &routes {
        if access(route) == Some(Public) || route == "GET /api/v1/events" {
            continue;
        }
        let has_params = route.contains('{');
        let names_b = body_for(route, &b) != body_for(route, &a);
        if !has_params && !route.starts_with("GET ") && !names_b {
            continue; // a plain create in A's own tenant: nothing of B involved
        }
        for (who, token) in callers {
            let (status, text, request) = send(&app, route, &b, token).await;
            let what = format!("{who}: {route} with B's ids");
            if let Some(secret) = leak(&text, &secrets, &request) {
                problems.push(format!("{what} shows B's `{secret}`: {text}"));
            }
            if has_params {
                let allowed: &[StatusCode] = if who == "customer" {
                    &[
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN,
                        StatusCode::NOT_FOUND,
                    ]
                } else {
                    &[StatusCode::FORBIDDEN, StatusCode::NOT_FOUND]
                };
                check!(
                    allowed.contains(&status) && is_error_body(&text, None),
                    "{what}: {status} {text}"
                );
            } else if route.starts_with("POST") {
                check!(
                    !status.is_success(),
                    "{what}: a create naming B's ids was accepted: {status} {text}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "the matrix ran ({checked} requests)");

    // Filters naming B's ids list nothing.
    for path in [
        format!("/api/v1/conversations?agent_id={}", b.id("agent")),
        format!("/api/v1/conversations?owner={}", b.agent.user_id),
        format!("/api/v1/activities?contact_id={}", b.id("contact")),
        format!(
            "/api/v1/activities?conversation_id={}",
            b.id("conversation")
        ),
        format!("/api/v1/contacts?integration_id={}", b.id("integration")),
        format!(
            "/api/v1/calendar/available-slots?date=2030-01-07&user_id={}",
            b.agent.user_id
        ),
    ] {
        let (status, text) = app
            .call_text(Method::GET, &path, Some(&a.admin.token), None)
            .await;
        if let Some(secret) = leak(&text, &secrets, &path) {
            problems.push(format!("{path} shows B's `{secret}`: {text}"));
        }
        if status.is_success() {
            let body: Value = serde_json::from_str(&text).expect("json");
            let empty = ["items", "available_slots"]
                .iter()
                .all(|k| body[*k].as_array().is_none_or(Vec::is_empty));
            check!(empty, "{path} lists something: {text}");
        }
    }

    // A's own requests: role rules, and still nothing of B in any answer.
    for route in &routes {
        let Some(rule) = access(route) else { continue };
        if rule == Public || route == "GET /api/v1/events" {
            continue;
        }
        let is_get = route.starts_with("GET ");
        for (role, session) in [
            (Role::Admin, &a.admin),
            (Role::Supervisor, &a.supervisor),
            (Role::Agent, &a.agent),
        ] {
            let allowed = rule.allows(role);
            // Writes run only where they must be refused: A's fixtures stay whole.
            if !is_get && allowed != Some(false) {
                continue;
            }
            let (status, text, request) = send(&app, route, &a, &session.token).await;
            let what = format!("{role:?} of A: {route}");
            if let Some(secret) = leak(&text, &secrets, &request) {
                problems.push(format!("{what} shows B's `{secret}`: {text}"));
            }
            match allowed {
                Some(true) => check!(status.is_success(), "{what}: {status} {text}"),
                Some(false) => check!(
                    status == StatusCode::FORBIDDEN && is_error_body(&text, Some("FORBIDDEN")),
                    "{what} should be refused: {status} {text}"
                ),
                None => check!(
                    [StatusCode::OK, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND]
                        .contains(&status),
                    "{what}: {status} {text}"
                ),
            }
        }
        // A customer token is not a staff token.
        let (status, text, request) = send(&app, route, &a, &a.customer_token).await;
        if let Some(secret) = leak(&text, &secrets, &request) {
            problems.push(format!(
                "customer of A: {route} shows B's `{secret}`: {text}"
            ));
        }
        if rule == StaffOrContact {
            check!(
                status == StatusCode::OK,
                "customer of A: {route}: {status} {text}"
            );
        } else {
            check!(
                [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
                "customer of A: {route}: {status} {text}"
            );
        }
    }

    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );

    let after = snapshot(&app, &routes, &b).await;
    assert!(before.len() > 20, "the snapshot covers B's resources");
    for ((route, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "tenant B's {route} changed");
    }
}

/// Frames naming B's conversation (and message) from every kind of socket of A.
fn frames_at(b: &Tenant) -> Vec<Value> {
    let conversation = b.id("conversation");
    vec![
        json!({"type": "subscribe", "conversation_id": conversation}),
        json!({"type": "sync", "conversation_id": conversation}),
        json!({"type": "sync", "last_message_id": b.id("message")}),
        json!({"type": "message", "conversation_id": conversation, "content": "intruder", "client_msg_id": "x1"}),
        json!({"type": "typing", "conversation_id": conversation, "is_typing": true}),
        json!({"type": "read", "conversation_id": conversation, "message_id": b.id("message")}),
        json!({"type": "request_summary", "conversation_id": conversation}),
        json!({"type": "schedule_confirm", "conversation_id": conversation, "date": "2030-01-07",
               "time": "10:00", "email": "intruder@example.com"}),
        json!({"type": "set_auto_create", "conversation_id": conversation, "enabled": true}),
        json!({"type": "take", "conversation_id": conversation}),
    ]
}

#[actix_web::test]
async fn tenant_a_sockets_and_streams_never_carry_tenant_b() {
    let World { app, a, b, .. } = world().await;
    let secrets = b.secrets(MARK_B);
    let before = counts(&app.store).await;

    // SSE: admins and supervisors; not the agent role, not a customer.
    let mut admin_sse = SseClient::open(&app, &a.admin.token, None).await;
    let mut supervisor_sse = SseClient::open(&app, &a.supervisor.token, None).await;
    for token in [&a.agent.token, &a.customer_token] {
        let (status, body) = app.get("/api/v1/events", token).await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
            "SSE refused: {status} {body}"
        );
    }

    let mut sockets = Vec::new();
    for (who, token) in [
        ("admin", &a.admin.token),
        ("supervisor", &a.supervisor.token),
        ("agent", &a.agent.token),
        ("customer", &a.customer_token),
    ] {
        let (mut socket, connected) = WsClient::connect(&app, token).await;
        assert_no_leak(&connected.to_string(), &secrets, "", who);
        for frame in frames_at(&b) {
            socket.send(frame.clone()).await;
            let error = socket.error().await;
            assert_eq!(error["code"], "NOT_FOUND", "{who}: {frame} → {error}");
        }
        socket.barrier().await;
        sockets.push((who, socket));
    }
    // A's staff follow A's conversation: the positive signal below arrives there.
    for (_, socket) in sockets.iter_mut().take(2) {
        socket
            .send(json!({"type": "subscribe", "conversation_id": a.id("conversation")}))
            .await;
        socket.barrier().await;
    }

    // B is busy: a new conversation and messages, B's staff replying. Then A gets a message.
    let b_new = signed_inbound(
        &app,
        b.id("integration"),
        &format!("late-{MARK_B}"),
        &format!("m2-{MARK_B}"),
    )
    .await;
    let (status, reply) = app
        .post(
            &format!(
                "/api/v1/conversations/{}/messages",
                b_new["conversation_id"].as_str().expect("id")
            ),
            &b.admin.token,
            &json!({"content": format!("reply {MARK_B}")}),
        )
        .await;
    assert!(status.is_success(), "{reply}");
    let a_new = signed_inbound(
        &app,
        a.id("integration"),
        &format!("contact-{MARK_A}"),
        &format!("m2-{MARK_A}"),
    )
    .await;
    let a_message = a_new["message_id"].as_str().expect("id").to_string();

    for (who, sse) in [
        ("admin", &mut admin_sse),
        ("supervisor", &mut supervisor_sse),
    ] {
        let mut seen = Vec::new();
        loop {
            let event = sse
                .next(SSE_WAIT)
                .await
                .unwrap_or_else(|| panic!("{who}: A's message_received on SSE; saw {seen:?}"));
            assert_eq!(event.data["tenant_id"], a.tenant_id, "{who}: {:?}", event);
            assert_no_leak(&event.data.to_string(), &secrets, "", &format!("{who} SSE"));
            let done =
                event.event == "message_received" && event.data.to_string().contains(&a_message);
            seen.push(event.event);
            if done {
                break;
            }
        }
    }
    for (who, socket) in sockets.iter_mut() {
        if *who == "admin" || *who == "supervisor" {
            let frame = socket.next_of("message").await;
            assert_eq!(frame["message"]["id"], a_message.as_str(), "{who}");
        }
        socket.barrier().await;
        for kind in [
            "message",
            "typing",
            "read",
            "summary",
            "conversation_assigned",
            "conversation_escalated",
            "conversation_closed",
            "sync_data",
            "schedule_confirmed",
            "presence",
        ] {
            for frame in socket.buffered(kind) {
                assert_no_leak(&frame.to_string(), &secrets, "", &format!("{who} socket"));
            }
        }
    }
    let after = counts(&app.store).await;
    // Exactly what the webhooks and B's own reply stored: 2 contacts' messages, 1 reply, and
    // one new conversation and contact for B; nothing from A's frames.
    assert_eq!(
        after.messages,
        before.messages + 3,
        "{before:?} → {after:?}"
    );
    assert_eq!(after.conversations, before.conversations + 1);
    for (_, socket) in sockets {
        socket.close().await;
    }
}
