//! Inbound webhooks as a channel sends them: the generic integration's JSON body, signed
//! with the integration's secret.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::TestApp;
use super::engine::SECRET;

/// The generic integration's body for one customer text message.
pub fn generic_body(contact: &str, name: Option<&str>, external_id: &str, text: &str) -> Value {
    let mut contact = json!({ "external_id": contact });
    if let Some(name) = name {
        contact["name"] = json!(name);
    }
    json!({ "contact": contact, "message": { "external_id": external_id, "text": text } })
}

/// `X-Atende-Signature` of `body` under the tests' integration secret.
pub fn signature(body: &str) -> String {
    atende::channels::signature::sign(SECRET.as_bytes(), body.as_bytes())
}

/// Posts `body`, signed, to the generic webhook at `url` (of any running server) and checks
/// it was accepted; returns the acceptance (`conversation_id`, `message_id`, `duplicate`).
pub async fn post_signed(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let (status, accepted) = try_post_signed(http, url, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    accepted
}

/// [`post_signed`] that answers whatever the server said (a node may be going away); a
/// connection that failed is status 0 here — not acknowledged, like a refusal.
pub async fn try_post_signed(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .header("X-Atende-Signature", signature(&body))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

impl TestApp {
    /// Posts `body` to the generic webhook of `integration`, signed with the tests' secret
    /// (or unsigned with `None`); returns status and JSON body.
    pub async fn post_webhook(
        &self,
        integration: &str,
        body: &str,
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/webhooks/generic/{integration}")))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(signature) = signature {
            request = request.header("X-Atende-Signature", signature);
        }
        let response = request.send().await.expect("webhook sent");
        let status = response.status();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// Posts a signed webhook that must be accepted; returns the acceptance
    /// (`conversation_id`, `message_id`, `duplicate`).
    pub async fn signed_webhook(&self, integration: &str, body: &Value) -> Value {
        let url = self.url(&format!("/webhooks/generic/{integration}"));
        post_signed(&self.http, &url, body).await
    }

    /// A customer's text message through the generic webhook, accepted.
    pub async fn customer_says(
        &self,
        integration: &str,
        contact: &str,
        external_id: &str,
        text: &str,
    ) -> Value {
        self.signed_webhook(integration, &generic_body(contact, None, external_id, text))
            .await
    }
}
