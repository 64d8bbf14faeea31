//! Layered, typed configuration: the embedded `config/default.toml`, then
//! `config/$ATENDE_ENV.toml` (optional), then `ATENDE__SECTION__KEY` environment variables.
//! Validated once at start; every error names the offending key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");
/// The development JWT secret shipped in default.toml; production refuses to start with it.
const DEVELOPMENT_JWT_SECRET: &str = "atende-development-secret-change-me-0123456789";
const MIN_JWT_SECRET_LEN: usize = 32;
/// The development encryption key shipped in default.toml; production refuses it too.
const DEVELOPMENT_ENCRYPTION_KEY: &str = "atende-development-encryption-key-change-me";
const MIN_ENCRYPTION_KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub bootstrap: BootstrapSettings,
    pub log: LogSettings,
    pub outbound: OutboundSettings,
    pub engine: EngineSettings,
    pub llm: LlmSettings,
    pub secrets: SecretsSettings,
    /// Name of the environment the settings were loaded for (`ATENDE_ENV`).
    #[serde(skip)]
    pub environment: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_size: u32,
    pub store_threads: usize,
    pub connect_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub token_ttl_seconds: i64,
    pub contact_token_ttl_seconds: i64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    pub tenant: String,
    pub admin_email: String,
    pub admin_password: SecretString,
    pub admin_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSettings {
    pub allow_private_targets: bool,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    pub passivate_after_seconds: u64,
    pub default_history_window: usize,
    pub condense_over_chars: usize,
    pub batch_max_messages: usize,
    pub batch_max_wait_ms: u64,
    pub turn_max_attempts: u32,
    pub turn_retry_backoff_ms: u64,
    pub sla_check_interval_ms: u64,
    /// Length of one SLA minute (60000 in production; tests shorten it).
    pub sla_minute_ms: u64,
    pub queue_check_interval_seconds: u64,
    pub tool_failure_escalation: u32,
    pub writer_queue_capacity: usize,
    pub event_buffer: usize,
    /// Sent to the customer when a conversation is handed to a human.
    pub handover_message: String,
    /// Phrases (accent- and case-insensitive) meaning the customer wants a human.
    pub human_request_phrases: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per 1K prompt tokens.
    pub prompt: f64,
    /// USD per 1K completion tokens.
    pub completion: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    pub default_api_key: SecretString,
    pub default_base_url: String,
    pub request_timeout_ms: u64,
    /// HTTP-level retries of one provider call (429, 5xx, timeouts), with backoff and jitter.
    pub max_retries: u32,
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    pub default_price: Price,
    pub prices: BTreeMap<String, Price>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// Seals provider API keys and channel secrets at rest (src/secrets.rs).
    pub encryption_key: SecretString,
}

/// Which database the configured URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite(PathBuf),
    Postgres,
}

impl DatabaseSettings {
    pub fn kind(&self) -> Result<DatabaseKind, ConfigError> {
        let url = self.url.expose_secret();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(invalid("database.url", "sqlite:// needs a file path"));
            }
            Ok(DatabaseKind::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            let scheme = url.split("://").next().unwrap_or_default();
            Err(invalid(
                "database.url",
                format!("unsupported scheme `{scheme}` (expected sqlite:// or postgres://)"),
            ))
        }
    }
}

impl Settings {
    /// Loads settings for `ATENDE_ENV` (default `development`) from `ATENDE_CONFIG_DIR`
    /// (default `./config`) and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let environment = std::env::var("ATENDE_ENV").unwrap_or_else(|_| "development".into());
        let dir = std::env::var("ATENDE_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        Self::load_from(Path::new(&dir), &environment, true, &[])
    }

    /// Loads settings with explicit overrides (`("section.key", "value")`), used by tests and
    /// the CLI. `read_env` controls whether `ATENDE__…` variables apply.
    pub fn load_from(
        dir: &Path,
        environment: &str,
        read_env: bool,
        overrides: &[(&str, &str)],
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .add_source(
                config::File::from(dir.join(format!("{environment}.toml")))
                    .format(config::FileFormat::Toml)
                    .required(false),
            );
        if read_env {
            builder = builder.add_source(
                config::Environment::with_prefix("ATENDE")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.cors_allowed_origins")
                    .try_parsing(true),
            );
        }
        for (key, value) in overrides {
            builder = builder.set_override(*key, *value)?;
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.environment = environment.to_string();
        settings.validate()?;
        Ok(settings)
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.database.kind()?;
        if self.database.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        if self.database.store_threads == 0 {
            return Err(invalid("database.store_threads", "must be at least 1"));
        }
        if !["OFF", "NORMAL", "FULL", "EXTRA"].contains(&self.database.sqlite_synchronous.as_str())
        {
            return Err(invalid(
                "database.sqlite_synchronous",
                "must be OFF, NORMAL, FULL or EXTRA",
            ));
        }
        let secret = self.auth.jwt_secret.expose_secret();
        if secret.len() < MIN_JWT_SECRET_LEN {
            return Err(invalid(
                "auth.jwt_secret",
                format!("must be at least {MIN_JWT_SECRET_LEN} characters"),
            ));
        }
        if self.is_production() && secret == DEVELOPMENT_JWT_SECRET {
            return Err(invalid(
                "auth.jwt_secret",
                "the development default cannot be used in production; set ATENDE__AUTH__JWT_SECRET",
            ));
        }
        let encryption_key = self.secrets.encryption_key.expose_secret();
        if encryption_key.len() < MIN_ENCRYPTION_KEY_LEN {
            return Err(invalid(
                "secrets.encryption_key",
                format!("must be at least {MIN_ENCRYPTION_KEY_LEN} characters"),
            ));
        }
        if self.is_production() && encryption_key == DEVELOPMENT_ENCRYPTION_KEY {
            return Err(invalid(
                "secrets.encryption_key",
                "the development default cannot be used in production; set ATENDE__SECRETS__ENCRYPTION_KEY",
            ));
        }
        if self.auth.token_ttl_seconds <= 0 {
            return Err(invalid("auth.token_ttl_seconds", "must be positive"));
        }
        if self.server.max_body_bytes == 0 {
            return Err(invalid("server.max_body_bytes", "must be positive"));
        }
        if self.log.level.trim().is_empty() {
            return Err(invalid("log.level", "must not be empty"));
        }
        if self.engine.batch_max_messages == 0 {
            return Err(invalid("engine.batch_max_messages", "must be at least 1"));
        }
        if self.engine.default_history_window == 0 {
            return Err(invalid(
                "engine.default_history_window",
                "must be at least 1",
            ));
        }
        if self.engine.turn_max_attempts == 0 {
            return Err(invalid("engine.turn_max_attempts", "must be at least 1"));
        }
        let email = self.bootstrap.admin_email.trim();
        let password = self.bootstrap.admin_password.expose_secret();
        if email.is_empty() != password.is_empty() {
            return Err(invalid(
                "bootstrap.admin_password",
                "bootstrap.admin_email and bootstrap.admin_password must be set together",
            ));
        }
        Ok(())
    }

    /// Price per 1K tokens for a model, and whether it had to fall back to the default.
    pub fn price_for(&self, model: &str) -> (Price, bool) {
        match self.llm.prices.get(model) {
            Some(price) => (*price, false),
            None => (self.llm.default_price, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &str, overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            env,
            false,
            overrides,
        )
    }

    #[test]
    fn defaults_load_and_point_at_embedded_sqlite() {
        let settings = load("development", &[]).expect("defaults are valid");
        assert_eq!(settings.server.port, 8080);
        assert_eq!(
            settings.database.kind().expect("valid url"),
            DatabaseKind::Sqlite(PathBuf::from("data/atende.db"))
        );
    }

    #[test]
    fn environment_file_overrides_defaults() {
        let settings = load("test", &[]).expect("test settings are valid");
        assert!(settings.outbound.allow_private_targets);
        assert_eq!(settings.server.workers, 1);
    }

    #[test]
    fn bad_database_url_names_the_key() {
        let err = load("development", &[("database.url", "mysql://x")]).expect_err("rejected");
        let text = err.to_string();
        assert!(text.contains("database.url"), "{text}");
        assert!(text.contains("mysql"), "{text}");
    }

    #[test]
    fn production_refuses_the_development_secret() {
        let err = load("production", &[]).expect_err("rejected");
        assert!(err.to_string().contains("auth.jwt_secret"));
        let ok = load(
            "production",
            &[
                (
                    "auth.jwt_secret",
                    "a-real-production-secret-of-enough-length",
                ),
                (
                    "secrets.encryption_key",
                    "a-real-production-encryption-key-000000",
                ),
            ],
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn production_refuses_the_development_encryption_key() {
        let err = load(
            "production",
            &[(
                "auth.jwt_secret",
                "a-real-production-secret-of-enough-length",
            )],
        )
        .expect_err("rejected");
        assert!(err.to_string().contains("secrets.encryption_key"), "{err}");
        assert!(load("development", &[]).is_ok());
        let short =
            load("development", &[("secrets.encryption_key", "short")]).expect_err("rejected");
        assert!(
            short.to_string().contains("secrets.encryption_key"),
            "{short}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load("development", &[("database.urll", "x")]).expect_err("rejected");
        assert!(err.to_string().contains("urll"), "{err}");
    }

    #[test]
    fn unknown_model_price_is_flagged() {
        let settings = load("development", &[]).expect("valid");
        let (price, flagged) = settings.price_for("gpt-4o-mini");
        assert!(!flagged);
        assert!((price.prompt - 0.00015).abs() < 1e-12);
        let (price, flagged) = settings.price_for("some-local-model");
        assert!(flagged);
        assert_eq!(price, settings.llm.default_price);
    }
}
