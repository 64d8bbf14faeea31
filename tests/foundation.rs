//! The foundation, end to end over HTTP on both backends: login and expiry, roles, tenant
//! isolation, the error body, readiness, migrations.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error sentence missing: {body}"
    );
}

#[actix_web::test]
async fn health_ready_metrics_and_docs_answer() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
    let (status, body) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["store"], backend());

    let (status, spec) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    assert!(spec["paths"]["/api/v1/users"].is_object());

    let docs = app.http.get(app.url("/docs")).send().await.expect("docs");
    assert_eq!(docs.status(), StatusCode::OK);

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            "atende_http_requests_total{method=\"GET\",route=\"/ready\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("atende_http_request_duration_seconds_bucket"));
}

#[actix_web::test]
async fn login_issues_a_token_and_refuses_bad_credentials() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, me) = app
        .get(&format!("/api/v1/users/{}", admin.user_id), &admin.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["role"], "admin");
    assert!(me.get("password").is_none() && me.get("password_hash").is_none());

    for (email, password) in [
        (ADMIN_EMAIL, "wrong-password"),
        ("nobody@tenant-a.test", ADMIN_PASSWORD),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, "AUTH_ERROR");
    }
}

#[actix_web::test]
async fn expired_and_missing_tokens_are_refused() {
    let app = TestApp::spawn_with(&[("auth.token_ttl_seconds", "1")]).await;
    let admin = app.admin().await;
    let (status, _) = app.get("/api/v1/users", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    // Good until it expires, refused from then on.
    let wait = std::time::Duration::from_secs(10);
    let (status, body) = support::engine::eventually(wait, &mut || async {
        let (status, body) = app.get("/api/v1/users", &admin.token).await;
        (status != StatusCode::OK).then_some((status, body))
    })
    .await
    .expect("the token expired");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "AUTH_ERROR");
    assert_eq!(body["error"], "token expired");

    let (status, body) = app.call(Method::GET, "/api/v1/users", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "AUTH_ERROR");
    let (status, body) = app.get("/api/v1/users", "not-a-jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "AUTH_ERROR");
}

#[actix_web::test]
async fn roles_limit_what_each_user_may_do() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let supervisor = app
        .user_with_role(&admin, "supervisor", "sup@tenant-a.test")
        .await;
    let agent = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;

    // Supervisors see the team; agents do not.
    let (status, list) = app.get("/api/v1/users", &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
    let (status, body) = app.get("/api/v1/users", &agent.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "FORBIDDEN");

    // Only admins create users.
    let new_user =
        json!({"name": "X", "email": "x@tenant-a.test", "password": "password-x", "role": "agent"});
    let (status, body) = app
        .post("/api/v1/users", &supervisor.token, &new_user)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "FORBIDDEN");

    // An agent reads and edits its own profile, but cannot promote itself.
    let own = format!("/api/v1/users/{}", agent.user_id);
    let (status, body) = app.get(&own, &agent.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(
            &own,
            &agent.token,
            &json!({"name": "Agent Renamed", "available": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Agent Renamed");
    assert_eq!(body["available"], false);
    let (status, _) = app
        .patch(&own, &agent.token, &json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get(
            &format!("/api/v1/users/{}", supervisor.user_id),
            &agent.token,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, me) = app.get(&own, &agent.token).await;
    assert_eq!(me["role"], "agent");

    // Admin manages the rest, but not its own deletion.
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", agent.user_id),
            &admin.token,
            &json!({"role": "supervisor", "max_conversations": 7, "specialties": ["vendas"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "supervisor");
    assert_eq!(body["specialties"], json!(["vendas"]));
    let (status, _) = app
        .delete(&format!("/api/v1/users/{}", admin.user_id), &admin.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .delete(&format!("/api/v1/users/{}", agent.user_id), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/api/v1/users/{}", agent.user_id), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn tenants_never_see_each_others_users() {
    let app = TestApp::spawn().await;
    let admin_a = app.admin().await;
    let agent_a = app
        .user_with_role(&admin_a, "agent", "agent@tenant-a.test")
        .await;
    let admin_b = app.other_tenant("tenant-b").await;
    assert_ne!(admin_a.tenant_id, admin_b.tenant_id);

    let (status, list) = app.get("/api/v1/users", &admin_b.token).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["admin@tenant-b.test"]);

    let path = format!("/api/v1/users/{}", agent_a.user_id);
    let (status, body) = app.get(&path, &admin_b.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NOT_FOUND");
    let (status, _) = app
        .patch(&path, &admin_b.token, &json!({"name": "hijacked"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&path, &admin_b.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing changed for tenant A.
    let (status, user) = app.get(&path, &admin_a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["name"], "User agent@tenant-a.test");

    // The same e-mail may exist in two tenants; the password finds the account.
    let (status, _) = app
        .post("/api/v1/users", &admin_b.token,
            &json!({"name": "Twin", "email": "agent@tenant-a.test", "password": "twin-password", "role": "agent"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let twin = app.login("agent@tenant-a.test", "twin-password").await;
    assert_eq!(twin.tenant_id, admin_b.tenant_id);
    let original = app.login("agent@tenant-a.test", "user-password").await;
    assert_eq!(original.tenant_id, admin_a.tenant_id);
}

#[actix_web::test]
async fn bad_input_gets_the_error_body_and_changes_nothing() {
    let app = TestApp::spawn_with(&[("server.max_body_bytes", "4096")]).await;
    let admin = app.admin().await;

    let raw = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.expect("json body");
    assert_error(&body, "VALIDATION_ERROR");

    let (status, body) = app
        .post("/api/v1/users", &admin.token,
            &json!({"name": "A", "email": "a@tenant-a.test", "password": "password", "role": "agent", "is_root": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("is_root")));

    let (status, body) = app
        .post(
            "/api/v1/users",
            &admin.token,
            &json!({"name": "A", "email": "not-an-email", "password": "password", "role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "VALIDATION_ERROR");
    assert_eq!(body["details"]["field"], "email");

    let (status, body) = app
        .post("/api/v1/users", &admin.token,
            &json!({"name": "A", "email": "a@tenant-a.test", "password": "password", "role": "overlord"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "VALIDATION_ERROR");

    let big = "x".repeat(10_000);
    let (status, body) = app
        .post("/api/v1/users", &admin.token,
            &json!({"name": big, "email": "b@tenant-a.test", "password": "password", "role": "agent"}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "PAYLOAD_TOO_LARGE");

    let (status, body) = app.get("/api/v1/users/not-a-uuid", &admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NOT_FOUND");

    let (status, body) = app.get("/api/v1/users?limit=100000", &admin.token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "VALIDATION_ERROR");

    let (status, body) = app.call(Method::GET, "/no/such/route", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NOT_FOUND");

    // A duplicate e-mail is a conflict; none of the above created anything.
    let (status, body) = app
        .post(
            "/api/v1/users",
            &admin.token,
            &json!({"name": "Dup", "email": ADMIN_EMAIL, "password": "password", "role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "CONFLICT");
    let (_, list) = app.get("/api/v1/users", &admin.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn pagination_walks_every_user_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for i in 0..4 {
        app.user_with_role(&admin, "agent", &format!("a{i}@tenant-a.test"))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_string(),
        };
        let (status, page) = app.get(&path, &admin.token).await;
        assert_eq!(status, StatusCode::OK);
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen.len(), 5);
    assert_eq!(unique.len(), 5);
}

#[actix_web::test]
async fn ready_turns_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let (status, _) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);
    app.db.destroy();
    let (status, body) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "SERVICE_UNAVAILABLE");
    // Liveness is not readiness: the process still answers.
    let (status, _) = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn migrations_are_idempotent() {
    let app = TestApp::spawn().await;
    let applied = app
        .store
        .run(atende::store::pool::run_migrations)
        .await
        .expect("migrations rerun");
    assert_eq!(applied, 0);
    // A second engine on the same database starts cleanly and keeps the data.
    let again = atende::app::Application::build(app.settings.clone())
        .await
        .expect("second start on a migrated database");
    let count = again
        .store()
        .run(atende::store::tenants::count)
        .await
        .expect("count");
    assert_eq!(count, 1);
}
