//! The provider factory: an AI agent's settings in, the `Provider` its turns use out. The
//! operator's key goes only to the operator's endpoint; a tenant's endpoint passes the
//! outbound guard. Hybrid knowledge search embeds with the same endpoint and key.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::retrieval::RetrievalProvider;
use super::{OpenAiProvider, Provider, RetryPolicy};
use crate::config::Settings;
use crate::domain::agent::ProviderKind;
use crate::domain::{AgentId, TenantId};
use crate::knowledge::embeddings::EmbeddingEndpoint;
use crate::knowledge::KnowledgeIndex;
use crate::outbound::{origin, Limits};

/// What an agent's provider is made of.
pub struct ProviderSpec<'a> {
    pub tenant_id: &'a TenantId,
    pub agent_id: &'a AgentId,
    pub kind: ProviderKind,
    /// The agent's own endpoint; the operator's default when `None`.
    pub base_url: Option<String>,
    /// The agent's own key, opened; `None` when it has none.
    pub api_key: Option<SecretString>,
}

/// Builds the agent's provider and registers its embedding endpoint with the knowledge
/// index. The error says why the provider cannot be used (the agent then hands over).
pub fn provider_for(
    spec: ProviderSpec<'_>,
    settings: &Settings,
    knowledge: &KnowledgeIndex,
) -> Result<Arc<dyn Provider>, String> {
    // Hybrid knowledge search embeds with the agent's own provider, when it has one.
    knowledge.set_embedding_endpoint(spec.agent_id, None);
    match spec.kind {
        ProviderKind::Retrieval => Ok(Arc::new(RetrievalProvider::new(
            knowledge.clone(),
            spec.tenant_id.clone(),
            spec.agent_id.clone(),
        ))),
        ProviderKind::Openai => {
            let default_url = &settings.llm.default_base_url;
            let base_url = spec.base_url.unwrap_or_else(|| default_url.clone());
            // The operator's key and URL go together: a tenant-chosen URL never gets the
            // default key, whatever it answers. The operator's URL is trusted like the
            // operator (it may be a local model server); a tenant's passes the guard.
            let operator_endpoint = origin::same_endpoint(default_url, &base_url);
            let key = match spec.api_key {
                Some(key) => key.expose_secret().to_string(),
                None if operator_endpoint => {
                    settings.llm.default_api_key.expose_secret().to_string()
                }
                None => String::new(),
            };
            let mut limits = Limits::from_settings(&settings.outbound);
            limits.allow_private |= operator_endpoint;
            let provider = OpenAiProvider::new(
                &base_url,
                &key,
                Duration::from_millis(settings.llm.request_timeout_ms),
                RetryPolicy {
                    max_retries: settings.llm.max_retries,
                    initial_backoff: Duration::from_millis(settings.llm.retry_initial_backoff_ms),
                    max_backoff: Duration::from_millis(settings.llm.retry_max_backoff_ms),
                },
                limits,
            )
            .map_err(|e| e.to_string())?;
            let endpoint = EmbeddingEndpoint {
                base_url,
                api_key: key.into(),
                limits,
            };
            knowledge.set_embedding_endpoint(spec.agent_id, Some(endpoint));
            Ok(Arc::new(provider))
        }
    }
}
