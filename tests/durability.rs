//! Invariant 1: an acknowledged message survives a crash. The engine runs as a real process,
//! is killed with SIGKILL while a customer message waits in its context timer, and is
//! started again: the message is answered.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{eventually, SECRET};
use support::scripted_llm::ScriptedLlm;
use support::{TestDb, ADMIN_EMAIL, ADMIN_PASSWORD};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(db: &TestDb, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_atende"))
        .env("ATENDE_ENV", "test")
        .env("ATENDE_CONFIG_DIR", support::config_dir())
        .env("ATENDE__DATABASE__URL", db.url())
        .env("ATENDE__SERVER__PORT", port.to_string())
        .env("ATENDE__BOOTSTRAP__TENANT", "tenant-a")
        .env("ATENDE__BOOTSTRAP__ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ATENDE__BOOTSTRAP__ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("engine starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let ok = eventually(Duration::from_secs(30), &mut || async {
        match http.get(format!("{base}/ready")).send().await {
            Ok(r) if r.status() == StatusCode::OK => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(ok.is_some(), "engine did not become ready");
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

#[actix_web::test]
async fn a_buffered_message_is_answered_after_sigkill_and_restart() {
    let db = TestDb::create();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let llm = ScriptedLlm::start().await;

    let mut engine = start(&db, port);
    wait_healthy(&http, &base).await;
    let login: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token").to_string();
    let agent = post(
        &http,
        format!("{base}/api/v1/agents"),
        &token,
        json!({
            "name": "Bot", "model": "gpt-4o-mini", "max_tokens": 50,
            "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-test"},
            "settings": {"context_timer_seconds": 3},
        }),
    )
    .await;
    let integration = post(
        &http,
        format!("{base}/api/v1/integrations"),
        &token,
        json!({
            "kind": "generic", "name": "web", "secret": SECRET, "default_agent_id": agent["id"],
        }),
    )
    .await;

    let body = json!({"contact": {"external_id": "c1"}, "message": {"external_id": "m1", "text": "meu pedido não chegou"}}).to_string();
    let signature = atende::channels::signature::sign(SECRET.as_bytes(), body.as_bytes());
    let response = http
        .post(format!(
            "{base}/webhooks/generic/{}",
            integration["id"].as_str().expect("id")
        ))
        .header("X-Atende-Signature", signature)
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.expect("json");

    // Killed inside the context window: the turn never started.
    engine.kill().expect("SIGKILL");
    engine.wait().expect("reaped");
    assert_eq!(llm.request_count(), 0);

    let mut engine = start(&db, port);
    wait_healthy(&http, &base).await;
    assert_eq!(
        llm.wait_for_requests(1, Duration::from_secs(20)).await,
        1,
        "the buffered message was answered"
    );
    assert_eq!(
        llm.requests()[0].last_user_message().as_deref(),
        Some("meu pedido não chegou")
    );

    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let replied = eventually(Duration::from_secs(10), &mut || {
        let url = format!("{base}/api/v1/conversations/{conversation}/messages");
        let http = &http;
        let token = &token;
        async move {
            let page: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let items = page["items"].as_array()?.clone();
            items
                .iter()
                .any(|m| m["sender_type"] == "ai_agent")
                .then_some(items)
        }
    })
    .await
    .expect("reply stored after restart");
    assert_eq!(
        replied
            .iter()
            .filter(|m| m["sender_type"] == "contact")
            .count(),
        1
    );
    engine.kill().expect("stop");
    let _ = engine.wait();
}
