//! "The AI is typing" on WhatsApp: Evolution API v2's
//! `POST {base_url}/chat/sendPresence/{instance}` with
//! `{"number", "presence": "composing", "delay"}`. Best effort: a refused or failed call is
//! logged and the reply goes out anyway. The integration's `apikey` goes only to its own
//! `base_url` (behind the SSRF guard, no redirects), and what Evolution answers is read up to
//! a cap, scrubbed of the key before it reaches a log.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::config::{OutboundSettings, TypingSettings};
use crate::engine::sender::evolution_number;
use crate::outbound::{self, body, guard};
use crate::secrets::SecretBox;
use crate::store::integrations::{Integration, IntegrationKind};

/// Characters of a refusal kept for the log.
const EXCERPT_CHARS: usize = 200;

/// Cheap to clone; clones share one HTTP client.
#[derive(Clone)]
pub struct PresenceSender {
    http: Option<reqwest::Client>,
    secrets: Arc<SecretBox>,
    allow_private: bool,
    max_body: usize,
    delay_ms: u64,
}

/// What a presence call came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Presence {
    /// Evolution took it.
    Sent,
    /// Not a channel with presence (generic, web chat: sockets get `typing` frames instead),
    /// or the integration is disabled.
    NotApplicable,
}

impl PresenceSender {
    pub fn new(
        outbound: &OutboundSettings,
        typing: &TypingSettings,
        secrets: Arc<SecretBox>,
    ) -> Self {
        let timeout = Duration::from_millis(outbound.timeout_ms.max(1));
        let http = outbound::client(&outbound::ClientSpec {
            user_agent: concat!("atende/", env!("CARGO_PKG_VERSION")),
            // Evolution holds the answer for the presence's `delay`.
            timeout: Some(timeout + Duration::from_millis(typing.presence_delay_ms)),
            connect_timeout: timeout,
            allow_private: outbound.allow_private_targets,
        })
        .map_err(|e| tracing::error!(error = %e, "presence HTTP client could not be built"))
        .ok();
        PresenceSender {
            http,
            secrets,
            allow_private: outbound.allow_private_targets,
            max_body: outbound.max_error_body_bytes,
            delay_ms: typing.presence_delay_ms,
        }
    }

    /// Shows "typing…" to `contact_external_id` on the integration's WhatsApp.
    pub async fn composing(
        &self,
        integration: &Integration,
        contact_external_id: &str,
    ) -> Result<Presence, String> {
        if !integration.enabled || !matches!(integration.kind(), Ok(IntegrationKind::Evolution)) {
            return Ok(Presence::NotApplicable);
        }
        let http = self
            .http
            .as_ref()
            .ok_or("outbound HTTP is unavailable (the TLS backend did not start)")?;
        let super::evolution::Endpoint {
            base_url: base,
            instance,
            api_key,
        } = super::evolution::endpoint(integration, &self.secrets)?;
        let number = evolution_number(contact_external_id)
            .ok_or("the contact id has no phone number digits")?;
        let url = super::evolution::api_url(base, &["chat", "sendPresence", instance])?;
        let url = guard::check(&url, self.allow_private)
            .await
            .map_err(|refusal| refusal.to_string())?;
        let mut key = HeaderValue::from_str(api_key.expose_secret())
            .map_err(|_| "the evolution api_key is not a valid header value".to_string())?;
        key.set_sensitive(true);
        let response = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("apikey", key)
            .json(&json!({
                "number": number,
                "presence": "composing",
                "delay": self.delay_ms,
            }))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "presence not sent: {}",
                    outbound::error_chain(&e.without_url())
                )
            })?;
        let status = response.status();
        if status.is_success() {
            // Read (capped) so the connection can be reused; the content says nothing we need.
            body::read_head(response, self.max_body).await;
            return Ok(Presence::Sent);
        }
        let excerpt = body::excerpt(
            response,
            self.max_body,
            EXCERPT_CHARS,
            &[api_key.expose_secret()],
        )
        .await;
        Err(format!("presence refused: HTTP {status} {excerpt}"))
    }
}
