//! `GET /analytics/dashboard` and `GET /analytics/agents/{id}` over a period (admins and
//! supervisors). Every number comes from SQL aggregates (`store::analytics`); this layer only
//! derives rates and fills the daily series.
//!
//! Period: `from` and `to` as RFC 3339 times or `YYYY-MM-DD` dates (UTC); `[from, to)`, where a
//! date-only `to` includes that whole day. Default: the last 30 days. A conversation counts
//! when it was created in the period; messages and AI turns when they were written in it.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::conversation::Owner;
use crate::domain::handling;
use crate::domain::{AgentId, Role, UserId};
use crate::store::analytics::{self, Period, Scope};
use crate::store::{agents, Store};

const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// RFC 3339 time or YYYY-MM-DD (UTC); default 30 days before `to`.
    pub from: Option<String>,
    /// RFC 3339 time (exclusive) or YYYY-MM-DD (that day included); default now.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationStats {
    /// Created in the period.
    pub total: i64,
    pub open: i64,
    pub queued: i64,
    pub closed: i64,
    /// Handed to a human (or the queue) at some point.
    pub escalated: i64,
    /// Closed while owned by an AI agent, never escalated.
    pub resolved_without_human: i64,
    /// escalated / total (0 without conversations).
    pub escalation_rate: f64,
    /// resolved_without_human / total (0 without conversations).
    pub resolution_rate: f64,
    /// Mean seconds from a conversation's creation to its first answer, over those answered.
    pub avg_first_response_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageStats {
    pub total: i64,
    /// From customers.
    pub inbound: i64,
    /// From AI agents, humans and the system.
    pub outbound: i64,
    /// By sender type: contact, user, ai_agent, system.
    pub by_sender: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiStats {
    /// Every AI turn of the period, whatever its outcome.
    pub turns: i64,
    /// By outcome: ok, error, limited, skipped.
    pub turns_by_status: BTreeMap<String, i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// USD.
    pub cost_usd: f64,
    /// Distinct conversations with an AI turn in the period.
    pub conversations: i64,
    /// cost_usd / conversations (0 without any).
    pub cost_per_conversation: f64,
    /// Mean LLM latency of successful turns, in seconds.
    pub avg_response_seconds: Option<f64>,
    /// Tool calls by tool name.
    pub tool_usage: BTreeMap<String, i64>,
    /// Customer reactions to AI replies detected as negative (complaints, requests for a
    /// human, repeated questions, negative words) in the period.
    pub negative_feedback: i64,
    /// The same by kind: complaint, human_request, repeated_question, negative_sentiment.
    pub negative_feedback_by_kind: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayStats {
    /// YYYY-MM-DD (UTC).
    pub date: String,
    pub turns: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    /// Conversations created that day (as `conversations.total` counts them).
    pub conversations: i64,
    /// Of those, escalated to a person.
    pub escalated: i64,
    /// Of those, closed by the AI without a person.
    pub resolved_without_human: i64,
    /// Mean seconds to the first answer of that day's answered conversations.
    pub avg_first_response_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentStats {
    pub id: String,
    /// Empty when the agent was deleted since.
    pub name: String,
    pub emoji: String,
    pub turns: i64,
    pub total_tokens: i64,
    /// USD.
    pub cost_usd: f64,
    /// Distinct conversations it ran a turn in.
    pub conversations: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Analytics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRef>,
    pub period: PeriodView,
    pub conversations: ConversationStats,
    pub messages: MessageStats,
    pub ai: AiStats,
    /// Every UTC day the period touches, in order, zeros included.
    pub daily: Vec<DayStats>,
    /// AI usage per AI agent with turns in the period, costliest first.
    pub by_agent: Vec<AgentStats>,
}

pub fn parse_bound(field: &str, raw: &str, end: bool) -> ApiResult<NaiveDateTime> {
    use crate::domain::dates::{self, DateError};
    let out_of_range = |e: DateError| ApiError::field(field, &e.to_string());
    let raw = raw.trim();
    if DateTime::parse_from_rfc3339(raw).is_ok() {
        return dates::parse_instant(raw)
            .map(|t| t.naive_utc())
            .map_err(out_of_range);
    }
    let date = match dates::parse_day(raw) {
        Ok(date) => date,
        Err(DateError::OutOfRange) => return Err(out_of_range(DateError::OutOfRange)),
        Err(_) => {
            return Err(ApiError::field(
                field,
                "must be an RFC 3339 time or a YYYY-MM-DD date",
            ))
        }
    };
    let day = if end { date.succ_opt() } else { Some(date) };
    day.and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| ApiError::field(field, "is out of range"))
}

pub fn period(query: &PeriodQuery, settings: &Settings) -> ApiResult<Period> {
    let to = match &query.to {
        Some(raw) => parse_bound("to", raw, true)?,
        None => crate::store::now(),
    };
    let from = match &query.from {
        Some(raw) => parse_bound("from", raw, false)?,
        // Checked: a `to` near the start of the calendar has no 30 days before it.
        None => to
            .checked_sub_signed(chrono::Duration::days(DEFAULT_DAYS))
            .ok_or_else(|| ApiError::field("to", "is out of range"))?,
    };
    if from >= to {
        return Err(ApiError::field("from", "must be before to"));
    }
    let max_days = i64::from(settings.analytics.max_period_days);
    if to - from > chrono::Duration::days(max_days) {
        return Err(ApiError::Validation {
            message: format!("the period must be at most {max_days} days"),
            details: Some(serde_json::json!({"field": "to"})),
        });
    }
    Ok(Period { from, to })
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole > 0 {
        part as f64 / whole as f64
    } else {
        0.0
    }
}

/// Money to the micro-dollar, so sums of floating-point costs read as the amounts they are.
fn usd(value: f64) -> f64 {
    (value * 1_000_000.0).round() / 1_000_000.0
}

/// Tool names of one `tools_used` list: strings, or objects with a `name`.
fn tool_names(raw: &str) -> Vec<String> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(raw) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            serde_json::Value::String(name) => Some(name),
            serde_json::Value::Object(map) => {
                map.get("name").and_then(|n| n.as_str()).map(str::to_string)
            }
            _ => None,
        })
        .collect()
}

/// Every UTC day from `from` to just before `to`.
fn days(period: Period) -> Vec<String> {
    let first = period.from.date();
    let last = (period.to - chrono::Duration::microseconds(1)).date();
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect()
}

async fn compute(store: &Store, scope: Scope, period: Period) -> ApiResult<Analytics> {
    let tenant = scope.tenant.clone();
    let (
        (conversations, messages, turns, with_turns, tools, daily, feedback, per_day),
        (agent_totals, agent_rows),
    ) = store
        .run(move |conn| {
            let by_agent = (
                analytics::by_agent(conn, &scope, period)?,
                agents::list(conn, &tenant, i64::MAX, None)?,
            );
            Ok((
                (
                    analytics::conversations(conn, &scope, period)?,
                    analytics::messages(conn, &scope, period)?,
                    analytics::turns(conn, &scope, period)?,
                    analytics::conversations_with_turns(conn, &scope, period)?,
                    analytics::tools_used(conn, &scope, period)?,
                    analytics::daily(conn, &scope, period)?,
                    analytics::feedback(conn, &scope, period)?,
                    analytics::daily_conversations(conn, &scope, period)?,
                ),
                by_agent,
            ))
        })
        .await?;
    let negative_feedback_by_kind: BTreeMap<String, i64> =
        feedback.into_iter().map(|f| (f.kind, f.count)).collect();

    let mut by_sender = BTreeMap::new();
    let (mut inbound, mut outbound) = (0, 0);
    for m in &messages {
        *by_sender.entry(m.sender_type.clone()).or_insert(0) += m.count;
        if m.direction == "in" {
            inbound += m.count;
        } else {
            outbound += m.count;
        }
    }

    let mut turns_by_status = BTreeMap::new();
    let (mut total_turns, mut prompt, mut completion, mut cost) = (0, 0, 0, 0.0);
    let mut ok_latency: Option<(i64, i64)> = None;
    for t in &turns {
        turns_by_status.insert(t.status.clone(), t.turns);
        total_turns += t.turns;
        prompt += t.prompt_tokens;
        completion += t.completion_tokens;
        cost += t.cost_usd;
        if t.status == "ok" {
            ok_latency = Some((t.latency_ms, t.turns));
        }
    }
    let mut tool_usage = BTreeMap::new();
    for group in &tools {
        for name in tool_names(&group.tools_used) {
            *tool_usage.entry(name).or_insert(0) += group.turns;
        }
    }
    let by_day: BTreeMap<&str, &analytics::DayTotals> =
        daily.iter().map(|d| (d.day.as_str(), d)).collect();
    let conversations_by_day: BTreeMap<&str, &analytics::DayConversations> =
        per_day.iter().map(|d| (d.day.as_str(), d)).collect();
    let daily = days(period)
        .into_iter()
        .map(|date| {
            let turns = by_day.get(date.as_str());
            let created = conversations_by_day.get(date.as_str());
            DayStats {
                turns: turns.map_or(0, |d| d.turns),
                prompt_tokens: turns.map_or(0, |d| d.prompt_tokens),
                completion_tokens: turns.map_or(0, |d| d.completion_tokens),
                cost_usd: turns.map_or(0.0, |d| usd(d.cost_usd)),
                conversations: created.map_or(0, |d| d.total),
                escalated: created.map_or(0, |d| d.escalated),
                resolved_without_human: created.map_or(0, |d| d.resolved_without_human),
                avg_first_response_seconds: created.and_then(|d| d.avg_first_response_seconds),
                date,
            }
        })
        .collect();

    let names: BTreeMap<&str, (&str, &str)> = agent_rows
        .iter()
        .map(|a| (a.id.0.as_str(), (a.name.as_str(), a.emoji.as_str())))
        .collect();
    let mut by_agent: Vec<AgentStats> = agent_totals
        .iter()
        .map(|a| {
            let (name, emoji) = names.get(a.agent_id.as_str()).copied().unwrap_or_default();
            AgentStats {
                id: a.agent_id.clone(),
                name: name.to_string(),
                emoji: emoji.to_string(),
                turns: a.turns,
                total_tokens: a.prompt_tokens + a.completion_tokens,
                cost_usd: usd(a.cost_usd),
                conversations: a.conversations,
            }
        })
        .collect();
    by_agent.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then_with(|| b.turns.cmp(&a.turns))
    });

    Ok(Analytics {
        by_agent,
        agent: None,
        period: PeriodView {
            from: period.from.and_utc(),
            to: period.to.and_utc(),
        },
        conversations: ConversationStats {
            escalation_rate: ratio(conversations.escalated, conversations.total),
            resolution_rate: ratio(conversations.resolved_without_human, conversations.total),
            total: conversations.total,
            open: conversations.open,
            queued: conversations.queued,
            closed: conversations.closed,
            escalated: conversations.escalated,
            resolved_without_human: conversations.resolved_without_human,
            avg_first_response_seconds: conversations.avg_first_response_seconds,
        },
        messages: MessageStats {
            total: inbound + outbound,
            inbound,
            outbound,
            by_sender,
        },
        ai: AiStats {
            turns: total_turns,
            turns_by_status,
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cost_usd: usd(cost),
            conversations: with_turns,
            cost_per_conversation: if with_turns > 0 {
                usd(cost / with_turns as f64)
            } else {
                0.0
            },
            avg_response_seconds: ok_latency
                .filter(|(_, n)| *n > 0)
                .map(|(ms, n)| ms as f64 / n as f64 / 1000.0),
            tool_usage,
            negative_feedback: negative_feedback_by_kind.values().sum(),
            negative_feedback_by_kind,
        },
        daily,
    })
}

#[utoipa::path(get, path = "/api/v1/analytics/dashboard", tag = "analytics", params(PeriodQuery),
    responses((status = 200, body = Analytics), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn dashboard(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    query: web::Query<PeriodQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let period = period(&query, &settings)?;
    let scope = Scope {
        tenant: staff.tenant_id.clone(),
        agent: None,
    };
    Ok(HttpResponse::Ok().json(compute(&store, scope, period).await?))
}

#[utoipa::path(get, path = "/api/v1/analytics/agents/{id}", tag = "analytics", params(PeriodQuery),
    responses((status = 200, body = Analytics), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn agent(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    path: web::Path<String>,
    query: web::Query<PeriodQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let id = AgentId::parse(&path).ok_or(ApiError::NotFound)?;
    let period = period(&query, &settings)?;
    let tenant = staff.tenant_id.clone();
    let lookup = id.clone();
    let row = store
        .run(move |conn| agents::find(conn, &tenant, &lookup))
        .await?;
    let scope = Scope {
        tenant: staff.tenant_id.clone(),
        agent: Some(id),
    };
    let mut analytics = compute(&store, scope, period).await?;
    analytics.agent = Some(AgentRef {
        id: row.id.0,
        name: row.name,
    });
    Ok(HttpResponse::Ok().json(analytics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerHandling {
    pub id: String,
    /// Empty when the user or agent was deleted since.
    pub name: String,
    pub figures: handling::Figures,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentHandling {
    /// `null`: conversations without a department.
    pub id: Option<String>,
    /// Empty for `null` or a deleted department.
    pub name: String,
    pub humans: handling::Figures,
    pub ai: handling::Figures,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HumanAnalytics {
    pub period: PeriodView,
    /// Every human together.
    pub humans: handling::Figures,
    /// Every AI agent together, measured the same way.
    pub ai: handling::Figures,
    /// Per human with spells or ratings in the period, most handled first.
    pub agents: Vec<OwnerHandling>,
    /// Per AI agent, most handled first.
    pub ai_agents: Vec<OwnerHandling>,
    /// Per department the conversations were in when given to their owners.
    pub departments: Vec<DepartmentHandling>,
}

fn owners(
    totals: &BTreeMap<String, handling::Totals>,
    names: &BTreeMap<String, String>,
) -> Vec<OwnerHandling> {
    let mut out: Vec<OwnerHandling> = totals
        .iter()
        .map(|(id, t)| OwnerHandling {
            id: id.clone(),
            name: names.get(id).cloned().unwrap_or_default(),
            figures: handling::figures(t),
        })
        .collect();
    out.sort_by(|a, b| {
        b.figures
            .handled
            .cmp(&a.figures.handled)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

#[utoipa::path(get, path = "/api/v1/analytics/humans", tag = "analytics", params(PeriodQuery),
    responses((status = 200, body = HumanAnalytics), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn humans(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    query: web::Query<PeriodQuery>,
) -> ApiResult<HttpResponse> {
    use crate::store::{departments, users};
    staff.require(Role::oversees_tenant)?;
    let period = period(&query, &settings)?;
    let tenant = staff.tenant_id.clone();
    let (rows, user_rows, agent_rows, department_rows) = store
        .run(move |conn| {
            Ok((
                analytics::handling(conn, &tenant, period)?,
                users::list(conn, &tenant, i64::MAX, None)?,
                agents::list(conn, &tenant, i64::MAX, None)?,
                departments::list(conn, &tenant, i64::MAX, None)?,
            ))
        })
        .await?;
    let user_names: BTreeMap<String, String> =
        user_rows.into_iter().map(|u| (u.id.0, u.name)).collect();
    let agent_names: BTreeMap<String, String> =
        agent_rows.into_iter().map(|a| (a.id.0, a.name)).collect();
    let department_names: BTreeMap<String, String> = department_rows
        .into_iter()
        .map(|d| (d.id.0, d.name))
        .collect();
    let people = handling::roll_up(&rows, Owner::User(UserId(String::new())).kind());
    let machines = handling::roll_up(&rows, Owner::AiAgent(AgentId(String::new())).kind());
    let mut keys: Vec<&Option<String>> = people
        .by_department
        .keys()
        .chain(machines.by_department.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let empty = handling::Totals::default();
    let departments = keys
        .into_iter()
        .map(|id| DepartmentHandling {
            id: id.clone(),
            name: id
                .as_ref()
                .and_then(|d| department_names.get(d).cloned())
                .unwrap_or_default(),
            humans: handling::figures(people.by_department.get(id).unwrap_or(&empty)),
            ai: handling::figures(machines.by_department.get(id).unwrap_or(&empty)),
        })
        .collect();
    Ok(HttpResponse::Ok().json(HumanAnalytics {
        period: PeriodView {
            from: period.from.and_utc(),
            to: period.to.and_utc(),
        },
        humans: handling::figures(&people.all),
        ai: handling::figures(&machines.all),
        agents: owners(&people.by_owner, &user_names),
        ai_agents: owners(&machines.by_owner, &agent_names),
        departments,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics/dashboard", web::get().to(dashboard))
        .route("/analytics/agents/{id}", web::get().to(agent))
        .route("/analytics/humans", web::get().to(humans));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> NaiveDateTime {
        DateTime::parse_from_rfc3339(raw).expect("time").naive_utc()
    }

    #[test]
    fn bounds_accept_times_and_whole_days() {
        assert_eq!(
            parse_bound("from", "2026-03-01", false).expect("date"),
            at("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            parse_bound("to", "2026-03-01", true).expect("date"),
            at("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            parse_bound("to", "2026-03-01T12:00:00-03:00", true).expect("time"),
            at("2026-03-01T15:00:00Z")
        );
        assert!(parse_bound("from", "yesterday", false).is_err());
    }

    #[test]
    fn the_series_covers_every_day_touched() {
        let period = Period {
            from: at("2026-03-01T10:00:00Z"),
            to: at("2026-03-04T00:00:00Z"),
        };
        assert_eq!(days(period), vec!["2026-03-01", "2026-03-02", "2026-03-03"]);
    }

    #[test]
    fn tool_lists_in_both_shapes() {
        assert_eq!(
            tool_names(r#"["buscar_pedido", {"name": "transferir"}, 3]"#),
            vec!["buscar_pedido", "transferir"]
        );
        assert!(tool_names("not json").is_empty());
        assert_eq!(ratio(1, 0), 0.0);
        assert_eq!(usd(0.1 + 0.2), 0.3);
    }
}
