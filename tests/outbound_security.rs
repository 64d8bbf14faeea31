//! Issue 12, findings 1 and 2, over real HTTP: the operator's default LLM key only ever goes
//! to the default base URL; a stored secret does not follow its URL to another host; a
//! provider `base_url` is a plain http(s) root; the chat stream never echoes what the
//! provider answered.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::raw_http::{RawServer, Reply};
use support::{Session, TestApp};

const DEFAULT_KEY: &str = "sk-operator-default-0123456789";
const SECRET: &str = "0123456789abcdef0123";

/// An OpenAI-style refusal: permanent (no retries) and carrying words of the listener's
/// choosing, which must never reach the chat stream's client.
fn refusal(message: &str) -> Reply {
    Reply::json(
        401,
        &json!({"error": {"message": message, "type": "invalid_request_error",
            "code": "invalid_api_key"}})
        .to_string(),
    )
}

async fn create_agent(app: &TestApp, admin: &Session, provider: Value) -> String {
    let (status, agent) = app
        .post(
            "/api/v1/agents",
            &admin.token,
            &json!({"name": "Bot", "model": "gpt-4o-mini", "provider": provider}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().expect("id").to_string()
}

/// Runs one streamed chat and returns the SSE body once the stream has ended.
async fn chat(app: &TestApp, admin: &Session, agent: &str) -> String {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/agents/{agent}/chat/stream")))
        .bearer_auth(&admin.token)
        .json(&json!({"messages": [{"role": "user", "content": "oi"}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("body")
}

fn error_event(body: &str) -> Value {
    let frame = body
        .split("\n\n")
        .find(|f| f.contains("event: error"))
        .unwrap_or_else(|| panic!("no error event in {body}"));
    let data = frame
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    serde_json::from_str::<Value>(data).expect("json")["data"].clone()
}

fn authorizations(server: &RawServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .flat_map(|r| r.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .collect()
}

#[actix_web::test]
async fn the_default_key_goes_only_to_the_default_base_url() {
    let operator = RawServer::start(refusal("operator endpoint")).await;
    let tenant = RawServer::start(refusal("tenant endpoint")).await;
    let app = TestApp::spawn_with(&[
        ("llm.default_api_key", DEFAULT_KEY),
        ("llm.default_base_url", &operator.url("/v1")),
    ])
    .await;
    let admin = app.admin().await;

    // A tenant-chosen URL, no key of its own: the call goes out without the operator's key.
    let stolen = create_agent(
        &app,
        &admin,
        json!({"kind": "openai", "base_url": tenant.url("/anything")}),
    )
    .await;
    chat(&app, &admin, &stolen).await;
    assert_eq!(tenant.requests().len(), 1, "the tenant URL was called");
    let seen = authorizations(&tenant);
    assert!(
        seen.iter().all(|h| !h.contains(DEFAULT_KEY)),
        "the default key reached a tenant URL: {seen:?}"
    );

    // The same port on another path is still not the default endpoint.
    let sideways = create_agent(
        &app,
        &admin,
        json!({"kind": "openai", "base_url": operator.url("/other")}),
    )
    .await;
    chat(&app, &admin, &sideways).await;
    assert_eq!(operator.requests().len(), 1);
    assert!(authorizations(&operator)
        .iter()
        .all(|h| !h.contains(DEFAULT_KEY)));

    // Control: an agent on the default URL does get it, so the listener would have seen it.
    let operators = create_agent(&app, &admin, json!({"kind": "openai"})).await;
    chat(&app, &admin, &operators).await;
    assert_eq!(operator.requests().len(), 2);
    let seen = authorizations(&operator);
    assert!(
        seen.last()
            .is_some_and(|h| h.ends_with(&format!("Bearer {DEFAULT_KEY}"))),
        "{seen:?}"
    );
}

#[actix_web::test]
async fn the_chat_stream_shows_the_classified_failure_not_the_upstream_body() {
    let upstream = RawServer::start(Reply::json(
        400,
        &json!({"error": {"message": "INTERNAL-PAGE 10.0.0.7 admin console",
            "type": "invalid_request_error"}})
        .to_string(),
    ))
    .await;
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = create_agent(
        &app,
        &admin,
        json!({"kind": "openai", "base_url": upstream.url("/v1"), "api_key": "sk-tenant-1234"}),
    )
    .await;
    let body = chat(&app, &admin, &agent).await;
    assert_eq!(upstream.requests().len(), 1);
    let error = error_event(&body);
    assert_eq!(error["code"], "PROVIDER_ERROR", "{error}");
    assert_eq!(error["reason"], "bad_response", "{error}");
    assert!(
        !body.contains("INTERNAL-PAGE") && !body.contains("10.0.0.7"),
        "the upstream body was echoed: {body}"
    );
}

#[actix_web::test]
async fn a_provider_base_url_is_a_plain_http_root() {
    let app = TestApp::spawn_with(&[("outbound.allow_private_targets", "false")]).await;
    let admin = app.admin().await;
    for bad in [
        "http://203.0.113.9:8080/anything?q=",
        "https://203.0.113.9/v1#fragment",
        "https://user:pw@203.0.113.9/v1",
        "ftp://203.0.113.9/v1",
        "http://127.0.0.1:9/v1",
        "http://[::ffff:10.0.0.1]/v1",
    ] {
        let (status, error) = app
            .post(
                "/api/v1/agents",
                &admin.token,
                &json!({"name": "Bot", "provider": {"kind": "openai", "base_url": bad}}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert_eq!(error["details"]["field"], "provider.base_url", "{error}");
    }
    let agent = create_agent(
        &app,
        &admin,
        json!({"kind": "openai", "base_url": "https://203.0.113.9/v1", "api_key": "sk-a-123"}),
    )
    .await;
    let (status, error) = app
        .patch(
            &format!("/api/v1/agents/{agent}"),
            &admin.token,
            &json!({"provider": {"base_url": "https://203.0.113.9/v1?x=/"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "provider.base_url", "{error}");
    let (_, view) = app
        .get(&format!("/api/v1/agents/{agent}"), &admin.token)
        .await;
    assert_eq!(view["provider"]["base_url"], "https://203.0.113.9/v1");
    assert_eq!(view["provider"]["has_api_key"], true);
}

#[actix_web::test]
async fn an_agent_key_does_not_follow_its_base_url_to_another_host() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = create_agent(
        &app,
        &admin,
        json!({"kind": "openai", "base_url": "https://llm.a.example/v1", "api_key": "sk-a-123"}),
    )
    .await;
    let path = format!("/api/v1/agents/{agent}");
    let patch = |body: Value| {
        let (app, path, token) = (&app, &path, &admin.token);
        async move {
            let (status, view) = app.patch(path, token, &body).await;
            assert_eq!(status, StatusCode::OK, "{body}: {view}");
            view["provider"]["has_api_key"].as_bool().expect("flag")
        }
    };
    assert!(
        patch(json!({"provider": {"base_url": "https://LLM.a.example:443/v2"}})).await,
        "same origin keeps the key"
    );
    assert!(
        !patch(json!({"provider": {"base_url": "https://llm.b.example/v1"}})).await,
        "another host drops it"
    );
    assert!(
        patch(json!({"provider": {"base_url": "https://llm.c.example/v1", "api_key": "sk-c-1"}}))
            .await,
        "a new key comes with the move"
    );
    assert!(
        !patch(json!({"provider": {"base_url": "http://llm.c.example/v1"}})).await,
        "another scheme is another origin"
    );
}

#[actix_web::test]
async fn an_integration_key_must_be_given_again_for_another_host() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app
        .create_integration(
            &admin,
            json!({"kind": "evolution", "name": "zap", "base_url": "https://evo.a.example/api",
                "api_key": "evo-key-123", "instance": "main"}),
        )
        .await;
    let path = format!(
        "/api/v1/integrations/{}",
        integration["id"].as_str().expect("id")
    );
    let (status, view) = app
        .patch(
            &path,
            &admin.token,
            &json!({"base_url": "https://evo.a.example/v2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["has_api_key"], true);

    let (status, error) = app
        .patch(
            &path,
            &admin.token,
            &json!({"base_url": "https://evo.b.example/api"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "api_key", "{error}");
    let (_, view) = app.get(&path, &admin.token).await;
    assert_eq!(
        view["base_url"], "https://evo.a.example/v2",
        "nothing changed"
    );

    let (status, view) = app
        .patch(
            &path,
            &admin.token,
            &json!({"base_url": "https://evo.b.example/api", "api_key": "evo-key-b"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["base_url"], "https://evo.b.example/api");
    assert_eq!(view["has_api_key"], true);
}

#[actix_web::test]
async fn a_webhook_secret_must_be_given_again_for_another_host() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, hook) = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": "https://hooks.a.example/x", "events": ["conversation_started"],
                "secret": SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().expect("id"));
    let (status, view) = app
        .patch(
            &path,
            &admin.token,
            &json!({"url": "https://hooks.a.example/y"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (status, error) = app
        .patch(
            &path,
            &admin.token,
            &json!({"url": "https://hooks.b.example/y"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "secret", "{error}");
    let (_, view) = app.get(&path, &admin.token).await;
    assert_eq!(view["url"], "https://hooks.a.example/y", "nothing changed");
    let (status, view) = app
        .patch(
            &path,
            &admin.token,
            &json!({"url": "https://hooks.b.example/y", "secret": "another-secret-0123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["url"], "https://hooks.b.example/y");
}

#[actix_web::test]
async fn tool_secrets_do_not_follow_the_url_to_another_host() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, tool) = app
        .post(
            "/api/v1/tools",
            &admin.token,
            &json!({"name": "pedido", "tool_type": "http", "description": "x",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
                "config": {"url": "https://api.a.example/o/{{id}}",
                    "headers": {"Authorization": "Bearer tool-token"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tool}");
    let path = format!("/api/v1/tools/{}", tool["id"].as_str().expect("id"));
    // Same origin: the redacted header is kept.
    let (status, view) = app
        .patch(
            &path,
            &admin.token,
            &json!({"config": {"url": "https://api.a.example/v2/{{id}}",
                "headers": {"Authorization": "[redacted]"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["config"]["headers"]["Authorization"], "[redacted]");

    // Another host: the header the admin did not enter again is dropped.
    let (status, view) = app
        .patch(
            &path,
            &admin.token,
            &json!({"config": {"url": "https://api.b.example/o/{{id}}",
                "headers": {"Authorization": "[redacted]"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(
        view["config"]["headers"].get("Authorization").is_none(),
        "{view}"
    );

    let (status, hook) = app
        .post(
            "/api/v1/tools",
            &admin.token,
            &json!({"name": "avisar", "tool_type": "webhook", "description": "x",
                "parameters": {"type": "object", "properties": {}},
                "config": {"url": "https://hook.a.example/x", "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_path = format!("/api/v1/tools/{}", hook["id"].as_str().expect("id"));
    let (status, error) = app
        .patch(
            &hook_path,
            &admin.token,
            &json!({"config": {"url": "https://hook.b.example/x", "secret": "[redacted]"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "config", "{error}");
    let (status, view) = app
        .patch(
            &hook_path,
            &admin.token,
            &json!({"config": {"url": "https://hook.b.example/x", "secret": "new-secret-0123456"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["config"]["url"], "https://hook.b.example/x");
}

/// Finding 5: a webhook receiver that answers a huge error body costs the engine only the
/// excerpt's few bytes: the attempt logs a short excerpt, and the engine hung up on the
/// body long before its end.
#[actix_web::test]
async fn a_webhook_receivers_huge_answer_is_read_only_to_its_excerpt() {
    const MIB: u64 = 1024 * 1024;
    // One attempt in this test's time: the retry waits a minute.
    let app = TestApp::spawn_with(&[("webhooks.backoff_initial_ms", "60000")]).await;
    let admin = app.admin().await;
    let receiver = RawServer::start(Reply::Huge {
        status: 500,
        content_type: "text/html".into(),
        total: 256 * MIB,
        fill: b'a',
        with_length: false,
    })
    .await;
    let hook = support::engine::create(
        &app,
        &admin,
        "/api/v1/webhooks",
        &json!({"url": receiver.url("/hook"), "events": ["conversation_started"],
            "secret": SECRET}),
    )
    .await;
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "site", "secret": support::engine::SECRET}),
    )
    .await;
    app.signed_webhook(
        &integration,
        &support::webhook::generic_body("c-huge", None, "m-huge", "oi"),
    )
    .await;

    let written = receiver
        .wait_finished(1, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(written.len(), 1, "one attempt answered: {written:?}");
    assert!(
        written[0] < 16 * MIB,
        "the engine read {} bytes",
        written[0]
    );
    let path = format!("/api/v1/webhooks/{hook}/deliveries");
    let attempt = support::engine::eventually(std::time::Duration::from_secs(15), &mut || async {
        let (_, page) = app.get(&path, &admin.token).await;
        page["items"][0]["attempt_log"][0]
            .get("status_code")
            .is_some()
            .then(|| page["items"][0]["attempt_log"][0].clone())
    })
    .await
    .expect("the attempt is logged");
    assert_eq!(attempt["status_code"], 500, "{attempt}");
    let excerpt = attempt["response_excerpt"].as_str().expect("an excerpt");
    assert!(
        !excerpt.is_empty() && excerpt.chars().count() <= 200,
        "{} chars",
        excerpt.chars().count()
    );
}

/// Finding 12: `HTTP(S)_PROXY` in the engine's environment would send outside calls through
/// a proxy that resolves names itself, past the guard. A plain client takes the proxy (so
/// this test can tell); the outbound client goes straight to the target.
#[actix_web::test]
async fn outbound_clients_ignore_the_environments_proxy() {
    let proxy = RawServer::start(Reply::json(200, r#"{"via":"proxy"}"#)).await;
    let target = RawServer::start(Reply::json(200, r#"{"via":"target"}"#)).await;
    // nextest runs each test in its own process: the variables reach no other test.
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::set_var(name, proxy.url(""));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(name);
    }
    let via = |client: reqwest::Client| {
        let url = target.url("/x");
        async move {
            let body: Value = client
                .get(url)
                .send()
                .await
                .expect("answered")
                .json()
                .await
                .expect("json");
            body["via"].as_str().unwrap_or_default().to_string()
        }
    };
    assert_eq!(via(reqwest::Client::new()).await, "proxy");
    let outbound = atende::outbound::client(&atende::outbound::ClientSpec {
        user_agent: "atende-test",
        timeout: Some(std::time::Duration::from_secs(5)),
        connect_timeout: std::time::Duration::from_secs(5),
        allow_private: true,
    })
    .expect("client");
    assert_eq!(via(outbound).await, "target");
    assert_eq!(proxy.requests().len(), 1, "only the plain client's call");
}
