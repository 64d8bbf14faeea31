//! The console as served by the engine: first-run set-up, pages and their headers, hashed
//! assets and their encodings, the customer's chat page, the API reference offline, and the
//! OpenAPI document the console's types are generated from.

mod support;

use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

/// An app on an empty store (no bootstrap admin), and its set-up code.
async fn fresh_app() -> (String, String, TestDb) {
    let db = TestDb::create();
    let settings = test_settings(
        &db.url(),
        &[
            ("bootstrap.admin_email", ""),
            ("bootstrap.admin_password", ""),
        ],
    );
    let app = atende::app::Application::build(settings)
        .await
        .expect("application starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let code = app.setup_code();
    actix_web::rt::spawn(app.run_until_stopped());
    (base, code, db)
}

async fn post_json(base: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get_json(base: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn setup_body(code: &str) -> Value {
    json!({"code": code, "tenant": "Loja Exemplo", "name": "Ana Admin",
           "email": "ana@example.com", "password": "a-long-password"})
}

#[actix_web::test]
async fn first_run_set_up_needs_the_code_from_the_log_and_happens_once() {
    let (base, code, db) = fresh_app().await;
    assert_eq!(
        get_json(&base, "/api/v1/setup", None).await,
        (StatusCode::OK, json!({"needed": true}))
    );

    let (status, body) =
        post_json(&base, "/api/v1/setup", &setup_body("WRONG-CODE-0000-0000")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "FORBIDDEN");
    assert_eq!(
        get_json(&base, "/api/v1/setup", None).await.1,
        json!({"needed": true}),
        "a wrong code creates nothing"
    );

    let mut bad = setup_body(&code);
    bad["email"] = json!("not-an-email");
    let (status, body) = post_json(&base, "/api/v1/setup", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"]["field"], "email");

    // The code is accepted however it is typed (lowercase, without dashes).
    let typed = code.replace('-', "").to_lowercase();
    let (status, session) = post_json(&base, "/api/v1/setup", &setup_body(&typed)).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["user"]["role"], "admin");
    assert_eq!(session["user"]["email"], "ana@example.com");
    let token = session["token"].as_str().expect("token");
    let (status, users) = get_json(&base, "/api/v1/users", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users["items"].as_array().map(Vec::len), Some(1));

    assert_eq!(
        get_json(&base, "/api/v1/setup", None).await.1,
        json!({"needed": false})
    );
    let (status, body) = post_json(&base, "/api/v1/setup", &setup_body(&code)).await;
    assert_eq!(status, StatusCode::CONFLICT, "set-up runs once: {body}");

    // The admin signs in with the password chosen at set-up.
    let (status, _) = post_json(
        &base,
        "/api/v1/auth/token",
        &json!({"email": "ana@example.com", "password": "a-long-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    db.destroy();
}

#[actix_web::test]
async fn set_up_is_refused_when_a_user_exists() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .call(reqwest::Method::GET, "/api/v1/setup", None, None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"needed": false})));
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/setup",
            None,
            Some(&setup_body("ABCD-EFGH-JKLM-NPQR")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn browser_get(app: &TestApp, path: &str, encoding: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .header(header::ACCEPT_ENCODING, encoding)
        .send()
        .await
        .expect("request")
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[actix_web::test]
async fn pages_are_served_with_a_strict_policy_and_client_routes_fall_back_to_the_console() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/inbox/queue",
        "/c/some-conversation",
        "/login",
        "/setup",
    ] {
        let response = browser_get(&app, path, "identity").await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header_of(&response, header::CONTENT_TYPE).starts_with("text/html"));
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
        let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains(&format!("ws://127.0.0.1:{}", app.port)),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let body = response.text().await.expect("body");
        if atende::console::assets::built() {
            assert!(body.contains(r#"<div id="app">"#), "{body}");
            assert!(!body.contains("<script>"), "no inline script");
        } else {
            assert!(body.contains("console was not built"), "{body}");
        }
    }
    // API paths and non-browser clients keep the JSON 404.
    let response = browser_get(&app, "/api/v1/nothing-here", "identity").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "NOT_FOUND");
    let (status, body) = app
        .call(reqwest::Method::GET, "/inbox/queue", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NOT_FOUND");
}

#[actix_web::test]
async fn hashed_assets_are_immutable_and_precompressed() {
    if !atende::console::assets::built() {
        eprintln!("console not built into this binary (no npm at build time): skipping");
        return;
    }
    let app = TestApp::spawn().await;
    let page = browser_get(&app, "/", "identity")
        .await
        .text()
        .await
        .expect("page");
    let script = page
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads a script")
        .to_string();
    assert!(script.starts_with("/assets/"), "{script}");

    let plain = browser_get(&app, &script, "identity").await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(
        header_of(&plain, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(header_of(&plain, header::CONTENT_TYPE).contains("javascript"));
    assert_eq!(header_of(&plain, header::CONTENT_ENCODING), "");
    let plain_len = plain.bytes().await.expect("bytes").len();

    for (accept, expected) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
        // reqwest here decodes nothing (no compression features), so lengths are on the wire.
        let response = browser_get(&app, &script, accept).await;
        assert_eq!(header_of(&response, header::CONTENT_ENCODING), expected);
        assert!(header_of(&response, header::VARY).contains("Accept-Encoding"));
        let len = response.bytes().await.expect("bytes").len();
        assert!(len < plain_len, "{expected}: {len} < {plain_len}");
    }

    let missing = browser_get(&app, "/assets/nothing-1234.js", "identity").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let widget = browser_get(&app, "/widget.js", "identity").await;
    assert_eq!(widget.status(), StatusCode::OK);
    assert!(!header_of(&widget, header::CACHE_CONTROL).contains("immutable"));
    // Other sites' pages load it: it says its encoding rather than taking theirs.
    assert!(
        header_of(&widget, header::CONTENT_TYPE).ends_with("charset=utf-8"),
        "{}",
        header_of(&widget, header::CONTENT_TYPE)
    );
    let source = widget.text().await.expect("widget");
    assert!(!source.contains("import "), "widget.js is a classic script");
}

#[actix_web::test]
async fn the_public_agent_url_is_a_chat_page_for_browsers_and_json_for_programs() {
    let app = TestApp::spawn().await;
    let response = browser_get(&app, "/a/some-agent", "identity").await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("frame-ancestors *"),
        "the widget frames it: {csp}"
    );
    if atende::console::assets::built() {
        let body = response.text().await.expect("body");
        assert!(body.contains(r#"<div id="chat">"#), "{body}");
    }
    let json = app
        .http
        .get(app.url("/a/some-agent"))
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(json.status(), StatusCode::NOT_FOUND);
    let body: Value = json.json().await.expect("json");
    assert_eq!(body["code"], "NOT_FOUND");
}

#[actix_web::test]
async fn the_api_reference_loads_nothing_from_another_origin() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/docs/")).send().await.expect("docs");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(!html.contains("https://"), "{html}");
    assert!(!html.contains("http://"), "{html}");
    let scripts: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!scripts.is_empty(), "{html}");
    for script in scripts {
        let url = if script.starts_with('/') {
            app.url(script)
        } else {
            app.url(&format!("/docs/{}", script.trim_start_matches("./")))
        };
        let response = app.http.get(url).send().await.expect("script");
        assert_eq!(response.status(), StatusCode::OK, "{script}");
    }
}

#[test]
fn the_consoles_copy_of_the_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/web/src/api/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = atende::api::openapi::document_json();
    assert!(
        committed == current,
        "web/src/api/openapi.json is stale: run `cargo run -- openapi > web/src/api/openapi.json` \
         (the console's API types are generated from it)"
    );
}

#[actix_web::test]
async fn an_agent_takes_a_queued_conversation_and_nobody_else_can() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let webchat = app
        .create_integration(&admin, json!({"kind": "webchat", "name": "Site"}))
        .await;
    let integration = webchat["id"].as_str().expect("id");
    let (status, session) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webchat/{integration}/session"),
            None,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let conversation = session["conversation_id"].as_str().expect("conversation");
    let ana = app.user_with_role(&admin, "agent", "ana@example.com").await;
    let bia = app.user_with_role(&admin, "agent", "bia@example.com").await;

    let path = format!("/api/v1/conversations/{conversation}/take");
    let (status, taken) = app.post(&path, &ana.token, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["owner"], json!({"type": "user", "id": ana.user_id}));
    // Taking one's own again is harmless; another agent may not take it (409: taken).
    let (status, _) = app.post(&path, &ana.token, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&path, &bia.token, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], json!("CONFLICT"));
    let (_, still) = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &admin.token,
        )
        .await;
    assert_eq!(still["owner"]["id"], json!(ana.user_id));

    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/close"),
            &ana.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&path, &admin.token, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
