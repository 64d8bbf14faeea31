//! Contacts: the customers, identified per channel by (integration, external id).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::contacts;
use super::{DbConn, StoreResult};
use crate::domain::{ContactId, IntegrationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contacts)]
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
#[derive(Debug, Clone, Default)]
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
    let existing: Option<Contact> = crate::db_run!(conn, |c| contacts::table
        .filter(contacts::tenant_id.eq(tenant))
        .filter(contacts::integration_id.eq(integration))
        .filter(contacts::external_id.eq(&who.external_id))
        .select(Contact::as_select())
        .first(c)
        .optional())?;
    let now = super::now();
    match existing {
        Some(mut contact) => {
            let newer = |old: &Option<String>, new: &Option<String>| {
                new.is_some() && old.as_deref() != new.as_deref()
            };
            if newer(&contact.name, &who.name)
                || newer(&contact.phone, &who.phone)
                || newer(&contact.email, &who.email)
            {
                contact.name = who.name.clone().or(contact.name);
                contact.phone = who.phone.clone().or(contact.phone);
                contact.email = who.email.clone().or(contact.email);
                contact.updated_at = now;
                crate::db_run!(conn, |c| diesel::update(
                    contacts::table.filter(contacts::id.eq(&contact.id))
                )
                .set((
                    contacts::name.eq(&contact.name),
                    contacts::phone.eq(&contact.phone),
                    contacts::email.eq(&contact.email),
                    contacts::updated_at.eq(now),
                ))
                .execute(c))?;
            }
            Ok(contact)
        }
        None => {
            let contact = Contact {
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
            };
            crate::db_run!(conn, |c| diesel::insert_into(contacts::table)
                .values(&contact)
                .execute(c))?;
            Ok(contact)
        }
    }
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
