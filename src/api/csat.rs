//! `GET /api/v1/analytics/csat` (admins and supervisors): the customers' 1–5 ratings of the
//! period (by when they were given), overall and by agent (human and AI), category, channel
//! and day, with how many questions were asked. Sums are `domain::csat::summarize`.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::analytics::{period, PeriodQuery, PeriodView};
use super::error::ApiResult;
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::csat::{self, CsatSummary, Rated};
use crate::domain::Role;
use crate::store::{csat as csat_store, Store};

#[derive(Debug, Serialize, ToSchema)]
pub struct CsatReport {
    pub period: PeriodView,
    /// Questions sent in the period (conversations closed with CSAT on).
    pub asked: i64,
    /// rated / asked (0 without questions).
    pub response_rate: f64,
    #[serde(flatten)]
    pub summary: CsatSummary,
}

#[utoipa::path(get, path = "/api/v1/analytics/csat", tag = "analytics", params(PeriodQuery),
    responses((status = 200, body = CsatReport), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    query: web::Query<PeriodQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let period = period(&query, &settings)?;
    let tenant = staff.tenant_id.clone();
    let (rows, asked) = store
        .run(move |conn| {
            let rows = csat_store::rated_between(conn, &tenant, period.from, period.to)?;
            let asked = csat_store::asked_between(conn, &tenant, period.from, period.to)?;
            Ok((rows, asked))
        })
        .await?;
    let ratings: Vec<Rated> = rows
        .into_iter()
        .filter_map(|row| {
            let rating = u8::try_from(row.rating?).ok()?;
            Some(Rated {
                owner_type: row.owner_type,
                owner_id: row.owner_id,
                category: row.category,
                channel: row.channel,
                day: row.rated_at?.format("%Y-%m-%d").to_string(),
                rating,
            })
        })
        .collect();
    let summary = csat::summarize(&ratings);
    let rated = i64::try_from(summary.overall.rated).unwrap_or(i64::MAX);
    Ok(HttpResponse::Ok().json(CsatReport {
        period: PeriodView {
            from: period.from.and_utc(),
            to: period.to.and_utc(),
        },
        asked,
        response_rate: if asked > 0 {
            (rated as f64 / asked as f64).min(1.0)
        } else {
            0.0
        },
        summary,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics/csat", web::get().to(report));
}
