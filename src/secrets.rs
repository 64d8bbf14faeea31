//! Encryption at rest for secrets the engine must use in clear later (provider API keys,
//! channel secrets and API keys, tool secrets), unlike passwords, which are only ever verified
//! and so are hashed.
//!
//! Format v2 (every new write): `v2:<key_id>:<nonce>:<ciphertext>` in unpadded standard
//! base64. AES-256-GCM with a fresh random nonce; the key is HKDF-SHA256 of the configured
//! `secrets.encryption_key` under a fixed salt and info label, and the associated data names the
//! tenant, table and field the value belongs to ([`SealContext`]), so a sealed value copied into
//! another row kind or another tenant does not open. `key_id` says which configured key sealed
//! it, so `secrets.previous_encryption_keys` keep opening old values after a key change until
//! `atende secrets rotate` re-seals them with the current key.
//!
//! Format v1 (legacy, read only): `v1:<nonce>:<ciphertext>`, key = SHA-256 of the key text, no
//! associated data. Still opened with any configured key so stores written before v2 keep working.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::SecretsSettings;
use crate::domain::TenantId;

const LEGACY_VERSION: &str = "v1";
const VERSION: &str = "v2";
const NONCE_LEN: usize = 12;
/// Bytes of the key fingerprint written into v2 values: enough to tell a handful of configured
/// keys apart, too few to help an attacker (it is derived under its own HKDF label).
const KEY_ID_LEN: usize = 4;
const HKDF_SALT: &[u8] = b"atende secrets sealing salt v2";
const HKDF_INFO_KEY: &[u8] = b"atende:v2:aes-256-gcm key";
const HKDF_INFO_KEY_ID: &[u8] = b"atende:v2:key id";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open with the configured keys (changed key, moved or tampered value)")]
    Undecryptable,
    #[error("opened value is not UTF-8")]
    NotUtf8,
}

/// Which column a sealed value lives in. Part of the associated data, so a value only opens
/// where it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedField {
    AgentApiKey,
    IntegrationSecret,
    IntegrationApiKey,
    WebhookSecret,
    /// A secret inside `tools.config` (HTTP tool headers, webhook tool secret).
    ToolConfigSecret,
}

impl SealedField {
    pub const ALL: [SealedField; 5] = [
        SealedField::AgentApiKey,
        SealedField::IntegrationSecret,
        SealedField::IntegrationApiKey,
        SealedField::WebhookSecret,
        SealedField::ToolConfigSecret,
    ];

    pub fn table(self) -> &'static str {
        match self {
            SealedField::AgentApiKey => "ai_agents",
            SealedField::IntegrationSecret | SealedField::IntegrationApiKey => "integrations",
            SealedField::WebhookSecret => "webhooks",
            SealedField::ToolConfigSecret => "tools",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            SealedField::AgentApiKey => "provider_api_key",
            SealedField::IntegrationSecret => "secret",
            SealedField::IntegrationApiKey => "api_key",
            SealedField::WebhookSecret => "secret",
            SealedField::ToolConfigSecret => "config",
        }
    }
}

/// Where a sealed value belongs: the tenant owning the row and the column holding it.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub tenant: &'a TenantId,
    pub field: SealedField,
}

impl<'a> SealContext<'a> {
    pub fn new(tenant: &'a TenantId, field: SealedField) -> Self {
        SealContext { tenant, field }
    }

    fn associated_data(&self) -> String {
        format!(
            "atende:{VERSION}:{}:{}:{}",
            self.tenant.0,
            self.field.table(),
            self.field.column()
        )
    }
}

/// One configured key, in both derivations.
#[derive(Clone)]
struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
    legacy: Aes256Gcm,
}

impl SealingKey {
    fn derive(material: &SecretString) -> Self {
        let material = material.expose_secret().as_bytes();
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), material);
        let mut key = [0u8; 32];
        let mut id = [0u8; KEY_ID_LEN];
        // Both lengths are far below HKDF-SHA256's 255 * 32 byte limit.
        hkdf.expand(HKDF_INFO_KEY, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        hkdf.expand(HKDF_INFO_KEY_ID, &mut id)
            .expect("4 bytes is a valid HKDF-SHA256 length");
        let legacy = Sha256::digest(material);
        SealingKey {
            id: hex::encode(id),
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            legacy: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&legacy)),
        }
    }
}

/// What [`SecretBox::open_for_rotation`] found: the plaintext and whether it is already sealed
/// in the current format with the current key.
#[derive(Debug)]
pub struct Opened {
    pub plaintext: SecretString,
    pub current: bool,
}

/// Seals with the current key and opens with the current or a previous one. Cheap to share:
/// keep one per process.
#[derive(Clone)]
pub struct SecretBox {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox { .. }")
    }
}

impl SecretBox {
    pub fn new(encryption_key: &SecretString) -> Self {
        Self::with_previous(encryption_key, &[])
    }

    pub fn with_previous(encryption_key: &SecretString, previous: &[SecretString]) -> Self {
        SecretBox {
            current: SealingKey::derive(encryption_key),
            previous: previous.iter().map(SealingKey::derive).collect(),
        }
    }

    pub fn from_settings(settings: &SecretsSettings) -> Self {
        Self::with_previous(&settings.encryption_key, &settings.previous_encryption_keys)
    }

    fn keys(&self) -> impl Iterator<Item = &SealingKey> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    pub fn seal(&self, context: SealContext<'_>, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = context.associated_data();
        // AES-GCM refuses only plaintexts over 64 GiB; request bodies are capped far below.
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM seals any input under 64 GiB");
        format!(
            "{VERSION}:{}:{}:{}",
            self.current.id,
            STANDARD_NO_PAD.encode(nonce),
            STANDARD_NO_PAD.encode(ciphertext)
        )
    }

    pub fn open(&self, context: SealContext<'_>, sealed: &str) -> Result<String, SecretsError> {
        self.open_inner(context, sealed).map(|(plain, _)| plain)
    }

    /// [`SecretBox::open`] into a [`SecretString`], so the value stays out of `Debug` output
    /// and logs on its way to the HTTP client that needs it.
    pub fn open_secret(
        &self,
        context: SealContext<'_>,
        sealed: &str,
    ) -> Result<SecretString, SecretsError> {
        self.open(context, sealed).map(SecretString::from)
    }

    /// Opens a value and says whether it needs re-sealing (legacy format or an old key).
    pub fn open_for_rotation(
        &self,
        context: SealContext<'_>,
        sealed: &str,
    ) -> Result<Opened, SecretsError> {
        self.open_inner(context, sealed)
            .map(|(plain, current)| Opened {
                plaintext: SecretString::from(plain),
                current,
            })
    }

    /// The plaintext and whether `sealed` is v2 under the current key.
    fn open_inner(
        &self,
        context: SealContext<'_>,
        sealed: &str,
    ) -> Result<(String, bool), SecretsError> {
        let parts: Vec<&str> = sealed.split(':').collect();
        match parts.as_slice() {
            [VERSION, key_id, nonce, ciphertext] => {
                let nonce = decode_nonce(nonce)?;
                let ciphertext = decode(ciphertext)?;
                let aad = context.associated_data();
                let key = self
                    .keys()
                    .find(|k| k.id == *key_id)
                    .ok_or(SecretsError::Undecryptable)?;
                let plain = key
                    .cipher
                    .decrypt(
                        Nonce::from_slice(&nonce),
                        Payload {
                            msg: &ciphertext,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| SecretsError::Undecryptable)?;
                let current = key.id == self.current.id;
                Ok((utf8(plain)?, current))
            }
            [LEGACY_VERSION, nonce, ciphertext] => {
                let nonce = decode_nonce(nonce)?;
                let ciphertext = decode(ciphertext)?;
                let plain = self
                    .keys()
                    .find_map(|k| {
                        k.legacy
                            .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
                            .ok()
                    })
                    .ok_or(SecretsError::Undecryptable)?;
                Ok((utf8(plain)?, false))
            }
            _ => Err(SecretsError::Malformed),
        }
    }
}

fn decode(text: &str) -> Result<Vec<u8>, SecretsError> {
    STANDARD_NO_PAD
        .decode(text)
        .map_err(|_| SecretsError::Malformed)
}

fn decode_nonce(text: &str) -> Result<Vec<u8>, SecretsError> {
    let nonce = decode(text)?;
    if nonce.len() == NONCE_LEN {
        Ok(nonce)
    } else {
        Err(SecretsError::Malformed)
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, SecretsError> {
    String::from_utf8(bytes).map_err(|_| SecretsError::NotUtf8)
}

/// Whether `raw` has the shape of a sealed value (not whether it opens).
pub fn is_sealed(raw: &str) -> bool {
    let colons = raw.matches(':').count();
    (raw.starts_with("v2:") && colons == 3) || (raw.starts_with("v1:") && colons == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(key: &str) -> SecretBox {
        SecretBox::new(&SecretString::from(key))
    }

    fn tenant(id: &str) -> TenantId {
        TenantId(id.into())
    }

    fn ctx(tenant: &TenantId, field: SealedField) -> SealContext<'_> {
        SealContext::new(tenant, field)
    }

    /// A value in the pre-v2 format, written the way the old code did.
    fn legacy_seal(key: &str, plaintext: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&digest));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher.encrypt(&nonce, plaintext.as_bytes()).expect("seal");
        format!(
            "v1:{}:{}",
            STANDARD_NO_PAD.encode(nonce),
            STANDARD_NO_PAD.encode(ciphertext)
        )
    }

    #[test]
    fn sealed_values_open_and_hide_the_plaintext() {
        let secrets = boxed("test-key");
        let a = tenant("a");
        let c = ctx(&a, SealedField::AgentApiKey);
        let sealed = secrets.seal(c, "sk-live-1234567890");
        assert!(sealed.starts_with("v2:"), "{sealed}");
        assert!(is_sealed(&sealed), "{sealed}");
        assert!(!sealed.contains("sk-live"));
        assert_eq!(
            secrets.open(c, &sealed).as_deref(),
            Ok("sk-live-1234567890")
        );
        assert_eq!(secrets.open(c, &secrets.seal(c, "")).as_deref(), Ok(""));
        assert_eq!(
            secrets.open(c, &secrets.seal(c, "ключ 🔑")).as_deref(),
            Ok("ключ 🔑")
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let secrets = boxed("test-key");
        let a = tenant("a");
        let c = ctx(&a, SealedField::WebhookSecret);
        assert_ne!(secrets.seal(c, "same"), secrets.seal(c, "same"));
    }

    #[test]
    fn a_value_opens_only_for_its_tenant_and_field() {
        let secrets = boxed("test-key");
        let (a, b) = (tenant("a"), tenant("b"));
        let sealed = secrets.seal(ctx(&a, SealedField::IntegrationSecret), "whsec");
        assert_eq!(
            secrets.open(ctx(&b, SealedField::IntegrationSecret), &sealed),
            Err(SecretsError::Undecryptable)
        );
        for field in SealedField::ALL {
            let expected = if field == SealedField::IntegrationSecret {
                Ok("whsec".to_string())
            } else {
                Err(SecretsError::Undecryptable)
            };
            assert_eq!(secrets.open(ctx(&a, field), &sealed), expected, "{field:?}");
        }
    }

    #[test]
    fn legacy_v1_values_still_open_and_ask_for_rotation() {
        let secrets = boxed("test-key");
        let a = tenant("a");
        let legacy = legacy_seal("test-key", "old-secret");
        assert!(is_sealed(&legacy));
        let c = ctx(&a, SealedField::AgentApiKey);
        assert_eq!(secrets.open(c, &legacy).as_deref(), Ok("old-secret"));
        let opened = secrets.open_for_rotation(c, &legacy).expect("opens");
        assert!(!opened.current);
        assert_eq!(opened.plaintext.expose_secret(), "old-secret");
        assert_eq!(
            boxed("other-key").open(c, &legacy),
            Err(SecretsError::Undecryptable)
        );
    }

    #[test]
    fn values_sealed_with_a_previous_key_open_after_a_key_change() {
        let a = tenant("a");
        let c = ctx(&a, SealedField::ToolConfigSecret);
        let old = boxed("old-key");
        let sealed = old.seal(c, "token");
        let legacy = legacy_seal("old-key", "legacy-token");

        let rotated = SecretBox::with_previous(
            &SecretString::from("new-key"),
            &[SecretString::from("old-key")],
        );
        let opened = rotated.open_for_rotation(c, &sealed).expect("opens");
        assert_eq!(opened.plaintext.expose_secret(), "token");
        assert!(!opened.current, "sealed with a previous key");
        assert_eq!(rotated.open(c, &legacy).as_deref(), Ok("legacy-token"));

        let resealed = rotated.seal(c, "token");
        assert!(
            rotated
                .open_for_rotation(c, &resealed)
                .expect("opens")
                .current
        );
        assert_eq!(boxed("new-key").open(c, &resealed).as_deref(), Ok("token"));
        // Without the old key configured, the old value is unreadable.
        assert_eq!(
            boxed("new-key").open(c, &sealed),
            Err(SecretsError::Undecryptable)
        );
    }

    #[test]
    fn another_key_or_a_tampered_value_does_not_open() {
        let a = tenant("a");
        let c = ctx(&a, SealedField::AgentApiKey);
        let sealed = boxed("key-a").seal(c, "secret");
        assert_eq!(
            boxed("key-b").open(c, &sealed),
            Err(SecretsError::Undecryptable)
        );

        let (head, body) = sealed.rsplit_once(':').expect("four parts");
        let mut bytes = STANDARD_NO_PAD.decode(body).expect("base64");
        bytes[0] ^= 1;
        let tampered = format!("{head}:{}", STANDARD_NO_PAD.encode(bytes));
        assert_eq!(
            boxed("key-a").open(c, &tampered),
            Err(SecretsError::Undecryptable)
        );

        // Relabelling the value as legacy (dropping the key id) does not strip the binding.
        let parts: Vec<&str> = sealed.split(':').collect();
        let downgraded = format!("v1:{}:{}", parts[2], parts[3]);
        assert_eq!(
            boxed("key-a").open(c, &downgraded),
            Err(SecretsError::Undecryptable)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let secrets = boxed("test-key");
        let a = tenant("a");
        let c = ctx(&a, SealedField::AgentApiKey);
        for raw in [
            "",
            "plaintext",
            "v3:AAAA:AAAA",
            "v1:not base64!:AAAA",
            "v1:AAAA:AAAA",
            "v1:AAAAAAAAAAAAAAAA",
            "v2:abcd:AAAA:AAAA",
            "v2:abcd:AAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(secrets.open(c, raw), Err(SecretsError::Malformed), "{raw}");
        }
    }

    #[test]
    fn debug_does_not_print_the_key() {
        assert_eq!(format!("{:?}", boxed("hunter2")), "SecretBox { .. }");
    }
}
