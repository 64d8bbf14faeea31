//! Knowledge documents and their chunks.

use diesel::prelude::*;

use super::schema::{knowledge_chunks, knowledge_documents};
use super::{DbConn, StoreResult};
use crate::domain::TenantId;

/// A chunk with the title of its document, for answering and citing.
#[derive(Debug, Clone)]
pub struct Passage {
    pub document_id: String,
    pub chunk_id: String,
    pub title: String,
    pub content: String,
}

pub fn passages(conn: &mut DbConn, tenant: &TenantId, limit: i64) -> StoreResult<Vec<Passage>> {
    let rows: Vec<(String, String, String, String)> =
        crate::db_run!(conn, |c| knowledge_chunks::table
            .inner_join(knowledge_documents::table)
            .filter(knowledge_chunks::tenant_id.eq(tenant))
            .select((
                knowledge_documents::id,
                knowledge_chunks::id,
                knowledge_documents::title,
                knowledge_chunks::content,
            ))
            .limit(limit)
            .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(document_id, chunk_id, title, content)| Passage {
            document_id,
            chunk_id,
            title,
            content,
        })
        .collect())
}
