//! Analytics aggregates over a period, computed by the database (`COUNT`, `SUM`, `AVG`,
//! `GROUP BY`), never by loading rows. The few expressions SQLite and PostgreSQL spell
//! differently — seconds between two timestamps, the calendar day of a timestamp — are chosen
//! per backend in [`Dialect`]; everything else is one SQL text for both.
//!
//! Scope: a tenant, or one AI agent of it. A conversation counts for a period when it was
//! created in it; for an agent, when it was created in it and the agent owns it or ran a
//! turn in it (an escalated conversation has left the agent but still counts against it).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use diesel::{QueryableByName, RunQueryDsl};

use super::{DbConn, StoreResult};
use crate::domain::performance::Record;
use crate::domain::{AgentId, TenantId};

/// `[from, to)`, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn of(conn: &DbConn) -> Self {
        match conn {
            DbConn::Sqlite(_) => Dialect::Sqlite,
            DbConn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Seconds from `a` to `b` as a double.
    fn seconds_between(self, a: &str, b: &str) -> String {
        match self {
            // Diesel stores SQLite timestamps as `YYYY-MM-DD HH:MM:SS.ffffff`, which
            // julianday() reads.
            Dialect::Sqlite => format!("((julianday({b}) - julianday({a})) * 86400.0)"),
            Dialect::Postgres => format!("EXTRACT(EPOCH FROM ({b} - {a}))"),
        }
    }

    /// The UTC calendar day of a timestamp as `YYYY-MM-DD` text.
    fn day(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("substr({column}, 1, 10)"),
            Dialect::Postgres => format!("to_char({column}, 'YYYY-MM-DD')"),
        }
    }

    /// `?` placeholders as the backend numbers them.
    fn sql(self, text: &str) -> String {
        match self {
            Dialect::Sqlite => text.to_string(),
            Dialect::Postgres => {
                let mut out = String::with_capacity(text.len() + 16);
                let mut n = 0;
                for c in text.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// Which rows an aggregate covers.
#[derive(Debug, Clone)]
pub struct Scope {
    pub tenant: TenantId,
    pub agent: Option<AgentId>,
}

/// A bound parameter of a query built at run time.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Time(NaiveDateTime),
}

/// SQL text with `?` placeholders and their values in order.
struct Query {
    text: String,
    params: Vec<Param>,
}

impl Query {
    fn load<T>(self, conn: &mut DbConn) -> StoreResult<Vec<T>>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        let dialect = Dialect::of(conn);
        let text = dialect.sql(&self.text);
        Ok(crate::db_run!(conn, |c| {
            let mut query = diesel::sql_query(text.clone()).into_boxed();
            for param in &self.params {
                query = match param {
                    Param::Text(v) => query.bind::<Text, _>(v.clone()),
                    Param::Time(v) => query.bind::<Timestamp, _>(*v),
                };
            }
            query.load::<T>(c)
        })?)
    }
}

/// `conversations AS c` rows of the scope created in the period: the WHERE clause and its
/// parameters.
fn conversation_filter(scope: &Scope, period: Period) -> (String, Vec<Param>) {
    let mut text = "c.tenant_id = ? AND c.created_at >= ? AND c.created_at < ?".to_string();
    let mut params = vec![
        Param::Text(scope.tenant.to_string()),
        Param::Time(period.from),
        Param::Time(period.to),
    ];
    if let Some(agent) = &scope.agent {
        text.push_str(
            " AND ((c.owner_type = 'ai_agent' AND c.owner_id = ?) OR c.id IN \
             (SELECT t.conversation_id FROM ai_turns t WHERE t.agent_id = ? \
             AND t.created_at >= ? AND t.conversation_id IS NOT NULL))",
        );
        params.push(Param::Text(agent.to_string()));
        params.push(Param::Text(agent.to_string()));
        params.push(Param::Time(period.from));
    }
    (text, params)
}

/// `ai_turns` rows of the scope in the period.
fn turn_filter(scope: &Scope, period: Period) -> (String, Vec<Param>) {
    let mut text = "tenant_id = ? AND created_at >= ? AND created_at < ?".to_string();
    let mut params = vec![
        Param::Text(scope.tenant.to_string()),
        Param::Time(period.from),
        Param::Time(period.to),
    ];
    if let Some(agent) = &scope.agent {
        text.push_str(" AND agent_id = ?");
        params.push(Param::Text(agent.to_string()));
    }
    (text, params)
}

#[derive(Debug, Clone, Default, PartialEq, QueryableByName)]
pub struct ConversationTotals {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub open: i64,
    #[diesel(sql_type = BigInt)]
    pub queued: i64,
    #[diesel(sql_type = BigInt)]
    pub closed: i64,
    #[diesel(sql_type = BigInt)]
    pub escalated: i64,
    /// Closed, never escalated, and still owned by an AI agent.
    #[diesel(sql_type = BigInt)]
    pub resolved_without_human: i64,
    #[diesel(sql_type = BigInt)]
    pub with_first_response: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_first_response_seconds: Option<f64>,
}

pub fn conversations(
    conn: &mut DbConn,
    scope: &Scope,
    period: Period,
) -> StoreResult<ConversationTotals> {
    let dialect = Dialect::of(conn);
    let (filter, params) = conversation_filter(scope, period);
    let first_response = dialect.seconds_between("c.created_at", "c.first_response_at");
    let text = format!(
        "SELECT COUNT(*) AS total, \
         COALESCE(SUM(CASE WHEN c.status = 'open' THEN 1 ELSE 0 END), 0) AS open, \
         COALESCE(SUM(CASE WHEN c.status = 'queued' THEN 1 ELSE 0 END), 0) AS queued, \
         COALESCE(SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END), 0) AS closed, \
         COALESCE(SUM(CASE WHEN c.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), 0) AS escalated, \
         COALESCE(SUM(CASE WHEN c.status = 'closed' AND c.escalation_reason IS NULL \
             AND c.owner_type = 'ai_agent' THEN 1 ELSE 0 END), 0) AS resolved_without_human, \
         COALESCE(SUM(CASE WHEN c.first_response_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS with_first_response, \
         CAST(AVG(CASE WHEN c.first_response_at IS NOT NULL THEN {first_response} END) AS DOUBLE PRECISION) \
             AS avg_first_response_seconds \
         FROM conversations c WHERE {filter}"
    );
    let rows: Vec<ConversationTotals> = Query { text, params }.load(conn)?;
    Ok(rows.into_iter().next().unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct MessageCount {
    #[diesel(sql_type = Text)]
    pub direction: String,
    #[diesel(sql_type = Text)]
    pub sender_type: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Messages created in the period, by direction and sender type. For an agent: messages of
/// its conversations (as in [`conversations`]).
pub fn messages(
    conn: &mut DbConn,
    scope: &Scope,
    period: Period,
) -> StoreResult<Vec<MessageCount>> {
    let mut text = "SELECT m.direction AS direction, m.sender_type AS sender_type, \
                    COUNT(*) AS count FROM messages m \
                    WHERE m.tenant_id = ? AND m.created_at >= ? AND m.created_at < ?"
        .to_string();
    let mut params = vec![
        Param::Text(scope.tenant.to_string()),
        Param::Time(period.from),
        Param::Time(period.to),
    ];
    if scope.agent.is_some() {
        let (filter, extra) = conversation_filter(scope, period);
        text.push_str(&format!(
            " AND m.conversation_id IN (SELECT c.id FROM conversations c WHERE {filter})"
        ));
        params.extend(extra);
    }
    text.push_str(" GROUP BY m.direction, m.sender_type");
    Query { text, params }.load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct TurnTotals {
    /// ok | error | limited | skipped
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub turns: i64,
    #[diesel(sql_type = BigInt)]
    pub prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub completion_tokens: i64,
    #[diesel(sql_type = Double)]
    pub cost_usd: f64,
    #[diesel(sql_type = BigInt)]
    pub latency_ms: i64,
}

const TURN_SUMS: &str = "COUNT(*) AS turns, \
    CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
    CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion_tokens, \
    CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd, \
    CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT) AS latency_ms";

/// AI turns of the period by status, with token, cost and latency sums.
pub fn turns(conn: &mut DbConn, scope: &Scope, period: Period) -> StoreResult<Vec<TurnTotals>> {
    let (filter, params) = turn_filter(scope, period);
    let text = format!(
        "SELECT status, {TURN_SUMS} FROM ai_turns WHERE {filter} GROUP BY status ORDER BY status"
    );
    Query { text, params }.load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Distinct conversations with at least one AI turn in the period.
pub fn conversations_with_turns(
    conn: &mut DbConn,
    scope: &Scope,
    period: Period,
) -> StoreResult<i64> {
    let (filter, params) = turn_filter(scope, period);
    let text = format!(
        "SELECT COUNT(DISTINCT conversation_id) AS count FROM ai_turns WHERE {filter} \
         AND conversation_id IS NOT NULL"
    );
    let rows: Vec<Count> = Query { text, params }.load(conn)?;
    Ok(rows.first().map_or(0, |r| r.count))
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct ToolsUsed {
    /// The JSON array stored with the turns.
    #[diesel(sql_type = Text)]
    pub tools_used: String,
    #[diesel(sql_type = BigInt)]
    pub turns: i64,
}

/// Turns grouped by their `tools_used` list; the caller splits the lists (few distinct ones)
/// into per-tool counts.
pub fn tools_used(conn: &mut DbConn, scope: &Scope, period: Period) -> StoreResult<Vec<ToolsUsed>> {
    let (filter, params) = turn_filter(scope, period);
    let text = format!(
        "SELECT tools_used, COUNT(*) AS turns FROM ai_turns WHERE {filter} \
         AND tools_used <> '[]' GROUP BY tools_used"
    );
    Query { text, params }.load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DayTotals {
    /// `YYYY-MM-DD`, UTC.
    #[diesel(sql_type = Text)]
    pub day: String,
    #[diesel(sql_type = BigInt)]
    pub turns: i64,
    #[diesel(sql_type = BigInt)]
    pub prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub completion_tokens: i64,
    #[diesel(sql_type = Double)]
    pub cost_usd: f64,
    #[diesel(sql_type = BigInt)]
    pub latency_ms: i64,
}

/// AI usage per UTC day of the period (days without turns are absent).
pub fn daily(conn: &mut DbConn, scope: &Scope, period: Period) -> StoreResult<Vec<DayTotals>> {
    let dialect = Dialect::of(conn);
    let (filter, params) = turn_filter(scope, period);
    let day = dialect.day("created_at");
    let text = format!(
        "SELECT {day} AS day, {TURN_SUMS} FROM ai_turns WHERE {filter} GROUP BY 1 ORDER BY 1"
    );
    Query { text, params }.load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct AgentTotals {
    #[diesel(sql_type = Text)]
    pub agent_id: String,
    #[diesel(sql_type = BigInt)]
    pub turns: i64,
    #[diesel(sql_type = BigInt)]
    pub prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub completion_tokens: i64,
    #[diesel(sql_type = Double)]
    pub cost_usd: f64,
    #[diesel(sql_type = BigInt)]
    pub latency_ms: i64,
    /// Distinct conversations it ran a turn in.
    #[diesel(sql_type = BigInt)]
    pub conversations: i64,
}

/// AI usage of the period per AI agent (agents without turns are absent).
pub fn by_agent(conn: &mut DbConn, scope: &Scope, period: Period) -> StoreResult<Vec<AgentTotals>> {
    let (filter, params) = turn_filter(scope, period);
    let text = format!(
        "SELECT agent_id, {TURN_SUMS}, COUNT(DISTINCT conversation_id) AS conversations \
         FROM ai_turns WHERE {filter} GROUP BY agent_id ORDER BY agent_id"
    );
    Query { text, params }.load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DayConversations {
    /// YYYY-MM-DD (UTC) of creation.
    #[diesel(sql_type = Text)]
    pub day: String,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub escalated: i64,
    #[diesel(sql_type = BigInt)]
    pub resolved_without_human: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_first_response_seconds: Option<f64>,
}

/// Conversations per UTC day of creation (as [`conversations`] counts them; days without
/// any are absent).
pub fn daily_conversations(
    conn: &mut DbConn,
    scope: &Scope,
    period: Period,
) -> StoreResult<Vec<DayConversations>> {
    let dialect = Dialect::of(conn);
    let (filter, params) = conversation_filter(scope, period);
    let day = dialect.day("c.created_at");
    let first_response = dialect.seconds_between("c.created_at", "c.first_response_at");
    let text = format!(
        "SELECT {day} AS day, COUNT(*) AS total, \
         COALESCE(SUM(CASE WHEN c.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), 0) AS escalated, \
         COALESCE(SUM(CASE WHEN c.status = 'closed' AND c.escalation_reason IS NULL \
             AND c.owner_type = 'ai_agent' THEN 1 ELSE 0 END), 0) AS resolved_without_human, \
         CAST(AVG(CASE WHEN c.first_response_at IS NOT NULL THEN {first_response} END) AS DOUBLE PRECISION) \
             AS avg_first_response_seconds \
         FROM conversations c WHERE {filter} GROUP BY 1 ORDER BY 1"
    );
    Query { text, params }.load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct FeedbackCount {
    /// complaint | human_request | repeated_question | negative_sentiment
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Negative feedback on AI replies recorded in the period, by kind (for an agent: on its
/// replies).
pub fn feedback(
    conn: &mut DbConn,
    scope: &Scope,
    period: Period,
) -> StoreResult<Vec<FeedbackCount>> {
    // feedback_events has the same tenant_id / created_at / agent_id columns as ai_turns.
    let (filter, params) = turn_filter(scope, period);
    let text = format!(
        "SELECT kind, COUNT(*) AS count FROM feedback_events WHERE {filter} \
         GROUP BY kind ORDER BY kind"
    );
    Query { text, params }.load(conn)
}

/// Turns of every tenant created in `(after, up_to]`, by status: the increments of the
/// Prometheus AI counters.
pub fn turns_between(
    conn: &mut DbConn,
    after: NaiveDateTime,
    up_to: NaiveDateTime,
) -> StoreResult<Vec<TurnTotals>> {
    let text = format!(
        "SELECT status, {TURN_SUMS} FROM ai_turns WHERE created_at > ? AND created_at <= ? \
         GROUP BY status"
    );
    Query {
        text,
        params: vec![Param::Time(after), Param::Time(up_to)],
    }
    .load(conn)
}

/// Conversations of every tenant waiting for an owner.
pub fn queued_conversations(conn: &mut DbConn) -> StoreResult<i64> {
    let rows: Vec<Count> = Query {
        text: "SELECT COUNT(*) AS count FROM conversations WHERE status = 'queued'".into(),
        params: Vec::new(),
    }
    .load(conn)?;
    Ok(rows.first().map_or(0, |r| r.count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            Dialect::Postgres.sql("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(Dialect::Sqlite.sql("a = ?"), "a = ?");
    }

    #[test]
    fn agent_scope_adds_its_parameters_in_order() {
        let from = chrono::DateTime::from_timestamp(0, 0)
            .expect("epoch")
            .naive_utc();
        let period = Period { from, to: from };
        let scope = Scope {
            tenant: TenantId("t".into()),
            agent: Some(AgentId("a".into())),
        };
        let (text, params) = conversation_filter(&scope, period);
        assert_eq!(text.matches('?').count(), params.len());
        let (text, params) = turn_filter(&scope, period);
        assert_eq!(text.matches('?').count(), params.len());
    }
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
struct PerformanceRow {
    #[diesel(sql_type = Text)]
    owner_id: String,
    #[diesel(sql_type = BigInt)]
    handled: i64,
    #[diesel(sql_type = BigInt)]
    resolved: i64,
    #[diesel(sql_type = Nullable<Double>)]
    avg_first_response_seconds: Option<f64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    negative_feedback: Option<i64>,
}

/// Every human's and AI agent's record since `since` (`domain::performance::Record`), two
/// grouped queries for the whole tenant:
/// - humans: conversations assigned to them since then that they still own; resolved = closed;
///   first response = their own first message after the assignment;
/// - AI agents: conversations they ran a turn in since then; resolved = closed without an
///   escalation; first response = their first message after the conversation opened;
///   negative feedback = feedback events on their replies since then.
pub fn performance_records(
    conn: &mut DbConn,
    tenant: &TenantId,
    since: NaiveDateTime,
) -> StoreResult<HashMap<String, Record>> {
    let dialect = Dialect::of(conn);
    let human_first = dialect.seconds_between(
        "c.assigned_at",
        "(SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id \
         AND m.sender_type = 'user' AND m.sender_id = c.owner_id AND m.created_at >= c.assigned_at)",
    );
    let humans = Query {
        text: format!(
            "SELECT c.owner_id AS owner_id, COUNT(*) AS handled, \
             COALESCE(SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END), 0) AS resolved, \
             CAST(AVG({human_first}) AS DOUBLE PRECISION) AS avg_first_response_seconds, \
             CAST(NULL AS BIGINT) AS negative_feedback \
             FROM conversations c WHERE c.tenant_id = ? AND c.owner_type = 'user' \
             AND c.owner_id IS NOT NULL AND c.assigned_at >= ? GROUP BY c.owner_id"
        ),
        params: vec![Param::Text(tenant.to_string()), Param::Time(since)],
    };
    let ai_first = dialect.seconds_between(
        "c.created_at",
        "(SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id \
         AND m.sender_type = 'ai_agent' AND m.sender_id = t.agent_id)",
    );
    let agents = Query {
        text: format!(
            "SELECT t.agent_id AS owner_id, COUNT(*) AS handled, \
             COALESCE(SUM(CASE WHEN c.status = 'closed' AND c.escalation_reason IS NULL \
                 THEN 1 ELSE 0 END), 0) AS resolved, \
             CAST(AVG({ai_first}) AS DOUBLE PRECISION) AS avg_first_response_seconds, \
             (SELECT COUNT(*) FROM feedback_events f WHERE f.tenant_id = ? \
                 AND f.agent_id = t.agent_id AND f.created_at >= ?) AS negative_feedback \
             FROM (SELECT DISTINCT agent_id, conversation_id FROM ai_turns \
                 WHERE tenant_id = ? AND created_at >= ? AND conversation_id IS NOT NULL) t \
             JOIN conversations c ON c.id = t.conversation_id GROUP BY t.agent_id"
        ),
        params: vec![
            Param::Text(tenant.to_string()),
            Param::Time(since),
            Param::Text(tenant.to_string()),
            Param::Time(since),
        ],
    };
    let mut rows: Vec<PerformanceRow> = humans.load(conn)?;
    rows.extend(agents.load::<PerformanceRow>(conn)?);
    let csat = average_csat(conn, tenant, since)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|row| {
            let record = Record {
                handled: count(row.handled),
                resolved: count(row.resolved),
                avg_first_response_seconds: row.avg_first_response_seconds,
                negative_feedback: row.negative_feedback.map(count),
                avg_csat: csat.get(&row.owner_id).copied(),
            };
            (row.owner_id, record)
        })
        .collect())
}

/// Each human's and AI agent's mean CSAT rating given since `since` (the ratings of the
/// conversations it served when they closed).
fn average_csat(
    conn: &mut DbConn,
    tenant: &TenantId,
    since: NaiveDateTime,
) -> StoreResult<HashMap<String, f64>> {
    use super::schema::csat_ratings;
    use diesel::{ExpressionMethods, QueryDsl};
    let rows: Vec<(Option<String>, Option<i32>)> = crate::db_run!(conn, |c| csat_ratings::table
        .filter(csat_ratings::tenant_id.eq(tenant))
        .filter(csat_ratings::rated_at.ge(since))
        .filter(csat_ratings::owner_id.is_not_null())
        .select((csat_ratings::owner_id, csat_ratings::rating))
        .load(c))?;
    let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
    for (owner, rating) in rows {
        if let (Some(owner), Some(rating)) = (owner, rating) {
            let entry = sums.entry(owner).or_default();
            entry.0 += f64::from(rating);
            entry.1 += 1.0;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(owner, (sum, n))| (owner, sum / n))
        .collect())
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
struct HandlingRow {
    #[diesel(sql_type = Text)]
    owner_type: String,
    #[diesel(sql_type = Text)]
    owner_id: String,
    /// '' without a department (a NULL cannot be a GROUP BY key both backends agree on).
    #[diesel(sql_type = Text)]
    department_id: String,
    #[diesel(sql_type = BigInt)]
    handled: i64,
    #[diesel(sql_type = BigInt)]
    transferred: i64,
    #[diesel(sql_type = BigInt)]
    resolved: i64,
    #[diesel(sql_type = Nullable<Double>)]
    first_response_seconds: Option<f64>,
    #[diesel(sql_type = BigInt)]
    first_responses: i64,
    #[diesel(sql_type = Nullable<Double>)]
    resolution_seconds: Option<f64>,
    #[diesel(sql_type = BigInt)]
    rating_sum: i64,
    #[diesel(sql_type = BigInt)]
    ratings: i64,
}

/// Human and AI handling of a tenant's period (`domain::handling`), as sums per owner and
/// department: the spells that began in the period, and the CSAT ratings given in it (by the
/// owner recorded at close and the conversation's department).
pub fn handling(
    conn: &mut DbConn,
    tenant: &TenantId,
    period: Period,
) -> StoreResult<Vec<crate::domain::handling::Row>> {
    use crate::domain::handling::{Row, Totals};
    let dialect = Dialect::of(conn);
    // The owner's own first message inside the spell (sender types and owner types share
    // their names: `user`, `ai_agent`).
    let first = dialect.seconds_between(
        "s.started_at",
        "(SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = s.conversation_id \
         AND m.sender_type = s.owner_type AND m.sender_id = s.owner_id \
         AND m.created_at >= s.started_at AND (s.ended_at IS NULL OR m.created_at <= s.ended_at))",
    );
    let held = dialect.seconds_between("s.started_at", "s.ended_at");
    let spells = Query {
        text: format!(
            "SELECT owner_type, owner_id, department_id, COUNT(*) AS handled, \
             COALESCE(SUM(CASE WHEN end_reason = 'transferred' THEN 1 ELSE 0 END), 0) AS transferred, \
             COALESCE(SUM(CASE WHEN end_reason = 'closed' THEN 1 ELSE 0 END), 0) AS resolved, \
             CAST(SUM(first_response) AS DOUBLE PRECISION) AS first_response_seconds, \
             COUNT(first_response) AS first_responses, \
             CAST(SUM(CASE WHEN end_reason = 'closed' THEN held END) AS DOUBLE PRECISION) \
                 AS resolution_seconds, \
             CAST(0 AS BIGINT) AS rating_sum, CAST(0 AS BIGINT) AS ratings \
             FROM (SELECT s.owner_type AS owner_type, s.owner_id AS owner_id, \
                 COALESCE(s.department_id, '') AS department_id, s.end_reason AS end_reason, \
                 {first} AS first_response, {held} AS held \
                 FROM ownership_spells s WHERE s.tenant_id = ? AND s.started_at >= ? \
                 AND s.started_at < ?) x \
             GROUP BY owner_type, owner_id, department_id"
        ),
        params: vec![
            Param::Text(tenant.to_string()),
            Param::Time(period.from),
            Param::Time(period.to),
        ],
    };
    let ratings = Query {
        text: "SELECT r.owner_type AS owner_type, r.owner_id AS owner_id, \
               COALESCE(c.department_id, '') AS department_id, \
               CAST(0 AS BIGINT) AS handled, CAST(0 AS BIGINT) AS transferred, \
               CAST(0 AS BIGINT) AS resolved, \
               CAST(NULL AS DOUBLE PRECISION) AS first_response_seconds, \
               CAST(0 AS BIGINT) AS first_responses, \
               CAST(NULL AS DOUBLE PRECISION) AS resolution_seconds, \
               CAST(COALESCE(SUM(r.rating), 0) AS BIGINT) AS rating_sum, COUNT(*) AS ratings \
               FROM csat_ratings r JOIN conversations c ON c.id = r.conversation_id \
               WHERE r.tenant_id = ? AND r.rated_at >= ? AND r.rated_at < ? \
               AND r.rating IS NOT NULL AND r.owner_id IS NOT NULL AND r.owner_type IS NOT NULL \
               GROUP BY r.owner_type, r.owner_id, COALESCE(c.department_id, '')"
            .to_string(),
        params: vec![
            Param::Text(tenant.to_string()),
            Param::Time(period.from),
            Param::Time(period.to),
        ],
    };
    let mut rows: Vec<HandlingRow> = spells.load(conn)?;
    rows.extend(ratings.load::<HandlingRow>(conn)?);
    Ok(rows
        .into_iter()
        .map(|r| Row {
            owner_type: r.owner_type,
            owner_id: r.owner_id,
            department_id: (!r.department_id.is_empty()).then_some(r.department_id),
            totals: Totals {
                handled: r.handled,
                transferred: r.transferred,
                resolved: r.resolved,
                first_response_seconds: r.first_response_seconds.unwrap_or(0.0),
                first_responses: r.first_responses,
                resolution_seconds: r.resolution_seconds.unwrap_or(0.0),
                resolutions: r.resolved,
                rating_sum: r.rating_sum,
                ratings: r.ratings,
            },
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct TurnLatency {
    /// The provider kind the turn ran on (`openai`, `anthropic`, …).
    #[diesel(sql_type = Text)]
    pub provider: String,
    /// ok | error
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub latency_ms: i64,
}

/// The LLM time of every turn that called a model (ok or error) created in `(after, up_to]`:
/// the observations of the Prometheus LLM duration histogram.
pub fn turn_latencies_between(
    conn: &mut DbConn,
    after: NaiveDateTime,
    up_to: NaiveDateTime,
) -> StoreResult<Vec<TurnLatency>> {
    Query {
        text: "SELECT provider, status, latency_ms FROM ai_turns WHERE created_at > ? \
               AND created_at <= ? AND status IN ('ok', 'error')"
            .into(),
        params: vec![Param::Time(after), Param::Time(up_to)],
    }
    .load(conn)
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
struct Oldest {
    #[diesel(sql_type = Nullable<Timestamp>)]
    queued_at: Option<NaiveDateTime>,
}

/// When the longest-waiting queued conversation of any tenant entered the queue.
pub fn oldest_queued(conn: &mut DbConn) -> StoreResult<Option<NaiveDateTime>> {
    let rows: Vec<Oldest> = Query {
        text: "SELECT MIN(queued_at) AS queued_at FROM conversations WHERE status = 'queued'"
            .into(),
        params: Vec::new(),
    }
    .load(conn)?;
    Ok(rows.into_iter().next().and_then(|r| r.queued_at))
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct PeriodSpend {
    #[diesel(sql_type = Text)]
    pub agent_id: String,
    #[diesel(sql_type = Text)]
    pub period: String,
    #[diesel(sql_type = Double)]
    pub cost_usd: f64,
}

/// Every agent's spend in these usage periods (`turns::day_period`, `turns::month_period`).
pub fn spend_in(conn: &mut DbConn, day: &str, month: &str) -> StoreResult<Vec<PeriodSpend>> {
    Query {
        text: "SELECT agent_id, period, CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd \
               FROM usage_counters WHERE period IN (?, ?) GROUP BY agent_id, period"
            .into(),
        params: vec![Param::Text(day.into()), Param::Text(month.into())],
    }
    .load(conn)
}
