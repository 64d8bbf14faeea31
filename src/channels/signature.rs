//! `X-Atende-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the shared
//! secret. The same scheme signs what we send (generic outbound) and checks what we receive
//! (generic inbound webhooks).

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
    fn empty_secret_and_body_still_sign() {
        let header = sign(b"", b"");
        assert!(header.starts_with(PREFIX));
        assert_eq!(header.len(), PREFIX.len() + 64);
        assert!(verify(b"", b"", &header));
    }
}
