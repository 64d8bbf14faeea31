//! Bearer tokens (JWT, HS256): what a token says ([`Claims`]) and the keys that sign and
//! check it. REST, SSE and the WebSocket handshake all read the same tokens.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::config::AuthSettings;
use crate::domain::{ContactId, ConversationId, Role, TenantId, UserId};

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    Staff,
    Contact,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id for staff, contact id for web chat customers.
    pub sub: String,
    pub tenant_id: TenantId,
    pub kind: Subject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    /// The user's token version when the token was issued (staff only; tokens from before
    /// versions existed read 0, the first version).
    #[serde(default)]
    pub ver: i64,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks tokens with the configured secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    staff_ttl: i64,
    contact_ttl: i64,
}

impl TokenKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a token is refused the second it expires.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            staff_ttl: settings.token_ttl_seconds,
            contact_ttl: settings.contact_token_ttl_seconds,
        }
    }

    fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))
    }

    pub fn issue_staff(
        &self,
        user: &UserId,
        tenant: &TenantId,
        role: Role,
        token_version: i64,
    ) -> Result<String, AuthError> {
        let iat = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: user.to_string(),
            tenant_id: tenant.clone(),
            kind: Subject::Staff,
            role: Some(role),
            conversation_id: None,
            ver: token_version,
            iat,
            exp: iat + self.staff_ttl,
        })
    }

    pub fn issue_contact(
        &self,
        contact: &ContactId,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<String, AuthError> {
        let iat = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: contact.to_string(),
            tenant_id: tenant.clone(),
            kind: Subject::Contact,
            role: None,
            conversation_id: Some(conversation.clone()),
            ver: 0,
            iat,
            exp: iat + self.contact_ttl,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    AuthError::Unauthenticated("token expired".into())
                }
                _ => AuthError::Unauthenticated("invalid token".into()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(ttl: i64) -> AuthSettings {
        AuthSettings {
            jwt_secret: SecretString::from("a-test-secret-that-is-long-enough-000"),
            token_ttl_seconds: ttl,
            contact_token_ttl_seconds: ttl,
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            access_cache_seconds: 30,
            access_cache_capacity: 100,
            session_recheck_seconds: 5,
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 10,
            max_concurrent_hashes: 1,
        }
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let keys = TokenKeys::new(&settings(60));
        let user = UserId::new();
        let tenant = TenantId::new();
        let token = keys
            .issue_staff(&user, &tenant, Role::Supervisor, 3)
            .expect("signs");
        let claims = keys.verify(&token).expect("verifies");
        assert_eq!(claims.sub, user.to_string());
        assert_eq!(claims.tenant_id, tenant);
        assert_eq!(claims.role, Some(Role::Supervisor));
        assert_eq!(claims.ver, 3);
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let keys = TokenKeys::new(&settings(-10));
        let token = keys
            .issue_staff(&UserId::new(), &TenantId::new(), Role::Admin, 0)
            .expect("signs");
        assert!(
            matches!(keys.verify(&token), Err(AuthError::Unauthenticated(m)) if m == "token expired")
        );

        let mut other = settings(60);
        other.jwt_secret = SecretString::from("another-secret-that-is-long-enough-11");
        let foreign = TokenKeys::new(&other)
            .issue_staff(&UserId::new(), &TenantId::new(), Role::Admin, 0)
            .expect("signs");
        assert!(TokenKeys::new(&settings(60)).verify(&foreign).is_err());
        assert!(TokenKeys::new(&settings(60)).verify("garbage").is_err());
    }
}
