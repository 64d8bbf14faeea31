//! `/api/v1/integrations` end to end on both backends: every field round trips, secrets and
//! API keys are sealed and never returned, each kind gets what its channel needs, outbound
//! URLs respect the private-target guard, references stay inside the tenant, other tenants
//! see 404, roles are enforced.

mod support;

use atende::domain::{DepartmentId, IntegrationId, TenantId};
use atende::store::integrations::{self, IntegrationKind};
use atende::store::schema::departments;
use diesel::{ExpressionMethods, RunQueryDsl};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use support::*;

const SECRET: &str = "whsec-PLAINTEXT-0123456789";
const API_KEY: &str = "evo-PLAINTEXT-apikey-abcdef";

async fn create_department(app: &TestApp, tenant: &str, name: &str) -> String {
    let id = DepartmentId::new();
    let (tenant, name, row_id) = (TenantId(tenant.to_string()), name.to_string(), id.clone());
    app.store
        .run(move |conn| {
            let now = atende::store::now();
            atende::db_run!(conn, |c| diesel::insert_into(departments::table)
                .values((
                    departments::id.eq(&row_id),
                    departments::tenant_id.eq(&tenant),
                    departments::name.eq(&name),
                    departments::description.eq(""),
                    departments::created_at.eq(now),
                    departments::updated_at.eq(now),
                ))
                .execute(c))?;
            Ok(())
        })
        .await
        .expect("department");
    id.0
}

async fn stored(app: &TestApp, id: &str) -> integrations::Integration {
    let id = IntegrationId(id.to_string());
    app.store
        .run(move |conn| integrations::find_by_id(conn, &id))
        .await
        .expect("integration row")
}

fn generic(name: &str) -> Value {
    json!({"kind": "generic", "name": name, "secret": SECRET})
}

fn evolution(name: &str) -> Value {
    json!({
        "kind": "evolution",
        "name": name,
        "base_url": "https://evo.example.com/",
        "api_key": API_KEY,
        "instance": "main-line"
    })
}

#[actix_web::test]
async fn every_field_round_trips_for_each_kind() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app
        .create_agent(&admin, json!({"name": "Front desk"}))
        .await;
    let agent_id = agent["id"].as_str().expect("id");
    let department = create_department(&app, &admin.tenant_id, "Sales").await;

    let created = app
        .create_integration(
            &admin,
            json!({
                "kind": "generic",
                "name": "Shop webhook",
                "secret": SECRET,
                "base_url": "https://shop.example.com/api",
                "api_key": API_KEY,
                "outbound_url": "https://shop.example.com/replies",
                "default_agent_id": agent_id,
                "default_department_id": department,
                "enabled": false,
                "config": {"locale": "pt-BR", "retries": 3}
            }),
        )
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["tenant_id"], admin.tenant_id.as_str());
    assert_eq!(created["kind"], "generic");
    assert_eq!(created["name"], "Shop webhook");
    assert_eq!(created["has_secret"], true);
    assert_eq!(created["base_url"], "https://shop.example.com/api");
    assert_eq!(created["has_api_key"], true);
    assert_eq!(created["instance"], Value::Null);
    assert_eq!(created["outbound_url"], "https://shop.example.com/replies");
    assert_eq!(created["default_agent_id"], agent_id);
    assert_eq!(created["default_department_id"], department.as_str());
    assert_eq!(created["enabled"], false);
    assert_eq!(created["config"], json!({"locale": "pt-BR", "retries": 3}));
    assert_eq!(created["inbound_path"], format!("/webhooks/generic/{id}"));
    assert!(created.get("secret").is_none() && created.get("api_key").is_none());

    let path = format!("/api/v1/integrations/{id}");
    let (status, fetched) = app.get(&path, &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let (status, patched) = app
        .patch(
            &path,
            &admin.token,
            &json!({
                "kind": "generic",
                "name": "Shop webhook v2",
                "base_url": null,
                "api_key": null,
                "outbound_url": "https://shop.example.com/v2/replies",
                "default_agent_id": null,
                "default_department_id": null,
                "enabled": true,
                "config": {}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Shop webhook v2");
    assert_eq!(patched["base_url"], Value::Null);
    assert_eq!(patched["has_api_key"], false);
    assert_eq!(patched["has_secret"], true);
    assert_eq!(
        patched["outbound_url"],
        "https://shop.example.com/v2/replies"
    );
    assert_eq!(patched["default_agent_id"], Value::Null);
    assert_eq!(patched["default_department_id"], Value::Null);
    assert_eq!(patched["enabled"], true);
    assert_eq!(patched["config"], json!({}));
    assert_eq!(patched["created_at"], created["created_at"]);

    let evo = app.create_integration(&admin, evolution("WhatsApp")).await;
    assert_eq!(evo["kind"], "evolution");
    assert_eq!(evo["base_url"], "https://evo.example.com");
    assert_eq!(evo["instance"], "main-line");
    assert_eq!(evo["has_api_key"], true);
    assert_eq!(evo["has_secret"], false);
    assert_eq!(evo["enabled"], true);
    assert_eq!(evo["config"], json!({}));
    let evo_id = evo["id"].as_str().expect("id");
    assert_eq!(evo["inbound_path"], format!("/webhooks/evolution/{evo_id}"));
    let row = stored(&app, evo_id).await;
    assert_eq!(row.kind().expect("kind"), IntegrationKind::Evolution);

    let chat = app
        .create_integration(&admin, json!({"kind": "webchat", "name": "Site chat"}))
        .await;
    assert_eq!(chat["has_secret"], false);
    assert_eq!(
        chat["inbound_path"],
        format!(
            "/api/v1/webchat/{}/session",
            chat["id"].as_str().expect("id")
        )
    );

    let (status, list) = app.get("/api/v1/integrations", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));

    let (status, _) = app.delete(&path, &admin.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path, &admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&path, &admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn secrets_are_sealed_at_rest_and_never_returned() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut body = generic("Signed");
    body["api_key"] = json!(API_KEY);
    let (status, text) = app
        .call_text(
            Method::POST,
            "/api/v1/integrations",
            Some(&admin.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(!text.contains(SECRET) && !text.contains(API_KEY), "{text}");
    let id = serde_json::from_str::<Value>(&text).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();

    let new_secret = "whsec-ROTATED-9876543210";
    let patch = json!({"secret": new_secret});
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/integrations/{id}"), None),
        (Method::GET, "/api/v1/integrations".to_string(), None),
        (
            Method::PATCH,
            format!("/api/v1/integrations/{id}"),
            Some(&patch),
        ),
        (Method::GET, format!("/api/v1/integrations/{id}"), None),
    ] {
        let (status, text) = app.call_text(method, &path, Some(&admin.token), body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        for secret in [SECRET, API_KEY, new_secret] {
            assert!(!text.contains(secret), "{path}: {text}");
        }
    }

    let row = stored(&app, &id).await;
    let (secret, key) = (
        row.secret.clone().expect("secret"),
        row.api_key.clone().expect("key"),
    );
    assert!(!secret.contains("ROTATED") && !key.contains("PLAINTEXT"));
    assert!(secret.starts_with("v2:") && key.starts_with("v2:"));
    let secrets = app.secrets();
    let opened = row.secret(&secrets).expect("opens").expect("present");
    assert_eq!(opened.expose_secret(), new_secret);
    let opened = row.api_key(&secrets).expect("opens").expect("present");
    assert_eq!(opened.expose_secret(), API_KEY);
}

#[actix_web::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other = app.other_tenant("tenant-b").await;
    let foreign_agent = app.create_agent(&other, json!({"name": "Theirs"})).await;
    let foreign_department = create_department(&app, &other.tenant_id, "Theirs").await;

    let with = |mut body: Value, patch: Value| {
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                body.as_object_mut().expect("object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    for (body, field) in [
        (with(generic("x"), json!({"secret": null})), "secret"),
        (with(generic("x"), json!({"secret": "short"})), "secret"),
        (with(generic("x"), json!({"name": " "})), "name"),
        (
            with(generic("x"), json!({"outbound_url": "ftp://example.com/x"})),
            "outbound_url",
        ),
        (
            with(generic("x"), json!({"outbound_url": "/relative"})),
            "outbound_url",
        ),
        (with(generic("x"), json!({"base_url": "nope"})), "base_url"),
        (with(generic("x"), json!({"config": [1, 2]})), "config"),
        (with(generic("x"), json!({"config": "text"})), "config"),
        (with(evolution("x"), json!({"instance": null})), "instance"),
        (with(evolution("x"), json!({"instance": "a/b"})), "instance"),
        (with(evolution("x"), json!({"api_key": null})), "api_key"),
        (with(evolution("x"), json!({"api_key": ""})), "api_key"),
        (with(evolution("x"), json!({"base_url": null})), "base_url"),
        (
            with(
                generic("x"),
                json!({"default_agent_id": foreign_agent["id"].clone()}),
            ),
            "default_agent_id",
        ),
        (
            with(
                generic("x"),
                json!({"default_agent_id": "0192f0a0-0000-7000-8000-000000000000"}),
            ),
            "default_agent_id",
        ),
        (
            with(generic("x"), json!({"default_agent_id": "agent-1"})),
            "default_agent_id",
        ),
        (
            with(
                generic("x"),
                json!({"default_department_id": foreign_department}),
            ),
            "default_department_id",
        ),
    ] {
        let (status, response) = app.post("/api/v1/integrations", &admin.token, &body).await;
        assert_field_error(status, &response, field);
    }
    for body in [
        json!({"kind": "telegram", "name": "x"}),
        json!({"name": "no kind"}),
        with(generic("x"), json!({"colour": "blue"})),
        with(generic("x"), json!({"enabled": "yes"})),
    ] {
        let (status, response) = app.post("/api/v1/integrations", &admin.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {response}");
        assert_eq!(response["code"], "VALIDATION_ERROR");
    }
    let (_, list) = app.get("/api/v1/integrations", &admin.token).await;
    assert_eq!(list["items"], json!([]), "nothing was created");

    let signed = app.create_integration(&admin, generic("Signed")).await;
    let evo = app.create_integration(&admin, evolution("Evo")).await;
    let signed_path = format!(
        "/api/v1/integrations/{}",
        signed["id"].as_str().expect("id")
    );
    let evo_path = format!("/api/v1/integrations/{}", evo["id"].as_str().expect("id"));
    for (path, patch, field) in [
        (&signed_path, json!({"kind": "webchat"}), "kind"),
        (&signed_path, json!({"secret": null}), "secret"),
        (
            &signed_path,
            json!({"name": "ok", "secret": "short"}),
            "secret",
        ),
        (
            &signed_path,
            json!({"outbound_url": "gopher://x"}),
            "outbound_url",
        ),
        (
            &signed_path,
            json!({"default_agent_id": foreign_agent["id"].clone()}),
            "default_agent_id",
        ),
        (&signed_path, json!({"config": null}), "config"),
        (&evo_path, json!({"api_key": null}), "api_key"),
        (&evo_path, json!({"instance": null}), "instance"),
        (&evo_path, json!({"instance": "x?y"}), "instance"),
        (&evo_path, json!({"base_url": null}), "base_url"),
    ] {
        let (status, response) = app.patch(path, &admin.token, &patch).await;
        assert_field_error(status, &response, field);
    }
    let (_, signed_after) = app.get(&signed_path, &admin.token).await;
    assert_eq!(signed_after, signed, "refused patches changed nothing");
    let (_, evo_after) = app.get(&evo_path, &admin.token).await;
    assert_eq!(evo_after, evo, "refused patches changed nothing");
}

#[actix_web::test]
async fn outbound_urls_respect_the_private_target_guard() {
    let guarded = TestApp::spawn_with(&[("outbound.allow_private_targets", "false")]).await;
    let admin = guarded.admin().await;
    for url in [
        "http://localhost:9000/hook",
        "http://127.0.0.1:9000/hook",
        "http://10.0.0.5/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9000/hook",
        "http://[fe80::1]/hook",
    ] {
        let mut body = generic("Private");
        body["outbound_url"] = json!(url);
        let (status, response) = guarded
            .post("/api/v1/integrations", &admin.token, &body)
            .await;
        assert_field_error(status, &response, "outbound_url");
        let mut body = evolution("Private");
        body["base_url"] = json!(url);
        let (status, response) = guarded
            .post("/api/v1/integrations", &admin.token, &body)
            .await;
        assert_field_error(status, &response, "base_url");
    }
    let public = guarded.create_integration(&admin, generic("Public")).await;
    let path = format!(
        "/api/v1/integrations/{}",
        public["id"].as_str().expect("id")
    );
    let (status, response) = guarded
        .patch(
            &path,
            &admin.token,
            &json!({"outbound_url": "http://127.0.0.1/x"}),
        )
        .await;
    assert_field_error(status, &response, "outbound_url");
    let (status, response) = guarded
        .patch(
            &path,
            &admin.token,
            &json!({"outbound_url": "https://hooks.example.com/x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");

    // The test configuration allows private targets, as on-premise installs may.
    let open = TestApp::spawn().await;
    let admin = open.admin().await;
    let mut body = evolution("Local");
    body["base_url"] = json!("http://127.0.0.1:8081");
    let created = open.create_integration(&admin, body).await;
    assert_eq!(created["base_url"], "http://127.0.0.1:8081");
}

#[actix_web::test]
async fn other_tenants_get_404_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other = app.other_tenant("tenant-b").await;
    let mine = app.create_integration(&admin, generic("Mine")).await;
    let path = format!("/api/v1/integrations/{}", mine["id"].as_str().expect("id"));

    let (status, body) = app.get(&path, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NOT_FOUND");
    let (status, _) = app
        .patch(&path, &other.token, &json!({"name": "Stolen"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .patch(
            &path,
            &other.token,
            &json!({"secret": "attacker-secret-0123456"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&path, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/integrations", &other.token).await;
    assert_eq!(list["items"], json!([]));

    let (_, after) = app.get(&path, &admin.token).await;
    assert_eq!(after, mine);
    let row = stored(&app, mine["id"].as_str().expect("id")).await;
    let secret = row.secret(&app.secrets()).expect("opens").expect("present");
    assert_eq!(secret.expose_secret(), SECRET);
}

#[actix_web::test]
async fn admins_write_supervisors_read_agents_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let supervisor = app
        .user_with_role(&admin, "supervisor", "sup@tenant-a.test")
        .await;
    let human = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;
    let integration = app.create_integration(&admin, generic("Team")).await;
    let path = format!(
        "/api/v1/integrations/{}",
        integration["id"].as_str().expect("id")
    );

    let (status, list) = app.get("/api/v1/integrations", &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = app.get(&path, &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);

    for caller in [&supervisor, &human] {
        let (status, body) = app
            .post("/api/v1/integrations", &caller.token, &generic("Nope"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) = app
            .patch(&path, &caller.token, &json!({"name": "Nope"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.delete(&path, &caller.token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = app.get("/api/v1/integrations", &human.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get(&path, &human.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, after) = app.get(&path, &admin.token).await;
    assert_eq!(after, integration);
}

#[actix_web::test]
async fn deleting_an_agent_unsets_it_as_a_default() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app
        .create_agent(&admin, json!({"name": "Short-lived"}))
        .await;
    let agent_id = agent["id"].as_str().expect("id");
    let mut body = generic("Routed");
    body["default_agent_id"] = json!(agent_id);
    let integration = app.create_integration(&admin, body).await;
    assert_eq!(integration["default_agent_id"], agent_id);

    let (status, _) = app
        .delete(&format!("/api/v1/agents/{agent_id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = app
        .get(
            &format!(
                "/api/v1/integrations/{}",
                integration["id"].as_str().expect("id")
            ),
            &admin.token,
        )
        .await;
    assert_eq!(after["default_agent_id"], Value::Null);
}

/// A funnel with `stages`, as its id and its stages' ids in order.
async fn funnel(app: &TestApp, token: &str, name: &str, stages: &[&str]) -> (String, Vec<String>) {
    let (status, funnel) = app
        .post(
            "/api/v1/funnels",
            token,
            &json!({"name": name, "stages": stages}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{funnel}");
    let stages = funnel["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["id"].as_str().expect("stage id").to_string())
        .collect();
    (funnel["id"].as_str().expect("id").to_string(), stages)
}

#[actix_web::test]
async fn new_conversations_start_in_the_integrations_default_funnel_and_stage() {
    let f = support::engine::fixture(&[], json!({})).await;
    let token = &f.admin.token;
    let path = format!("/api/v1/integrations/{}", f.integration_id);
    let (sales, sales_stages) = funnel(&f.app, token, "Vendas", &["Novo", "Qualificado"]).await;
    let (_, support_stages) = funnel(&f.app, token, "Suporte", &["Aberto"]).await;
    let other = f.app.other_tenant("tenant-b").await;
    let (foreign, foreign_stages) = funnel(&f.app, &other.token, "Alheio", &["X"]).await;

    // Refused, and nothing changes: a stage without a funnel, a stage of another funnel,
    // another tenant's funnel or stage.
    for (body, field) in [
        (
            json!({"default_stage_id": sales_stages[0]}),
            "default_stage_id",
        ),
        (
            json!({"default_funnel_id": sales, "default_stage_id": support_stages[0]}),
            "default_stage_id",
        ),
        (json!({"default_funnel_id": foreign}), "default_funnel_id"),
        (
            json!({"default_funnel_id": sales, "default_stage_id": foreign_stages[0]}),
            "default_stage_id",
        ),
    ] {
        let (status, error) = f.app.patch(&path, token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }
    let (_, unchanged) = f.app.get(&path, token).await;
    assert_eq!(unchanged["default_funnel_id"], Value::Null, "{unchanged}");
    assert_eq!(unchanged["default_stage_id"], Value::Null, "{unchanged}");

    let (status, set) = f
        .app
        .patch(
            &path,
            token,
            &json!({"default_funnel_id": sales, "default_stage_id": sales_stages[1]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["default_funnel_id"], sales.as_str());
    assert_eq!(set["default_stage_id"], sales_stages[1].as_str());
    let first = f.conversation_of("c1", "c1-m1", "quero comprar").await;
    let started = f.conversation(&first).await;
    assert_eq!(started["stage_id"], sales_stages[1].as_str(), "{started}");
    let row = {
        let id = atende::domain::ConversationId(first.clone());
        f.app
            .store
            .run(move |conn| atende::store::conversations::find_by_id(conn, &id))
            .await
            .expect("conversation row")
    };
    assert_eq!(row.funnel_id.as_deref(), Some(sales.as_str()));

    // Without a stage: the funnel's first one.
    let (status, cleared) = f
        .app
        .patch(&path, token, &json!({"default_stage_id": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["default_funnel_id"], sales.as_str());
    let second = f.conversation_of("c2", "c2-m1", "oi").await;
    let started = f.conversation(&second).await;
    assert_eq!(started["stage_id"], sales_stages[0].as_str(), "{started}");
    // The first conversation stays where it started.
    assert_eq!(
        f.conversation(&first).await["stage_id"],
        sales_stages[1].as_str()
    );

    // A deleted funnel is no default any more.
    let (status, _) = f
        .app
        .delete(&format!("/api/v1/funnels/{sales}"), token)
        .await;
    assert!(status.is_success(), "{status}");
    let (_, after) = f.app.get(&path, token).await;
    assert_eq!(after["default_funnel_id"], Value::Null, "{after}");
    let third = f.conversation_of("c3", "c3-m1", "oi").await;
    let started = f.conversation(&third).await;
    assert_eq!(started["stage_id"], Value::Null, "{started}");
}
