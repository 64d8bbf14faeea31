//! Uploading, replacing and deleting documents: the database and the index kept in step.
//!
//! Order of a write: extract and chunk (blocking pool) → one database transaction inserting
//! the new document and its chunks → one index change removing the replaced documents and
//! adding the new chunks. If the index change fails, it is rolled back and the new rows are
//! deleted again, so the old version stays, whole, in both. Only once the index holds the new
//! version are the replaced rows deleted; should that last delete fail, the next start
//! (which rebuilds the index from the database) would show both versions, never half of one.

use sha2::{Digest, Sha256};

use super::chunking::{self, ChunkSizes};
use super::extract::{self, SourceType};
use super::extract_child;
use super::index::{IndexedChunk, Passage};
use super::{blocking, KnowledgeError, KnowledgeIndex, KnowledgeResult};
use crate::domain::{AgentId, TenantId};
use crate::store::knowledge::{self as store_knowledge, Document, NewChunk};
use crate::store::{self, Store};

/// The per-tenant limits of the knowledge base.
#[derive(Debug, Clone, Copy)]
struct Quota {
    documents: i64,
    bytes: i64,
}

impl Quota {
    /// Whether a tenant using `(documents, bytes)` may add a document of `size` bytes.
    fn admits(self, (documents, bytes): (i64, i64), size: i64) -> KnowledgeResult<()> {
        let would_be = documents.saturating_add(1);
        if would_be > self.documents {
            return Err(KnowledgeError::QuotaExceeded {
                quota: "documents",
                limit: self.documents,
                would_be,
            });
        }
        let would_be = bytes.saturating_add(size);
        if would_be > self.bytes {
            return Err(KnowledgeError::QuotaExceeded {
                quota: "bytes",
                limit: self.bytes,
                would_be,
            });
        }
        Ok(())
    }
}

/// An upload, already authorized; the bytes are not yet checked.
#[derive(Debug, Clone)]
pub struct Upload {
    pub tenant: TenantId,
    pub agent: Option<AgentId>,
    pub title: String,
    pub source: SourceType,
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
    /// Request field named in errors about the bytes (`content` or `file`).
    pub field: &'static str,
}

/// A stored document and how many chunks it was cut into.
#[derive(Debug, Clone)]
pub struct Stored {
    pub document: Document,
    pub chunk_count: usize,
}

struct Prepared {
    text: String,
    chunks: Vec<chunking::Chunk>,
    checksum: String,
}

/// `pdf_text`: the text the extraction child read from a PDF upload.
fn prepare(
    upload: &Upload,
    pdf_text: Option<String>,
    sizes: ChunkSizes,
) -> KnowledgeResult<Prepared> {
    let text = match pdf_text {
        Some(raw) => extract::finish(upload.source, &raw, upload.field)?,
        None => extract::extract(upload.source, &upload.bytes, upload.field)?,
    };
    let chunks = chunking::chunk(&text, sizes);
    if chunks.is_empty() {
        return Err(KnowledgeError::invalid(upload.field, "has no text"));
    }
    Ok(Prepared {
        checksum: hex::encode(Sha256::digest(&upload.bytes)),
        text,
        chunks,
    })
}

/// Stores and indexes a document, replacing the tenant's document with the same title in the
/// same scope (tenant-wide or the same agent).
pub async fn upload(
    store: &Store,
    index: &KnowledgeIndex,
    upload: Upload,
) -> KnowledgeResult<Stored> {
    let settings = index.settings();
    if upload.bytes.len() > settings.max_document_bytes {
        return Err(KnowledgeError::invalid(
            upload.field,
            format!(
                "is larger than the {} bytes allowed (knowledge.max_document_bytes)",
                settings.max_document_bytes
            ),
        ));
    }
    let sizes = ChunkSizes {
        chars: settings.chunk_chars,
        overlap: settings.chunk_overlap_chars,
    };
    let field = upload.field;
    // PDFs are parsed in a child process that the kernel limits and the timeout kills; the
    // other formats are plain text or HTML rendering, bounded by the document size.
    let pdf_text = if upload.source == SourceType::Pdf {
        if upload.bytes.is_empty() {
            return Err(KnowledgeError::invalid(field, "is empty"));
        }
        extract::check_pdf(&upload.bytes, field)?;
        Some(extract_child::pdf_text(settings, upload.bytes.clone(), field).await?)
    } else {
        None
    };
    let extraction = blocking(move || {
        let prepared = prepare(&upload, pdf_text, sizes)?;
        Ok((upload, prepared))
    });
    let limit = std::time::Duration::from_secs(settings.extract_timeout_seconds);
    let (upload, prepared) = tokio::time::timeout(limit, extraction)
        .await
        .map_err(|_| {
            KnowledgeError::invalid(
                field,
                format!(
                    "could not be read within {} seconds (knowledge.extract_timeout_seconds)",
                    settings.extract_timeout_seconds
                ),
            )
        })??;

    let now = store::now();
    let document_id = uuid::Uuid::now_v7().to_string();
    let chunk_count = prepared.chunks.len();
    let agent = upload.agent.as_ref().map(|a| a.as_str().to_string());
    let metadata = serde_json::json!({
        "chunk_count": chunk_count,
        "file_name": upload.file_name,
    })
    .to_string();
    let document = Document {
        id: document_id.clone(),
        tenant_id: upload.tenant.clone(),
        agent_id: agent.clone(),
        title: upload.title.clone(),
        source_type: upload.source.as_str().to_string(),
        content: prepared.text,
        size_bytes: i64::try_from(upload.bytes.len()).unwrap_or(i64::MAX),
        checksum: prepared.checksum,
        metadata,
        created_at: now,
        updated_at: now,
    };
    let rows: Vec<NewChunk> = prepared
        .chunks
        .iter()
        .enumerate()
        .map(|(position, c)| NewChunk {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: upload.tenant.clone(),
            document_id: document_id.clone(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            heading: c.heading.clone(),
            content: c.content.clone(),
            // The index analyzes the text itself; the column stays for other search backends.
            search_terms: String::new(),
            embedding: None,
            created_at: now,
        })
        .collect();
    let indexed: Vec<IndexedChunk> = rows
        .iter()
        .map(|r| IndexedChunk {
            tenant_id: r.tenant_id.clone(),
            agent_id: agent.clone(),
            passage: Passage {
                document_id: document_id.clone(),
                chunk_id: r.id.clone(),
                title: document.title.clone(),
                heading: r.heading.clone(),
                content: r.content.clone(),
            },
        })
        .collect();

    let to_insert = document.clone();
    let quota = Quota {
        documents: settings.max_documents_per_tenant,
        bytes: settings.max_bytes_per_tenant,
    };
    let replaced = store
        .transaction(move |conn| {
            let mut replaced = store_knowledge::same_title(
                conn,
                &to_insert.tenant_id,
                &to_insert.title,
                to_insert.agent_id.as_deref(),
            )?;
            // A newer upload of the same title, committed first, wins (see settle_same_title).
            replaced.retain(|id| *id < to_insert.id);
            // A replaced document frees its room in the same transaction.
            let used = store_knowledge::usage(conn, &to_insert.tenant_id, &replaced)?;
            if let Err(over) = quota.admits(used, to_insert.size_bytes) {
                return Ok(Err(over));
            }
            store_knowledge::insert(conn, &to_insert, &rows)?;
            Ok(Ok(replaced))
        })
        .await??;

    let change = index.clone();
    let removed = replaced.clone();
    let indexed_ok = blocking(move || change.apply(&removed, &indexed)).await;
    if let Err(e) = indexed_ok {
        let id = document_id.clone();
        if let Err(undo) = store
            .transaction(move |conn| store_knowledge::delete(conn, &[id]).map(|_| ()))
            .await
        {
            tracing::error!(document = %document_id, error = %undo, "un-indexed document not removed; the next start indexes it");
        }
        return Err(e);
    }
    if !replaced.is_empty() {
        let old = replaced.clone();
        if let Err(e) = store
            .transaction(move |conn| store_knowledge::delete(conn, &old).map(|_| ()))
            .await
        {
            tracing::error!(documents = ?replaced, error = %e, "replaced documents not deleted");
        }
    }
    let mut touched = settle_same_title(store, index, &document).await;
    touched.extend(replaced);
    touched.push(document.id.clone());
    index.announce(touched);
    Ok(Stored {
        document,
        chunk_count,
    })
}

/// Concurrent uploads of one title each insert before seeing the other. Every upload, once
/// its own document is committed and indexed, keeps only the newest (ids are time-ordered) of
/// that title and scope, in the store and in the index: the last of them to get here sees
/// them all, so exactly one survives. The documents it took out.
async fn settle_same_title(
    store: &Store,
    index: &KnowledgeIndex,
    document: &Document,
) -> Vec<String> {
    let (tenant, title, agent) = (
        document.tenant_id.clone(),
        document.title.clone(),
        document.agent_id.clone(),
    );
    let found = store
        .run(move |conn| store_knowledge::same_title(conn, &tenant, &title, agent.as_deref()))
        .await;
    let mut ids = match found {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(document = %document.id, error = %e, "same-title documents not checked");
            return Vec::new();
        }
    };
    ids.sort();
    let newest = ids.pop();
    // Ours may already be gone from the store, deleted by a newer upload's settling before
    // we indexed it: then only we can take it out of the index.
    if newest.as_deref() != Some(document.id.as_str()) && !ids.contains(&document.id) {
        ids.push(document.id.clone());
    }
    if ids.is_empty() {
        return ids;
    }
    let stale = ids.clone();
    let change = index.clone();
    if let Err(e) = blocking(move || change.apply(&stale, &[])).await {
        tracing::warn!(documents = ?ids, error = %e, "superseded documents not unindexed");
        return Vec::new();
    }
    let stale = ids.clone();
    if let Err(e) = store
        .transaction(move |conn| store_knowledge::delete(conn, &stale).map(|_| ()))
        .await
    {
        tracing::error!(documents = ?ids, error = %e, "superseded documents not deleted");
    }
    ids
}

/// Deletes a document of the tenant, its chunks and its index entries.
pub async fn delete(
    store: &Store,
    index: &KnowledgeIndex,
    tenant: &TenantId,
    id: &str,
) -> KnowledgeResult<()> {
    let (tenant, key) = (tenant.clone(), id.to_string());
    store
        .transaction(move |conn| {
            store_knowledge::find(conn, &tenant, &key)?;
            store_knowledge::delete(conn, &[key])?;
            Ok(())
        })
        .await?;
    let change = index.clone();
    let removed = vec![id.to_string()];
    let unindexed = blocking(move || change.apply(&removed, &[])).await;
    index.announce(vec![id.to_string()]);
    if let Err(e) = unindexed {
        // The rows are gone; the stale entries go at the next start's rebuild. Say so loudly:
        // until then the document can still be cited.
        tracing::error!(document = %id, error = %e, "deleted document still in the search index");
        return Err(e);
    }
    Ok(())
}

/// The chunk count recorded in a document's metadata.
pub fn chunk_count(metadata: &str) -> usize {
    serde_json::from_str::<serde_json::Value>(metadata)
        .ok()
        .and_then(|m| m["chunk_count"].as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}
