//! `X-Atende-Signature`: outbound event webhooks sign with the timestamped form; generic
//! channels sign their replies with the legacy one. Inbound, two forms are accepted:
//! `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` (the timestamped form outbound webhooks use,
//! refused outside a tolerance window so a captured request cannot be replayed later) and the
//! legacy `sha256=<hex HMAC-SHA256 of the body>`, which carries no time and is kept for
//! senders written before the timestamp (it can be turned off). Outbound generic replies are
//! still signed in the legacy form.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the signature, in and out.
pub const HEADER: &str = "X-Atende-Signature";

const PREFIX: &str = "sha256=";

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first), so this never fails.
    <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// `"sha256=<lowercase hex HMAC-SHA256(secret, body)>"`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` under `secret`. The comparison is
/// constant-time so a caller cannot find a valid signature byte by byte through timing.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(digest) = header.trim().strip_prefix(PREFIX) else {
        return false;
    };
    // Upper-case hex decodes too: some senders print digests that way.
    let Ok(expected) = hex::decode(digest) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn timestamped_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "t.body">`.
pub fn sign_timestamped(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = hex::encode(
        timestamped_mac(secret, timestamp, body)
            .finalize()
            .into_bytes(),
    );
    format!("t={timestamp},v1={digest}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature is older than the replay window")]
    Expired,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// What a receiver does with `X-Atende-Signature`: the timestamp must be within `tolerance`
/// seconds of `now` and one `v1` must be the HMAC of `"t.body"` (compared in constant time).
pub fn verify_timestamped(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: u64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            Some(("v1", value)) => candidates.push(value),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > tolerance {
        return Err(SignatureError::Expired);
    }
    let matches = candidates.iter().any(|candidate| {
        hex::decode(candidate).is_ok_and(|expected| {
            timestamped_mac(secret, timestamp, body)
                .verify_slice(&expected)
                .is_ok()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The form an accepted inbound signature had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundScheme {
    Timestamped,
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the accepted window")]
    Expired,
    #[error("invalid signature")]
    Mismatch,
    #[error("the sha256= signature form is no longer accepted; sign with t=<unix>,v1=<hex>")]
    LegacyRefused,
}

/// What the inbound generic webhook accepts: the timestamped form within `tolerance` seconds
/// of `now`, or (when `accept_legacy`) the legacy `sha256=` form.
pub fn verify_inbound(
    secret: &[u8],
    body: &[u8],
    header: &str,
    now: i64,
    tolerance: u64,
    accept_legacy: bool,
) -> Result<InboundScheme, InboundError> {
    let header = header.trim();
    if header.starts_with(PREFIX) {
        if !accept_legacy {
            return Err(InboundError::LegacyRefused);
        }
        return if verify(secret, body, header) {
            Ok(InboundScheme::Legacy)
        } else {
            Err(InboundError::Mismatch)
        };
    }
    match verify_timestamped(secret, header, body, now, tolerance) {
        Ok(()) => Ok(InboundScheme::Timestamped),
        Err(SignatureError::Malformed) => Err(InboundError::Malformed),
        Err(SignatureError::Expired) => Err(InboundError::Expired),
        Err(SignatureError::Mismatch) => Err(InboundError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let header = sign_timestamped(b"secret", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(
            verify_timestamped(b"secret", &header, b"{\"a\":1}", 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify_timestamped(b"secret", &header, b"{\"a\":2}", 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(b"other", &header, b"{\"a\":1}", 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(b"secret", &header, b"{\"a\":1}", 1_700_000_301, 300),
            Err(SignatureError::Expired)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace("t=1700000000", "t=1700000100");
        assert_eq!(
            verify_timestamped(b"secret", &moved, b"{\"a\":1}", 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_signature_is_hmac_of_t_dot_body() {
        // Computed independently: HMAC-SHA256("key", "42.body").
        let mut expected = <HmacSha256 as Mac>::new_from_slice(b"key").expect("key");
        expected.update(b"42.body");
        let hex = hex::encode(expected.finalize().into_bytes());
        assert_eq!(
            sign_timestamped(b"key", 42, b"body"),
            format!("t=42,v1={hex}")
        );
    }

    #[test]
    fn malformed_timestamped_headers_are_refused() {
        for bad in ["", "t=1", "v1=ab", "t=x,v1=ab", "garbage", "t=1;v1=ab"] {
            assert_eq!(
                verify_timestamped(b"k", bad, b"", 1, 300),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
        // Unknown schemes beside a good v1 are ignored (room for a future v2).
        let header = sign_timestamped(b"k", 5, b"x");
        assert_eq!(
            verify_timestamped(b"k", &format!("{header},v0=dead"), b"x", 5, 0),
            Ok(())
        );
    }

    #[test]
    fn matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signature_verifies_against_its_body_and_secret_only() {
        let header = sign(b"secret", b"{\"a\":1}");
        assert!(verify(b"secret", b"{\"a\":1}", &header));
        assert!(verify(b"secret", b"{\"a\":1}", &format!("  {header}\r\n")));
        assert!(verify(
            b"secret",
            b"{\"a\":1}",
            &header.to_uppercase().replace("SHA256=", "sha256=")
        ));
        assert!(!verify(b"other", b"{\"a\":1}", &header));
        assert!(!verify(b"secret", b"{\"a\": 1}", &header));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let header = sign(b"secret", b"body");
        let digest = header.trim_start_matches(PREFIX);
        for bad in [
            "",
            "sha256=",
            digest,
            &format!("sha1={digest}"),
            &format!("sha256={}", &digest[..digest.len() - 1]),
            &format!("sha256={}", &digest[..digest.len() - 2]),
            &format!("sha256={}zz", &digest[..digest.len() - 2]),
            &format!("sha256= {digest}"),
        ] {
            assert!(!verify(b"secret", b"body", bad), "{bad:?}");
        }
    }

    #[test]
    fn inbound_accepts_both_forms_and_refuses_stale_timestamps() {
        let body = b"{\"a\":1}";
        let now = 1_800_000_000;
        let fresh = sign_timestamped(b"secret", now - 10, body);
        assert_eq!(
            verify_inbound(b"secret", body, &fresh, now, 300, true),
            Ok(InboundScheme::Timestamped)
        );
        let stale = sign_timestamped(b"secret", now - 301, body);
        assert_eq!(
            verify_inbound(b"secret", body, &stale, now, 300, true),
            Err(InboundError::Expired)
        );
        let future = sign_timestamped(b"secret", now + 301, body);
        assert_eq!(
            verify_inbound(b"secret", body, &future, now, 300, true),
            Err(InboundError::Expired)
        );
        assert_eq!(
            verify_inbound(b"other", body, &fresh, now, 300, true),
            Err(InboundError::Mismatch)
        );
        let legacy = sign(b"secret", body);
        assert_eq!(
            verify_inbound(b"secret", body, &legacy, now, 300, true),
            Ok(InboundScheme::Legacy)
        );
        assert_eq!(
            verify_inbound(b"secret", body, &legacy, now, 300, false),
            Err(InboundError::LegacyRefused)
        );
        assert_eq!(
            verify_inbound(b"secret", body, "garbage", now, 300, true),
            Err(InboundError::Malformed)
        );
    }

    #[test]
    fn empty_secret_and_body_still_sign() {
        let header = sign(b"", b"");
        assert!(header.starts_with(PREFIX));
        assert_eq!(header.len(), PREFIX.len() + 64);
        assert!(verify(b"", b"", &header));
    }
}
