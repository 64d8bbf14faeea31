//! `GET /api/v1/feedback` (admins, supervisors): the feedback detected on AI replies, to
//! review — the AI reply judged and the customer's message that judged it — filtered by kind,
//! AI agent and period, newest first, paginated like other lists.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::analytics::parse_bound;
use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use crate::auth::Staff;
use crate::domain::feedback::FeedbackKind;
use crate::domain::Role;
use crate::store::feedback::{self, FeedbackEvent, ReviewFilter};
use crate::store::Store;

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedbackQuery {
    /// complaint | human_request | repeated_question | negative_sentiment
    pub kind: Option<String>,
    /// The AI agent whose replies were judged.
    pub agent_id: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (UTC), inclusive.
    pub from: Option<String>,
    /// RFC 3339 time (exclusive) or YYYY-MM-DD (that day included).
    pub to: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackView {
    pub id: String,
    pub conversation_id: String,
    pub agent_id: Option<String>,
    pub kind: String,
    pub score: f64,
    /// The signals found (`{"kind", "weight", "evidence"}`).
    pub signals: serde_json::Value,
    pub reply: MessageRef,
    pub customer_message: MessageRef,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageRef {
    pub id: Option<String>,
    /// Null when the message is gone.
    pub content: Option<String>,
}

fn customer_message_id(event: &FeedbackEvent) -> Option<String> {
    let details: serde_json::Value = serde_json::from_str(&event.details).ok()?;
    details["customer_message_id"].as_str().map(str::to_string)
}

#[utoipa::path(get, path = "/api/v1/feedback", tag = "feedback", params(FeedbackQuery),
    responses((status = 200, body = Object, description = "{items: [FeedbackView], next_cursor}"),
        (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<FeedbackQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let cursor = page.cursor_id(|raw| uuid::Uuid::parse_str(raw).ok().map(|u| u.to_string()))?;
    let kind = match &q.kind {
        Some(raw) => Some(
            serde_json::from_value::<FeedbackKind>(serde_json::Value::String(raw.clone()))
                .map_err(|_| {
                    ApiError::field(
                        "kind",
                        "must be complaint, human_request, repeated_question or negative_sentiment",
                    )
                })?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let bound =
        |field: &str, raw: &Option<String>, end: bool| -> ApiResult<Option<NaiveDateTime>> {
            raw.as_deref()
                .map(|r| parse_bound(field, r, end))
                .transpose()
        };
    let filter = ReviewFilter {
        kind,
        agent_id: q.agent_id.clone(),
        from: bound("from", &q.from, false)?,
        to: bound("to", &q.to, true)?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from >= to {
            return Err(ApiError::field("from", "must be before to"));
        }
    }
    let tenant = staff.tenant_id.clone();
    let (rows, texts) = store
        .run(move |conn| {
            let rows = feedback::review(conn, &tenant, &filter, cursor.as_deref(), limit)?;
            let ids: Vec<String> = rows
                .iter()
                .flat_map(|e| [e.message_id.clone(), customer_message_id(e)])
                .flatten()
                .collect();
            let texts = feedback::message_texts(conn, &tenant, &ids)?;
            Ok((rows, texts))
        })
        .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        |e| {
            let customer = customer_message_id(&e);
            let signals = serde_json::from_str::<serde_json::Value>(&e.details)
                .map(|d| d["signals"].clone())
                .unwrap_or(serde_json::Value::Null);
            Ok(FeedbackView {
                reply: MessageRef {
                    content: e.message_id.as_ref().and_then(|id| texts.get(id).cloned()),
                    id: e.message_id.clone(),
                },
                customer_message: MessageRef {
                    content: customer.as_ref().and_then(|id| texts.get(id).cloned()),
                    id: customer,
                },
                id: e.id,
                conversation_id: e.conversation_id.to_string(),
                agent_id: e.agent_id,
                kind: e.kind,
                score: e.score,
                signals,
                created_at: e.created_at.and_utc(),
            })
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/feedback", web::get().to(list));
}
