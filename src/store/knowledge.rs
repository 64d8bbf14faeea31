//! Knowledge documents and their chunks: the source of truth the search index is built from.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{knowledge_chunks, knowledge_documents};
use super::{DbConn, StoreResult};
use crate::domain::TenantId;

/// A chunk with what answering and citing need. Defined with the rows it is read from, so
/// the store needs nothing of the search index (which builds on the store).
#[derive(Debug, Clone)]
pub struct Passage {
    pub document_id: String,
    pub chunk_id: String,
    pub title: String,
    pub heading: String,
    pub content: String,
}

/// One chunk as the index holds it.
#[derive(Debug, Clone)]
pub struct IndexedChunk {
    pub tenant_id: TenantId,
    /// `None`: visible to every agent of the tenant.
    pub agent_id: Option<String>,
    pub passage: Passage,
}

/// A document row (`content` is the extracted text, not the uploaded bytes).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = knowledge_documents)]
pub struct Document {
    pub id: String,
    pub tenant_id: TenantId,
    pub agent_id: Option<String>,
    pub title: String,
    pub source_type: String,
    pub content: String,
    pub size_bytes: i64,
    pub checksum: String,
    /// JSON: `{"chunk_count": n, "file_name": …}`.
    pub metadata: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A document without its text, for lists.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = knowledge_documents)]
pub struct DocumentSummary {
    pub id: String,
    pub tenant_id: TenantId,
    pub agent_id: Option<String>,
    pub title: String,
    pub source_type: String,
    pub size_bytes: i64,
    pub checksum: String,
    pub metadata: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<Document> for DocumentSummary {
    fn from(d: Document) -> Self {
        DocumentSummary {
            id: d.id,
            tenant_id: d.tenant_id,
            agent_id: d.agent_id,
            title: d.title,
            source_type: d.source_type,
            size_bytes: d.size_bytes,
            checksum: d.checksum,
            metadata: d.metadata,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = knowledge_chunks)]
pub struct NewChunk {
    pub id: String,
    pub tenant_id: TenantId,
    pub document_id: String,
    pub position: i32,
    pub heading: String,
    pub content: String,
    pub search_terms: String,
    pub embedding: Option<Vec<u8>>,
    pub created_at: NaiveDateTime,
}

/// Rows per multi-row INSERT: far below SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_BATCH: usize = 200;

/// Inserts a document and its chunks (call inside a transaction).
pub fn insert(conn: &mut DbConn, document: &Document, chunks: &[NewChunk]) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(knowledge_documents::table)
        .values(document)
        .execute(c))?;
    for batch in chunks.chunks(INSERT_BATCH) {
        crate::db_run!(conn, |c| diesel::insert_into(knowledge_chunks::table)
            .values(batch)
            .execute(c))?;
    }
    Ok(())
}

/// Ids of the tenant's documents with this title in this scope (`None`: tenant-wide), which
/// an upload of the same title replaces.
pub fn same_title(
    conn: &mut DbConn,
    tenant: &TenantId,
    title: &str,
    agent: Option<&str>,
) -> StoreResult<Vec<String>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = knowledge_documents::table
            .filter(knowledge_documents::tenant_id.eq(tenant))
            .filter(knowledge_documents::title.eq(title))
            .select(knowledge_documents::id)
            .into_boxed();
        query = match agent {
            Some(agent) => query.filter(knowledge_documents::agent_id.eq(agent)),
            None => query.filter(knowledge_documents::agent_id.is_null()),
        };
        query.load(c)
    })?)
}

/// How many documents the tenant stores and their total size in bytes, leaving out `except`
/// (documents about to be replaced). On PostgreSQL the tenant's row is locked first, so two
/// concurrent uploads cannot both fit into the last of the quota (SQLite's write transaction
/// already serializes them).
pub fn usage(conn: &mut DbConn, tenant: &TenantId, except: &[String]) -> StoreResult<(i64, i64)> {
    use super::schema::tenants;
    if let DbConn::Postgres(pooled) = conn {
        let c: &mut diesel::PgConnection = &mut *pooled;
        tenants::table
            .filter(tenants::id.eq(tenant))
            .select(tenants::id)
            .for_update()
            .first::<String>(c)?;
    }
    // One size per document (the quota keeps this list short); summed here because SQL's
    // SUM of a BIGINT is NUMERIC on PostgreSQL.
    let sizes: Vec<i64> = crate::db_run!(conn, |c| knowledge_documents::table
        .filter(knowledge_documents::tenant_id.eq(tenant))
        .filter(knowledge_documents::id.ne_all(except))
        .select(knowledge_documents::size_bytes)
        .load(c))?;
    let count = i64::try_from(sizes.len()).unwrap_or(i64::MAX);
    let bytes = sizes
        .iter()
        .fold(0_i64, |total, size| total.saturating_add(*size));
    Ok((count, bytes))
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<Document> {
    Ok(crate::db_run!(conn, |c| knowledge_documents::table
        .filter(knowledge_documents::tenant_id.eq(tenant))
        .filter(knowledge_documents::id.eq(id))
        .select(Document::as_select())
        .first(c))?)
}

/// Keyset page of the tenant's documents, by id (UUIDv7: upload order).
pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&String>,
) -> StoreResult<Vec<DocumentSummary>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = knowledge_documents::table
            .filter(knowledge_documents::tenant_id.eq(tenant))
            .select(DocumentSummary::as_select())
            .order(knowledge_documents::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(knowledge_documents::id.gt(after));
        }
        query.load(c)
    })?)
}

/// Deletes documents and their chunks (chunks first: no cascade is assumed); returns the
/// number of documents deleted. Tenant-checked by the caller (see [`find`]).
pub fn delete(conn: &mut DbConn, ids: &[String]) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    crate::db_run!(conn, |c| diesel::delete(
        knowledge_chunks::table.filter(knowledge_chunks::document_id.eq_any(ids))
    )
    .execute(c))?;
    Ok(crate::db_run!(conn, |c| diesel::delete(
        knowledge_documents::table.filter(knowledge_documents::id.eq_any(ids))
    )
    .execute(c))?)
}

/// A chunk as the index needs it: id, tenant, document, heading, content, title, agent.
type IndexRow = (
    String,
    TenantId,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// Which chunks the index loads.
enum Chunks<'a> {
    /// At most `limit` after `after` by chunk id (the rebuild's pages).
    Page { after: Option<&'a str>, limit: i64 },
    /// All of these documents'.
    Of(&'a [String]),
}

fn load_indexed(conn: &mut DbConn, which: Chunks<'_>) -> StoreResult<Vec<IndexedChunk>> {
    let rows: Vec<IndexRow> = crate::db_run!(conn, |c| {
        let mut query = knowledge_chunks::table
            .inner_join(knowledge_documents::table)
            .select((
                knowledge_chunks::id,
                knowledge_chunks::tenant_id,
                knowledge_chunks::document_id,
                knowledge_chunks::heading,
                knowledge_chunks::content,
                knowledge_documents::title,
                knowledge_documents::agent_id,
            ))
            .order(knowledge_chunks::id.asc())
            .into_boxed();
        match &which {
            Chunks::Page { after, limit } => {
                query = query.limit(*limit);
                if let Some(after) = after {
                    query = query.filter(knowledge_chunks::id.gt(*after));
                }
            }
            Chunks::Of(documents) => {
                query = query.filter(knowledge_chunks::document_id.eq_any(*documents));
            }
        }
        query.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(chunk_id, tenant_id, document_id, heading, content, title, agent_id)| IndexedChunk {
                tenant_id,
                agent_id,
                passage: Passage {
                    document_id,
                    chunk_id,
                    title,
                    heading,
                    content,
                },
            },
        )
        .collect())
}

/// Chunks after `after` (by chunk id) with their document's title and scope, for the index.
pub fn index_page(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<IndexedChunk>> {
    load_indexed(conn, Chunks::Page { after, limit })
}

/// The chunks of these documents as stored now (none for a deleted document): what a peer
/// node re-indexes when told the documents changed.
pub fn document_chunks(conn: &mut DbConn, documents: &[String]) -> StoreResult<Vec<IndexedChunk>> {
    load_indexed(conn, Chunks::Of(documents))
}

/// Stored embeddings of these chunks (tenant-checked), as raw little-endian f32 bytes.
pub fn embeddings(
    conn: &mut DbConn,
    tenant: &TenantId,
    chunk_ids: &[String],
) -> StoreResult<Vec<(String, Option<Vec<u8>>)>> {
    Ok(crate::db_run!(conn, |c| knowledge_chunks::table
        .filter(knowledge_chunks::tenant_id.eq(tenant))
        .filter(knowledge_chunks::id.eq_any(chunk_ids))
        .select((knowledge_chunks::id, knowledge_chunks::embedding))
        .load(c))?)
}

pub fn set_embedding(
    conn: &mut DbConn,
    tenant: &TenantId,
    chunk_id: &str,
    embedding: &[u8],
) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        knowledge_chunks::table
            .filter(knowledge_chunks::tenant_id.eq(tenant))
            .filter(knowledge_chunks::id.eq(chunk_id))
    )
    .set(knowledge_chunks::embedding.eq(Some(embedding)))
    .execute(c))?;
    Ok(())
}
