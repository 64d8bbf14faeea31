//! Contacts: the customers, identified per channel by (integration, external id).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::contacts;
use super::{DbConn, StoreResult};
use crate::domain::{ContactId, IntegrationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = contacts)]
// `None` is written as NULL, not DEFAULT, so many rows insert as one statement on SQLite too.
#[diesel(treat_none_as_default_value = false)]
pub struct Contact {
    pub id: ContactId,
    pub tenant_id: TenantId,
    pub integration_id: Option<IntegrationId>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub is_vip: bool,
    pub tags: String,
    pub custom_fields: String,
    pub last_owner_type: Option<String>,
    pub last_owner_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a channel tells us about the sender of a message.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ChannelIdentity {
    pub external_id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &ContactId) -> StoreResult<Contact> {
    Ok(crate::db_run!(conn, |c| contacts::table
        .filter(contacts::tenant_id.eq(tenant))
        .filter(contacts::id.eq(id))
        .select(Contact::as_select())
        .first(c))?)
}

/// Finds the contact behind a channel identity, creating it on first contact and filling in
/// details the channel newly provides.
pub fn upsert_from_channel(
    conn: &mut DbConn,
    tenant: &TenantId,
    integration: &IntegrationId,
    who: &ChannelIdentity,
) -> StoreResult<Contact> {
    let existing = find_by_channel(conn, tenant, integration, &[who.external_id.as_str()])?;
    let now = super::now();
    match existing.into_iter().next() {
        Some(mut contact) => {
            if merge_details(&mut contact, who, now) {
                update_details(conn, &contact)?;
            }
            Ok(contact)
        }
        None => {
            let contact = Contact::first_seen(tenant, integration, who, now);
            insert_many(conn, std::slice::from_ref(&contact))?;
            Ok(contact)
        }
    }
}

impl Contact {
    /// A contact as a channel first reports it.
    pub fn first_seen(
        tenant: &TenantId,
        integration: &IntegrationId,
        who: &ChannelIdentity,
        now: NaiveDateTime,
    ) -> Contact {
        Contact {
            id: ContactId::new(),
            tenant_id: tenant.clone(),
            integration_id: Some(integration.clone()),
            external_id: Some(who.external_id.clone()),
            name: who.name.clone(),
            phone: who.phone.clone(),
            email: who.email.clone(),
            is_vip: false,
            tags: "[]".into(),
            custom_fields: "{}".into(),
            last_owner_type: None,
            last_owner_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Takes the details the channel newly provides (a name, phone or email it did not send
/// before, or a changed one); what it leaves out is kept. Says whether anything changed.
pub fn merge_details(contact: &mut Contact, who: &ChannelIdentity, now: NaiveDateTime) -> bool {
    let newer = |old: &Option<String>, new: &Option<String>| {
        new.is_some() && old.as_deref() != new.as_deref()
    };
    if !(newer(&contact.name, &who.name)
        || newer(&contact.phone, &who.phone)
        || newer(&contact.email, &who.email))
    {
        return false;
    }
    contact.name = who.name.clone().or(contact.name.take());
    contact.phone = who.phone.clone().or(contact.phone.take());
    contact.email = who.email.clone().or(contact.email.take());
    contact.updated_at = now;
    true
}

/// The contacts behind `external_ids` on one integration, in one query.
pub fn find_by_channel(
    conn: &mut DbConn,
    tenant: &TenantId,
    integration: &IntegrationId,
    external_ids: &[&str],
) -> StoreResult<Vec<Contact>> {
    Ok(crate::db_run!(conn, |c| contacts::table
        .filter(contacts::tenant_id.eq(tenant))
        .filter(contacts::integration_id.eq(integration))
        .filter(contacts::external_id.eq_any(external_ids))
        .select(Contact::as_select())
        .load(c))?)
}

/// Inserts contacts as few multi-row statements.
pub fn insert_many(conn: &mut DbConn, rows: &[Contact]) -> StoreResult<()> {
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        crate::db_run!(conn, |c| diesel::insert_into(contacts::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Writes the channel-provided details of `contact`.
pub fn update_details(conn: &mut DbConn, contact: &Contact) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        contacts::table.filter(contacts::id.eq(&contact.id))
    )
    .set((
        contacts::name.eq(&contact.name),
        contacts::phone.eq(&contact.phone),
        contacts::email.eq(&contact.email),
        contacts::updated_at.eq(contact.updated_at),
    ))
    .execute(c))?;
    Ok(())
}

/// Remembers who served the contact last, for sticky assignment.
pub fn set_last_owner(
    conn: &mut DbConn,
    id: &ContactId,
    owner_type: &str,
    owner_id: &str,
) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        contacts::table.filter(contacts::id.eq(id))
    )
    .set((
        contacts::last_owner_type.eq(owner_type),
        contacts::last_owner_id.eq(owner_id),
    ))
    .execute(c))?;
    Ok(())
}
