//! The offline provider (`provider.kind = "retrieval"`): no LLM. It answers with the tenant's
//! best-matching knowledge passage (citing its source) when the match is strong enough, and
//! otherwise says it has no answer so the engine hands the conversation to a human.

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{ChatRole, CompletionReply, CompletionRequest, LlmError, Provider};
use crate::domain::{AgentId, TenantId};
pub use crate::knowledge::{Hit, Passage};
use crate::knowledge::{KnowledgeIndex, KnowledgeResult, Scope, SearchRequest};

/// The `BadResponse` reason meaning "nothing in the knowledge base matches".
pub const NO_MATCH: &str = "no_knowledge_match";
/// Share of the question's terms a passage must contain to be an answer (see
/// [`Hit::relevance`]); below it the conversation goes to a human.
pub const MIN_SCORE: f64 = 0.5;

/// BM25 search of the knowledge base as `agent` sees it (every document of the tenant when
/// `None`): the `search` tool, prompt context and the streaming chat's sources share it.
pub async fn search(
    index: &KnowledgeIndex,
    tenant: &TenantId,
    agent: Option<&AgentId>,
    query: &str,
    limit: usize,
    min_score: f64,
) -> KnowledgeResult<Vec<Hit>> {
    if query.trim().is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    index
        .search(SearchRequest {
            tenant: tenant.clone(),
            scope: agent.map_or(Scope::Operator, |a| Scope::Agent(a.clone())),
            query: query.to_string(),
            limit,
            min_relevance: min_score,
        })
        .await
}

/// The passages an LLM agent's prompt gets for `question` (`[knowledge] prompt_passages`,
/// `prompt_min_relevance`). A failing index costs the prompt its context, not the turn.
pub async fn prompt_passages(
    index: &KnowledgeIndex,
    tenant: &TenantId,
    agent: &AgentId,
    question: &str,
) -> Vec<Hit> {
    let settings = index.settings();
    let (limit, min) = (settings.prompt_passages, settings.prompt_min_relevance);
    search(index, tenant, Some(agent), question, limit, min)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(agent = %agent, error = %e, "knowledge search for the prompt failed");
            Vec::new()
        })
}

pub struct RetrievalProvider {
    index: KnowledgeIndex,
    tenant: TenantId,
    agent: AgentId,
}

impl RetrievalProvider {
    pub fn new(index: KnowledgeIndex, tenant: TenantId, agent: AgentId) -> Self {
        RetrievalProvider {
            index,
            tenant,
            agent,
        }
    }
}

impl Provider for RetrievalProvider {
    fn complete(
        &self,
        request: CompletionRequest,
    ) -> BoxFuture<'static, Result<CompletionReply, LlmError>> {
        let question = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == ChatRole::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let index = self.index.clone();
        let tenant = self.tenant.clone();
        let agent = self.agent.clone();
        async move {
            let best = search(&index, &tenant, Some(&agent), &question, 1, MIN_SCORE)
                .await
                .map_err(|e| LlmError::Unavailable(e.to_string()))?;
            match best.into_iter().next() {
                Some(Hit { passage, .. }) => Ok(CompletionReply {
                    content: cite(&passage),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    retries: 0,
                    model: "retrieval".into(),
                    tool_calls: Vec::new(),
                }),
                None => Err(LlmError::BadResponse(NO_MATCH.into())),
            }
        }
        .boxed()
    }
}

/// A passage as an answer, with its source named so the customer can trust (and check) it.
pub fn cite(passage: &Passage) -> String {
    format!("{}\n\n(Fonte: {})", passage.content.trim(), passage.title)
}

/// Stands in for an agent whose provider cannot be built (bad base URL, undecryptable key):
/// every turn fails without a retry, so the conversation goes to a human with the reason.
pub struct Unusable(pub String);

impl Provider for Unusable {
    fn complete(
        &self,
        _: CompletionRequest,
    ) -> BoxFuture<'static, Result<CompletionReply, LlmError>> {
        let reason = self.0.clone();
        async move {
            Err(LlmError::BadResponse(format!(
                "provider misconfigured: {reason}"
            )))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_citation_names_its_source() {
        let passage = Passage {
            document_id: "d".into(),
            chunk_id: "c".into(),
            title: "Política de trocas".into(),
            heading: String::new(),
            content: "  Trocas em até 30 dias.\n".into(),
        };
        assert_eq!(
            cite(&passage),
            "Trocas em até 30 dias.\n\n(Fonte: Política de trocas)"
        );
    }
}
