//! Encryption at rest for secrets the engine must use in clear later (provider API keys,
//! channel secrets and API keys), unlike passwords, which are only ever verified and so are
//! hashed. AES-256-GCM with a fresh random nonce per value; the key is SHA-256 of the
//! configured `secrets.encryption_key`. Sealed text is `v1:<nonce>:<ciphertext>` in
//! unpadded standard base64, so the format can change later by its version prefix.
//!
//! Changing `secrets.encryption_key` makes every sealed value unreadable: they must then be
//! entered again.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::SecretsSettings;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open with the configured key (changed key or tampered value)")]
    Undecryptable,
    #[error("opened value is not UTF-8")]
    NotUtf8,
}

/// Seals and opens secrets with the configured key. Cheap to share: keep one per process.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox { .. }")
    }
}

impl SecretBox {
    pub fn new(encryption_key: &SecretString) -> Self {
        let digest = Sha256::digest(encryption_key.expose_secret().as_bytes());
        let key = Key::<Aes256Gcm>::from_slice(&digest);
        SecretBox {
            cipher: Aes256Gcm::new(key),
        }
    }

    pub fn from_settings(settings: &SecretsSettings) -> Self {
        Self::new(&settings.encryption_key)
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // AES-GCM refuses only plaintexts over 64 GiB; request bodies are capped far below.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM seals any input under 64 GiB");
        format!(
            "{VERSION}:{}:{}",
            STANDARD_NO_PAD.encode(nonce),
            STANDARD_NO_PAD.encode(ciphertext)
        )
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretsError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(nonce), Some(ciphertext)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretsError::Malformed);
        };
        let nonce = STANDARD_NO_PAD
            .decode(nonce)
            .map_err(|_| SecretsError::Malformed)?;
        if nonce.len() != NONCE_LEN {
            return Err(SecretsError::Malformed);
        }
        let ciphertext = STANDARD_NO_PAD
            .decode(ciphertext)
            .map_err(|_| SecretsError::Malformed)?;
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
            .map_err(|_| SecretsError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| SecretsError::NotUtf8)
    }

    /// [`SecretBox::open`] into a [`SecretString`], so the value stays out of `Debug` output
    /// and logs on its way to the HTTP client that needs it.
    pub fn open_secret(&self, sealed: &str) -> Result<SecretString, SecretsError> {
        self.open(sealed).map(SecretString::from)
    }
}

/// Whether `raw` has the shape of a sealed value (not whether it opens).
pub fn is_sealed(raw: &str) -> bool {
    raw.starts_with("v1:") && raw.matches(':').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(key: &str) -> SecretBox {
        SecretBox::new(&SecretString::from(key))
    }

    #[test]
    fn sealed_values_open_and_hide_the_plaintext() {
        let secrets = boxed("test-key");
        let sealed = secrets.seal("sk-live-1234567890");
        assert!(is_sealed(&sealed), "{sealed}");
        assert!(!sealed.contains("sk-live"));
        assert_eq!(secrets.open(&sealed).as_deref(), Ok("sk-live-1234567890"));
        assert_eq!(secrets.open(&secrets.seal("")).as_deref(), Ok(""));
        assert_eq!(
            secrets.open(&secrets.seal("ключ 🔑")).as_deref(),
            Ok("ключ 🔑")
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let secrets = boxed("test-key");
        assert_ne!(secrets.seal("same"), secrets.seal("same"));
    }

    #[test]
    fn another_key_or_a_tampered_value_does_not_open() {
        let sealed = boxed("key-a").seal("secret");
        assert_eq!(
            boxed("key-b").open(&sealed),
            Err(SecretsError::Undecryptable)
        );

        let (head, body) = sealed.rsplit_once(':').expect("three parts");
        let mut bytes = STANDARD_NO_PAD.decode(body).expect("base64");
        bytes[0] ^= 1;
        let tampered = format!("{head}:{}", STANDARD_NO_PAD.encode(bytes));
        assert_eq!(
            boxed("key-a").open(&tampered),
            Err(SecretsError::Undecryptable)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let secrets = boxed("test-key");
        for raw in [
            "",
            "plaintext",
            "v2:AAAA:AAAA",
            "v1:not base64!:AAAA",
            "v1:AAAA:AAAA",
            "v1:AAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(secrets.open(raw), Err(SecretsError::Malformed), "{raw}");
        }
    }

    #[test]
    fn debug_does_not_print_the_key() {
        assert_eq!(format!("{:?}", boxed("hunter2")), "SecretBox { .. }");
    }
}
