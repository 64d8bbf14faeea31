//! `X-Atende-Signature` on generic channels. Inbound, two forms are accepted:
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
    use crate::engine::webhooks::{verify as verify_timestamped, SignatureError};
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
        use crate::engine::webhooks::sign as sign_timestamped;
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
