//! The search index: tantivy (BM25) in memory, rebuilt from `knowledge_chunks` at start.
//!
//! The database is the source of truth; the index is a derived view that [`super::documents`]
//! updates after each committed write. One writer (behind a mutex) applies each change —
//! removals and additions — and commits it as a unit, so a search sees a document's chunks
//! all or none. Every call here blocks (tantivy is synchronous): async callers use
//! [`KnowledgeIndex::search`], which runs on the blocking pool.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::analyzer::{self, Lang};
use super::embeddings::{self, Embedder, EmbeddingEndpoint};
use super::{blocking, KnowledgeResult};
use crate::config::KnowledgeSettings;
use crate::domain::{AgentId, TenantId};
use crate::store::{knowledge as store_knowledge, Store};

pub use crate::store::knowledge::{IndexedChunk, Passage};

/// A passage and how well it matches a query.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The ranking score: BM25 (or BM25 blended with cosine similarity in hybrid mode).
    /// Comparable only within one result list.
    pub score: f64,
    /// Share of the query's terms the passage contains (0..=1): the threshold scale.
    pub relevance: f64,
    pub passage: Passage,
}

/// Whose view of the tenant's knowledge base a search takes.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every document of the tenant (operators searching the base).
    Operator,
    /// What an AI agent sees: tenant-wide documents and the ones scoped to it.
    Agent(AgentId),
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub tenant: TenantId,
    pub scope: Scope,
    pub query: String,
    pub limit: usize,
    /// Hits with a lower [`Hit::relevance`] are left out.
    pub min_relevance: f64,
}

/// Matches in the title count this much more than in the body: a document named after the
/// question is usually the answer.
const TITLE_BOOST: f32 = 2.0;
/// BM25 candidates read per result asked, since the relevance threshold may drop some.
const CANDIDATES_PER_RESULT: usize = 4;
const MIN_CANDIDATES: usize = 20;
/// `agent` field value of tenant-wide chunks (an empty string never is an agent id).
const TENANT_WIDE: &str = "";

struct Fields {
    chunk_id: Field,
    document_id: Field,
    tenant: Field,
    agent: Field,
    title: Field,
    heading: Field,
    content: Field,
    /// Analyzed text per language: (body = heading + content, title).
    text: [(Lang, Field, Field); 2],
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzers: [(Lang, TextAnalyzer); 2],
    settings: KnowledgeSettings,
    /// Set when `embeddings_enabled` (and a store keeps the vectors).
    hybrid: Option<Hybrid>,
    /// The documents each committed local change touched, for the cluster's peers
    /// (`cluster::knowledge`); nobody listens on a single node.
    changes: tokio::sync::broadcast::Sender<Vec<String>>,
}

/// Local changes not yet told to peers; one that falls further behind makes them rebuild.
const CHANGE_BACKLOG: usize = 256;

struct Hybrid {
    store: Store,
    embedder: Embedder,
    /// Agents with an OpenAI-compatible provider, registered when their supervisor loads
    /// them (so keys are decrypted once, where the provider is built).
    endpoints: RwLock<HashMap<AgentId, EmbeddingEndpoint>>,
}

/// Handle to the index; cheap to clone (the app state, the engine and the tools share one).
#[derive(Clone)]
pub struct KnowledgeIndex {
    inner: Arc<Inner>,
}

fn text_options(lang: Lang) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(lang.analyzer_name())
            // Frequencies for BM25; no positions (no phrase queries), which halves the index.
            .set_index_option(IndexRecordOption::WithFreqs),
    )
}

impl KnowledgeIndex {
    /// An empty in-memory index (fill it with [`KnowledgeIndex::rebuild`]). With a store and
    /// `embeddings_enabled`, agents' searches are re-ranked by embeddings.
    pub fn new(settings: &KnowledgeSettings, store: Option<Store>) -> KnowledgeResult<Self> {
        let mut builder = Schema::builder();
        let chunk_id = builder.add_text_field("chunk_id", STRING | STORED);
        let document_id = builder.add_text_field("document_id", STRING | STORED);
        let tenant = builder.add_text_field("tenant", STRING);
        let agent = builder.add_text_field("agent", STRING);
        let title = builder.add_text_field("title", STORED);
        let heading = builder.add_text_field("heading", STORED);
        let content = builder.add_text_field("content", STORED);
        let text = Lang::ALL.map(|lang| {
            let suffix = lang.analyzer_name();
            (
                lang,
                builder.add_text_field(&format!("body_{suffix}"), text_options(lang)),
                builder.add_text_field(&format!("title_{suffix}"), text_options(lang)),
            )
        });
        let index = Index::create_in_ram(builder.build());
        for lang in Lang::ALL {
            index
                .tokenizers()
                .register(lang.analyzer_name(), analyzer::analyzer(lang));
        }
        // One indexing thread: uploads are small and serialized by the mutex anyway, and the
        // machine's cores belong to the conversations.
        let writer = index.writer_with_num_threads(1, settings.index_writer_memory_bytes)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(KnowledgeIndex {
            inner: Arc::new(Inner {
                reader,
                writer: Mutex::new(writer),
                fields: Fields {
                    chunk_id,
                    document_id,
                    tenant,
                    agent,
                    title,
                    heading,
                    content,
                    text,
                },
                analyzers: Lang::ALL.map(|lang| (lang, analyzer::analyzer(lang))),
                settings: settings.clone(),
                hybrid: store
                    .filter(|_| settings.embeddings_enabled)
                    .map(|store| Hybrid {
                        store,
                        embedder: Embedder::new(
                            &settings.embedding_model,
                            Duration::from_millis(settings.embedding_timeout_ms),
                        ),
                        endpoints: RwLock::new(HashMap::new()),
                    }),
                changes: tokio::sync::broadcast::channel(CHANGE_BACKLOG).0,
            }),
        })
    }

    /// The documents of every change announced here from now on ([`Self::announce`]).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Vec<String>> {
        self.inner.changes.subscribe()
    }

    /// Re-indexes `documents` as the store holds them now (a deleted one leaves the index):
    /// a change another node made. Not announced again.
    pub async fn refresh(&self, store: &Store, documents: Vec<String>) -> KnowledgeResult<usize> {
        let ids = documents.clone();
        let chunks = store
            .run(move |conn| store_knowledge::document_chunks(conn, &ids))
            .await?;
        let added = chunks.len();
        let index = self.clone();
        blocking(move || index.commit_change(&documents, &chunks)).await?;
        Ok(added)
    }

    pub fn settings(&self) -> &KnowledgeSettings {
        &self.inner.settings
    }

    /// Chunks searchable now.
    pub fn len(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A panic while holding the writer left at worst uncommitted operations, which the
        // next `apply` rolls back or commits with its own; the writer itself stays usable.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn document(&self, chunk: &IndexedChunk) -> TantivyDocument {
        let f = &self.inner.fields;
        let p = &chunk.passage;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.chunk_id, &p.chunk_id);
        doc.add_text(f.document_id, &p.document_id);
        doc.add_text(f.tenant, chunk.tenant_id.as_str());
        doc.add_text(f.agent, chunk.agent_id.as_deref().unwrap_or(TENANT_WIDE));
        doc.add_text(f.title, &p.title);
        doc.add_text(f.heading, &p.heading);
        doc.add_text(f.content, &p.content);
        let body = format!("{}\n{}", p.heading, p.content);
        for (_, body_field, title_field) in &f.text {
            doc.add_text(*body_field, &body);
            doc.add_text(*title_field, &p.title);
        }
        doc
    }

    /// Removes every chunk of `remove_documents`, adds `add`, and commits, as one change.
    /// Blocking. On error nothing of the change is visible (the writer is rolled back).
    pub fn apply(&self, remove_documents: &[String], add: &[IndexedChunk]) -> KnowledgeResult<()> {
        self.commit_change(remove_documents, add)
    }

    /// Tells the cluster's peers (if any listen) that these documents changed: called once the
    /// store holds the change, since peers re-read the documents from it.
    pub fn announce(&self, mut documents: Vec<String>) {
        documents.sort_unstable();
        documents.dedup();
        // No receiver (a single node) is not an error.
        let _ = self.inner.changes.send(documents);
    }

    fn commit_change(
        &self,
        remove_documents: &[String],
        add: &[IndexedChunk],
    ) -> KnowledgeResult<()> {
        let mut writer = self.writer();
        let staged = (|| -> KnowledgeResult<()> {
            for id in remove_documents {
                writer.delete_term(Term::from_field_text(self.inner.fields.document_id, id));
            }
            for chunk in add {
                writer.add_document(self.document(chunk))?;
            }
            writer.commit()?;
            Ok(())
        })();
        if let Err(e) = staged {
            if let Err(rollback) = writer.rollback() {
                tracing::error!(error = %rollback, "knowledge index rollback failed");
            }
            return Err(e);
        }
        drop(writer);
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Fills the index from the database (at start). Blocking work runs off the caller's
    /// thread; the store is read in pages of `rebuild_batch_chunks`.
    pub async fn rebuild(&self, store: &Store) -> KnowledgeResult<usize> {
        let batch = self.inner.settings.rebuild_batch_chunks;
        let mut after: Option<String> = None;
        let mut total = 0usize;
        let index = self.clone();
        blocking(move || {
            let mut writer = index.writer();
            writer.delete_all_documents()?;
            writer.commit()?;
            Ok(())
        })
        .await?;
        loop {
            let cursor = after.clone();
            let page = store
                .run(move |conn| store_knowledge::index_page(conn, cursor.as_deref(), batch))
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.passage.chunk_id.clone());
            let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= batch;
            total += page.len();
            let index = self.clone();
            blocking(move || {
                let writer = index.writer();
                for chunk in &page {
                    writer.add_document(index.document(chunk))?;
                }
                Ok(())
            })
            .await?;
            if !full {
                break;
            }
        }
        let index = self.clone();
        blocking(move || {
            index.writer().commit()?;
            index.inner.reader.reload()?;
            Ok(())
        })
        .await?;
        Ok(total)
    }

    /// Where `agent`'s chunk and query vectors come from (`None`: the agent has no
    /// OpenAI-compatible provider). A no-op unless hybrid search is on.
    pub fn set_embedding_endpoint(&self, agent: &AgentId, endpoint: Option<EmbeddingEndpoint>) {
        let Some(hybrid) = &self.inner.hybrid else {
            return;
        };
        let mut endpoints = hybrid
            .endpoints
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match endpoint {
            Some(endpoint) => endpoints.insert(agent.clone(), endpoint),
            None => endpoints.remove(agent),
        };
    }

    fn endpoint(&self, scope: &Scope) -> Option<(&Hybrid, EmbeddingEndpoint)> {
        let (Some(hybrid), Scope::Agent(agent)) = (&self.inner.hybrid, scope) else {
            return None;
        };
        let endpoints = hybrid
            .endpoints
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        endpoints.get(agent).cloned().map(|e| (hybrid, e))
    }

    /// [`KnowledgeIndex::search_blocking`] on the blocking pool, re-ranked by embeddings when
    /// hybrid search is on and the searching agent has an endpoint.
    pub async fn search(&self, request: SearchRequest) -> KnowledgeResult<Vec<Hit>> {
        let index = self.clone();
        let Some((hybrid, endpoint)) = self.endpoint(&request.scope) else {
            return blocking(move || index.search_blocking(&request)).await;
        };
        let limit = request.limit;
        let wide = SearchRequest {
            limit: limit.saturating_mul(self.inner.settings.rerank_candidates_factor),
            ..request.clone()
        };
        let mut candidates = blocking(move || index.search_blocking(&wide)).await?;
        let reranked = embeddings::rerank(
            &hybrid.store,
            &hybrid.embedder,
            &endpoint,
            &request.tenant,
            &request.query,
            candidates.clone(),
            self.inner.settings.embedding_weight,
        )
        .await;
        match reranked {
            Ok(mut hits) => {
                hits.truncate(limit);
                Ok(hits)
            }
            Err(e) => {
                tracing::warn!(error = %e, "embedding re-rank failed; BM25 order kept");
                candidates.truncate(limit);
                Ok(candidates)
            }
        }
    }

    /// The query's distinct terms per language.
    pub fn query_terms(&self, query: &str) -> Vec<(Lang, BTreeSet<String>)> {
        self.inner
            .analyzers
            .iter()
            .map(|(lang, analyzer)| {
                (
                    *lang,
                    analyzer::distinct_terms(&mut analyzer.clone(), query),
                )
            })
            .collect()
    }

    /// True when the query has at least one searchable term (not only stop words).
    pub fn has_terms(&self, query: &str) -> bool {
        self.query_terms(query).iter().any(|(_, t)| !t.is_empty())
    }

    /// BM25 over the tenant's chunks visible in `scope`; best first, at most `limit`, each at
    /// least `min_relevance`. Blocking.
    pub fn search_blocking(&self, request: &SearchRequest) -> KnowledgeResult<Vec<Hit>> {
        let f = &self.inner.fields;
        let asked = self.query_terms(&request.query);
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (lang, terms) in &asked {
            let Some((_, body, title)) = f.text.iter().find(|(l, ..)| l == lang) else {
                continue;
            };
            for term in terms {
                should.push((
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(*body, term),
                        IndexRecordOption::WithFreqs,
                    )),
                ));
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(
                            Term::from_field_text(*title, term),
                            IndexRecordOption::WithFreqs,
                        )),
                        TITLE_BOOST,
                    )),
                ));
            }
        }
        if should.is_empty() || request.limit == 0 {
            return Ok(Vec::new());
        }
        let exact = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        // Filters score nothing: only the text decides the order.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, Box::new(BooleanQuery::new(should))),
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    exact(f.tenant, request.tenant.as_str()),
                    0.0,
                )),
            ),
        ];
        if let Scope::Agent(agent) = &request.scope {
            let visible = BooleanQuery::new(vec![
                (Occur::Should, exact(f.agent, TENANT_WIDE)),
                (Occur::Should, exact(f.agent, agent.as_str())),
            ]);
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(visible), 0.0)),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let candidates = request
            .limit
            .saturating_mul(CANDIDATES_PER_RESULT)
            .max(MIN_CANDIDATES);
        let searcher = self.inner.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(candidates).order_by_score())?;
        let mut analyzers = self.inner.analyzers.clone();
        let mut hits = Vec::new();
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let passage = Passage {
                document_id: text(f.document_id),
                chunk_id: text(f.chunk_id),
                title: text(f.title),
                heading: text(f.heading),
                content: text(f.content),
            };
            let whole = format!(
                "{}\n{}\n{}",
                passage.title, passage.heading, passage.content
            );
            let relevance = asked
                .iter()
                .filter(|(_, terms)| !terms.is_empty())
                .map(|(lang, terms)| {
                    let analyzer = analyzers
                        .iter_mut()
                        .find(|(l, _)| l == lang)
                        .map(|(_, a)| a);
                    analyzer.map_or(0.0, |a| {
                        analyzer::coverage(terms, &analyzer::distinct_terms(a, &whole))
                    })
                })
                .fold(0.0, f64::max);
            if relevance > 0.0 && relevance >= request.min_relevance {
                hits.push(Hit {
                    score: f64::from(score),
                    relevance,
                    passage,
                });
                if hits.len() == request.limit {
                    break;
                }
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KnowledgeSettings {
        crate::config::Settings::load_from(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            "test",
            false,
            &[],
        )
        .expect("settings")
        .knowledge
    }

    fn chunk(
        tenant: &str,
        agent: Option<&str>,
        doc: &str,
        title: &str,
        content: &str,
    ) -> IndexedChunk {
        IndexedChunk {
            tenant_id: TenantId(tenant.into()),
            agent_id: agent.map(str::to_string),
            passage: Passage {
                document_id: doc.into(),
                chunk_id: format!("{doc}-0"),
                title: title.into(),
                heading: String::new(),
                content: content.into(),
            },
        }
    }

    fn search(index: &KnowledgeIndex, tenant: &str, scope: Scope, query: &str) -> Vec<Hit> {
        index
            .search_blocking(&SearchRequest {
                tenant: TenantId(tenant.into()),
                scope,
                query: query.into(),
                limit: 5,
                min_relevance: 0.0,
            })
            .expect("search")
    }

    #[test]
    fn ranks_by_bm25_within_the_tenant_and_scope() {
        let index = KnowledgeIndex::new(&settings(), None).expect("index");
        index
            .apply(
                &[],
                &[
                    chunk(
                        "t1",
                        None,
                        "d1",
                        "Política de trocas",
                        "Trocas de produtos em até 30 dias com a nota fiscal.",
                    ),
                    chunk(
                        "t1",
                        None,
                        "d2",
                        "Entrega",
                        "Entregamos em todo o Brasil em até 10 dias úteis.",
                    ),
                    chunk(
                        "t1",
                        Some("a1"),
                        "d3",
                        "Garantia",
                        "Produtos com defeito têm garantia de um ano.",
                    ),
                    chunk(
                        "t2",
                        None,
                        "d4",
                        "Trocas",
                        "Outra loja: trocas só com etiqueta.",
                    ),
                ],
            )
            .expect("indexed");
        assert_eq!(index.len(), 4);
        let hits = search(
            &index,
            "t1",
            Scope::Operator,
            "como faço para trôcar um produto?",
        );
        assert_eq!(hits[0].passage.document_id, "d1");
        assert!((hits[0].relevance - 1.0).abs() < 1e-9);
        assert!(hits.iter().all(|h| h.passage.document_id != "d4"));
        // Agent-scoped documents: only their agent (and operators) see them.
        let defeito = |scope| search(&index, "t1", scope, "garantia de produto com defeito");
        assert!(defeito(Scope::Operator)
            .iter()
            .any(|h| h.passage.document_id == "d3"));
        assert!(defeito(Scope::Agent(AgentId("a1".into())))
            .iter()
            .any(|h| h.passage.document_id == "d3"));
        assert!(defeito(Scope::Agent(AgentId("a2".into())))
            .iter()
            .all(|h| h.passage.document_id != "d3"));
        // Stop words only: nothing to search.
        assert!(search(&index, "t1", Scope::Operator, "como para o que").is_empty());
    }

    #[test]
    fn apply_replaces_and_removes_documents() {
        let index = KnowledgeIndex::new(&settings(), None).expect("index");
        index
            .apply(
                &[],
                &[chunk(
                    "t",
                    None,
                    "old",
                    "Horário",
                    "Atendemos das 8h às 18h.",
                )],
            )
            .expect("indexed");
        index
            .apply(
                &["old".into()],
                &[chunk(
                    "t",
                    None,
                    "new",
                    "Horário",
                    "Atendemos das 9h às 17h.",
                )],
            )
            .expect("replaced");
        let hits = search(&index, "t", Scope::Operator, "horário de atendimento");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].passage.document_id, "new");
        index.apply(&["new".into()], &[]).expect("removed");
        assert!(index.is_empty());
    }
}
