//! Message lookups for the real-time layer and delivery receipts: a message's `status` only
//! moves forward, sent → delivered → read.

use diesel::prelude::*;

use super::messages::Message;
use super::schema::messages;
use super::{DbConn, StoreResult};
use crate::domain::conversation::SenderType;
use crate::domain::{ConversationId, MessageId, TenantId};

pub const SENT: &str = "sent";
pub const DELIVERED: &str = "delivered";
pub const READ: &str = "read";

/// Messages by id, in no particular order (the hub orders them itself).
pub fn by_ids(conn: &mut DbConn, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::id.eq_any(ids))
        .select(Message::as_select())
        .load(c))?)
}

/// A message of the tenant; another tenant's id is simply not found.
pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &MessageId) -> StoreResult<Message> {
    Ok(crate::db_run!(conn, |c| messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::id.eq(id))
        .select(Message::as_select())
        .first(c))?)
}

/// `sent` → `delivered` for messages that reached a socket of the other side.
pub fn mark_delivered(conn: &mut DbConn, ids: &[MessageId]) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(crate::db_run!(conn, |c| diesel::update(
        messages::table
            .filter(messages::id.eq_any(ids))
            .filter(messages::status.eq(SENT))
    )
    .set(messages::status.eq(DELIVERED))
    .execute(c))?)
}

/// The reader has seen everything up to `up_to_seq`: the other side's messages up to there
/// become `read`. A customer reads staff, AI and system messages; staff read the customer's.
pub fn mark_read(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    up_to_seq: i64,
    reader_is_customer: bool,
) -> StoreResult<usize> {
    Ok(crate::db_run!(conn, |c| {
        let scope = messages::table
            .filter(messages::tenant_id.eq(tenant))
            .filter(messages::conversation_id.eq(conversation))
            .filter(messages::seq.le(up_to_seq))
            .filter(messages::status.ne(READ));
        if reader_is_customer {
            diesel::update(scope.filter(messages::sender_type.ne(SenderType::Contact)))
                .set(messages::status.eq(READ))
                .execute(c)
        } else {
            diesel::update(scope.filter(messages::sender_type.eq(SenderType::Contact)))
                .set(messages::status.eq(READ))
                .execute(c)
        }
    })?)
}
