//! Prometheus metrics: one registry per application (no global state), HTTP request counts
//! and latency histograms recorded by a middleware.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_latency: HistogramVec,
    /// Inbound channel webhooks, from the request to the acknowledgement sent back.
    webhook_ack: HistogramVec,
}

/// The inbound webhook routes whose acknowledgement time is measured, by source label.
const WEBHOOK_ROUTES: [(&str, &str); 2] = [
    ("/webhooks/generic/", "generic"),
    ("/webhooks/evolution/", "evolution"),
];

/// The `source` label of an inbound webhook route pattern; `None` for any other route.
pub fn webhook_source(route: &str) -> Option<&'static str> {
    WEBHOOK_ROUTES
        .iter()
        .find(|(prefix, _)| route.contains(prefix))
        .map(|(_, source)| *source)
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("atende".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )?;
        let webhook_ack = HistogramVec::new(
            HistogramOpts::new(
                "webhook_ack_seconds",
                "Inbound channel webhooks: request received to acknowledgement, by source",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["source"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(webhook_ack.clone()))?;
        // Both sources from the start, so dashboards and alerts see zeros instead of gaps.
        for (_, source) in WEBHOOK_ROUTES {
            webhook_ack.with_label_values(&[source]);
        }
        Ok(Metrics {
            registry,
            http_requests,
            http_latency,
            webhook_ack,
        })
    }

    /// The registry, for other layers to register their own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Whether a scrape may read `/metrics`: anyone while `metrics.token` is empty, else only
/// `Authorization: Bearer <token>`. Compared as SHA-256 digests, so the time taken says
/// nothing about how much of the token was right.
pub fn scrape_allowed(configured: &str, authorization: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    if configured.is_empty() {
        return true;
    }
    let Some(given) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(configured.as_bytes())
}

/// Records every request under its route pattern (not the raw path: ids would explode the
/// label cardinality).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status = response.status().as_u16().to_string();
        metrics
            .http_requests
            .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
            .inc();
        let elapsed = started.elapsed().as_secs_f64();
        metrics
            .http_latency
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(elapsed);
        if let Some(source) = webhook_source(&route) {
            metrics
                .webhook_ack
                .with_label_values(&[source])
                .observe(elapsed);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::{scrape_allowed, webhook_source};

    #[test]
    fn only_inbound_webhook_routes_are_acknowledgements() {
        assert_eq!(
            webhook_source("/webhooks/evolution/{integration_id}"),
            Some("evolution")
        );
        assert_eq!(
            webhook_source("/webhooks/generic/{integration_id}"),
            Some("generic")
        );
        assert_eq!(webhook_source("/api/v1/webhooks/{id}"), None);
        assert_eq!(webhook_source("unmatched"), None);
    }

    #[test]
    fn a_configured_token_is_required_and_nothing_else_passes() {
        assert!(scrape_allowed("", None), "open without a token");
        assert!(scrape_allowed("", Some("Bearer whatever")));
        let token = "scrape-token-123";
        assert!(scrape_allowed(token, Some("Bearer scrape-token-123")));
        assert!(!scrape_allowed(token, None));
        assert!(!scrape_allowed(token, Some("Bearer scrape-token-12")));
        assert!(!scrape_allowed(token, Some("Bearer ")));
        assert!(!scrape_allowed(token, Some("scrape-token-123")));
        assert!(!scrape_allowed(token, Some("Basic scrape-token-123")));
    }
}
