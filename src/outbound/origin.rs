//! Where a write-only secret may go. A stored key, header or signing secret belongs to the
//! host it was entered for: when an admin points the URL elsewhere without entering the
//! secret again, the secret is dropped rather than sent to the new host. The operator's
//! default LLM key belongs to the default base URL alone.

use url::Url;

/// Scheme, host and port (the port made explicit), the unit a secret is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// The origin of `raw`, or `None` when it is not an absolute URL with a host. Names are
/// compared as the URL parser normalises them (lower case, IDNA, IP literals canonical).
pub fn origin_of(raw: &str) -> Option<Origin> {
    let url = Url::parse(raw.trim()).ok()?;
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    Some(Origin {
        scheme: url.scheme().to_ascii_lowercase(),
        host,
        port: url.port_or_known_default(),
    })
}

/// Whether a secret stored for `stored` may be sent to `next`. Anything unparseable is a
/// different origin: when in doubt the secret stays home.
pub fn same_origin(stored: &str, next: &str) -> bool {
    match (origin_of(stored), origin_of(next)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether `candidate` is the same endpoint as `reference`: same origin and same path,
/// trailing slashes aside, and neither carries a query, fragment or credentials. The
/// operator's default key goes only where this holds for the default base URL.
pub fn same_endpoint(reference: &str, candidate: &str) -> bool {
    let parse = |raw: &str| {
        let url = Url::parse(raw.trim()).ok()?;
        let clean = url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        clean.then(|| url.path().trim_end_matches('/').to_string())
    };
    match (parse(reference), parse(candidate)) {
        (Some(a), Some(b)) => a == b && same_origin(reference, candidate),
        _ => false,
    }
}

/// Whether a PATCH moving a URL from `stored` to `next` must drop the secrets stored with
/// it: yes when the origin changes and the request brings no new secret.
pub fn drops_secret(stored: &str, next: &str, new_secret_given: bool) -> bool {
    !new_secret_given && !same_origin(stored, next)
}

/// Why an API base URL (an LLM provider's) is refused: it must be an absolute http(s) URL
/// with a host and no credentials, query or fragment, since the client appends paths to
/// it (a `?` would swallow them and let the URL pick the whole request path).
pub fn check_base_url(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw.trim()).map_err(|_| "must be an absolute http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an absolute http(s) URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    if url.query().is_some() {
        return Err("must not contain a query");
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            "https://api.a.test/v1",
            "https://API.a.test:443/v2?x=1"
        ));
        assert!(same_origin("http://a.test/x", "http://a.test:80/"));
        assert!(same_origin("http://[::1]:8080/", "http://[0:0::1]:8080/z"));
        assert!(same_origin("https://a.test./v1", "https://a.test/v1"));
        assert!(
            !same_origin("https://a.test/v1", "http://a.test/v1"),
            "scheme"
        );
        assert!(
            !same_origin("https://a.test/v1", "https://b.test/v1"),
            "host"
        );
        assert!(
            !same_origin("https://a.test/v1", "https://a.test:8443/v1"),
            "port"
        );
        assert!(!same_origin(
            "https://a.test/v1",
            "https://a.test.evil.test/v1"
        ));
        assert!(!same_origin("https://a.test/", "https://user@evil.test/"));
        assert!(
            !same_origin("not a url", "not a url"),
            "unparseable is never the same"
        );
        assert!(!same_origin("https://a.test/", ""));
    }

    #[test]
    fn endpoints_also_compare_the_path_and_refuse_queries() {
        let default = "https://api.openai.com/v1";
        assert!(same_endpoint(default, "https://api.openai.com/v1/"));
        assert!(same_endpoint(default, "HTTPS://API.OPENAI.COM:443/v1"));
        assert!(!same_endpoint(default, "https://api.openai.com/v2"));
        assert!(!same_endpoint(default, "https://api.openai.com/v1?q="));
        assert!(!same_endpoint(default, "https://api.openai.com/v1#x"));
        assert!(!same_endpoint(default, "https://k@api.openai.com/v1"));
        assert!(!same_endpoint(default, "http://127.0.0.1:9/anything?q="));
        assert!(!same_endpoint(
            default,
            "https://api.openai.com.evil.test/v1"
        ));
    }

    #[test]
    fn a_secret_is_dropped_only_when_the_origin_moves_without_a_new_one() {
        let old = "https://evo.a.test/api";
        assert!(!drops_secret(old, "https://evo.a.test/other", false));
        assert!(drops_secret(old, "https://evo.b.test/api", false));
        assert!(!drops_secret(old, "https://evo.b.test/api", true));
        assert!(drops_secret(old, "http://evo.a.test/api", false));
    }

    #[test]
    fn base_urls_are_plain_http_roots() {
        assert!(check_base_url("https://api.openai.com/v1").is_ok());
        assert!(check_base_url(" http://127.0.0.1:8000/v1/ ").is_ok());
        assert_eq!(
            check_base_url("http://127.0.0.1:9/anything?q=").err(),
            Some("must not contain a query")
        );
        assert_eq!(
            check_base_url("https://a.test/v1#frag").err(),
            Some("must not contain a fragment")
        );
        assert_eq!(
            check_base_url("https://u:p@a.test/v1").err(),
            Some("must not contain credentials")
        );
        for bad in ["ftp://a.test", "file:///etc/passwd", "/v1", "", "http://"] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }
}
