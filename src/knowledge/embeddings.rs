//! Optional hybrid search (`[knowledge] embeddings_enabled`): vectors from the agent's
//! OpenAI-compatible `/embeddings` endpoint, stored with the chunks
//! (`knowledge_chunks.embedding`, little-endian f32), and a cosine re-rank of BM25's best
//! candidates. BM25 still decides what is a candidate (and the relevance threshold), so a
//! provider outage only costs the re-rank: the BM25 order is used instead.
//!
//! Chunks are embedded lazily, the first time they are a candidate for an agent with an
//! endpoint, and the vector is kept; uploads never wait for (or fail on) a provider.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::index::Hit;
use super::{KnowledgeError, KnowledgeResult};
use crate::domain::TenantId;
use crate::outbound::{self, body, guard, Limits};
use crate::store::{knowledge as store_knowledge, Store};

/// Where an agent's vectors come from (its provider's base URL and key, and the outbound
/// rules that URL is called under: the same as the agent's completions).
#[derive(Clone)]
pub struct EmbeddingEndpoint {
    pub base_url: String,
    pub api_key: SecretString,
    pub limits: Limits,
}

impl std::fmt::Debug for EmbeddingEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never in logs.
        f.debug_struct("EmbeddingEndpoint")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Calls `/embeddings`; one guarded and one unguarded HTTP client (for the operator's own
/// URL, or when private targets are allowed), shared by every agent.
#[derive(Clone)]
pub struct Embedder {
    guarded: Option<reqwest::Client>,
    open: Option<reqwest::Client>,
    model: String,
}

impl Embedder {
    pub fn new(model: &str, timeout: Duration) -> Self {
        let build = |allow_private: bool| {
            outbound::client(&outbound::ClientSpec {
                user_agent: concat!("atende/", env!("CARGO_PKG_VERSION")),
                timeout: Some(timeout),
                connect_timeout: timeout,
                allow_private,
            })
            // Only fails when the TLS backend cannot start; calls then fail and the search
            // falls back to BM25.
            .map_err(|e| tracing::error!(error = %e, "embeddings HTTP client could not be built"))
            .ok()
        };
        Embedder {
            guarded: build(false),
            open: build(true),
            model: model.to_string(),
        }
    }

    /// One vector per input, in order.
    pub async fn embed(
        &self,
        endpoint: &EmbeddingEndpoint,
        inputs: &[String],
    ) -> KnowledgeResult<Vec<Vec<f32>>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!("{}/embeddings", endpoint.base_url.trim_end_matches('/'));
        let failed = |e: String| KnowledgeError::Index(format!("embeddings: {e}"));
        let limits = endpoint.limits;
        let client = if limits.allow_private {
            self.open.as_ref()
        } else {
            // Literal addresses never reach the guarded resolver.
            guard::check(&url, false)
                .await
                .map_err(|refusal| failed(refusal.to_string()))?;
            self.guarded.as_ref()
        }
        .ok_or_else(|| failed("no HTTP client".into()))?;
        let response = client
            .post(&url)
            .bearer_auth(endpoint.api_key.expose_secret())
            .json(&json!({"model": self.model, "input": inputs}))
            .send()
            .await
            .map_err(|e| failed(outbound::error_chain(&e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("provider answered {status}")));
        }
        let bytes = body::read_capped(response, limits.max_response_bytes)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let body: Value =
            serde_json::from_slice(&bytes).map_err(|_| failed("malformed response".into()))?;
        parse_response(&body, inputs.len()).ok_or_else(|| failed("malformed response".into()))
    }
}

/// `{"data": [{"index": i, "embedding": [...]}, ...]}` → vectors in input order.
fn parse_response(body: &Value, expected: usize) -> Option<Vec<Vec<f32>>> {
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in body["data"].as_array()?.iter().enumerate() {
        let index = item["index"]
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(position);
        let vector: Vec<f32> = item["embedding"]
            .as_array()?
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<_>>()?;
        *slots.get_mut(index)? = Some(vector);
    }
    slots.into_iter().collect()
}

/// The text embedded for a chunk: what the index searches too.
fn chunk_text(hit: &Hit) -> String {
    let p = &hit.passage;
    format!("{}\n{}\n{}", p.title, p.heading, p.content)
}

/// Re-orders BM25's candidates by `(1 - weight) · bm25/max(bm25) + weight · max(cosine, 0)`,
/// embedding (and storing) candidates that have no vector yet.
pub async fn rerank(
    store: &Store,
    embedder: &Embedder,
    endpoint: &EmbeddingEndpoint,
    tenant: &TenantId,
    query: &str,
    hits: Vec<Hit>,
    weight: f64,
) -> KnowledgeResult<Vec<Hit>> {
    if hits.len() < 2 {
        return Ok(hits);
    }
    let ids: Vec<String> = hits.iter().map(|h| h.passage.chunk_id.clone()).collect();
    let lookup = (tenant.clone(), ids);
    let stored: HashMap<String, Vec<f32>> = store
        .run(move |conn| store_knowledge::embeddings(conn, &lookup.0, &lookup.1))
        .await?
        .into_iter()
        .filter_map(|(id, bytes)| Some((id, decode(bytes.as_deref()?)?)))
        .collect();
    let mut inputs = vec![query.to_string()];
    let missing: Vec<&Hit> = hits
        .iter()
        .filter(|h| !stored.contains_key(&h.passage.chunk_id))
        .collect();
    inputs.extend(missing.iter().map(|h| chunk_text(h)));
    let mut vectors = embedder.embed(endpoint, &inputs).await?.into_iter();
    let question = vectors
        .next()
        .ok_or_else(|| KnowledgeError::Index("embeddings: no vector for the query".into()))?;
    let fresh: Vec<(String, Vec<f32>)> = missing
        .iter()
        .map(|h| h.passage.chunk_id.clone())
        .zip(vectors)
        .collect();
    if !fresh.is_empty() {
        let rows: Vec<(String, Vec<u8>)> = fresh
            .iter()
            .map(|(id, v)| (id.clone(), encode(v)))
            .collect();
        let tenant = tenant.clone();
        // Kept for the next search; a failed write only means embedding again next time.
        if let Err(e) = store
            .run(move |conn| {
                for (id, bytes) in &rows {
                    store_knowledge::set_embedding(conn, &tenant, id, bytes)?;
                }
                Ok(())
            })
            .await
        {
            tracing::warn!(error = %e, "chunk embeddings not stored");
        }
    }
    let mut vectors: HashMap<String, Vec<f32>> = stored;
    vectors.extend(fresh);
    let best = hits.iter().map(|h| h.score).fold(f64::MIN, f64::max);
    let best = if best > 0.0 { best } else { 1.0 };
    let mut ranked: Vec<Hit> = hits
        .into_iter()
        .map(|mut h| {
            let similarity = vectors
                .get(&h.passage.chunk_id)
                .map_or(0.0, |v| cosine(&question, v).max(0.0));
            h.score = (1.0 - weight) * (h.score / best) + weight * similarity;
            h
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(ranked)
}

/// Encodes a vector for the `embedding` column.
pub fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes the `embedding` column; `None` for a value that is not a whole number of f32s.
pub fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Cosine similarity in -1..=1; 0 for vectors of different lengths or of zero length.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_compare() {
        let v = vec![0.5f32, -1.0, 2.25];
        assert_eq!(decode(&encode(&v)), Some(v.clone()));
        assert_eq!(decode(&[1, 2, 3]), None);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-9);
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-9);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn responses_are_put_back_in_input_order() {
        let body = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]},
        ]});
        assert_eq!(
            parse_response(&body, 2),
            Some(vec![vec![1.0, 0.0], vec![0.0, 1.0]])
        );
        assert_eq!(parse_response(&body, 3), None, "a missing vector");
        assert_eq!(
            parse_response(&json!({"data": [{"embedding": ["x"]}]}), 1),
            None
        );
        assert_eq!(parse_response(&json!({}), 1), None);
    }
}
