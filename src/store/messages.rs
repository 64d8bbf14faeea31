//! Messages: per-conversation `seq`, channel external ids unique per integration.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{conversations, messages};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::conversation::SenderType;
use crate::domain::{ConversationId, IntegrationId, MessageId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = messages)]
// `None` is written as NULL, not DEFAULT, so many rows insert as one statement on SQLite too.
#[diesel(treat_none_as_default_value = false)]
pub struct Message {
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub sender_type: SenderType,
    pub sender_id: Option<String>,
    pub content: String,
    pub content_type: String,
    pub status: String,
    pub direction: String,
    pub integration_id: Option<IntegrationId>,
    pub external_id: Option<String>,
    pub metadata: String,
    pub created_at: NaiveDateTime,
}

#[cfg(test)]
impl Message {
    /// A stored message for unit tests: message `m{seq}` of conversation `c` of tenant `t`,
    /// written by `agent-1` when the sender is an AI agent, by `contact-1` when a customer.
    pub fn sample(seq: i64, sender: SenderType, content: &str) -> Message {
        Message {
            id: MessageId(format!("m{seq}")),
            tenant_id: TenantId("t".into()),
            conversation_id: ConversationId("c".into()),
            seq,
            sender_type: sender,
            sender_id: match sender {
                SenderType::AiAgent => Some("agent-1".into()),
                SenderType::Contact => Some("contact-1".into()),
                SenderType::User | SenderType::System => None,
            },
            content: content.into(),
            content_type: "text".into(),
            status: "sent".into(),
            direction: "in".into(),
            integration_id: None,
            external_id: None,
            metadata: "{}".into(),
            created_at: super::now(),
        }
    }
}

/// A message to append; the `seq` is allocated at write time.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub sender_type: SenderType,
    pub sender_id: Option<String>,
    pub content: String,
    pub content_type: String,
    pub direction: &'static str,
    pub integration_id: Option<IntegrationId>,
    pub external_id: Option<String>,
    pub metadata: String,
}

pub fn find_by_external(
    conn: &mut DbConn,
    integration: &IntegrationId,
    external_id: &str,
) -> StoreResult<Option<Message>> {
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::integration_id.eq(integration))
        .filter(messages::external_id.eq(external_id))
        .select(Message::as_select())
        .first(c)
        .optional())?)
}

/// The messages already stored under `external_ids` of one integration, in one query.
pub fn find_by_externals(
    conn: &mut DbConn,
    integration: &IntegrationId,
    external_ids: &[&str],
) -> StoreResult<Vec<Message>> {
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::integration_id.eq(integration))
        .filter(messages::external_id.eq_any(external_ids))
        .select(Message::as_select())
        .load(c))?)
}

/// Inserts messages whose `seq` the caller allocated (see `conversations::advance`), as few
/// multi-row statements.
pub fn insert_many(conn: &mut DbConn, rows: &[Message]) -> StoreResult<()> {
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        crate::db_run!(conn, |c| diesel::insert_into(messages::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Appends a message with the conversation's next `seq`. The increment locks the
/// conversation row until commit, so concurrent writers (the engine's writer lanes) take
/// turns and never share a `seq`; the order between them is the order of their commits.
pub fn append(conn: &mut DbConn, new: NewMessage) -> StoreResult<Message> {
    let now = super::now();
    let customer = new.sender_type == SenderType::Contact;
    // The new `seq` comes back from the statement that moves it on.
    let seq: Option<i64> = crate::db_run!(conn, |c| diesel::update(
        conversations::table.filter(conversations::id.eq(&new.conversation_id))
    )
    .set((
        conversations::last_seq.eq(conversations::last_seq + 1),
        conversations::last_message_at.eq(now),
        conversations::updated_at.eq(now),
        conversations::customer_messages.eq(conversations::customer_messages + i32::from(customer)),
    ))
    .returning(conversations::last_seq)
    .get_result(c)
    .optional())?;
    insert_appended(conn, new, seq.ok_or(StoreError::NotFound)?, now)
}

/// What a reply marks on its conversation as it is appended.
#[derive(Debug, Clone, Copy)]
pub struct ReplyMarks {
    /// Customer messages up to this `seq` are answered; `None`: up to the reply itself.
    pub up_to: Option<i64>,
    /// An AI agent's reply (counted apart from human ones).
    pub ai_reply: bool,
}

/// Appends a staff or AI reply as [`append`] does and, in the same statement, marks the
/// conversation's messages up to `marks.up_to` answered, counts an AI reply and sets the
/// first response if there was none: one round trip instead of two.
pub fn append_reply(conn: &mut DbConn, new: NewMessage, marks: ReplyMarks) -> StoreResult<Message> {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = BigInt)]
        last_seq: i64,
    }
    let now = super::now();
    let customer = new.sender_type == SenderType::Contact;
    // Right-hand sides read the row as it was: `last_seq + 1` is the reply's own `seq`.
    let sql = "UPDATE conversations SET \
               last_seq = last_seq + 1, \
               last_message_at = $1, \
               updated_at = $1, \
               customer_messages = customer_messages + $2, \
               answered_seq = CASE WHEN answered_seq < COALESCE($3, last_seq + 1) \
                 THEN COALESCE($3, last_seq + 1) ELSE answered_seq END, \
               ai_replies = ai_replies + $4, \
               first_response_at = COALESCE(first_response_at, $1) \
               WHERE id = $5 RETURNING last_seq";
    let sql = super::claims::for_backend(conn, sql);
    let seq: Option<Seq> = crate::db_run!(conn, |c| diesel::sql_query(&sql)
        .bind::<Timestamp, _>(now)
        .bind::<Integer, _>(i32::from(customer))
        .bind::<Nullable<BigInt>, _>(marks.up_to)
        .bind::<BigInt, _>(i64::from(marks.ai_reply))
        .bind::<Text, _>(&new.conversation_id)
        .get_result(c)
        .optional())?;
    insert_appended(conn, new, seq.ok_or(StoreError::NotFound)?.last_seq, now)
}

/// The message row of an append, at the `seq` the conversation gave it.
fn insert_appended(
    conn: &mut DbConn,
    new: NewMessage,
    seq: i64,
    now: chrono::NaiveDateTime,
) -> StoreResult<Message> {
    let message = Message {
        id: MessageId::new(),
        tenant_id: new.tenant_id,
        conversation_id: new.conversation_id,
        seq,
        sender_type: new.sender_type,
        sender_id: new.sender_id,
        content: new.content,
        content_type: new.content_type,
        status: "sent".into(),
        direction: new.direction.to_string(),
        integration_id: new.integration_id,
        external_id: new.external_id,
        metadata: new.metadata,
        created_at: now,
    };
    crate::db_run!(conn, |c| diesel::insert_into(messages::table)
        .values(&message)
        .execute(c))?;
    Ok(message)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::conversation_id.eq(conversation))
        .filter(messages::seq.gt(after_seq))
        .order(messages::seq.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(c))?)
}

/// The `limit` messages just before `before_seq` (newer than `after_seq`), oldest first:
/// history read backwards from the end, one page at a time, on the (conversation, seq) index.
pub fn list_before(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    after_seq: i64,
    before_seq: i64,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let mut rows: Vec<Message> = crate::db_run!(conn, |c| messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::conversation_id.eq(conversation))
        .filter(messages::seq.gt(after_seq))
        .filter(messages::seq.lt(before_seq))
        .order(messages::seq.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(c))?;
    rows.reverse();
    Ok(rows)
}

/// The last `limit` messages of a conversation, oldest first.
pub fn recent(
    conn: &mut DbConn,
    conversation: &ConversationId,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let mut rows: Vec<Message> = crate::db_run!(conn, |c| messages::table
        .filter(messages::conversation_id.eq(conversation))
        .order(messages::seq.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(c))?;
    rows.reverse();
    Ok(rows)
}

/// Customer messages after `seq`: what a rehydrated conversation still has to answer.
pub fn customer_after(
    conn: &mut DbConn,
    conversation: &ConversationId,
    seq: i64,
) -> StoreResult<Vec<Message>> {
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::conversation_id.eq(conversation))
        .filter(messages::seq.gt(seq))
        .filter(messages::sender_type.eq(SenderType::Contact))
        .order(messages::seq.asc())
        .select(Message::as_select())
        .load(c))?)
}

pub fn count_for_conversation(
    conn: &mut DbConn,
    conversation: &ConversationId,
) -> StoreResult<i64> {
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::conversation_id.eq(conversation))
        .count()
        .get_result(c))?)
}
