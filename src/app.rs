//! Wires the store, the actors and the HTTP server. `Application::build` binds the listener
//! (port 0 picks a free port, which tests use) and reports the port before serving.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;

use crate::accounts::{self, PasswordHasher};
use crate::api::{self, error, metrics::Metrics};
use crate::auth::{Access, TokenKeys};
use crate::cluster::work::WorkClaims;
use crate::cluster::Membership;
use crate::config::Settings;
use crate::engine::metrics::EngineMetrics;
use crate::engine::webhooks::WebhookDispatcher;
use crate::engine::Engine;
use crate::knowledge::KnowledgeIndex;
use crate::secrets::SecretBox;
use crate::shutdown::Shutdown;
use crate::store::{pool, DbPool, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("knowledge index: {0}")]
    Knowledge(#[from] crate::knowledge::KnowledgeError),
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::membership::ClusterError),
}

/// Opens the store (off the event loop: connecting blocks) and applies pending migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    let database = settings.database.clone();
    let pool = tokio::task::spawn_blocking(move || DbPool::connect(&database))
        .await
        .map_err(|e| crate::store::StoreError::Unavailable(e.to_string()))??;
    let store = Store::start(pool, settings.database.store_threads);
    let applied = store.run(pool::run_migrations).await?;
    if applied > 0 {
        tracing::info!(
            applied,
            backend = store.backend_name(),
            "migrations applied"
        );
    }
    Ok(store)
}

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    engine: Engine,
    hub: actix::Addr<crate::ws::hub::Hub>,
    setup: web::Data<crate::console::SetupGate>,
    node: web::Data<Node>,
    shutdown_timeout: std::time::Duration,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        Self::build_with_clock(settings, crate::engine::clock::Clock::system()).await
    }

    /// Like [`Application::build`], with the engine's durable timers on `clock` (tests move
    /// an adjustable clock forward instead of waiting).
    pub async fn build_with_clock(
        settings: Settings,
        clock: crate::engine::clock::Clock,
    ) -> Result<Self, StartError> {
        if settings.is_production() && settings.metrics.token.expose_secret().is_empty() {
            tracing::warn!("metrics.token is empty: /metrics is open to anyone who reaches it");
        }
        let store = open_store(&settings).await?;
        let shutdown = Shutdown::new();
        let hasher = PasswordHasher::new(&settings.auth)?;
        accounts::bootstrap(&store, &hasher, &settings.bootstrap).await?;

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                address: address.clone(),
                source,
            })?
            .port();

        let metrics = web::Data::new(Metrics::new()?);
        hasher.register(metrics.registry())?;
        let store_data = web::Data::new(store.clone());
        let hasher = web::Data::new(hasher);
        let keys = web::Data::new(TokenKeys::new(&settings.auth));
        let access = Access::new(store.clone(), &settings.auth);
        let access_data = web::Data::from(access.clone());
        let login_limiter = web::Data::new(api::session::LoginLimiter::new(&settings.auth));
        let secret_box = std::sync::Arc::new(SecretBox::from_settings(&settings.secrets));
        let secrets = web::Data::from(secret_box.clone());
        let webhook_secrets = secret_box.clone();
        // The database is the knowledge base's source of truth; the search index is derived
        // from it, in memory, before anything may search.
        let knowledge = KnowledgeIndex::new(&settings.knowledge, Some(store.clone()))?;
        let indexed = knowledge.rebuild(&store).await?;
        if indexed > 0 {
            tracing::info!(chunks = indexed, "knowledge index rebuilt");
        }
        let knowledge_data = web::Data::new(knowledge.clone());
        // One id for this node's membership and its work claims.
        let node_id = settings.cluster.node_id();
        let claims = std::sync::Arc::new(WorkClaims::new(node_id.clone(), &settings.cluster));
        // Cluster mode: the bus first, then the tenant leases, so the engine starts routing
        // each tenant's events to its owner.
        let (membership, routing) = if settings.cluster.enabled() {
            let advertised = format!("{}:{port}", settings.server.host);
            let membership = Membership::join(&settings.cluster, node_id, advertised).await?;
            let leases = crate::cluster::lease::Leases::new(membership.node_id());
            let (router, acquired) = crate::cluster::routing::Router::new(
                membership.client().clone(),
                &settings.cluster,
                leases,
                store.clone(),
            );
            // A restart under the same id holds nothing yet: what the previous process held
            // is let go (and its writes fenced by the raised tokens when taken again).
            router.release().await?;
            (Some(membership), Some((router, acquired)))
        } else {
            (None, None)
        };
        let engine = Engine::start(
            store.clone(),
            std::sync::Arc::new(settings.clone()),
            secret_box,
            knowledge,
            clock,
            claims.clone(),
            routing.as_ref().map(|(router, _)| router.clone()),
        )
        .await?;
        let engine_data = web::Data::new(engine.clone());
        let engine_metrics = EngineMetrics::register(metrics.registry())?;
        engine_metrics.spawn(
            &engine,
            std::time::Duration::from_millis(settings.analytics.metrics_refresh_ms),
        );
        let dispatcher = WebhookDispatcher::new(
            store.clone(),
            settings.webhooks.clone(),
            settings.outbound.allow_private_targets,
            webhook_secrets,
            engine_metrics.clone(),
        )
        .with_claims(claims.clone());
        dispatcher.start(&engine.parts.events).await?;
        let engine_metrics = web::Data::from(engine_metrics);
        let dispatcher = web::Data::new(dispatcher);
        let hub = crate::ws::hub::start(&engine, std::sync::Arc::new(settings.clone()));
        let ws_deps = web::Data::new(crate::ws::Deps {
            store: store.clone(),
            engine: engine.clone(),
            hub: hub.clone(),
            settings: std::sync::Arc::new(settings.clone()),
            sessions_gauge: engine_metrics.websocket_sessions.clone(),
            access: access.clone(),
            shutdown: shutdown.clone(),
        });
        let webchat_limiter = web::Data::new(api::webchat::WebchatLimiter::new(&settings.realtime));
        let user_timeout =
            std::time::Duration::from_secs(settings.realtime.tcp_user_timeout_seconds);
        let max_body = settings.server.max_body_bytes;
        let cors_origins = settings.server.cors_allowed_origins.clone();
        let settings_data = web::Data::new(settings.clone());
        let trusted_proxies = web::Data::new(crate::telemetry::TrustedProxies::new(
            settings.server.trusted_proxy_networks(),
        ));
        if let (Some(membership), Some((router, acquired))) = (&membership, routing) {
            crate::cluster::routing::serve(
                membership.client().clone(),
                &settings.cluster.bucket,
                router.leases().clone(),
                {
                    let engine = engine.clone();
                    move |request| match request {
                        crate::cluster::routing::Request::Chat(chat) => {
                            api::chat_stream::on_owner(engine.clone(), *chat)
                        }
                        other => crate::engine::remote::handle(&engine, other),
                    }
                },
            )
            .await?;
            crate::cluster::keeper::spawn(
                router,
                engine.clone(),
                std::time::Duration::from_millis(settings.cluster.lease_renew_ms),
                acquired,
            );
            let caches = crate::cluster::invalidate::Caches {
                access: access.clone(),
                dispatcher: dispatcher.get_ref().clone(),
                engine: engine.parts.clone(),
            };
            crate::cluster::invalidate::spawn_relay(
                membership.client().clone(),
                &settings.cluster.bucket,
                membership.node_id().to_string(),
                &engine.parts.changes,
                move |change| caches.apply(change),
            )
            .await?;
            crate::cluster::knowledge::spawn_sync(
                membership.client().clone(),
                &settings.cluster.bucket,
                membership.node_id().to_string(),
                knowledge_data.get_ref().clone(),
                store.clone(),
            )
            .await?;
            crate::cluster::realtime::spawn_relay(
                membership.client().clone(),
                &settings.cluster.bucket,
                membership.node_id().to_string(),
                engine.parts.events.clone(),
            )
            .await?;
            crate::cluster::presence::spawn(
                membership.client().clone(),
                &settings.cluster,
                membership.node_id().to_string(),
                hub.clone(),
                &shutdown,
            )
            .await?;
        }
        let event_log = web::Data::from(match &membership {
            Some(membership) => {
                let bus = crate::cluster::sse::SseBus::open(
                    membership.client().clone(),
                    &settings.cluster,
                )
                .await?;
                api::events::EventLog::start_on_bus(&engine.parts.events, bus, &settings.realtime)
                    .await?
            }
            None => api::events::EventLog::start(&engine.parts.events, &settings.realtime),
        });
        crate::cluster::work::spawn_poller(
            claims,
            dispatcher.get_ref().clone(),
            engine.parts.sender.clone(),
            &shutdown,
        );
        let node = web::Data::new(Node {
            shutdown: shutdown.clone(),
            membership,
        });
        let node_data = node.clone();
        let setup_gate = web::Data::new(crate::console::SetupGate::generate());
        setup_gate.announce(&store).await?;
        let setup = setup_gate.clone();

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(api::metrics::record))
                .wrap(cors(&cors_origins))
                .wrap(TracingLogger::<crate::telemetry::RedactedRootSpan>::new())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(error::json_error_handler),
                )
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
                .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
                .app_data(store_data.clone())
                .app_data(knowledge_data.clone())
                .app_data(hasher.clone())
                .app_data(keys.clone())
                .app_data(access_data.clone())
                .app_data(login_limiter.clone())
                .app_data(secrets.clone())
                .app_data(engine_data.clone())
                .app_data(metrics.clone())
                .app_data(settings_data.clone())
                .app_data(trusted_proxies.clone())
                .app_data(ws_deps.clone())
                .app_data(event_log.clone())
                .app_data(webchat_limiter.clone())
                .app_data(setup_gate.clone())
                .app_data(node_data.clone())
                .configure(crate::console::routes)
                .configure(crate::ws::routes)
                .app_data(engine_metrics.clone())
                .app_data(dispatcher.clone())
                .configure(api::health::routes)
                .configure(api::openapi::routes)
                .configure(api::webhooks::routes)
                .configure(api::evolution::routes)
                .configure(api::wizard::public_routes)
                .service(web::scope("/api/v1").configure(api::v1))
                .default_service(web::to(crate::console::http::fallback))
        })
        .on_connect(move |connection, extensions| {
            crate::ws::tune_connection(connection, extensions, user_timeout)
        })
        .listen(listener)
        .map_err(|source| StartError::Bind {
            address: address.clone(),
            source,
        })?
        // The stop is ours (run_until_signalled), bounded by server.shutdown_timeout_seconds.
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_seconds);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        tracing::info!(%address, port, backend = store.backend_name(), "atende listening");
        Ok(Application {
            port,
            server: server.run(),
            store,
            engine,
            hub,
            setup,
            node,
            shutdown_timeout: std::time::Duration::from_secs(
                settings.server.shutdown_timeout_seconds,
            ),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// This run's first-run set-up code (also printed in the log while no user exists).
    pub fn setup_code(&self) -> String {
        self.setup.display_code()
    }

    pub fn hub(&self) -> &actix::Addr<crate::ws::hub::Hub> {
        &self.hub
    }

    /// This node in the cluster (None in single-node mode).
    pub fn membership(&self) -> Option<&Membership> {
        self.node.membership.as_ref()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGTERM or Ctrl-C, then stops gracefully (src/shutdown.rs): connections
    /// are told to reconnect elsewhere, the listener closes, in-flight turns and the message
    /// writer drain, and this returns within `server.shutdown_timeout_seconds`.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        // Listening for the signals before anything else, so none is missed.
        let signal = stop_signal()?;
        let handle = self.server.handle();
        let mut serving = actix_web::rt::spawn(self.server);
        tokio::select! {
            finished = &mut serving => return finished.map_err(std::io::Error::other)?,
            signal = signal => tracing::info!(signal, "stopping"),
        }
        let started = tokio::time::Instant::now();
        let deadline = started + self.shutdown_timeout;
        self.node.shutdown.begin();
        if let Some(membership) = &self.node.membership {
            let _ = tokio::time::timeout_at(deadline, membership.leave()).await;
        }
        let turns = self.engine.parts.turns.clone();
        let (http, turns_done) = tokio::join!(
            tokio::time::timeout_at(deadline, handle.stop(true)),
            tokio::time::timeout_at(deadline, turns.idle()),
        );
        let writer = tokio::time::timeout_at(deadline, self.engine.parts.writer.flush()).await;
        let parts = &self.engine.parts;
        let counted = tokio::time::timeout_at(
            deadline,
            parts.supervisors.send(crate::engine::agent::RecordRequests),
        )
        .await;
        // Everything this node wrote is committed: its tenants go to the other nodes now,
        // not after their leases run out.
        let released = match &self.engine.router {
            Some(router) => tokio::time::timeout_at(deadline, router.release())
                .await
                .is_ok_and(|r| r.is_ok()),
            None => true,
        };
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            http_drained = http.is_ok(),
            turns_drained = turns_done.is_ok(),
            turns_left = turns.count(),
            writer_drained = writer.is_ok(),
            request_counts_recorded = counted.is_ok(),
            leases_released = released,
            "stopped"
        );
        Ok(())
    }
}

/// This node: whether it is stopping, and its cluster membership.
pub struct Node {
    pub shutdown: Shutdown,
    pub membership: Option<Membership>,
}

/// Installs the stop signals' handlers now; the future resolves with the name of the first
/// one received.
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

fn cors(origins: &[String]) -> Cors {
    let base = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        return base.allow_any_origin();
    }
    origins
        .iter()
        .fold(base, |cors, origin| cors.allowed_origin(origin))
}
