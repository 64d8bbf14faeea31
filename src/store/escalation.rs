//! What the escalation rules read from the store (`domain::escalation`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::conversations;
use super::{DbConn, StoreResult};
use crate::domain::{ContactId, ConversationId, TenantId};

/// The contact's other conversations on `category` started since `since` (the recurring
/// problem rule).
pub fn same_category_since(
    conn: &mut DbConn,
    tenant: &TenantId,
    contact: &ContactId,
    category: &str,
    since: NaiveDateTime,
    except: &ConversationId,
) -> StoreResult<u32> {
    let count: i64 = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::category.eq(category))
        .filter(conversations::created_at.ge(since))
        .filter(conversations::id.ne(except))
        .count()
        .get_result(c))?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}
