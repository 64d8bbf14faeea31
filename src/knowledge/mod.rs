//! The knowledge base: operators upload documents (text, Markdown, HTML, PDF), which are
//! turned into text ([`extract`]), cut into overlapping chunks by headings and paragraphs
//! ([`chunking`]), stored (the database is the source of truth: `knowledge_documents`,
//! `knowledge_chunks`) and indexed for BM25 search with Portuguese and English stemming and
//! accent folding ([`analyzer`], [`index`]). [`documents`] keeps the database and the index in
//! step; [`embeddings`] adds the optional cosine re-rank.

pub mod analyzer;
pub mod chunking;
pub mod documents;
pub mod embeddings;
pub mod extract;
pub mod extract_child;
pub mod index;

pub use index::{Hit, KnowledgeIndex, Passage, Scope, SearchRequest};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// Bad input (empty, binary, too large, corrupt, no text …): the caller's to fix.
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The search index failed; nothing was half-applied (see [`documents`]).
    #[error("search index: {0}")]
    Index(String),
    /// The tenant's document quota (`knowledge.max_documents_per_tenant`,
    /// `max_bytes_per_tenant`) has no room for the upload.
    #[error("the tenant's knowledge base is full: {quota} would be {would_be}, over the limit of {limit}")]
    QuotaExceeded {
        quota: &'static str,
        limit: i64,
        would_be: i64,
    },
    /// Blocking work (extraction, indexing, search) could not run or panicked.
    #[error("knowledge work did not finish: {0}")]
    Worker(String),
}

impl KnowledgeError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        KnowledgeError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<tantivy::TantivyError> for KnowledgeError {
    fn from(e: tantivy::TantivyError) -> Self {
        KnowledgeError::Index(e.to_string())
    }
}

pub type KnowledgeResult<T> = Result<T, KnowledgeError>;

/// Runs CPU-heavy or blocking work (PDF parsing, indexing, search) on tokio's blocking pool,
/// so neither an HTTP worker nor an actor's arbiter stalls on it.
pub(crate) async fn blocking<T, F>(work: F) -> KnowledgeResult<T>
where
    F: FnOnce() -> KnowledgeResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KnowledgeError::Worker(e.to_string()))?
}
