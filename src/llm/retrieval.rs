//! The offline provider (`provider.kind = "retrieval"`): no LLM. It answers with the tenant's
//! best-matching knowledge passage (citing its source) when the match is strong enough, and
//! otherwise says it has no answer so the engine hands the conversation to a human.

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{ChatRole, CompletionReply, CompletionRequest, LlmError, Provider};
use crate::domain::TenantId;
use crate::store::{knowledge, Store};

/// The `BadResponse` reason meaning "nothing in the knowledge base matches".
pub const NO_MATCH: &str = "no_knowledge_match";
/// Share of the question's terms a passage must contain to be an answer.
const MIN_SCORE: f64 = 0.5;
/// Passages scanned per question; the lexical scan is for small knowledge bases.
const MAX_PASSAGES: i64 = 5000;

pub struct RetrievalProvider {
    store: Store,
    tenant: TenantId,
}

impl RetrievalProvider {
    pub fn new(store: Store, tenant: TenantId) -> Self {
        RetrievalProvider { store, tenant }
    }
}

/// Words that carry no topic (Portuguese and English), left out of matching.
const STOP_WORDS: &[&str] = &[
    "como", "faco", "fazer", "para", "que", "com", "uma", "por", "meu", "minha", "meus", "minhas",
    "voce", "voces", "qual", "quais", "onde", "quando", "pode", "posso", "esta", "isso", "essa",
    "esse", "sua", "seu", "dos", "das", "nos", "nas", "aos", "ser", "tem", "ter", "the", "and",
    "for", "you", "your", "how", "can", "what", "with", "this", "that", "are", "does", "have",
];

/// Lower-case, accent-folded words of at least three letters, stop words left out.
pub fn terms(text: &str) -> Vec<String> {
    let folded: String = text
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded
        .split_whitespace()
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(w))
        .map(str::to_string)
        .collect()
}

/// Share of the question's distinct terms found in the passage (prefix match, so "trocar"
/// finds "troca").
pub fn score(question: &[String], passage: &[String]) -> f64 {
    let mut distinct: Vec<&String> = question.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.is_empty() {
        return 0.0;
    }
    let stem = |w: &str| w.chars().take(5).collect::<String>();
    let hits = distinct
        .iter()
        .filter(|q| {
            let q = stem(q);
            passage
                .iter()
                .any(|p| p.starts_with(&q) || q.starts_with(&stem(p)))
        })
        .count();
    hits as f64 / distinct.len() as f64
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
        let store = self.store.clone();
        let tenant = self.tenant.clone();
        async move {
            let passages = store
                .run(move |conn| knowledge::passages(conn, &tenant, MAX_PASSAGES))
                .await
                .map_err(|e| LlmError::Unavailable(e.to_string()))?;
            let asked = terms(&question);
            let best = passages
                .iter()
                .map(|p| {
                    (
                        score(&asked, &terms(&format!("{} {}", p.title, p.content))),
                        p,
                    )
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match best {
                Some((s, passage)) if s >= MIN_SCORE => Ok(CompletionReply {
                    content: format!("{}\n\n(Fonte: {})", passage.content.trim(), passage.title),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    retries: 0,
                    model: "retrieval".into(),
                }),
                _ => Err(LlmError::BadResponse(NO_MATCH.into())),
            }
        }
        .boxed()
    }
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
    fn accents_fold_and_prefixes_match() {
        let q = terms("Como faço para trocar um produto?");
        let p = terms("Política de trôca: produtos podem ser trocados em 7 dias.");
        assert!(score(&q, &p) >= MIN_SCORE, "{q:?} vs {p:?}");
        let unrelated = terms("Horário de funcionamento: das 8h às 18h.");
        assert!(score(&q, &unrelated) < MIN_SCORE);
        assert_eq!(score(&[], &p), 0.0);
    }
}
