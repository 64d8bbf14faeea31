//! Memories: durable facts about a contact, per contact and agent (`agent_id` NULL: shared by
//! every agent), unique per (contact, fingerprint) so a fact seen again is refreshed, not
//! duplicated.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::memories;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::memory::{fingerprint, Fact};
use crate::domain::{AgentId, ContactId, ConversationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memories)]
pub struct Memory {
    pub id: String,
    pub tenant_id: TenantId,
    pub contact_id: ContactId,
    pub agent_id: Option<String>,
    pub kind: String,
    pub content: String,
    pub fingerprint: String,
    pub source_conversation_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Where extracted facts come from and whom they belong to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub tenant: TenantId,
    pub contact: ContactId,
    pub agent: Option<AgentId>,
    pub conversation: ConversationId,
}

/// Stores `facts`: new ones are inserted, known ones (same fingerprint) get their
/// `updated_at` refreshed, which makes them rank as recent again. Then the contact's oldest
/// memories beyond `max_per_contact` are forgotten. One transaction: readers see all of an
/// extraction or none of it. Returns how many were new.
pub fn remember(
    conn: &mut DbConn,
    owner: &Owner,
    facts: &[Fact],
    max_per_contact: i64,
) -> StoreResult<usize> {
    super::executor::transaction(conn, |conn| {
        remember_in(conn, owner, facts, max_per_contact)
    })
}

fn remember_in(
    conn: &mut DbConn,
    owner: &Owner,
    facts: &[Fact],
    max_per_contact: i64,
) -> StoreResult<usize> {
    let now = super::now();
    let agent = owner.agent.as_ref().map(|a| a.to_string());
    let mut added = 0;
    for fact in facts {
        let print = fingerprint(agent.as_deref(), &fact.content);
        let refreshed = crate::db_run!(conn, |c| diesel::update(
            memories::table
                .filter(memories::contact_id.eq(&owner.contact))
                .filter(memories::fingerprint.eq(&print))
        )
        .set(memories::updated_at.eq(now))
        .execute(c))?;
        if refreshed > 0 {
            continue;
        }
        let row = Memory {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: owner.tenant.clone(),
            contact_id: owner.contact.clone(),
            agent_id: agent.clone(),
            kind: fact.kind.as_str().to_string(),
            content: fact.content.clone(),
            fingerprint: print,
            source_conversation_id: Some(owner.conversation.to_string()),
            created_at: now,
            updated_at: now,
        };
        // A savepoint: a unique violation (another extraction stored the same fact in
        // between) must not abort the whole transaction on PostgreSQL.
        let inserted = super::executor::transaction(conn, |conn| {
            Ok(crate::db_run!(conn, |c| diesel::insert_into(
                memories::table
            )
            .values(&row)
            .execute(c))?)
        });
        match inserted {
            Ok(_) => added += 1,
            // The fact is remembered either way.
            Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
    }
    forget_beyond(conn, &owner.contact, max_per_contact)?;
    Ok(added)
}

/// Deletes the contact's memories older than its `keep` most recent ones.
fn forget_beyond(conn: &mut DbConn, contact: &ContactId, keep: i64) -> StoreResult<()> {
    let stale: Vec<String> = crate::db_run!(conn, |c| memories::table
        .filter(memories::contact_id.eq(contact))
        .order((memories::updated_at.desc(), memories::id.desc()))
        .offset(keep)
        .select(memories::id)
        .load(c))?;
    if !stale.is_empty() {
        crate::db_run!(conn, |c| diesel::delete(
            memories::table.filter(memories::id.eq_any(&stale))
        )
        .execute(c))?;
    }
    Ok(())
}

/// What an agent may recall about a contact: its own memories and the shared ones, most
/// recent first, at most `limit`.
pub fn for_prompt(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
    agent: &AgentId,
    limit: i64,
) -> StoreResult<Vec<Memory>> {
    Ok(crate::db_run!(conn, |c| memories::table
        .filter(memories::tenant_id.eq(tenant))
        .filter(memories::contact_id.eq(contact))
        .filter(
            memories::agent_id
                .eq(agent.as_str())
                .or(memories::agent_id.is_null())
        )
        .order((memories::updated_at.desc(), memories::id.desc()))
        .limit(limit)
        .select(Memory::as_select())
        .load(c))?)
}

/// Every memory of a contact (operators' view), most recent first.
pub fn list(conn: &mut DbConn, tenant: &TenantId, contact: &ContactId) -> StoreResult<Vec<Memory>> {
    Ok(crate::db_run!(conn, |c| memories::table
        .filter(memories::tenant_id.eq(tenant))
        .filter(memories::contact_id.eq(contact))
        .order((memories::updated_at.desc(), memories::id.desc()))
        .select(Memory::as_select())
        .load(c))?)
}

/// Erases every memory of a contact; returns how many.
pub fn delete_all(conn: &mut DbConn, tenant: &TenantId, contact: &ContactId) -> StoreResult<usize> {
    Ok(crate::db_run!(conn, |c| diesel::delete(
        memories::table
            .filter(memories::tenant_id.eq(tenant))
            .filter(memories::contact_id.eq(contact))
    )
    .execute(c))?)
}

/// Erases one memory of a contact; `NotFound` when it is not that contact's (or tenant's).
pub fn delete_one(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
    id: &str,
) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        memories::table
            .filter(memories::tenant_id.eq(tenant))
            .filter(memories::contact_id.eq(contact))
            .filter(memories::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
