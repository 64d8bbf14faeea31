//! A WhatsApp channel through a loopback stand-in for Evolution API v2: an app, a scripted
//! LLM, an AI agent and an `evolution` integration whose sends land in a receiver.

use serde_json::{json, Value};

use super::app::{Session, TestApp};
use super::receiver::ScriptedReceiver;
use super::scripted_llm::ScriptedLlm;

pub const API_KEY: &str = "B6D711FCDE4D4FD5936544120E713976";
pub const INSTANCE: &str = "loja-centro";
pub const JID: &str = "5511999998888@s.whatsapp.net";

pub struct WhatsApp {
    pub app: TestApp,
    pub llm: ScriptedLlm,
    pub evolution: ScriptedReceiver,
    pub admin: Session,
    pub agent_id: String,
    pub integration_id: String,
}

/// The channel, with `settings` as the agent's settings.
pub async fn whatsapp(settings: Value) -> WhatsApp {
    let app = TestApp::spawn().await;
    let llm = ScriptedLlm::start().await;
    let evolution = ScriptedReceiver::start(&[]).await;
    evolution.answer_json(
        201,
        |_| json!({"key": {"remoteJid": JID, "fromMe": true, "id": "BAE5FAKE"}}),
    );
    let admin = app.admin().await;
    let agent = app
        .create_agent(
            &admin,
            json!({
                "name": "Atendente",
                "model": "gpt-4o-mini",
                "system_prompt": "Você atende clientes da loja.",
                "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-test"},
                "settings": settings,
            }),
        )
        .await;
    let integration = app
        .create_integration(
            &admin,
            json!({
                "kind": "evolution",
                "name": "WhatsApp loja",
                "base_url": evolution.url(""),
                "api_key": API_KEY,
                "instance": INSTANCE,
                "default_agent_id": agent["id"],
            }),
        )
        .await;
    WhatsApp {
        app,
        llm,
        evolution,
        admin,
        agent_id: agent["id"].as_str().expect("id").to_string(),
        integration_id: integration["id"].as_str().expect("id").to_string(),
    }
}

impl WhatsApp {
    /// The customer writes `text` (a `messages.upsert` with WhatsApp id `id`); returns the
    /// conversation it went to.
    pub async fn customer_says(&self, id: &str, text: &str) -> String {
        let body = json!({
            "event": "messages.upsert",
            "instance": INSTANCE,
            "data": {
                "key": {"remoteJid": JID, "fromMe": false, "id": id},
                "pushName": "João Silva",
                "message": {"conversation": text},
                "messageType": "conversation",
                "messageTimestamp": 1717689097
            },
            "apikey": API_KEY
        });
        let response = self
            .app
            .http
            .post(
                self.app
                    .url(&format!("/webhooks/evolution/{}", self.integration_id)),
            )
            .json(&body)
            .send()
            .await
            .expect("webhook sent");
        let status = response.status();
        let accepted: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{status}: {accepted}");
        accepted["results"][0]["conversation_id"]
            .as_str()
            .expect("conversation id")
            .to_string()
    }
}
