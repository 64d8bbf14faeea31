//! The CRM writes and reads that system tools and automations make: tags, funnel stages,
//! activities, contact fields and a contact's earlier conversations. Every function is
//! tenant-scoped: the ids come from a model's arguments, which are untrusted input.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{activities, contacts, conversations, messages, stages, tags};
use super::{json_column, DbConn, StoreError, StoreResult};
use crate::domain::{ContactId, ConversationId, TenantId};

/// Adds `tag` to the conversation (and to the tenant's tag list when new). Returns false
/// when the conversation already had it.
pub fn add_conversation_tag(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    tag: &str,
) -> StoreResult<bool> {
    let tag = tag.trim().to_string();
    transaction(conn, |conn| {
        let now = super::now();
        let known: Option<String> = crate::db_run!(conn, |c| tags::table
            .filter(tags::tenant_id.eq(tenant))
            .filter(tags::name.eq(&tag))
            .select(tags::id)
            .first(c)
            .optional())?;
        if known.is_none() {
            crate::db_run!(conn, |c| diesel::insert_into(tags::table)
                .values((
                    tags::id.eq(uuid::Uuid::now_v7().to_string()),
                    tags::tenant_id.eq(tenant),
                    tags::name.eq(&tag),
                    tags::color.eq(""),
                    tags::created_at.eq(now),
                ))
                .execute(c))?;
        }
        let raw: String = crate::db_run!(conn, |c| conversations::table
            .filter(conversations::tenant_id.eq(tenant))
            .filter(conversations::id.eq(conversation))
            .select(conversations::tags)
            .first(c))?;
        let mut list: Vec<String> = json_column(&raw, "conversations.tags")?;
        if list.iter().any(|t| t == &tag) {
            return Ok(false);
        }
        list.push(tag.clone());
        let encoded = serde_json::to_string(&list)
            .map_err(|e| StoreError::Corrupt(format!("conversations.tags: {e}")))?;
        crate::db_run!(conn, |c| diesel::update(
            conversations::table.filter(conversations::id.eq(conversation))
        )
        .set((
            conversations::tags.eq(&encoded),
            conversations::updated_at.eq(now),
        ))
        .execute(c))?;
        Ok(true)
    })
}

pub fn conversation_tags(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> StoreResult<Vec<String>> {
    let raw: String = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::id.eq(conversation))
        .select(conversations::tags)
        .first(c))?;
    json_column(&raw, "conversations.tags")
}

/// Moves the conversation to a stage of the tenant (and that stage's funnel), named by id or
/// by name (case-insensitive: a model knows stages by name). Returns the stage's name;
/// `NotFound` when the tenant has no such stage.
pub fn move_to_stage(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    stage_id_or_name: &str,
) -> StoreResult<String> {
    let all: Vec<(String, String, String)> = crate::db_run!(conn, |c| stages::table
        .filter(stages::tenant_id.eq(tenant))
        .order((stages::funnel_id.asc(), stages::position.asc()))
        .select((stages::id, stages::funnel_id, stages::name))
        .load(c))?;
    let wanted = stage_id_or_name.trim();
    let (stage, funnel, name) = all
        .iter()
        .find(|(id, _, _)| id == wanted)
        .or_else(|| {
            let folded = crate::domain::escalation::fold(wanted);
            all.iter()
                .find(|(_, _, name)| crate::domain::escalation::fold(name) == folded)
        })
        .cloned()
        .ok_or(StoreError::NotFound)?;
    let updated = crate::db_run!(conn, |c| diesel::update(
        conversations::table
            .filter(conversations::tenant_id.eq(tenant))
            .filter(conversations::id.eq(conversation))
    )
    .set((
        conversations::stage_id.eq(Some(&stage)),
        conversations::funnel_id.eq(Some(&funnel)),
        conversations::updated_at.eq(super::now()),
    ))
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(name)
}

#[derive(Debug, Clone)]
pub struct NewActivity {
    pub tenant_id: TenantId,
    pub contact_id: Option<ContactId>,
    pub conversation_id: Option<ConversationId>,
    /// task | call | meeting | follow_up | form | lead …
    pub kind: String,
    pub title: String,
    pub description: String,
    pub due_at: Option<NaiveDateTime>,
    /// JSON object.
    pub data: String,
}

/// Records an activity; returns its id.
pub fn insert_activity(conn: &mut DbConn, new: &NewActivity) -> StoreResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = super::now();
    crate::db_run!(conn, |c| diesel::insert_into(activities::table)
        .values((
            activities::id.eq(&id),
            activities::tenant_id.eq(&new.tenant_id),
            activities::contact_id.eq(new.contact_id.as_ref()),
            activities::conversation_id.eq(new.conversation_id.as_ref()),
            activities::user_id.eq(None::<String>),
            activities::kind.eq(&new.kind),
            activities::title.eq(&new.title),
            activities::description.eq(&new.description),
            activities::due_at.eq(new.due_at),
            activities::done.eq(false),
            activities::data.eq(&new.data),
            activities::created_at.eq(now),
            activities::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(id)
}

/// (kind, title, data) of the conversation's activities, oldest first.
pub fn activities_of(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> StoreResult<Vec<(String, String, String)>> {
    Ok(crate::db_run!(conn, |c| activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::conversation_id.eq(conversation))
        .order(activities::created_at.asc())
        .select((activities::kind, activities::title, activities::data))
        .load(c))?)
}

/// Fields a tool may change on a contact; `None` keeps the value. `custom_fields` are merged
/// key by key into the stored object.
#[derive(Debug, Clone, Default)]
pub struct ContactUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

pub fn update_contact(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
    update: &ContactUpdate,
) -> StoreResult<()> {
    transaction(conn, |conn| {
        let (name, email, phone, raw): (Option<String>, Option<String>, Option<String>, String) =
            crate::db_run!(conn, |c| contacts::table
                .filter(contacts::tenant_id.eq(tenant))
                .filter(contacts::id.eq(contact))
                .select((
                    contacts::name,
                    contacts::email,
                    contacts::phone,
                    contacts::custom_fields
                ))
                .first(c))?;
        let mut fields: serde_json::Map<String, serde_json::Value> =
            json_column(&raw, "contacts.custom_fields")?;
        for (key, value) in &update.custom_fields {
            fields.insert(key.clone(), value.clone());
        }
        let encoded = serde_json::Value::Object(fields).to_string();
        crate::db_run!(conn, |c| diesel::update(
            contacts::table
                .filter(contacts::tenant_id.eq(tenant))
                .filter(contacts::id.eq(contact))
        )
        .set((
            contacts::name.eq(update.name.clone().or(name)),
            contacts::email.eq(update.email.clone().or(email)),
            contacts::phone.eq(update.phone.clone().or(phone)),
            contacts::custom_fields.eq(&encoded),
            contacts::updated_at.eq(super::now()),
        ))
        .execute(c))?;
        Ok(())
    })
}

/// What a tool sees of a contact.
#[derive(Debug, Clone)]
pub struct ContactCard {
    pub id: ContactId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub custom_fields: String,
}

pub fn contact_card(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
) -> StoreResult<ContactCard> {
    let (id, name, email, phone, custom_fields) = crate::db_run!(conn, |c| contacts::table
        .filter(contacts::tenant_id.eq(tenant))
        .filter(contacts::id.eq(contact))
        .select((
            contacts::id,
            contacts::name,
            contacts::email,
            contacts::phone,
            contacts::custom_fields
        ))
        .first::<(
            ContactId,
            Option<String>,
            Option<String>,
            Option<String>,
            String
        )>(c))?;
    Ok(ContactCard {
        id,
        name,
        email,
        phone,
        custom_fields,
    })
}

/// An earlier conversation of the contact with its last messages (oldest first).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PastConversation {
    pub conversation_id: String,
    pub status: String,
    pub started_at: String,
    pub close_reason: Option<String>,
    /// (sender_type, content)
    pub messages: Vec<(String, String)>,
}

pub fn previous_conversations(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
    except: &ConversationId,
    limit: i64,
    messages_each: i64,
) -> StoreResult<Vec<PastConversation>> {
    let rows: Vec<(String, String, NaiveDateTime, Option<String>)> =
        crate::db_run!(conn, |c| conversations::table
            .filter(conversations::tenant_id.eq(tenant))
            .filter(conversations::contact_id.eq(contact))
            .filter(conversations::id.ne(except))
            .order(conversations::created_at.desc())
            .limit(limit)
            .select((
                conversations::id,
                conversations::status,
                conversations::created_at,
                conversations::close_reason,
            ))
            .load(c))?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, status, created_at, close_reason) in rows {
        let mut recent: Vec<(String, String)> = crate::db_run!(conn, |c| messages::table
            .filter(messages::conversation_id.eq(&id))
            .order(messages::seq.desc())
            .limit(messages_each)
            .select((messages::sender_type, messages::content))
            .load(c))?;
        recent.reverse();
        out.push(PastConversation {
            conversation_id: id,
            status,
            started_at: created_at.and_utc().to_rfc3339(),
            close_reason,
            messages: recent,
        });
    }
    Ok(out)
}

/// Whether the tenant has a stage with this id or name (automations are checked on save).
pub fn stage_exists(conn: &mut DbConn, tenant: &TenantId, id_or_name: &str) -> StoreResult<bool> {
    let all: Vec<(String, String)> = crate::db_run!(conn, |c| stages::table
        .filter(stages::tenant_id.eq(tenant))
        .select((stages::id, stages::name))
        .load(c))?;
    let folded = crate::domain::escalation::fold(id_or_name.trim());
    Ok(all.iter().any(|(id, name)| {
        id == id_or_name.trim() || crate::domain::escalation::fold(name) == folded
    }))
}
