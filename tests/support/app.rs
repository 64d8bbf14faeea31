//! Spawns the real application on a random port against a fresh database:
//! a SQLite file in a temporary directory, or a PostgreSQL database created for the test and
//! dropped after it (`ATENDE_TEST_DATABASE=sqlite|postgres`).

use std::path::{Path, PathBuf};

use atende::accounts::{self, NewUser, PasswordHasher};
use atende::app::Application;
use atende::config::Settings;
use atende::domain::Role;
use atende::store::Store;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const ADMIN_EMAIL: &str = "admin@tenant-a.test";
pub const ADMIN_PASSWORD: &str = "admin-password-a";

pub fn backend() -> String {
    std::env::var("ATENDE_TEST_DATABASE").unwrap_or_else(|_| "sqlite".into())
}

fn postgres_admin_url() -> String {
    std::env::var("ATENDE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that lives as long as the test.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn create() -> TestDb {
        Self::create_for(&backend())
    }

    /// A PostgreSQL database whatever `ATENDE_TEST_DATABASE` says: for what only runs on
    /// PostgreSQL (cluster mode, several nodes on one database).
    pub fn create_postgres() -> TestDb {
        Self::create_for("postgres")
    }

    fn create_for(backend: &str) -> TestDb {
        match backend {
            "postgres" => {
                let name = format!("atende_t_{}", uuid_simple());
                let mut admin = PgConnection::establish(&postgres_admin_url())
                    .expect("PostgreSQL reachable for tests (ATENDE_TEST_POSTGRES_URL)");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let base = postgres_admin_url();
                let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(&base);
                TestDb::Postgres {
                    url: format!("{server}/{name}"),
                    name,
                }
            }
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("atende.db");
                TestDb::Sqlite { _dir: dir, path }
            }
            other => panic!("ATENDE_TEST_DATABASE must be sqlite or postgres, not {other}"),
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// Makes the database disappear under the running app.
    pub fn destroy(&self) {
        match self {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    let _ = std::fs::remove_file(file);
                }
            }
            TestDb::Postgres { name, .. } => drop_pg(name),
        }
    }
}

fn drop_pg(name: &str) {
    if let Ok(mut admin) = PgConnection::establish(&postgres_admin_url()) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            drop_pg(name);
        }
    }
}

fn uuid_simple() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn config_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
}

/// Settings for a test app on `db`, with extra `section.key` overrides.
pub fn test_settings(db_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut all: Vec<(&str, &str)> = vec![
        ("server.port", "0"),
        ("database.url", db_url),
        ("bootstrap.tenant", "tenant-a"),
        ("bootstrap.admin_email", ADMIN_EMAIL),
        ("bootstrap.admin_password", ADMIN_PASSWORD),
        // The test binary is not `atende`: PDF extraction runs the real one as its child.
        ("knowledge.extractor_path", env!("CARGO_BIN_EXE_atende")),
    ];
    all.extend_from_slice(overrides);
    Settings::load_from(config_dir(), "test", false, &all).expect("test settings are valid")
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub store: Store,
    pub engine: atende::engine::Engine,
    pub settings: Settings,
    pub db: TestDb,
    /// The engine's clock for durable timers: `clock.advance(…)` instead of sleeping.
    pub clock: atende::engine::clock::Clock,
}

/// A logged-in caller.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub user_id: String,
    pub tenant_id: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            let settings = test_settings("sqlite://unused.db", &[("log.level", "debug")]);
            atende::telemetry::init(&settings.log);
        }
        let db = TestDb::create();
        let settings = test_settings(&db.url(), overrides);
        let clock = atende::engine::clock::Clock::adjustable();
        let app = Application::build_with_clock(settings.clone(), clock.clone())
            .await
            .expect("application starts");
        let port = app.port();
        let store = app.store().clone();
        let engine = app.engine().clone();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            store,
            engine,
            settings,
            db,
            clock,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns the status and the JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request reaches the app");
        let status = response.status();
        let bytes = response.bytes().await.expect("response body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        Session {
            token: body["token"].as_str().expect("token").to_string(),
            user_id: body["user"]["id"].as_str().expect("user id").to_string(),
            tenant_id: body["user"]["tenant_id"]
                .as_str()
                .expect("tenant id")
                .to_string(),
        }
    }

    pub async fn admin(&self) -> Session {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A staff member who takes no conversations (`available: false`), logged in.
    pub async fn staff(&self, admin: &Session, role: &str, email: &str) -> Session {
        let (status, body) = self
            .post(
                "/api/v1/users",
                &admin.token,
                &serde_json::json!({"name": email, "email": email, "password": "user-password",
                    "role": role, "available": false}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.login(email, "user-password").await
    }

    /// A web chat integration of the admin's tenant; its id.
    pub async fn webchat_integration(&self, admin: &Session) -> String {
        let integration = self
            .create_integration(
                admin,
                serde_json::json!({"kind": "webchat", "name": "site"}),
            )
            .await;
        integration["id"].as_str().expect("id").to_string()
    }

    /// A web-chat visitor named `name` on `integration`: its contact token and conversation.
    pub async fn webchat_visitor(&self, integration: &str, name: &str) -> (String, String) {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/v1/webchat/{integration}/session"),
                None,
                Some(&serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["token"].as_str().expect("token").to_string(),
            body["conversation_id"].as_str().expect("id").to_string(),
        )
    }

    /// Creates another tenant with its own admin (as the CLI does) and logs in.
    pub async fn other_tenant(&self, slug: &str) -> Session {
        let hasher = PasswordHasher::new(&self.settings.auth).expect("hasher");
        let tenant = accounts::ensure_tenant(&self.store, slug)
            .await
            .expect("tenant");
        let email = format!("admin@{slug}.test");
        accounts::create_user(
            &self.store,
            &hasher,
            NewUser {
                tenant_id: tenant.id,
                name: format!("Admin {slug}"),
                email: email.clone(),
                password: "other-password".into(),
                role: Role::Admin,
                max_conversations: 0,
                specialties: vec![],
                department_ids: vec![],
                available: false,
            },
        )
        .await
        .expect("admin of other tenant");
        self.login(&email, "other-password").await
    }

    /// Creates a user in the admin's tenant through the API and logs in as them.
    pub async fn user_with_role(&self, admin: &Session, role: &str, email: &str) -> Session {
        let (status, body) = self
            .post(
                "/api/v1/users",
                &admin.token,
                &serde_json::json!({
                    "name": format!("User {email}"),
                    "email": email,
                    "password": "user-password",
                    "role": role,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create user: {body}");
        self.login(email, "user-password").await
    }

    /// Like [`TestApp::call`], but returns the body as sent, to assert what never appears in it.
    pub async fn call_text(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, String) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request reaches the app");
        let status = response.status();
        (status, response.text().await.expect("response body"))
    }

    /// Creates an AI agent through the API and returns its view. `body` needs only `name`;
    /// without a provider it is a `retrieval` agent (the test config has no default key).
    pub async fn create_agent(&self, admin: &Session, body: Value) -> Value {
        let (status, view) = self.post("/api/v1/agents", &admin.token, &body).await;
        assert_eq!(status, StatusCode::CREATED, "create agent: {view}");
        view
    }

    /// Creates a channel integration through the API and returns its view. `generic` needs a
    /// `secret` of at least 16 characters; `evolution` needs `base_url`, `api_key` and
    /// `instance`; `webchat` only `name`.
    pub async fn create_integration(&self, admin: &Session, body: Value) -> Value {
        let (status, view) = self.post("/api/v1/integrations", &admin.token, &body).await;
        assert_eq!(status, StatusCode::CREATED, "create integration: {view}");
        view
    }

    /// The app's cipher, to open sealed columns read from the store.
    pub fn secrets(&self) -> atende::secrets::SecretBox {
        atende::secrets::SecretBox::from_settings(&self.settings.secrets)
    }
}

/// Tomorrow in the tests' `calendar.timezone` (America/Sao_Paulo), as YYYY-MM-DD.
pub fn tomorrow() -> String {
    let tz: chrono_tz::Tz = "America/Sao_Paulo".parse().expect("tz");
    (chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string()
}

/// A 400 `VALIDATION_ERROR` that names `field` in its details.
pub fn assert_field_error(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "body: {body}");
    assert_eq!(body["code"], "VALIDATION_ERROR", "body: {body}");
    assert_eq!(body["details"]["field"], field, "body: {body}");
}
