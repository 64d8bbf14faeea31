//! Funnels and their ordered stages (the pipeline a conversation moves through). Every query
//! is scoped by tenant; stages belong to one funnel and go with it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{conversations, funnels, stages};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::TenantId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = funnels)]
pub struct Funnel {
    pub id: String,
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stages)]
pub struct Stage {
    pub id: String,
    pub tenant_id: TenantId,
    pub funnel_id: String,
    pub name: String,
    pub position: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = stages)]
pub struct StageChanges {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

/// A funnel with its stages in order.
pub fn insert(conn: &mut DbConn, funnel: &Funnel, initial: &[Stage]) -> StoreResult<()> {
    transaction(conn, |conn| {
        crate::db_run!(conn, |c| diesel::insert_into(funnels::table)
            .values(funnel)
            .execute(c))?;
        for stage in initial {
            insert_stage(conn, stage)?;
        }
        Ok(())
    })
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<Funnel> {
    Ok(crate::db_run!(conn, |c| funnels::table
        .filter(funnels::tenant_id.eq(tenant))
        .filter(funnels::id.eq(id))
        .select(Funnel::as_select())
        .first(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&str>,
) -> StoreResult<Vec<Funnel>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = funnels::table
            .filter(funnels::tenant_id.eq(tenant))
            .select(Funnel::as_select())
            .order(funnels::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(funnels::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn rename(conn: &mut DbConn, tenant: &TenantId, id: &str, name: &str) -> StoreResult<Funnel> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        funnels::table
            .filter(funnels::tenant_id.eq(tenant))
            .filter(funnels::id.eq(id))
    )
    .set((funnels::name.eq(name), funnels::updated_at.eq(super::now())))
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

/// Deletes the funnel and its stages, and takes conversations out of them.
pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<()> {
    transaction(conn, |conn| {
        crate::db_run!(conn, |c| diesel::update(
            conversations::table
                .filter(conversations::tenant_id.eq(tenant))
                .filter(conversations::funnel_id.eq(id))
        )
        .set((
            conversations::funnel_id.eq(None::<String>),
            conversations::stage_id.eq(None::<String>),
        ))
        .execute(c))?;
        crate::db_run!(conn, |c| diesel::delete(
            stages::table
                .filter(stages::tenant_id.eq(tenant))
                .filter(stages::funnel_id.eq(id))
        )
        .execute(c))?;
        let deleted = crate::db_run!(conn, |c| diesel::delete(
            funnels::table
                .filter(funnels::tenant_id.eq(tenant))
                .filter(funnels::id.eq(id))
        )
        .execute(c))?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        super::integrations::forget_funnel(conn, tenant, id)?;
        Ok(())
    })
}

pub fn insert_stage(conn: &mut DbConn, stage: &Stage) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(stages::table)
        .values(stage)
        .execute(c))?;
    Ok(())
}

/// Stages of the given funnels, by funnel then position.
pub fn stages_of(
    conn: &mut DbConn,
    tenant: &TenantId,
    funnel_ids: &[String],
) -> StoreResult<Vec<Stage>> {
    if funnel_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::db_run!(conn, |c| stages::table
        .filter(stages::tenant_id.eq(tenant))
        .filter(stages::funnel_id.eq_any(funnel_ids))
        .order((
            stages::funnel_id.asc(),
            stages::position.asc(),
            stages::id.asc()
        ))
        .select(Stage::as_select())
        .load(c))?)
}

/// The position after the funnel's last stage.
pub fn next_position(conn: &mut DbConn, funnel: &str) -> StoreResult<i32> {
    let max: Option<i32> = crate::db_run!(conn, |c| stages::table
        .filter(stages::funnel_id.eq(funnel))
        .select(diesel::dsl::max(stages::position))
        .first(c))?;
    Ok(max.map_or(0, |m| m.saturating_add(1)))
}

pub fn find_stage(
    conn: &mut DbConn,
    tenant: &TenantId,
    funnel: &str,
    id: &str,
) -> StoreResult<Stage> {
    Ok(crate::db_run!(conn, |c| stages::table
        .filter(stages::tenant_id.eq(tenant))
        .filter(stages::funnel_id.eq(funnel))
        .filter(stages::id.eq(id))
        .select(Stage::as_select())
        .first(c))?)
}

pub fn update_stage(
    conn: &mut DbConn,
    tenant: &TenantId,
    funnel: &str,
    id: &str,
    changes: &StageChanges,
) -> StoreResult<Stage> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        stages::table
            .filter(stages::tenant_id.eq(tenant))
            .filter(stages::funnel_id.eq(funnel))
            .filter(stages::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find_stage(conn, tenant, funnel, id)
}

/// Deletes a stage and takes conversations out of it (they stay in the funnel).
pub fn delete_stage(
    conn: &mut DbConn,
    tenant: &TenantId,
    funnel: &str,
    id: &str,
) -> StoreResult<()> {
    transaction(conn, |conn| {
        let deleted = crate::db_run!(conn, |c| diesel::delete(
            stages::table
                .filter(stages::tenant_id.eq(tenant))
                .filter(stages::funnel_id.eq(funnel))
                .filter(stages::id.eq(id))
        )
        .execute(c))?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        crate::db_run!(conn, |c| diesel::update(
            conversations::table
                .filter(conversations::tenant_id.eq(tenant))
                .filter(conversations::stage_id.eq(id))
        )
        .set(conversations::stage_id.eq(None::<String>))
        .execute(c))?;
        super::integrations::forget_stage(conn, tenant, id)?;
        Ok(())
    })
}

/// The funnel of one of the tenant's stages, `None` when the tenant has no such stage.
pub fn funnel_of_stage(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<String>> {
    Ok(crate::db_run!(conn, |c| stages::table
        .filter(stages::tenant_id.eq(tenant))
        .filter(stages::id.eq(id))
        .select(stages::funnel_id)
        .first(c)
        .optional())?)
}
