//! Engine fixtures: an AI agent speaking to the scripted LLM, a generic integration, signed
//! inbound webhooks and polling helpers.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::{Session, TestApp};
use super::scripted_llm::ScriptedLlm;

pub const SECRET: &str = "integration-secret-for-tests";

pub struct Fixture {
    pub app: TestApp,
    pub llm: ScriptedLlm,
    pub admin: Session,
    pub agent_id: String,
    pub integration_id: String,
}

/// An app, a scripted LLM, an agent with `agent` merged into its defaults and a generic
/// integration whose default agent it is.
pub async fn fixture(overrides: &[(&str, &str)], agent: Value) -> Fixture {
    let llm = ScriptedLlm::start().await;
    // The scripted LLM is the operator's endpoint, so it is reachable on loopback even with
    // private targets refused (tenant-chosen provider URLs are not); overrides may change it.
    let mut all = vec![("llm.default_base_url", llm.base_url.as_str())];
    all.extend_from_slice(overrides);
    let app = TestApp::spawn_with(&all).await;
    let admin = app.admin().await;
    let mut body = json!({
        "name": "Bot",
        "model": "gpt-4o-mini",
        "system_prompt": "You are a helpful contact-center agent.",
        "max_tokens": 100,
        "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-test-key"},
        "settings": {"context_timer_seconds": 0},
    });
    merge(&mut body, agent);
    let agent_id = create(&app, &admin, "/api/v1/agents", &body).await;
    let integration_id = create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": SECRET, "default_agent_id": agent_id}),
    )
    .await;
    Fixture {
        app,
        llm,
        admin,
        agent_id,
        integration_id,
    }
}

pub async fn create(app: &TestApp, admin: &Session, path: &str, body: &Value) -> String {
    let (status, created) = app.post(path, &admin.token, body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {created}");
    created["id"].as_str().expect("id").to_string()
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (k, v) in extra {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, value) => *slot = value,
    }
}

impl Fixture {
    /// Gives the fixture's integration an outbound channel: replies are POSTed to the
    /// returned receiver (`/out`).
    pub async fn with_channel(&self) -> super::receiver::ScriptedReceiver {
        let receiver = super::receiver::ScriptedReceiver::start(&[]).await;
        let (status, body) = self
            .app
            .patch(
                &format!("/api/v1/integrations/{}", self.integration_id),
                &self.admin.token,
                &json!({"outbound_url": receiver.url("/out")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        receiver
    }

    /// Switches the tenant's CSAT on, asking `question` on close.
    pub async fn csat_on(&self, question: &str) {
        let (status, body) = self
            .app
            .patch(
                "/api/v1/settings",
                &self.admin.token,
                &json!({"csat": {"enabled": true, "question": question}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Posts a customer message (signed) that must be accepted; returns its conversation.
    pub async fn conversation_of(&self, contact: &str, external_id: &str, text: &str) -> String {
        let (status, accepted) = self.inbound(contact, external_id, text).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        accepted["conversation_id"]
            .as_str()
            .expect("conversation id")
            .to_string()
    }

    /// Creates a tool and attaches it to the fixture's agent; returns the tool's id.
    pub async fn attach_tool(&self, body: &Value) -> String {
        let id = create(&self.app, &self.admin, "/api/v1/tools", body).await;
        let (status, attached) = self
            .app
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/agents/{}/tools/{id}", self.agent_id),
                Some(&self.admin.token),
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{attached}");
        id
    }

    /// Posts a signed generic webhook; returns status and body.
    pub async fn inbound(
        &self,
        contact: &str,
        external_id: &str,
        text: &str,
    ) -> (StatusCode, Value) {
        let name = format!("Customer {contact}");
        let body =
            super::webhook::generic_body(contact, Some(&name), external_id, text).to_string();
        self.inbound_raw(
            &body,
            Some(&atende::channels::signature::sign(
                SECRET.as_bytes(),
                body.as_bytes(),
            )),
        )
        .await
    }

    pub async fn inbound_raw(&self, body: &str, signature: Option<&str>) -> (StatusCode, Value) {
        self.app
            .post_webhook(&self.integration_id, body, signature)
            .await
    }

    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (status, page) = self
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}/messages?limit=500"),
                &self.admin.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn conversation(&self, conversation: &str) -> Value {
        let (status, body) = self
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}"),
                &self.admin.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Closes a conversation as the admin; the close must succeed.
    pub async fn close(&self, conversation: &str) -> Value {
        let (status, body) = self
            .app
            .post(
                &format!("/api/v1/conversations/{conversation}/close"),
                &self.admin.token,
                &serde_json::json!({"reason": "resolved"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Turns logged with `status` ("ok", "limited", …) across all conversations.
    pub async fn turns_with_status(&self, status: &str) -> usize {
        let status = status.to_string();
        self.app
            .store
            .run(move |conn| {
                use atende::store::schema::ai_turns;
                use diesel::prelude::*;
                let count: i64 = atende::db_run!(conn, |c| ai_turns::table
                    .filter(ai_turns::status.eq(&status))
                    .count()
                    .get_result(c))?;
                Ok(usize::try_from(count).unwrap_or(usize::MAX))
            })
            .await
            .expect("turns counted")
    }

    /// Waits until at least `count` turns were logged with `status`; panics after `timeout`.
    pub async fn wait_for_turns(&self, status: &str, count: usize, timeout: Duration) {
        self.eventually(timeout, || async {
            (self.turns_with_status(status).await >= count).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{count} `{status}` turns were logged"));
    }

    /// Waits until no conversation actor is live (all passivated); panics after `timeout`.
    pub async fn all_passivated(&self, timeout: Duration) {
        self.eventually(timeout, || async {
            let live = self
                .app
                .engine
                .registry
                .send(atende::engine::registry::LiveCount)
                .await
                .ok();
            live.filter(|n| *n == 0).map(|_| ())
        })
        .await
        .expect("every conversation actor passivated");
    }

    /// Polls `check` until it returns Some or `timeout` passes.
    /// Waits until the conversation has at least `count` AI replies; all of them.
    pub async fn ai_replies(&self, conversation: &str, count: usize) -> Vec<Value> {
        self.eventually(Duration::from_secs(15), || async {
            let m = self.messages(conversation).await;
            let ai: Vec<Value> = by_sender(&m, "ai_agent").into_iter().cloned().collect();
            (ai.len() >= count).then_some(ai)
        })
        .await
        .expect("the AI answered")
    }

    pub async fn eventually<T, F, Fut>(&self, timeout: Duration, mut check: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        eventually(timeout, &mut check).await
    }
}

pub async fn eventually<T, F, Fut>(timeout: Duration, check: &mut F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn by_sender<'a>(messages: &'a [Value], sender: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["sender_type"] == sender)
        .collect()
}
