//! Contacts as operators manage them (`/api/v1/contacts`): filtered listing, creation by
//! hand, edits. Channel-side lookups and upserts stay in `contacts.rs`, on the engine's
//! write path.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::contacts::Contact;
use super::schema::contacts;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{ContactId, IntegrationId, TenantId, UserId};

diesel::define_sql_function! {
    /// SQL `lower()`, the same on SQLite and PostgreSQL.
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    /// Case-insensitive substring of name, phone or e-mail.
    pub q: Option<String>,
    /// Contacts carrying this tag.
    pub tag: Option<String>,
    pub integration_id: Option<IntegrationId>,
    pub is_vip: Option<bool>,
    /// Only the contacts this agent may read (`domain::role::may_read_contact`): reached
    /// through a conversation it may open, or with no conversation yet.
    pub agent_reach: Option<UserId>,
    /// Only these contacts (a batch lookup: the names of a page of conversations).
    pub ids: Option<Vec<ContactId>>,
}

/// `%term%` for LIKE, with the wildcards of the term itself escaped (escape char `\`).
pub fn like_pattern(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// Newest first; pages continue `before` a contact id (ids are time ordered).
pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    filter: &ContactFilter,
    limit: i64,
    before: Option<&ContactId>,
) -> StoreResult<Vec<Contact>> {
    let q = filter.q.as_deref().map(|q| like_pattern(&q.to_lowercase()));
    // Tags are a JSON array of strings: match the quoted element.
    let tag = filter
        .tag
        .as_deref()
        .map(|t| like_pattern(&serde_json::Value::from(t).to_string()));
    Ok(crate::db_run!(conn, |c| {
        let mut query = contacts::table
            .filter(contacts::tenant_id.eq(tenant))
            .select(Contact::as_select())
            .order(contacts::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(q) = &q {
            query = query.filter(
                lower(contacts::name)
                    .like(q)
                    .escape('\\')
                    .or(contacts::phone.like(q).escape('\\'))
                    .or(lower(contacts::email).like(q).escape('\\')),
            );
        }
        if let Some(tag) = &tag {
            query = query.filter(contacts::tags.like(tag).escape('\\'));
        }
        if let Some(integration) = &filter.integration_id {
            query = query.filter(contacts::integration_id.eq(integration));
        }
        if let Some(ids) = &filter.ids {
            query = query.filter(contacts::id.eq_any(ids));
        }
        if let Some(vip) = filter.is_vip {
            query = query.filter(contacts::is_vip.eq(vip));
        }
        if let Some(me) = &filter.agent_reach {
            query = query.filter(
                contacts::id
                    .eq_any(crate::openable_by_agent!(tenant, &me.0, contact_id))
                    .or(diesel::dsl::not(
                        contacts::id.eq_any(crate::contacts_with_conversations!(tenant)),
                    )),
            );
        }
        if let Some(before) = before {
            query = query.filter(contacts::id.lt(before));
        }
        query.load(c)
    })?)
}

pub fn insert(conn: &mut DbConn, contact: &Contact) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(contacts::table)
        .values(contact)
        .execute(c))?;
    Ok(())
}

/// Fields a PATCH may change; `None` leaves a column, `Some(None)` clears a nullable one.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = contacts)]
pub struct ContactChanges {
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub is_vip: Option<bool>,
    pub tags: Option<String>,
    pub custom_fields: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &ContactId,
    changes: &ContactChanges,
) -> StoreResult<Contact> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        contacts::table
            .filter(contacts::tenant_id.eq(tenant))
            .filter(contacts::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    super::contacts::find(conn, tenant, id)
}

/// A channel told us the contact's name (Evolution `chats.update`). Returns whether a known
/// contact of that channel identity changed.
pub fn rename_from_channel(
    conn: &mut DbConn,
    tenant: &TenantId,
    integration: &IntegrationId,
    external_id: &str,
    name: &str,
) -> StoreResult<bool> {
    let now = super::now();
    let updated = crate::db_run!(conn, |c| diesel::update(
        contacts::table
            .filter(contacts::tenant_id.eq(tenant))
            .filter(contacts::integration_id.eq(integration))
            .filter(contacts::external_id.eq(external_id))
            .filter(contacts::name.ne(name).or(contacts::name.is_null()))
    )
    .set((contacts::name.eq(name), contacts::updated_at.eq(now)))
    .execute(c))?;
    Ok(updated > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("ana"), "%ana%");
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
