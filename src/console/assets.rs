//! The built console, embedded at compile time, and the rules for serving it: which
//! precompressed variant to send, how long it may be cached, and the Content-Security-Policy.

use std::borrow::Cow;

#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/web"]
pub struct Dist;

/// A file to send: its bytes, media type and the `Content-Encoding` they are in.
pub struct Asset {
    pub body: Cow<'static, [u8]>,
    pub mime: String,
    pub encoding: Option<Encoding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    pub fn header(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
        }
    }
}

/// Whether the console was built into this binary (Node.js and npm were there at build time).
pub fn built() -> bool {
    Dist::get("index.html").is_some()
}

/// `path` (relative, no leading `/`) in the best encoding the client accepts that was
/// precompressed at build time, else as is.
pub fn find(path: &str, accept_encoding: &str) -> Option<Asset> {
    if path.contains("..") || path.ends_with(".gz") || path.ends_with(".br") {
        return None;
    }
    let plain = Dist::get(path)?;
    let mime = with_charset(plain.metadata.mimetype());
    for encoding in preferred_encodings(accept_encoding) {
        if let Some(file) = Dist::get(&format!("{path}{}", encoding.suffix())) {
            return Some(Asset {
                body: file.data,
                mime,
                encoding: Some(encoding),
            });
        }
    }
    Some(Asset {
        body: plain.data,
        mime,
        encoding: None,
    })
}

/// Text is always UTF-8: said so, a script embedded in another site's page (widget.js) is not
/// read in that page's encoding.
fn with_charset(mime: &str) -> String {
    let textual = mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    if textual && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// The encodings of `Accept-Encoding` we can serve, best first (brotli before gzip at equal
/// weight; `q=0` refuses one). `*` accepts both.
pub fn preferred_encodings(accept_encoding: &str) -> Vec<Encoding> {
    let mut weighted: Vec<(Encoding, u16)> = Vec::new();
    let mut wildcard: Option<u16> = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u16)
            .next()
            .unwrap_or(1000);
        match name.as_str() {
            "br" => weighted.push((Encoding::Brotli, weight)),
            "gzip" | "x-gzip" => weighted.push((Encoding::Gzip, weight)),
            "*" => wildcard = Some(weight),
            _ => {}
        }
    }
    if let Some(weight) = wildcard {
        for encoding in [Encoding::Brotli, Encoding::Gzip] {
            if !weighted.iter().any(|(e, _)| *e == encoding) {
                weighted.push((encoding, weight));
            }
        }
    }
    weighted.retain(|(_, w)| *w > 0);
    // Stable sort: brotli stays ahead of gzip at the same weight.
    weighted.sort_by_key(|(e, w)| (std::cmp::Reverse(*w), *e != Encoding::Brotli));
    weighted.into_iter().map(|(e, _)| e).collect()
}

/// How long a file may be cached. Vite puts a content hash in every name under `assets/`, so
/// those never change; pages must be revalidated so a new build is picked up at once.
pub fn cache_control(path: &str) -> &'static str {
    if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else if path.ends_with(".html") {
        "no-cache"
    } else {
        "public, max-age=300"
    }
}

/// Where a page may be shown: the console never inside another site's frame, the customer's
/// chat page anywhere (the widget frames it on customers' sites).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Deny,
    Anywhere,
}

/// The policy of every page we serve: our own scripts and styles only (no inline code), and
/// connections only back to this host, over HTTP(S) and WebSocket. `host` comes from the
/// request; anything that is not a plain host[:port] is left out rather than echoed.
pub fn content_security_policy(host: &str, framing: Framing) -> String {
    let sockets = if is_plain_host(host) {
        format!(" ws://{host} wss://{host}")
    } else {
        String::new()
    };
    let ancestors = match framing {
        Framing::Deny => "'none'",
        Framing::Anywhere => "*",
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
}

fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_says_it_is_utf8() {
        assert_eq!(
            with_charset("text/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            with_charset("application/javascript"),
            "application/javascript; charset=utf-8"
        );
        assert_eq!(
            with_charset("text/html; charset=utf-8"),
            "text/html; charset=utf-8"
        );
        assert_eq!(with_charset("image/png"), "image/png");
    }

    #[test]
    fn brotli_is_preferred_at_equal_weight() {
        assert_eq!(
            preferred_encodings("gzip, deflate, br"),
            vec![Encoding::Brotli, Encoding::Gzip]
        );
        assert_eq!(preferred_encodings("gzip"), vec![Encoding::Gzip]);
        assert_eq!(preferred_encodings(""), vec![]);
        assert_eq!(preferred_encodings("identity"), vec![]);
    }

    #[test]
    fn weights_and_refusals_count() {
        assert_eq!(
            preferred_encodings("br;q=0.5, gzip;q=0.9"),
            vec![Encoding::Gzip, Encoding::Brotli]
        );
        assert_eq!(preferred_encodings("br;q=0, gzip"), vec![Encoding::Gzip]);
        assert_eq!(
            preferred_encodings("*;q=0.1, gzip"),
            vec![Encoding::Gzip, Encoding::Brotli]
        );
        assert_eq!(preferred_encodings("br;q=nonsense"), vec![Encoding::Brotli]);
    }

    #[test]
    fn only_hashed_assets_are_immutable() {
        assert!(cache_control("assets/index-3f2a.js").contains("immutable"));
        assert_eq!(cache_control("index.html"), "no-cache");
        assert!(!cache_control("widget.js").contains("immutable"));
    }

    #[test]
    fn the_policy_allows_this_host_only() {
        let csp = content_security_policy("localhost:8080", Framing::Deny);
        assert!(csp.contains("connect-src 'self' ws://localhost:8080 wss://localhost:8080;"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.ends_with("frame-ancestors 'none'"));
        let framed = content_security_policy("example.com", Framing::Anywhere);
        assert!(framed.ends_with("frame-ancestors *"));
    }

    #[test]
    fn a_hostile_host_header_is_not_echoed() {
        let csp = content_security_policy("evil; script-src *", Framing::Deny);
        assert!(csp.contains("connect-src 'self';"));
        assert!(!csp.contains("evil"));
    }

    #[test]
    fn paths_outside_the_bundle_are_refused() {
        assert!(find("../Cargo.toml", "").is_none());
        assert!(find("index.html.gz", "gzip").is_none());
    }
}
