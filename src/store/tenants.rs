//! Tenants: the isolation boundary of every other table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tenants;
use super::{DbConn, StoreResult};
use crate::domain::TenantId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, tenant: &Tenant) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(tenants::table)
        .values(tenant)
        .execute(c))?;
    Ok(())
}

pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> StoreResult<Option<Tenant>> {
    Ok(crate::db_run!(conn, |c| tenants::table
        .filter(tenants::slug.eq(slug))
        .select(Tenant::as_select())
        .first(c)
        .optional())?)
}

pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(crate::db_run!(conn, |c| tenants::table
        .count()
        .get_result(c))?)
}
