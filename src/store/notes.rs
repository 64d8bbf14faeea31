//! Private notes between colleagues (`conversation_notes`): a table of their own, so no query
//! over messages (the AI's history, channels, the web chat, webhooks) can return one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::conversation_notes;
use super::{DbConn, StoreResult};
use crate::domain::desk::NoteKind;
use crate::domain::{ConversationId, TenantId};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = conversation_notes)]
pub struct Note {
    pub id: String,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub author_id: String,
    pub kind: NoteKind,
    pub content: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, note: &Note) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(conversation_notes::table)
        .values(note)
        .execute(c))?;
    Ok(())
}

/// A conversation's notes, oldest first, after `after` (a note id: ids are time-ordered).
pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    limit: i64,
    after: Option<&str>,
) -> StoreResult<Vec<Note>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = conversation_notes::table
            .filter(conversation_notes::tenant_id.eq(tenant))
            .filter(conversation_notes::conversation_id.eq(conversation))
            .select(Note::as_select())
            .order(conversation_notes::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(conversation_notes::id.gt(after));
        }
        query.load(c)
    })?)
}
