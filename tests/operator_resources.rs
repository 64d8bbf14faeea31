//! Operator resources on both backends: contacts (filters, validation, no deletion),
//! departments, funnels with ordered stages, tags and activities — CRUD, filters, clear 4xx
//! errors that change nothing, role checks and tenant isolation.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

#[actix_web::test]
async fn contacts_are_created_filtered_and_edited_within_the_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;

    let (status, ana) = app
        .post(
            "/api/v1/contacts",
            &agent.token,
            &json!({"name": "Ana Souza", "phone": "+55 (11) 98888-7777", "email": "Ana@Example.com",
                "tags": ["lead", "vip", "lead"], "custom_fields": {"plano": "ouro"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    assert_eq!(ana["email"], "ana@example.com");
    assert_eq!(ana["tags"], json!(["lead", "vip"]));
    assert_eq!(ana["custom_fields"]["plano"], "ouro");
    assert_eq!(ana["integration_id"], Value::Null);
    let ana_id = ana["id"].as_str().expect("id").to_string();
    let (_, bruno) = app
        .post(
            "/api/v1/contacts",
            &admin.token,
            &json!({"name": "Bruno 50%_off", "is_vip": true}),
        )
        .await;
    let bruno_id = bruno["id"].as_str().expect("id").to_string();

    for (body, field) in [
        (json!({}), None),
        (json!({"email": "not-an-email"}), Some("email")),
        (json!({"phone": "call me"}), Some("phone")),
        (json!({"name": "  "}), Some("name")),
        (
            json!({"name": "X", "custom_fields": [1]}),
            Some("custom_fields"),
        ),
        (json!({"name": "X", "tags": [""]}), Some("tags")),
        (json!({"name": "X", "unknown": 1}), None),
    ] {
        let (status, error) = app.post("/api/v1/contacts", &admin.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["code"], "VALIDATION_ERROR");
        if let Some(field) = field {
            assert_eq!(error["details"]["field"], field, "{body}: {error}");
        }
    }

    let search = |q: &'static str| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            let (status, page) = app.get(&format!("/api/v1/contacts?{q}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{q}: {page}");
            items(&page)
                .iter()
                .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("q=ana").await, vec!["Ana Souza"]);
    assert_eq!(search("q=98888").await, vec!["Ana Souza"]);
    assert_eq!(search("q=EXAMPLE.COM").await, vec!["Ana Souza"]);
    assert_eq!(search("q=50%25_").await, vec!["Bruno 50%_off"]);
    assert_eq!(
        search("q=_").await,
        vec!["Bruno 50%_off"],
        "wildcards are literal"
    );
    assert_eq!(search("tag=vip").await, vec!["Ana Souza"]);
    assert_eq!(search("tag=vi").await, Vec::<String>::new());
    assert_eq!(search("is_vip=true").await, vec!["Bruno 50%_off"]);
    assert_eq!(
        search("limit=1").await.len(),
        1,
        "pages are bounded by limit"
    );
    let (_, first) = app.get("/api/v1/contacts?limit=1", &admin.token).await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .get(
            &format!("/api/v1/contacts?limit=1&cursor={cursor}"),
            &admin.token,
        )
        .await;
    assert_eq!(items(&second).len(), 1);
    assert_ne!(items(&first)[0]["id"], items(&second)[0]["id"]);
    let (status, _) = app.get("/api/v1/contacts?limit=0", &admin.token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, updated) = app
        .patch(
            &format!("/api/v1/contacts/{ana_id}"),
            &agent.token,
            &json!({"phone": null, "tags": ["cliente"], "is_vip": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["phone"], Value::Null);
    assert_eq!(updated["tags"], json!(["cliente"]));
    assert_eq!(updated["name"], "Ana Souza");
    let (status, _) = app
        .patch(
            &format!("/api/v1/contacts/{ana_id}"),
            &agent.token,
            &json!({"email": "broken"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, unchanged) = app
        .get(&format!("/api/v1/contacts/{ana_id}"), &admin.token)
        .await;
    assert_eq!(
        unchanged["email"], "ana@example.com",
        "a refused PATCH changes nothing"
    );

    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .get(&format!("/api/v1/contacts/{ana_id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .patch(
            &format!("/api/v1/contacts/{bruno_id}"),
            &other.token,
            &json!({"name": "Hacked"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app.get("/api/v1/contacts", &other.token).await;
    assert_eq!(items(&theirs).len(), 0);
    let (status, _) = app.get("/api/v1/contacts/not-an-id", &admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/contacts/{ana_id}"), &admin.token)
        .await;
    assert!(
        status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_FOUND,
        "contacts are not deleted: {status}"
    );
}

#[actix_web::test]
async fn departments_and_tags_have_unique_names_and_admin_writes() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let supervisor = app
        .user_with_role(&admin, "supervisor", "sup@tenant-a.test")
        .await;
    let agent = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;

    let (status, sales) = app
        .post(
            "/api/v1/departments",
            &admin.token,
            &json!({"name": "Vendas", "description": "Equipe comercial"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sales}");
    let sales_id = sales["id"].as_str().expect("id").to_string();
    let (status, error) = app
        .post(
            "/api/v1/departments",
            &admin.token,
            &json!({"name": "Vendas"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["code"], "CONFLICT");
    let (status, _) = app
        .post(
            "/api/v1/departments",
            &supervisor.token,
            &json!({"name": "Suporte"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = app.get("/api/v1/departments", &agent.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items(&page).len(), 1);
    let (status, renamed) = app
        .patch(
            &format!("/api/v1/departments/{sales_id}"),
            &admin.token,
            &json!({"name": "Comercial"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Comercial");
    assert_eq!(renamed["description"], "Equipe comercial");

    // An integration defaulting to the department loses the default when it is deleted.
    let integration = app
        .create_integration(
            &admin,
            json!({"kind": "webchat", "name": "site", "default_department_id": sales_id}),
        )
        .await;
    let (status, _) = app
        .delete(&format!("/api/v1/departments/{sales_id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, integration) = app
        .get(
            &format!(
                "/api/v1/integrations/{}",
                integration["id"].as_str().expect("id")
            ),
            &admin.token,
        )
        .await;
    assert_eq!(integration["default_department_id"], Value::Null);
    let (status, _) = app
        .get(&format!("/api/v1/departments/{sales_id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Tags: supervisors manage them too; colours are #rrggbb.
    let (status, tag) = app
        .post(
            "/api/v1/tags",
            &supervisor.token,
            &json!({"name": "urgente", "color": "#FF0000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tag}");
    assert_eq!(tag["color"], "#ff0000");
    let tag_id = tag["id"].as_str().expect("id").to_string();
    let (status, _) = app
        .post("/api/v1/tags", &admin.token, &json!({"name": "urgente"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = app
        .post(
            "/api/v1/tags",
            &admin.token,
            &json!({"name": "x", "color": "red"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["details"]["field"], "color");
    let (status, _) = app
        .post("/api/v1/tags", &agent.token, &json!({"name": "y"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, patched) = app
        .patch(
            &format!("/api/v1/tags/{tag_id}"),
            &admin.token,
            &json!({"name": "muito urgente"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["color"], "#ff0000");

    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .get(&format!("/api/v1/tags/{tag_id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/tags/{tag_id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Names are unique per tenant, not globally.
    let (status, _) = app
        .post(
            "/api/v1/tags",
            &other.token,
            &json!({"name": "muito urgente"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .delete(&format!("/api/v1/tags/{tag_id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn funnels_keep_their_stages_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, funnel) = app
        .post(
            "/api/v1/funnels",
            &admin.token,
            &json!({"name": "Vendas", "stages": ["Entrada", "Qualificado", "Proposta"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{funnel}");
    let id = funnel["id"].as_str().expect("id").to_string();
    let names = |f: &Value| -> Vec<String> {
        f["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .map(|s| s["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(names(&funnel), vec!["Entrada", "Qualificado", "Proposta"]);

    let (status, won) = app
        .post(
            &format!("/api/v1/funnels/{id}/stages"),
            &admin.token,
            &json!({"name": "Ganho"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{won}");
    assert_eq!(won["position"], 3);
    let (status, first) = app
        .post(
            &format!("/api/v1/funnels/{id}/stages"),
            &admin.token,
            &json!({"name": "Triagem", "position": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(
            &format!("/api/v1/funnels/{id}/stages"),
            &admin.token,
            &json!({"name": "X", "position": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, stages) = app
        .get(&format!("/api/v1/funnels/{id}/stages"), &admin.token)
        .await;
    let order: Vec<&str> = stages
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        order,
        vec!["Entrada", "Triagem", "Qualificado", "Proposta", "Ganho"]
    );

    let first_id = first["id"].as_str().expect("id");
    let (status, moved) = app
        .patch(
            &format!("/api/v1/funnels/{id}/stages/{first_id}"),
            &admin.token,
            &json!({"position": 10, "name": "Triagem final"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (_, funnel) = app
        .get(&format!("/api/v1/funnels/{id}"), &admin.token)
        .await;
    assert_eq!(
        names(&funnel).last().map(String::as_str),
        Some("Triagem final")
    );
    let (status, _) = app
        .delete(
            &format!("/api/v1/funnels/{id}/stages/{first_id}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, funnel) = app
        .get(&format!("/api/v1/funnels/{id}"), &admin.token)
        .await;
    assert_eq!(names(&funnel).len(), 4);

    let (status, _) = app
        .post("/api/v1/funnels", &admin.token, &json!({"name": "Vendas"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = app
        .post(
            "/api/v1/funnels",
            &admin.token,
            &json!({"name": "Outro", "stages": ["ok", " "]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (_, page) = app.get("/api/v1/funnels", &admin.token).await;
    assert_eq!(
        items(&page).len(),
        1,
        "the refused funnel was not half-created"
    );
    assert_eq!(names(&items(&page)[0]).len(), 4);

    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .get(&format!("/api/v1/funnels/{id}/stages"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/funnels/{id}/stages"),
            &other.token,
            &json!({"name": "intruso"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/funnels/{id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/funnels/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/api/v1/funnels/{id}/stages"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn activities_link_to_the_tenants_records_and_filter() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;
    let (_, contact) = app
        .post("/api/v1/contacts", &admin.token, &json!({"name": "Carla"}))
        .await;
    let contact_id = contact["id"].as_str().expect("id").to_string();

    let (status, call) = app
        .post(
            "/api/v1/activities",
            &agent.token,
            &json!({"kind": "call", "title": "Ligar para Carla", "contact_id": contact_id,
                "user_id": agent.user_id, "due_at": "2026-05-10T14:00:00-03:00", "data": {"motivo": "renovação"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(call["due_at"], "2026-05-10T17:00:00Z");
    assert_eq!(call["done"], false);
    let call_id = call["id"].as_str().expect("id").to_string();
    let (_, note) = app
        .post(
            "/api/v1/activities",
            &admin.token,
            &json!({"kind": "note", "title": "Prefere WhatsApp", "contact_id": contact_id}),
        )
        .await;
    assert_eq!(note["kind"], "note");

    let other = app.other_tenant("tenant-b").await;
    let (_, foreign) = app
        .post("/api/v1/contacts", &other.token, &json!({"name": "Deles"}))
        .await;
    for (body, field) in [
        (json!({"kind": "party", "title": "x"}), "kind"),
        (json!({"kind": "task", "title": " "}), "title"),
        (
            json!({"kind": "task", "title": "x", "due_at": "amanhã"}),
            "due_at",
        ),
        (
            json!({"kind": "task", "title": "x", "contact_id": "nope"}),
            "contact_id",
        ),
        (
            json!({"kind": "task", "title": "x", "contact_id": foreign["id"]}),
            "contact_id",
        ),
        (
            json!({"kind": "task", "title": "x", "user_id": other.user_id}),
            "user_id",
        ),
        (
            json!({"kind": "task", "title": "x", "conversation_id": "0192f0a0-0000-7000-8000-000000000000"}),
            "conversation_id",
        ),
    ] {
        let (status, error) = app.post("/api/v1/activities", &admin.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }

    let list = |query: String| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            let (status, page) = app
                .get(&format!("/api/v1/activities?{query}"), &token)
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            items(&page)
                .iter()
                .map(|a| a["title"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(format!("contact_id={contact_id}")).await.len(), 2);
    assert_eq!(list("kind=call".into()).await, vec!["Ligar para Carla"]);
    assert_eq!(
        list(format!("user_id={}", agent.user_id)).await,
        vec!["Ligar para Carla"]
    );
    assert_eq!(
        list("due_before=2026-05-11T00:00:00Z".into()).await,
        vec!["Ligar para Carla"]
    );
    assert!(list("due_after=2026-05-11T00:00:00Z".into())
        .await
        .is_empty());
    let (status, _) = app.get("/api/v1/activities?done=maybe", &admin.token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, done) = app
        .patch(
            &format!("/api/v1/activities/{call_id}"),
            &agent.token,
            &json!({"done": true, "due_at": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["done"], true);
    assert_eq!(done["due_at"], Value::Null);
    assert_eq!(list("done=true".into()).await, vec!["Ligar para Carla"]);
    let (status, _) = app
        .patch(
            &format!("/api/v1/activities/{call_id}"),
            &admin.token,
            &json!({"user_id": other.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = app
        .get(&format!("/api/v1/activities/{call_id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/activities/{call_id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/activities/{call_id}"), &agent.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        list(format!("contact_id={contact_id}")).await,
        vec!["Prefere WhatsApp"]
    );

    // Distribution settings stay reachable beside the resources they route by.
    let (status, settings) = app.get("/api/v1/settings/distribution", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    // A refused setting names its field exactly, so a form can show the error beside it.
    let mut preferring = settings.clone();
    preferring["prefer_ai"] = json!(true);
    preferring["assign_to_ai_agent"] = json!(false);
    let (status, error) = put(
        &app,
        "/api/v1/settings/distribution",
        &admin.token,
        &preferring,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "prefer_ai", "{error}");
    let (status, _) = put(
        &app,
        "/api/v1/settings/distribution",
        &admin.token,
        &settings,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
