//! Conversations: owner, status, routing fields and the per-conversation message sequence.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::contacts_admin::{like_pattern, lower};
use super::schema::{contacts, conversations};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::conversation::{Owner, Status};
use crate::domain::escalation::EscalationReason;
use crate::domain::{ContactId, ConversationId, IntegrationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = conversations)]
// `None` is written as NULL, not DEFAULT, so many rows insert as one statement on SQLite too.
#[diesel(treat_none_as_default_value = false)]
pub struct Conversation {
    pub id: ConversationId,
    pub tenant_id: TenantId,
    pub contact_id: ContactId,
    pub integration_id: Option<IntegrationId>,
    pub channel: String,
    pub status: String,
    pub owner_type: String,
    pub owner_id: Option<String>,
    pub priority: String,
    pub category: Option<String>,
    pub department_id: Option<String>,
    pub funnel_id: Option<String>,
    pub stage_id: Option<String>,
    pub tags: String,
    pub metadata: String,
    /// Highest `seq` of any message.
    pub last_seq: i64,
    /// Every customer message up to this `seq` has been answered (or handed over).
    pub answered_seq: i64,
    pub customer_messages: i32,
    pub ai_replies: i32,
    pub escalation_reason: Option<EscalationReason>,
    pub close_reason: Option<String>,
    pub queued_at: Option<NaiveDateTime>,
    pub assigned_at: Option<NaiveDateTime>,
    pub first_response_at: Option<NaiveDateTime>,
    pub last_message_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// What the conversation's earlier tool calls returned (`domain::tool_state`, JSON).
    pub tool_state: String,
}

impl Conversation {
    pub fn owner(&self) -> Owner {
        Owner::from_columns(&self.owner_type, self.owner_id.as_deref())
    }

    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Open)
    }

    pub fn new_for(
        tenant: &TenantId,
        contact: &ContactId,
        integration: Option<&IntegrationId>,
        channel: &str,
    ) -> Conversation {
        let now = super::now();
        Conversation {
            id: ConversationId::new(),
            tenant_id: tenant.clone(),
            contact_id: contact.clone(),
            integration_id: integration.cloned(),
            channel: channel.to_string(),
            status: Status::Queued.as_str().into(),
            owner_type: Owner::Nobody.kind().into(),
            owner_id: None,
            priority: "medium".into(),
            category: None,
            department_id: None,
            funnel_id: None,
            stage_id: None,
            tags: "[]".into(),
            metadata: "{}".into(),
            last_seq: 0,
            answered_seq: 0,
            customer_messages: 0,
            ai_replies: 0,
            escalation_reason: None,
            close_reason: None,
            queued_at: Some(now),
            assigned_at: None,
            first_response_at: None,
            last_message_at: None,
            closed_at: None,
            created_at: now,
            updated_at: now,
            tool_state: "[]".into(),
        }
    }
}

pub fn insert(conn: &mut DbConn, conversation: &Conversation) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(conversations::table)
        .values(conversation)
        .execute(c))?;
    Ok(())
}

/// Inserts conversations as few multi-row statements.
pub fn insert_many(conn: &mut DbConn, rows: &[Conversation]) -> StoreResult<()> {
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        crate::db_run!(conn, |c| diesel::insert_into(conversations::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// The conversations with these ids, in one query.
pub fn find_many(conn: &mut DbConn, ids: &[&ConversationId]) -> StoreResult<Vec<Conversation>> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::id.eq_any(ids))
        .select(Conversation::as_select())
        .load(c))?)
}

/// The newest conversation that is not closed of each of these contacts, in one query.
pub fn active_for_contacts(
    conn: &mut DbConn,
    contacts: &[&ContactId],
) -> StoreResult<HashMap<ContactId, Conversation>> {
    let rows: Vec<Conversation> = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::contact_id.eq_any(contacts))
        .filter(conversations::status.ne(Status::Closed.as_str()))
        .order(conversations::created_at.asc())
        .select(Conversation::as_select())
        .load(c))?;
    // Oldest first, so the newest of a contact's is the one kept.
    Ok(rows
        .into_iter()
        .map(|conversation| (conversation.contact_id.clone(), conversation))
        .collect())
}

/// Messages a batch appends to one existing conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    pub id: ConversationId,
    pub messages: i64,
    pub customer_messages: i32,
}

#[derive(QueryableByName)]
struct Advanced {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: i64,
}

/// Moves each conversation's `last_seq` on by the messages a batch appends to it and
/// answers the new `last_seq`: the batch's messages take the `seq`s just below it. The
/// update locks the rows until commit, so a concurrent writer lane waits and never shares a
/// `seq`. PostgreSQL does the whole batch in one statement.
pub fn advance(
    conn: &mut DbConn,
    rows: &[Advance],
    now: NaiveDateTime,
) -> StoreResult<HashMap<ConversationId, i64>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let advanced: Vec<Advanced> = match conn {
        DbConn::Postgres(c) => {
            use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamp};
            diesel::sql_query(
                "UPDATE conversations AS c SET last_seq = c.last_seq + v.n, \
                 customer_messages = c.customer_messages + v.k, last_message_at = $4, updated_at = $4 \
                 FROM unnest($1::text[], $2::int8[], $3::int4[]) AS v(id, n, k) \
                 WHERE c.id = v.id RETURNING c.id, c.last_seq",
            )
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.messages).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(
                rows.iter().map(|r| r.customer_messages).collect::<Vec<_>>(),
            )
            .bind::<Timestamp, _>(now)
            .load(&mut **c)?
        }
        DbConn::Sqlite(c) => {
            // In-process: a statement per conversation costs no round trip.
            let c: &mut diesel::SqliteConnection = c;
            for row in rows {
                diesel::update(conversations::table.filter(conversations::id.eq(&row.id)))
                    .set((
                        conversations::last_seq.eq(conversations::last_seq + row.messages),
                        conversations::customer_messages
                            .eq(conversations::customer_messages + row.customer_messages),
                        conversations::last_message_at.eq(now),
                        conversations::updated_at.eq(now),
                    ))
                    .execute(c)?;
            }
            conversations::table
                .filter(conversations::id.eq_any(rows.iter().map(|r| &r.id)))
                .select((conversations::id, conversations::last_seq))
                .load::<(String, i64)>(c)?
                .into_iter()
                .map(|(id, last_seq)| Advanced { id, last_seq })
                .collect()
        }
    };
    if advanced.len() != rows.len() {
        return Err(StoreError::NotFound);
    }
    Ok(advanced
        .into_iter()
        .map(|row| (ConversationId(row.id), row.last_seq))
        .collect())
}

pub fn find(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &ConversationId,
) -> StoreResult<Conversation> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::id.eq(id))
        .select(Conversation::as_select())
        .first(c))?)
}

/// Engine-side lookup (the id came from inside the engine, not from a caller).
pub fn find_by_id(conn: &mut DbConn, id: &ConversationId) -> StoreResult<Conversation> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::id.eq(id))
        .select(Conversation::as_select())
        .first(c))?)
}

/// Who owns each of the contact's conversations (for the role rule on contact data).
pub fn owners_for_contact(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
) -> StoreResult<Vec<Owner>> {
    let rows: Vec<(String, Option<String>)> = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::contact_id.eq(contact))
        .select((conversations::owner_type, conversations::owner_id))
        .load(c))?;
    Ok(rows
        .iter()
        .map(|(kind, id)| Owner::from_columns(kind, id.as_deref()))
        .collect())
}

/// The contact's conversation that is not closed, if any.
pub fn find_active_for_contact(
    conn: &mut DbConn,
    contact: &ContactId,
) -> StoreResult<Option<Conversation>> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::status.ne(Status::Closed.as_str()))
        .order(conversations::created_at.desc())
        .select(Conversation::as_select())
        .first(c)
        .optional())?)
}

/// The ids (`$column`: `id` or `contact_id`) of the tenant's conversations that agent `$me`
/// may open: its own and the unassigned ones, as `domain::role::may_open_conversation`
/// says. A subselect for listings that must show an agent only what it may open.
#[macro_export]
macro_rules! openable_by_agent {
    ($tenant:expr, $me:expr, $column:ident) => {
        $crate::store::schema::conversations::table
            .filter($crate::store::schema::conversations::tenant_id.eq($tenant))
            .filter(
                $crate::store::schema::conversations::owner_type
                    .eq($crate::domain::conversation::Owner::Nobody.kind())
                    .or($crate::store::schema::conversations::owner_type
                        .eq("user")
                        .and($crate::store::schema::conversations::owner_id.eq($me))),
            )
            .select($crate::store::schema::conversations::$column)
    };
}

/// The contacts of the tenant that have any conversation at all.
#[macro_export]
macro_rules! contacts_with_conversations {
    ($tenant:expr) => {
        $crate::store::schema::conversations::table
            .filter($crate::store::schema::conversations::tenant_id.eq($tenant))
            .select($crate::store::schema::conversations::contact_id)
    };
}

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub status: Option<String>,
    pub owner_type: Option<String>,
    pub owner_id: Option<String>,
    /// Agents see their own and unassigned conversations.
    pub owner_or_unassigned: Option<String>,
    pub channel: Option<String>,
    pub integration_id: Option<IntegrationId>,
    pub contact_id: Option<ContactId>,
    /// Conversations carrying this tag.
    pub tag: Option<String>,
    /// Stored spellings of one priority (`medium` was once `normal`).
    pub priorities: Option<Vec<String>>,
    /// Case-insensitive substring of the contact's name, phone or e-mail.
    pub q: Option<String>,
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    filter: &ListFilter,
    limit: i64,
    after: Option<&ConversationId>,
) -> StoreResult<Vec<Conversation>> {
    let q = filter.q.as_deref().map(|q| like_pattern(&q.to_lowercase()));
    // Tags are a JSON array of strings: match the quoted element.
    let tag = filter
        .tag
        .as_deref()
        .map(|t| like_pattern(&serde_json::Value::from(t).to_string()));
    Ok(crate::db_run!(conn, |c| {
        let mut query = conversations::table
            .filter(conversations::tenant_id.eq(tenant))
            .select(Conversation::as_select())
            .order(conversations::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(status) = &filter.status {
            query = query.filter(conversations::status.eq(status));
        }
        if let Some(kind) = &filter.owner_type {
            query = query.filter(conversations::owner_type.eq(kind));
        }
        if let Some(id) = &filter.owner_id {
            query = query.filter(conversations::owner_id.eq(id));
        }
        if let Some(user) = &filter.owner_or_unassigned {
            query = query.filter(
                conversations::owner_id
                    .eq(user)
                    .or(conversations::owner_type.eq("none")),
            );
        }
        if let Some(channel) = &filter.channel {
            query = query.filter(conversations::channel.eq(channel));
        }
        if let Some(integration) = &filter.integration_id {
            query = query.filter(conversations::integration_id.eq(integration));
        }
        if let Some(contact) = &filter.contact_id {
            query = query.filter(conversations::contact_id.eq(&contact.0));
        }
        if let Some(tag) = &tag {
            query = query.filter(conversations::tags.like(tag).escape('\\'));
        }
        if let Some(priorities) = &filter.priorities {
            query = query.filter(conversations::priority.eq_any(priorities));
        }
        if let Some(q) = &q {
            query = query.filter(
                conversations::contact_id.eq_any(
                    contacts::table
                        .filter(contacts::tenant_id.eq(tenant))
                        .filter(
                            lower(contacts::name)
                                .like(q)
                                .escape('\\')
                                .or(contacts::phone.like(q).escape('\\'))
                                .or(lower(contacts::email).like(q).escape('\\')),
                        )
                        .select(contacts::id),
                ),
            );
        }
        if let Some(after) = after {
            query = query.filter(conversations::id.lt(after));
        }
        query.load(c)
    })?)
}

/// Owner and status change, with the reason when escalating or closing.
#[derive(Debug, Clone, AsChangeset, Default)]
#[diesel(table_name = conversations)]
pub struct OwnerChange {
    pub status: Option<String>,
    pub owner_type: Option<String>,
    pub owner_id: Option<Option<String>>,
    pub escalation_reason: Option<Option<EscalationReason>>,
    pub close_reason: Option<Option<String>>,
    pub queued_at: Option<Option<NaiveDateTime>>,
    pub assigned_at: Option<Option<NaiveDateTime>>,
    pub closed_at: Option<Option<NaiveDateTime>>,
    pub answered_seq: Option<i64>,
    pub updated_at: Option<NaiveDateTime>,
}

impl OwnerChange {
    pub fn assign(owner: &Owner) -> OwnerChange {
        let now = super::now();
        let queued = matches!(owner, Owner::Nobody);
        OwnerChange {
            status: Some(
                if queued { Status::Queued } else { Status::Open }
                    .as_str()
                    .into(),
            ),
            owner_type: Some(owner.kind().into()),
            owner_id: Some(owner.id().map(str::to_string)),
            queued_at: Some(queued.then_some(now)),
            assigned_at: Some((!queued).then_some(now)),
            updated_at: Some(now),
            ..Default::default()
        }
    }
}

/// Applies an owner change; answers the conversation's department (the new owner's
/// ownership spell records it) from the same statement.
pub fn change_owner(
    conn: &mut DbConn,
    id: &ConversationId,
    change: &OwnerChange,
) -> StoreResult<Option<String>> {
    let department: Option<Option<String>> = crate::db_run!(conn, |c| diesel::update(
        conversations::table.filter(conversations::id.eq(id))
    )
    .set(change)
    .returning(conversations::department_id)
    .get_result(c)
    .optional())?;
    department.ok_or(StoreError::NotFound)
}

/// Stores the conversation's tool state (JSON).
pub fn set_tool_state(conn: &mut DbConn, id: &ConversationId, tool_state: &str) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        conversations::table.filter(conversations::id.eq(id))
    )
    .set(conversations::tool_state.eq(tool_state))
    .execute(c))?;
    Ok(())
}

/// Moves the answered watermark forward (never back) after an AI turn or a handover.
pub fn mark_answered(conn: &mut DbConn, id: &ConversationId, up_to_seq: i64) -> StoreResult<()> {
    let now = super::now();
    crate::db_run!(conn, |c| diesel::update(
        conversations::table
            .filter(conversations::id.eq(id))
            .filter(conversations::answered_seq.lt(up_to_seq))
    )
    .set((
        conversations::answered_seq.eq(up_to_seq),
        conversations::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(())
}

/// Conversations with customer messages that nobody answered yet and that an AI agent (or
/// nobody) owns: after a restart, each is resumed so its timer is re-armed.
pub fn with_unanswered(
    conn: &mut DbConn,
    tenant: Option<&TenantId>,
    limit: i64,
) -> StoreResult<Vec<(TenantId, ConversationId)>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = conversations::table
            .filter(conversations::status.ne(Status::Closed.as_str()))
            .filter(conversations::answered_seq.lt(conversations::last_seq))
            .filter(conversations::owner_type.ne("user"))
            .select((conversations::tenant_id, conversations::id))
            .limit(limit)
            .into_boxed();
        if let Some(tenant) = tenant {
            query = query.filter(conversations::tenant_id.eq(tenant));
        }
        query.load(c)
    })?)
}

/// Queued conversations of a tenant, oldest first (the distributor orders by priority).
pub fn queued(conn: &mut DbConn, limit: i64) -> StoreResult<Vec<Conversation>> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::status.eq(Status::Queued.as_str()))
        .order(conversations::queued_at.asc())
        .select(Conversation::as_select())
        .limit(limit)
        .load(c))?)
}

/// Open conversations per human owner of a tenant: the humans' current load.
pub fn open_count_by_user(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<(String, i64)>> {
    let rows: Vec<(Option<String>, i64)> = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::status.eq(Status::Open.as_str()))
        .filter(conversations::owner_type.eq("user"))
        .group_by(conversations::owner_id)
        .select((conversations::owner_id, diesel::dsl::count_star()))
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect())
}

/// Open conversations owned by an AI agent, to rebuild its admission set on start.
pub fn open_for_agent(conn: &mut DbConn, agent: &str) -> StoreResult<Vec<ConversationId>> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::status.eq(Status::Open.as_str()))
        .filter(conversations::owner_type.eq("ai_agent"))
        .filter(conversations::owner_id.eq(agent))
        .select(conversations::id)
        .load(c))?)
}

/// Human-owned conversations still waiting for their first response since before `cutoff`.
pub fn late_first_response(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
) -> StoreResult<Vec<Conversation>> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::status.eq(Status::Open.as_str()))
        .filter(conversations::owner_type.eq("user"))
        .filter(conversations::first_response_at.is_null())
        .filter(conversations::assigned_at.lt(cutoff))
        .select(Conversation::as_select())
        .load(c))?)
}

/// Stores a classification: the category and priority columns (which routing reads) and
/// the whole result under `metadata.classification`, keeping the other metadata keys. One
/// statement: the merge happens in SQL, so nothing is read first and a concurrent change of
/// another key is kept. A value that is not a JSON object starts over as `{}` (a corrupt
/// value would otherwise block classification forever).
pub fn set_classification(
    conn: &mut DbConn,
    id: &ConversationId,
    category: &str,
    priority: &str,
    details: serde_json::Value,
) -> StoreResult<()> {
    use diesel::sql_types::{Text, Timestamp};
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "UPDATE conversations SET category = ?, priority = ?, updated_at = ?, \
             metadata = json_set(CASE WHEN json_valid(metadata) AND json_type(metadata) = 'object' \
             THEN metadata ELSE '{}' END, '$.classification', json(?)) WHERE id = ?"
        }
        // PostgreSQL 15 has no cast that tolerates malformed text; only the engine writes
        // this column, always as serialized JSON.
        DbConn::Postgres(_) => {
            "UPDATE conversations SET category = $1, priority = $2, updated_at = $3, \
             metadata = ((CASE WHEN jsonb_typeof(metadata::jsonb) = 'object' \
             THEN metadata::jsonb ELSE '{}'::jsonb END) \
             || jsonb_build_object('classification', $4::jsonb))::text WHERE id = $5"
        }
    };
    let details = details.to_string();
    let updated = crate::db_run!(conn, |c| diesel::sql_query(sql)
        .bind::<Text, _>(category)
        .bind::<Text, _>(priority)
        .bind::<Timestamp, _>(super::now())
        .bind::<Text, _>(&details)
        .bind::<Text, _>(id.as_str())
        .execute(c))?;
    match updated {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// The ticket columns staff may change; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = conversations)]
struct TicketColumns<'a> {
    tags: Option<String>,
    priority: Option<&'a str>,
    category: Option<&'a str>,
    department_id: Option<&'a str>,
    stage_id: Option<&'a str>,
    funnel_id: Option<Option<&'a str>>,
    updated_at: NaiveDateTime,
}

/// Stores staff's ticket changes (already checked: the department and stage are the
/// tenant's, `funnel_id` is the stage's funnel) in one statement; only the named columns
/// change.
pub fn apply_changes(
    conn: &mut DbConn,
    id: &ConversationId,
    changes: &crate::domain::ticket::ConversationChanges,
    funnel_id: Option<&str>,
) -> StoreResult<()> {
    let tags = changes
        .tags
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let columns = TicketColumns {
        tags,
        priority: changes.priority.map(|p| p.as_str()),
        category: changes.category.as_deref(),
        department_id: changes.department_id.as_deref(),
        stage_id: changes.stage_id.as_deref(),
        funnel_id: changes.stage_id.as_ref().map(|_| funnel_id),
        updated_at: super::now(),
    };
    crate::db_run!(conn, |c| diesel::update(
        conversations::table.filter(conversations::id.eq(id))
    )
    .set(&columns)
    .execute(c))?;
    Ok(())
}
