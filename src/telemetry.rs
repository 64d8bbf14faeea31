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
        let client = request
            .app_data::<actix_web::web::Data<TrustedProxies>>()
            .and_then(|trusted| trusted.client_of(request.request()))
            .or_else(|| request.peer_addr().map(|a| a.ip()))
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %target,
            http.client_ip = %client,
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

/// `path?query` with the values of [`SECRET_PARAMS`] replaced by `[redacted]`. Names are
/// compared percent-decoded, as the handlers read them (`%74oken` is `token`).
pub fn redact_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let raw_name = pair.split('=').next().unwrap_or_default();
            let name = url::form_urlencoded::parse(raw_name.as_bytes())
                .next()
                .map(|(name, _)| name.trim().to_string())
                .unwrap_or_default();
            if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                format!("{raw_name}=[redacted]")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// `server.trusted_proxies`: the only peers whose `X-Forwarded-For` names the client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<ipnet::IpNet>) -> Self {
        TrustedProxies(networks)
    }

    fn trusts(&self, ip: &std::net::IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a request: see [`client_ip`].
    pub fn client_of(&self, req: &actix_web::HttpRequest) -> Option<std::net::IpAddr> {
        let peer = req.peer_addr()?.ip();
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(client_ip(peer, &forwarded.join(","), self))
    }
}

/// The client's address: the socket's peer, unless the peer is a trusted proxy; then the
/// `X-Forwarded-For` chain is read from the right (nearest hop first), skipping trusted
/// proxies, and the first address not trusted is the client. Anything unreadable stops the
/// walk at the last hop known to be good, so a client cannot pick its own address.
pub fn client_ip(
    peer: std::net::IpAddr,
    forwarded_for: &str,
    trusted: &TrustedProxies,
) -> std::net::IpAddr {
    let mut client = peer;
    if !trusted.trusts(&client) {
        return client;
    }
    for hop in forwarded_for.rsplit(',').map(str::trim) {
        let Ok(ip) = hop.parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted.trusts(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoded_names_are_redacted_too() {
        assert_eq!(
            redact_target("/ws", "%74oken=eyJ.secret.sig"),
            "/ws?%74oken=[redacted]"
        );
        assert_eq!(
            redact_target("/ws", "%54%4F%4B%45%4E=eyJ.secret.sig&a=1"),
            "/ws?%54%4F%4B%45%4E=[redacted]&a=1"
        );
        assert_eq!(
            redact_target("/x", "api%5Fkey=sk-1"),
            "/x?api%5Fkey=[redacted]"
        );
        assert_eq!(redact_target("/x", "token+=a"), "/x?token+=[redacted]");
        assert_eq!(redact_target("/x", "tokens=a"), "/x?tokens=a");
        assert_eq!(redact_target("/x", "%ZZ=a"), "/x?%ZZ=a");
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let none = TrustedProxies::default();
        let proxies = TrustedProxies::new(vec![
            "10.0.0.0/8".parse().expect("net"),
            "192.0.2.7/32".parse().expect("net"),
        ]);
        // Nobody trusted: the header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &none),
            ip("203.0.113.9")
        );
        // An untrusted peer cannot claim another address.
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &proxies),
            ip("203.0.113.9")
        );
        // Behind one trusted proxy: the address it saw.
        assert_eq!(
            client_ip(ip("10.1.2.3"), "198.51.100.4", &proxies),
            ip("198.51.100.4")
        );
        // A client-written prefix is not believed past the first untrusted hop.
        assert_eq!(
            client_ip(ip("10.1.2.3"), "6.6.6.6, 198.51.100.4, 192.0.2.7", &proxies),
            ip("198.51.100.4")
        );
        // Garbage stops at the last good hop.
        assert_eq!(client_ip(ip("10.1.2.3"), "junk", &proxies), ip("10.1.2.3"));
        assert_eq!(client_ip(ip("10.1.2.3"), "", &proxies), ip("10.1.2.3"));
    }

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
