//! "Auto-create": a per-conversation switch (kept in `conversations.metadata.auto_create`)
//! under which booking requests, booked meetings and closings become activities by
//! themselves.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{activities, conversations};
use super::{json_column, DbConn, StoreResult};
use crate::domain::{ContactId, ConversationId, TenantId, UserId};

const KEY: &str = "auto_create";

/// Sets the switch, keeping every other metadata key as it is.
pub fn set(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    enabled: bool,
) -> StoreResult<()> {
    transaction(conn, |conn| {
        let raw: String = crate::db_run!(conn, |c| conversations::table
            .filter(conversations::tenant_id.eq(tenant))
            .filter(conversations::id.eq(conversation))
            .select(conversations::metadata)
            .first(c))?;
        let mut metadata: serde_json::Map<String, serde_json::Value> =
            json_column(&raw, "conversations.metadata")?;
        metadata.insert(KEY.into(), serde_json::Value::Bool(enabled));
        let updated = serde_json::Value::Object(metadata).to_string();
        crate::db_run!(conn, |c| diesel::update(
            conversations::table.filter(conversations::id.eq(conversation))
        )
        .set(conversations::metadata.eq(&updated))
        .execute(c))?;
        Ok(())
    })
}

pub fn enabled(conn: &mut DbConn, conversation: &ConversationId) -> StoreResult<bool> {
    let raw: Option<String> = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::id.eq(conversation))
        .select(conversations::metadata)
        .first(c)
        .optional())?;
    let Some(raw) = raw else {
        return Ok(false);
    };
    let metadata: serde_json::Value = json_column(&raw, "conversations.metadata")?;
    Ok(metadata.get(KEY).and_then(serde_json::Value::as_bool) == Some(true))
}

/// The conversations among `ids` that have the switch on: one query for a batch of events.
pub fn enabled_among(
    conn: &mut DbConn,
    ids: &[ConversationId],
) -> StoreResult<HashSet<ConversationId>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(ConversationId, String)> = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::id.eq_any(ids))
        .select((conversations::id, conversations::metadata))
        .load(c))?;
    let mut on = HashSet::new();
    for (id, raw) in rows {
        let metadata: serde_json::Value = json_column(&raw, "conversations.metadata")?;
        if metadata.get(KEY).and_then(serde_json::Value::as_bool) == Some(true) {
            on.insert(id);
        }
    }
    Ok(on)
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub tenant_id: TenantId,
    pub contact_id: Option<ContactId>,
    pub conversation_id: ConversationId,
    pub user_id: Option<UserId>,
    /// task | meeting | follow_up
    pub kind: &'static str,
    pub title: String,
    pub description: String,
    pub due_at: Option<NaiveDateTime>,
    pub data: serde_json::Value,
}

/// Creates the activity unless the conversation already has an open one of the same kind
/// (one booking request is one task, however many messages repeat it). Returns its id.
pub fn create_once(conn: &mut DbConn, new: &NewActivity) -> StoreResult<Option<String>> {
    transaction(conn, |conn| {
        let open: i64 = crate::db_run!(conn, |c| activities::table
            .filter(activities::tenant_id.eq(&new.tenant_id))
            .filter(activities::conversation_id.eq(&new.conversation_id))
            .filter(activities::kind.eq(new.kind))
            .filter(activities::done.eq(false))
            .count()
            .get_result(c))?;
        if open > 0 && new.kind != "meeting" {
            return Ok(None);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let now = super::now();
        crate::db_run!(conn, |c| diesel::insert_into(activities::table)
            .values((
                activities::id.eq(&id),
                activities::tenant_id.eq(&new.tenant_id),
                activities::contact_id.eq(&new.contact_id),
                activities::conversation_id.eq(&new.conversation_id),
                activities::user_id.eq(&new.user_id),
                activities::kind.eq(new.kind),
                activities::title.eq(&new.title),
                activities::description.eq(&new.description),
                activities::due_at.eq(new.due_at),
                activities::done.eq(false),
                activities::data.eq(new.data.to_string()),
                activities::created_at.eq(now),
                activities::updated_at.eq(now),
            ))
            .execute(c))?;
        Ok(Some(id))
    })
}

/// [`create_once`] when the activity's conversation has the switch on; `None` otherwise.
pub fn create_if_enabled(conn: &mut DbConn, new: &NewActivity) -> StoreResult<Option<String>> {
    if !enabled(conn, &new.conversation_id)? {
        return Ok(None);
    }
    create_once(conn, new)
}

/// Activities of a conversation as `(kind, title, description)`, oldest first.
pub fn for_conversation(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> StoreResult<Vec<(String, String, String)>> {
    Ok(crate::db_run!(conn, |c| activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::conversation_id.eq(conversation))
        .order(activities::created_at.asc())
        .select((activities::kind, activities::title, activities::description))
        .load(c))?)
}
