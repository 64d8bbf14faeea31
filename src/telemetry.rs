//! Tracing set-up: human-readable logs in development, JSON in production.

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once. `RUST_LOG` wins over `log.level` when set.
/// Safe to call more than once (later calls are no-ops), which tests rely on.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).try_init(),
    };
    // Already initialised (tests spawn many apps in one process): keep the first.
    drop(result);
}

/// The per-request span of the access log. Same fields as tracing-actix-web's default,
/// except that credentials in the query string (`/ws?token=…`, SSE `?token=`, the calendar
/// feed's `?key=`) are replaced before the target is recorded: logs are not a secret store.
pub struct RedactedRootSpan;

/// Query parameters whose values never reach a log.
const SECRET_PARAMS: &[&str] = &["token", "key", "api_key", "apikey", "access_token"];

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let target = redact_target(request.path(), request.query_string());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %target,
            http.client_ip = %request.connection_info().realip_remote_addr().unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// `path?query` with the values of [`SECRET_PARAMS`] replaced by `[redacted]`.
pub fn redact_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redact_target;

    #[test]
    fn credentials_in_the_query_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_target("/ws", "token=eyJhbGciOi.secret.sig"),
            "/ws?token=[redacted]"
        );
        assert_eq!(
            redact_target("/api/v1/calendar/u.ics", "key=abc123&x=1"),
            "/api/v1/calendar/u.ics?key=[redacted]&x=1"
        );
        assert_eq!(
            redact_target("/api/v1/conversations", "status=open&limit=5"),
            "/api/v1/conversations?status=open&limit=5"
        );
        assert_eq!(redact_target("/health", ""), "/health");
        assert_eq!(redact_target("/x", "TOKEN=a"), "/x?TOKEN=[redacted]");
    }
}
