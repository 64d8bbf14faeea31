//! SSRF guard for outbound HTTP to tenant-configured URLs (channel senders, webhooks, tools,
//! LLM providers and embeddings).
//! A tenant admin picks the URL, so without this an integration could make the server call
//! its own loopback services, the cloud metadata endpoint (169.254.169.254) or the private
//! network behind it.
//!
//! [`check_target`] refuses a bad URL up front with a clear reason. It cannot stop a name
//! that resolves to a public address at check time and a private one at connect time (DNS
//! rebinding), so clients that call such URLs also install [`GuardedResolver`], which drops
//! forbidden addresses at connect time, and do not follow redirects.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an http(s) URL with a host: retrying cannot help.
    Invalid(String),
    /// Resolves to (or is) an address outbound calls may not reach: retrying cannot help.
    Forbidden(String),
    /// The name did not resolve right now; DNS may recover, so worth retrying.
    Unresolvable(String),
}

impl Refusal {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Refusal::Unresolvable(_))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Invalid(m) | Refusal::Forbidden(m) | Refusal::Unresolvable(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// Checks that `url` may be called: http or https, and unless `allow_private`, a host that is
/// not (and does not resolve to) a loopback, private, link-local, CGNAT, multicast or
/// unspecified address.
pub async fn check_target(url: &str, allow_private: bool) -> Result<Url, String> {
    check(url, allow_private).await.map_err(|e| e.to_string())
}

/// [`check_target`] with the reason typed, so callers can tell a permanent refusal from a
/// passing DNS failure.
pub async fn check(url: &str, allow_private: bool) -> Result<Url, Refusal> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| Refusal::Invalid(format!("target URL is not valid: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refusal::Invalid(format!(
            "target URL scheme `{}` is not allowed (only http and https)",
            parsed.scheme()
        )));
    }
    let Some(host) = parsed.host() else {
        return Err(Refusal::Invalid("target URL has no host".into()));
    };
    if allow_private {
        return Ok(parsed);
    }
    let forbidden = |shown: &str| {
        Refusal::Forbidden(format!(
            "target host `{shown}` is a loopback, private, link-local or reserved address, \
             which outbound calls may not reach"
        ))
    };
    match host {
        url::Host::Ipv4(ip) if is_forbidden_ip(IpAddr::V4(ip)) => Err(forbidden(&ip.to_string())),
        url::Host::Ipv6(ip) if is_forbidden_ip(IpAddr::V6(ip)) => Err(forbidden(&ip.to_string())),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => Ok(parsed),
        url::Host::Domain(domain) => {
            let port = parsed.port_or_known_default().unwrap_or(80);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|_| {
                    Refusal::Unresolvable(format!("target host `{domain}` could not be resolved"))
                })?
                .collect();
            if addrs.is_empty() {
                return Err(Refusal::Unresolvable(format!(
                    "target host `{domain}` has no addresses"
                )));
            }
            // Any forbidden address refuses the name: the client could connect to any of them.
            // The address itself is left out so the message is no oracle for internal DNS.
            if addrs.iter().any(|a| is_forbidden_ip(a.ip())) {
                return Err(Refusal::Forbidden(format!(
                    "target host `{domain}` resolves to a loopback, private, link-local or \
                     reserved address, which outbound calls may not reach"
                )));
            }
            Ok(parsed)
        }
    }
}

/// Whether outbound calls must not reach `ip`: loopback, private (RFC 1918, fc00::/7),
/// link-local, CGNAT (100.64/10), unspecified, "this network" (0/8), IETF protocol
/// assignments (192.0.0/24), benchmarking (198.18/15), reserved (240/4, broadcast included),
/// multicast, and IPv6 forms that reach an IPv4 address (mapped, compatible, well-known
/// NAT64 with a forbidden address inside, local-use NAT64 64:ff9b:1::/48, 6to4 2002::/16,
/// Teredo 2001::/32): the last three cannot be checked reliably, so they are refused whole.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return true;
    }
    let segments = ip.segments();
    let first = segments[0];
    // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 deprecated site-local.
    if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 || (first & 0xffc0) == 0xfec0 {
        return true;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let embedded = || {
        let [.., hi, lo] = segments;
        Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
    };
    // Deprecated IPv4-compatible ::a.b.c.d; the stack may still route it as IPv4.
    if segments[..6].iter().all(|s| *s == 0) {
        return is_forbidden_v4(embedded());
    }
    // NAT64 well-known prefix 64:ff9b::/96: the translator would connect to the IPv4 inside.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_forbidden_v4(embedded());
    }
    // Local-use NAT64 (64:ff9b:1::/48, RFC 8215) embeds the IPv4 address at an
    // operator-chosen position; 6to4 (2002::/16) and Teredo (2001::/32) tunnel to IPv4
    // relays. None of them is a destination an integration needs.
    let local_nat64 = segments[..3] == [0x64, 0xff9b, 1];
    let six_to_four = first == 0x2002;
    let teredo = first == 0x2001 && segments[1] == 0;
    local_nat64 || six_to_four || teredo
}

/// A resolver for reqwest clients calling tenant-configured URLs: resolves with the system
/// resolver and drops forbidden addresses, so a name rebound to a private address after
/// [`check`] still cannot be reached.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_forbidden_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(
                    format!("host `{host}` has no address that outbound calls may reach").into(),
                );
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("test address")
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for raw in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "192.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "250.1.2.3",
            "254.255.255.255",
            "2002::1",
            "2002:c0a8:101::1",
            "2002:808:808::1",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::8.8.8.8",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:198.18.0.1",
            "::ffff:240.0.0.1",
            "::ffff:192.0.0.8",
            "64:ff9b::c612:1",
        ] {
            assert!(is_forbidden_ip(ip(raw)), "{raw} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for raw in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.255.0.1",
            "11.0.0.1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "fbff::1",
            "192.0.1.1",
            "191.255.255.255",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2003::1",
            "2001:db8::1",
            "2001:1::1",
            "64:ff9b:2::1",
        ] {
            assert!(!is_forbidden_ip(ip(raw)), "{raw} should be allowed");
        }
    }

    #[actix_web::test]
    async fn only_http_and_https_urls_pass() {
        for url in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "gopher://a.test",
            "not a url",
            "http://",
        ] {
            let err = check_target(url, true).await.expect_err(url);
            assert!(!err.is_empty(), "{url}");
        }
        let err = check_target("ftp://example.com/x", false)
            .await
            .expect_err("ftp");
        assert!(err.contains("ftp"), "{err}");
        assert!(check_target("https://203.0.113.7/hook", false)
            .await
            .is_ok());
        assert!(check_target("http://[2001:db8::1]:8080/hook", false)
            .await
            .is_ok());
    }

    #[actix_web::test]
    async fn literal_and_resolved_internal_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:8080/x",
            "http://2130706433/",
        ] {
            let refusal = check(url, false).await.expect_err(url);
            assert!(
                matches!(refusal, Refusal::Forbidden(_)),
                "{url}: {refusal:?}"
            );
            assert!(!refusal.is_retryable());
            assert!(
                check_target(url, true).await.is_ok(),
                "{url} allowed when private is"
            );
        }
    }

    #[actix_web::test]
    async fn unresolvable_names_are_retryable() {
        let refusal = check("http://does-not-exist.invalid/x", false)
            .await
            .expect_err("no such name");
        assert!(refusal.is_retryable(), "{refusal:?}");
    }

    #[actix_web::test]
    async fn the_resolver_drops_forbidden_addresses() {
        let name: Name = "localhost".parse().expect("name");
        let result = GuardedResolver.resolve(name).await;
        assert!(result.is_err(), "localhost only has loopback addresses");
    }
}
