//! The offline provider (`provider.kind = "retrieval"`): no LLM. It answers with the tenant's
//! best-matching knowledge passage (citing its source) when the match is strong enough, and
//! otherwise says it has no answer so the engine hands the conversation to a human.

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{ChatRole, CompletionReply, CompletionRequest, LlmError, Provider};
use crate::domain::TenantId;
use crate::store::knowledge::{self, Passage};
use crate::store::{Store, StoreResult};

/// The `BadResponse` reason meaning "nothing in the knowledge base matches".
pub const NO_MATCH: &str = "no_knowledge_match";
/// Share of the question's terms a passage must contain to be an answer.
pub const MIN_SCORE: f64 = 0.5;
/// Passages scanned per question; the lexical scan is for small knowledge bases.
const MAX_PASSAGES: i64 = 5000;

/// A passage and how well it matches a query (0..=1).
#[derive(Debug, Clone)]
pub struct Hit {
    pub score: f64,
    pub passage: Passage,
}

/// The best `limit` passages scoring at least `min_score`, best first. Ties keep the
/// store's order, so the same question always cites the same source.
pub fn rank(passages: Vec<Passage>, query: &str, limit: usize, min_score: f64) -> Vec<Hit> {
    let asked = terms(query);
    let mut hits: Vec<Hit> = passages
        .into_iter()
        .map(|passage| Hit {
            score: score(
                &asked,
                &terms(&format!("{} {}", passage.title, passage.content)),
            ),
            passage,
        })
        .filter(|hit| hit.score > 0.0 && hit.score >= min_score)
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(limit);
    hits
}

/// Lexical search over the tenant's knowledge base (the `search` tool, prompt context and
/// the streaming chat's sources share it).
pub async fn search(
    store: &Store,
    tenant: &TenantId,
    query: &str,
    limit: usize,
    min_score: f64,
) -> StoreResult<Vec<Hit>> {
    if terms(query).is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tenant.clone();
    let passages = store
        .run(move |conn| knowledge::passages(conn, &tenant, MAX_PASSAGES))
        .await?;
    Ok(rank(passages, query, limit, min_score))
}

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
            let best = search(&store, &tenant, &question, 1, MIN_SCORE)
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
    fn accents_fold_and_prefixes_match() {
        let q = terms("Como faço para trocar um produto?");
        let p = terms("Política de trôca: produtos podem ser trocados em 7 dias.");
        assert!(score(&q, &p) >= MIN_SCORE, "{q:?} vs {p:?}");
        let unrelated = terms("Horário de funcionamento: das 8h às 18h.");
        assert!(score(&q, &unrelated) < MIN_SCORE);
        assert_eq!(score(&[], &p), 0.0);
    }

    fn passage(title: &str, content: &str) -> Passage {
        Passage {
            document_id: title.into(),
            chunk_id: title.into(),
            title: title.into(),
            content: content.into(),
        }
    }

    #[test]
    fn rank_orders_by_score_and_drops_weak_matches() {
        let passages = vec![
            passage("Horário", "Atendemos das 8h às 18h, de segunda a sexta."),
            passage(
                "Trocas",
                "Trocas de produtos em até 30 dias com a nota fiscal.",
            ),
            passage(
                "Entrega",
                "Entregamos em todo o Brasil; trocas de endereço pelo site.",
            ),
        ];
        let hits = rank(passages, "como trocar um produto com defeito?", 3, 0.3);
        assert_eq!(hits[0].passage.title, "Trocas");
        assert!(hits.iter().all(|h| h.score >= 0.3));
        assert!(hits.iter().all(|h| h.passage.title != "Horário"));
        assert!(rank(vec![passage("a", "b")], "   ", 3, 0.0).is_empty());
    }
}
