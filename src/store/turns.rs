//! The AI turn log (tokens, cost, latency, tools, outcome) and the usage counters that back
//! the cost budgets across restarts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{ai_turns, usage_counters};
use super::{DbConn, StoreResult};
use crate::domain::agent::TurnStatus;
use crate::domain::{AgentId, ConversationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = ai_turns)]
pub struct AiTurn {
    pub id: String,
    pub tenant_id: TenantId,
    pub agent_id: AgentId,
    pub sub_agent_id: Option<String>,
    pub conversation_id: Option<ConversationId>,
    pub model: String,
    pub provider: String,
    pub status: TurnStatus,
    pub error_reason: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub latency_ms: i64,
    pub retries: i32,
    pub tools_used: String,
    pub price_flagged: bool,
    pub tokens_saved: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, turn: &AiTurn) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(ai_turns::table)
        .values(turn)
        .execute(c))?;
    Ok(())
}

pub fn for_conversation(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> StoreResult<Vec<AiTurn>> {
    Ok(crate::db_run!(conn, |c| ai_turns::table
        .filter(ai_turns::tenant_id.eq(tenant))
        .filter(ai_turns::conversation_id.eq(conversation))
        .order(ai_turns::created_at.asc())
        .select(AiTurn::as_select())
        .load(c))?)
}

/// Adds one turn's usage to its period counters (`day:YYYY-MM-DD`, `month:YYYY-MM`), in
/// the counters' `shard` (the writer lane the turn commits on: lanes never wait on each
/// other's counter rows).
pub fn add_usage(
    conn: &mut DbConn,
    turn: &AiTurn,
    periods: &[&str],
    shard: i32,
) -> StoreResult<()> {
    use diesel::upsert::excluded;
    let now = super::now();
    let rows: Vec<_> = periods
        .iter()
        .map(|period| {
            (
                usage_counters::agent_id.eq(&turn.agent_id),
                usage_counters::period.eq(*period),
                usage_counters::shard.eq(shard),
                usage_counters::tenant_id.eq(&turn.tenant_id),
                usage_counters::requests.eq(1i64),
                usage_counters::prompt_tokens.eq(turn.prompt_tokens),
                usage_counters::completion_tokens.eq(turn.completion_tokens),
                usage_counters::cost_usd.eq(turn.cost_usd),
                usage_counters::updated_at.eq(now),
            )
        })
        .collect();
    // One upsert for every period: an update-then-insert would let two turns both insert
    // the first row, and a statement per period is a round trip more.
    crate::db_run!(conn, |c| diesel::insert_into(usage_counters::table)
        .values(&rows)
        .on_conflict((
            usage_counters::agent_id,
            usage_counters::period,
            usage_counters::shard,
        ))
        .do_update()
        .set(
            (
                usage_counters::requests
                    .eq(usage_counters::requests + excluded(usage_counters::requests)),
                usage_counters::prompt_tokens
                    .eq(usage_counters::prompt_tokens + excluded(usage_counters::prompt_tokens)),
                usage_counters::completion_tokens
                    .eq(usage_counters::completion_tokens
                        + excluded(usage_counters::completion_tokens)),
                usage_counters::cost_usd
                    .eq(usage_counters::cost_usd + excluded(usage_counters::cost_usd)),
                usage_counters::updated_at.eq(excluded(usage_counters::updated_at)),
            )
        )
        .execute(c))?;
    Ok(())
}

/// Cost spent in a period so far, over every shard (0 when nothing was recorded).
pub fn spent(conn: &mut DbConn, agent: &AgentId, period: &str) -> StoreResult<f64> {
    Ok(crate::db_run!(conn, |c| usage_counters::table
        .filter(usage_counters::agent_id.eq(agent))
        .filter(usage_counters::period.eq(period))
        .select(diesel::dsl::sum(usage_counters::cost_usd))
        .first::<Option<f64>>(c))?
    .unwrap_or(0.0))
}

pub fn day_period(date: chrono::NaiveDate) -> String {
    format!("day:{}", date.format("%Y-%m-%d"))
}

pub fn month_period(date: chrono::NaiveDate) -> String {
    format!("month:{}", date.format("%Y-%m"))
}
