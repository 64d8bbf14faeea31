//! The real `atende` binary as a process of its own (a node): `serve` on a free port against
//! a given database, configured through `ATENDE__…` variables, stopped with a signal. For
//! what only a process shows: signals, exit codes and timing, and several nodes on one
//! database.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::{config_dir, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Longest wait for one answer of a node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Node {
    child: Child,
    pub port: u16,
    pub http: reqwest::Client,
}

/// A port nothing listens on now (the node binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The command for `atende` against `db_url` in the test environment, with `env` on top.
pub fn command(db_url: &str, env: &[(&str, &str)]) -> Command {
    // ATENDE_TEST_BIN: a copy of the binary, where several checkouts share one target dir.
    let binary =
        std::env::var("ATENDE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_atende").into());
    let mut cmd = Command::new(binary);
    cmd.env("ATENDE_ENV", "test")
        .env("ATENDE_CONFIG_DIR", config_dir())
        .env("ATENDE__DATABASE__URL", db_url)
        .env("ATENDE__BOOTSTRAP__TENANT", "tenant-a")
        .env("ATENDE__BOOTSTRAP__ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ATENDE__BOOTSTRAP__ADMIN_PASSWORD", ADMIN_PASSWORD);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

impl Node {
    /// Starts a node and waits until it answers `/health`.
    pub async fn start(db_url: &str, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let child = command(db_url, env)
            .env("ATENDE__SERVER__PORT", port.to_string())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("atende starts");
        let mut node = Node {
            child,
            port,
            // A node that never answers fails the test instead of hanging it.
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("an HTTP client"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = node.child.try_wait().expect("waits") {
                panic!("the node exited while starting: {status}");
            }
            if let Ok(response) = node.http.get(node.url("/health")).send().await {
                if response.status().is_success() {
                    return node;
                }
            }
            assert!(Instant::now() < deadline, "the node did not start in 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws?token={token}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `KILL`, `STOP`, `CONT`) to the node.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The node's exit status, if it exits within `wait`.
    pub async fn exited_within(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request reaches the node");
        let status = response.status();
        let bytes = response.bytes().await.expect("response body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The bootstrap admin's token.
    pub async fn admin_token(&self) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Creates a resource that must be created; its id.
    pub async fn create(&self, token: &str, path: &str, body: &Value) -> String {
        let (status, created) = self
            .call(reqwest::Method::POST, path, Some(token), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {created}");
        created["id"].as_str().expect("id").to_string()
    }

    /// An AI agent answering through `llm_base_url` (with `extra` merged in) and a generic
    /// integration (secret [`super::engine::SECRET`]) whose default agent it is: their ids.
    pub async fn agent_and_integration(
        &self,
        token: &str,
        llm_base_url: &str,
        extra: Value,
    ) -> (String, String) {
        let mut body = json!({
            "name": "Bot",
            "model": "gpt-4o-mini",
            "system_prompt": "You are a helpful contact-center agent.",
            "max_tokens": 100,
            "provider": {"kind": "openai", "base_url": llm_base_url, "api_key": "sk-test-key"},
            "settings": {"context_timer_seconds": 0},
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let agent = self.create(token, "/api/v1/agents", &body).await;
        let integration = self
            .create(
                token,
                "/api/v1/integrations",
                &json!({"kind": "generic", "name": "web", "secret": super::engine::SECRET,
                    "default_agent_id": agent}),
            )
            .await;
        (agent, integration)
    }

    /// Posts a signed customer message to the integration; the acceptance.
    pub async fn inbound(
        &self,
        integration: &str,
        contact: &str,
        external_id: &str,
        text: &str,
    ) -> Value {
        let body = super::webhook::generic_body(contact, Some("Cliente"), external_id, text);
        super::webhook::post_signed(
            &self.http,
            &self.url(&format!("/webhooks/generic/{integration}")),
            &body,
        )
        .await
    }
}

impl Node {
    /// [`Node::inbound`] that answers the status instead of requiring acceptance.
    pub async fn try_inbound(
        &self,
        integration: &str,
        contact: &str,
        external_id: &str,
        text: &str,
    ) -> (u16, Value) {
        let body = super::webhook::generic_body(contact, Some("Cliente"), external_id, text);
        super::webhook::try_post_signed(
            &self.http,
            &self.url(&format!("/webhooks/generic/{integration}")),
            &body,
        )
        .await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
