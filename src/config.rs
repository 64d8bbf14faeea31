//! Layered, typed configuration: the embedded `config/default.toml`, then
//! `config/$ATENDE_ENV.toml` (optional), then `ATENDE__SECTION__KEY` environment variables.
//! Validated once at start; every error names the offending key.

use crate::domain::tenant_settings::{ClassificationPolicy, FeedbackPolicy, TenantSettings};
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

pub(crate) fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
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
    pub webhooks: WebhookSettings,
    pub wizard: WizardSettings,
    pub analytics: AnalyticsSettings,
    pub realtime: RealtimeSettings,
    pub calendar: CalendarSettings,
    pub knowledge: KnowledgeSettings,
    pub memory: MemorySettings,
    pub feedback: FeedbackSettings,
    pub classification: ClassificationSettings,
    pub metrics: MetricsSettings,
    pub channels: ChannelSettings,
    pub webchat: WebchatSettings,
    /// Every tenant's business hours until its admin sets its own (`PATCH /api/v1/settings`).
    pub business_hours: crate::domain::tenant_settings::BusinessHours,
    /// Every tenant's CSAT switch and question until its admin sets its own.
    pub csat: crate::domain::tenant_settings::CsatPolicy,
    pub typing: TypingSettings,
    /// Cluster mode (src/cluster): off unless `cluster.nats_url` is set.
    pub cluster: crate::cluster::ClusterSettings,
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
    /// Proxies (IPs or CIDR networks) whose `X-Forwarded-For` is believed. Empty: the
    /// socket's peer is the client, whatever the headers say.
    pub trusted_proxies: Vec<String>,
    /// SIGTERM to exit, at most: connections told to reconnect, in-flight turns and the
    /// message writer drained (src/shutdown.rs).
    pub shutdown_timeout_seconds: u64,
}

impl ServerSettings {
    /// The parsed `trusted_proxies` (validated at load, so nothing is dropped here).
    pub fn trusted_proxy_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|raw| parse_network(raw))
            .collect()
    }
}

/// `10.0.0.0/8`, `2001:db8::/32` or a single address (a /32 or /128 network).
fn parse_network(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Whether the built-in development secrets may be used: only by a development or test
/// server that listens on a loopback address, where nobody else can reach it. Anywhere
/// else they are public knowledge (anyone could forge an admin token).
pub fn development_secrets_allowed(environment: &str, host: &str) -> bool {
    let local_environment = matches!(environment, "development" | "test");
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    local_environment && loopback
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
    /// Users' current role and token version are cached this long (changes made through
    /// this process invalidate at once; the expiry bounds what another node may miss).
    pub access_cache_seconds: u64,
    pub access_cache_capacity: u64,
    /// Open WebSocket and SSE sessions re-check their user this often (besides being told
    /// at once of changes made through this process).
    pub session_recheck_seconds: u64,
    /// Log-in attempts per minute from one client address, and for one e-mail address.
    pub login_per_ip_per_minute: u32,
    pub login_per_account_per_minute: u32,
    /// Password hashes computed at once (argon2 takes `argon2_memory_kib` each); 0 = one
    /// per core.
    pub max_concurrent_hashes: usize,
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
    /// Most bytes read of any answer from an outside URL (LLM completions and streams,
    /// embeddings, tools, channel APIs, webhooks); more fails the call.
    pub max_response_bytes: usize,
    /// Most bytes read of an error answer (only its start is parsed or shown).
    pub max_error_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    pub passivate_after_seconds: u64,
    /// The integrations inbound webhooks read are cached this long (changes through this
    /// node apply at once), at most this many.
    pub integration_cache_seconds: u64,
    pub integration_cache_capacity: u64,
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
    /// Concurrent ordered write lanes on PostgreSQL (0 = one per store thread, at most 4);
    /// SQLite always has one.
    pub writer_lanes: usize,
    pub event_buffer: usize,
    /// Humans take conversations only while `available` AND connected (presence `online`,
    /// written by the WebSocket hub). Off: `available` alone, as before the hub existed.
    pub require_presence: bool,
    /// Sent to the customer when a conversation is handed to a human.
    pub handover_message: String,
    /// Phrases (accent- and case-insensitive) meaning the customer wants a human.
    pub human_request_phrases: Vec<String>,
    /// Sent when an AI agent without a welcome message of its own takes a new conversation
    /// (a tenant default; empty: none).
    pub welcome_message: String,
    /// Tenants' run-time settings are cached this long (a PATCH through this node applies
    /// at once; the time bounds what another node may miss).
    pub tenant_settings_cache_seconds: u64,
    /// The distributor reuses a tenant's departments this long (a change through any node
    /// applies at once; the time is a backstop for a change no node announced).
    pub departments_cache_seconds: u64,
    /// Earlier tool results a conversation keeps for its later turns (0 keeps none).
    pub tool_state_entries: usize,
    /// Each kept tool result is shortened to this many characters.
    pub tool_state_result_chars: usize,
    /// How often an AI agent's admitted model requests are written to the store, so its
    /// request limits hold across restarts (batched, not a commit per request).
    pub request_count_flush_ms: u64,
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
    /// Route to sub-agents by asking the LLM for the topic when no topic matches lexically.
    #[serde(default)]
    pub classify_topics: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// Seals provider API keys and channel secrets at rest (src/secrets.rs). New values are
    /// always sealed with this key.
    pub encryption_key: SecretString,
    /// Keys used before `encryption_key`: values they sealed still open, until
    /// `atende secrets rotate` re-seals them with the current key.
    #[serde(default)]
    pub previous_encryption_keys: Vec<SecretString>,
}

/// Outbound event webhooks (src/engine/webhooks.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A failing delivery is retried with exponential backoff for this long after the event,
    /// then marked failed.
    pub retry_for_seconds: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub timeout_ms: u64,
    /// Deliveries in flight at once, over all webhooks.
    pub max_in_flight: usize,
    /// Receivers should refuse signatures older than this (documented replay window).
    pub signature_tolerance_seconds: u64,
}

/// Inbound channels (src/api/webhooks.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// A timestamped inbound signature (`t=<unix>,v1=<hex>`) whose `t` is further than this
    /// from the server's clock is refused, so a captured request cannot be replayed later.
    pub inbound_signature_tolerance_seconds: u64,
    /// Whether the legacy `sha256=<hex>` inbound signature (no timestamp) is still accepted.
    pub accept_legacy_signatures: bool,
}

/// "The AI is typing" (sockets' `typing` frames, WhatsApp's presence through Evolution).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingSettings {
    /// The `delay` sent with Evolution's `composing` presence: how long WhatsApp shows it.
    pub presence_delay_ms: u64,
    /// A reply waits at most this long for its presence call to be answered, so it never
    /// overtakes its own "typing…" yet a slow Evolution cannot hold replies back.
    pub reply_wait_ms: u64,
}

/// What a web-chat visitor (contact token) may ask of one conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebchatSettings {
    /// `request_summary` frames a visitor may send per conversation (each may be an LLM call).
    pub max_summaries_per_conversation: u32,
    /// Meetings a visitor may book per conversation through `schedule_confirm`.
    pub max_bookings_per_conversation: u32,
}

/// The agent set-up wizard (src/api/wizard.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WizardSettings {
    /// Published agents are reachable at `{public_base_url}/a/{slug}`.
    pub public_base_url: String,
}

/// Analytics and the Prometheus gauges and counters fed from the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// How often store-backed metrics (AI turns, tokens, cost, queue) are refreshed.
    pub metrics_refresh_ms: u64,
    /// Longest period one analytics request may cover.
    pub max_period_days: u32,
}

/// WebSocket sessions, the hub, SSE and the public web chat (src/ws/, src/engine/hub.rs,
/// src/api/events.rs, src/api/webchat.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSettings {
    /// The server pings every socket this often.
    pub heartbeat_interval_seconds: u64,
    /// A socket that sent nothing (not even a pong) for this long is closed.
    pub client_timeout_seconds: u64,
    /// Frames waiting for one socket; a client that lets more pile up is a slow consumer
    /// and is disconnected.
    pub outbound_queue_frames: usize,
    /// Larger text frames get a VALIDATION_ERROR and the socket stays open; frames over four
    /// times this break the protocol limit and close the socket (1009).
    pub max_frame_bytes: usize,
    /// Client frames per second per socket (steady rate) and burst.
    pub frames_per_second: u32,
    pub frames_burst: u32,
    /// Frames of one socket whose commits may be awaited at once: the session reads on while
    /// earlier messages wait for their group commit, and still answers in order.
    pub pipeline_depth: usize,
    /// Conversations a staff socket remembers having found in its tenant: its messages to
    /// them skip that read (a conversation's owner, which can change, is still checked as
    /// each message is stored). 0 reads every time.
    pub known_conversations: usize,
    /// Messages per `sync_data` frame; `has_more` tells the client to ask again.
    pub sync_max_messages: i64,
    /// A user whose every socket has been idle this long is `away`; 0 turns `away` off.
    pub away_after_seconds: u64,
    /// Linux TCP_USER_TIMEOUT on accepted connections: a peer that stops reading (zero
    /// window) or vanishes is dropped by the kernel after this long; 0 keeps the default.
    pub tcp_user_timeout_seconds: u64,
    /// Tenant events kept per tenant for SSE `Last-Event-ID` resume.
    pub sse_buffer_events: usize,
    /// SSE keep-alive comment interval.
    pub sse_keepalive_seconds: u64,
    /// Public web chat sessions per client IP per minute.
    pub webchat_sessions_per_minute: u32,
    /// AI answers in conversations are streamed from the model and shown, piece by piece,
    /// to the sockets following the conversation (`ai_answer_delta` frames).
    pub stream_ai_replies: bool,
    /// `request_summary` with an LLM agent: the most recent messages it reads, and the
    /// longest summary it may write (tokens).
    pub summary_max_messages: i64,
    pub summary_max_tokens: u32,
}

impl RealtimeSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval_seconds == 0 {
            return Err(invalid(
                "realtime.heartbeat_interval_seconds",
                "must be at least 1",
            ));
        }
        if self.summary_max_messages < 1 {
            return Err(invalid(
                "realtime.summary_max_messages",
                "must be at least 1",
            ));
        }
        if self.summary_max_tokens < 16 {
            return Err(invalid(
                "realtime.summary_max_tokens",
                "must be at least 16",
            ));
        }
        if self.client_timeout_seconds <= self.heartbeat_interval_seconds {
            return Err(invalid(
                "realtime.client_timeout_seconds",
                "must be longer than realtime.heartbeat_interval_seconds",
            ));
        }
        if self.outbound_queue_frames == 0 {
            return Err(invalid(
                "realtime.outbound_queue_frames",
                "must be at least 1",
            ));
        }
        if self.max_frame_bytes < 256 {
            return Err(invalid("realtime.max_frame_bytes", "must be at least 256"));
        }
        if self.frames_per_second == 0 || self.frames_burst == 0 {
            return Err(invalid(
                "realtime.frames_per_second",
                "rate and burst must be at least 1",
            ));
        }
        if self.pipeline_depth == 0 {
            return Err(invalid("realtime.pipeline_depth", "must be at least 1"));
        }
        if !(1..=5000).contains(&self.sync_max_messages) {
            return Err(invalid(
                "realtime.sync_max_messages",
                "must be between 1 and 5000",
            ));
        }
        if self.sse_buffer_events == 0 || self.sse_keepalive_seconds == 0 {
            return Err(invalid(
                "realtime.sse_buffer_events",
                "SSE buffer and keep-alive must be positive",
            ));
        }
        if self.webchat_sessions_per_minute == 0 {
            return Err(invalid(
                "realtime.webchat_sessions_per_minute",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Working hours and booking rules (src/domain/scheduling.rs, src/api/calendar.rs). A user's
/// own `working_hours` override these per key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA time zone of the default working hours and of date words ("amanhã às 15h").
    pub timezone: String,
    /// mon tue wed thu fri sat sun
    pub work_days: Vec<String>,
    /// "HH:MM", local to `timezone`.
    pub work_start: String,
    pub work_end: String,
    /// Slots start on this grid (minutes after the start of a working interval).
    pub slot_step_minutes: u32,
    pub default_duration_minutes: u32,
    /// Bookings further ahead than this are refused.
    pub horizon_days: u32,
    /// Title of events booked from a conversation; `{contact}` is replaced.
    pub event_title: String,
}

impl CalendarSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(
                "calendar.timezone",
                "must be an IANA time zone such as America/Sao_Paulo",
            ));
        }
        let day_names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        if let Some(bad) = self
            .work_days
            .iter()
            .find(|d| !day_names.contains(&d.as_str()))
        {
            return Err(invalid(
                "calendar.work_days",
                format!("unknown day `{bad}` (mon … sun)"),
            ));
        }
        let time = |raw: &str| chrono::NaiveTime::parse_from_str(raw, "%H:%M").ok();
        match (time(&self.work_start), time(&self.work_end)) {
            (Some(start), Some(end)) if start < end => {}
            _ => {
                return Err(invalid(
                    "calendar.work_start",
                    "work_start and work_end must be HH:MM with work_start before work_end",
                ))
            }
        }
        if self.slot_step_minutes == 0 || self.default_duration_minutes == 0 {
            return Err(invalid(
                "calendar.slot_step_minutes",
                "slot step and default duration must be positive",
            ));
        }
        if self.horizon_days == 0 {
            return Err(invalid("calendar.horizon_days", "must be at least 1"));
        }
        Ok(())
    }
}

/// The knowledge base: uploads, chunking, the search index and its use in prompts
/// (src/knowledge/, src/api/knowledge.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// Largest document accepted, in bytes of the uploaded file or JSON `content`.
    pub max_document_bytes: usize,
    /// Text extraction (PDF parsing above all) that takes longer is given up and the upload
    /// refused: a crafted file must not hold an upload open for good.
    pub extract_timeout_seconds: u64,
    /// The program that extracts PDF text in a child process (`atende extract-pdf`); empty
    /// means this very executable.
    pub extractor_path: String,
    /// CPU seconds and address space (bytes) the extraction child may use before the kernel
    /// stops it.
    pub extract_cpu_seconds: u64,
    pub extract_memory_bytes: u64,
    /// Most text the extraction child may return (a PDF's text can be larger than the file).
    pub extract_max_text_bytes: usize,
    /// Per-tenant quota: documents stored and their total size in bytes.
    pub max_documents_per_tenant: i64,
    pub max_bytes_per_tenant: i64,
    /// Target size of one chunk, in characters; a paragraph longer than this is split.
    pub chunk_chars: usize,
    /// Characters of the previous chunk repeated at the start of the next one, so a sentence
    /// cut by a chunk boundary is still found whole.
    pub chunk_overlap_chars: usize,
    /// Results of `POST /knowledge/search` without a `limit`, and the largest `limit` allowed.
    pub search_default_limit: usize,
    pub search_max_limit: usize,
    /// Longest query accepted, in characters.
    pub max_query_chars: usize,
    /// Characters of a chunk shown as a result's excerpt (API, SSE `source` events).
    pub excerpt_chars: usize,
    /// Passages put in an LLM agent's prompt, and the least relevance (share of the
    /// question's terms found in the passage, 0..1) a passage needs to be put there.
    pub prompt_passages: usize,
    pub prompt_min_relevance: f64,
    /// Memory of the index writer (tantivy needs at least 15 MB).
    pub index_writer_memory_bytes: usize,
    /// Chunks read from the database per batch when the index is rebuilt at start.
    pub rebuild_batch_chunks: i64,
    /// Hybrid search: embed chunks and queries with the agent's OpenAI-compatible
    /// `/embeddings` endpoint and re-rank BM25's best candidates by cosine similarity.
    pub embeddings_enabled: bool,
    pub embedding_model: String,
    pub embedding_timeout_ms: u64,
    /// BM25 candidates re-ranked by cosine similarity (as a multiple of the limit asked).
    pub rerank_candidates_factor: usize,
    /// Weight of the cosine similarity in the hybrid score (the rest is normalized BM25).
    pub embedding_weight: f64,
}

/// tantivy refuses a writer with less memory than this.
const MIN_INDEX_WRITER_BYTES: usize = 15_000_000;

impl KnowledgeSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_document_bytes == 0 {
            return Err(invalid("knowledge.max_document_bytes", "must be positive"));
        }
        if self.extract_timeout_seconds == 0 {
            return Err(invalid(
                "knowledge.extract_timeout_seconds",
                "must be positive",
            ));
        }
        if self.extract_cpu_seconds == 0 || self.extract_memory_bytes == 0 {
            return Err(invalid(
                "knowledge.extract_cpu_seconds",
                "the extraction limits (cpu seconds, memory bytes) must be positive",
            ));
        }
        if self.max_documents_per_tenant < 1 || self.max_bytes_per_tenant < 1 {
            return Err(invalid(
                "knowledge.max_documents_per_tenant",
                "the tenant quota (documents, bytes) must be positive",
            ));
        }
        if self.chunk_chars == 0 {
            return Err(invalid("knowledge.chunk_chars", "must be positive"));
        }
        if self.chunk_overlap_chars >= self.chunk_chars {
            return Err(invalid(
                "knowledge.chunk_overlap_chars",
                "must be smaller than knowledge.chunk_chars",
            ));
        }
        if self.search_max_limit == 0
            || self.search_default_limit == 0
            || self.search_default_limit > self.search_max_limit
        {
            return Err(invalid(
                "knowledge.search_default_limit",
                "must be at least 1 and at most knowledge.search_max_limit",
            ));
        }
        if self.max_query_chars == 0 {
            return Err(invalid("knowledge.max_query_chars", "must be positive"));
        }
        if !(0.0..=1.0).contains(&self.prompt_min_relevance) {
            return Err(invalid(
                "knowledge.prompt_min_relevance",
                "must be between 0 and 1",
            ));
        }
        if self.index_writer_memory_bytes < MIN_INDEX_WRITER_BYTES {
            return Err(invalid(
                "knowledge.index_writer_memory_bytes",
                format!("must be at least {MIN_INDEX_WRITER_BYTES}"),
            ));
        }
        if self.rebuild_batch_chunks <= 0 {
            return Err(invalid(
                "knowledge.rebuild_batch_chunks",
                "must be positive",
            ));
        }
        if self.rerank_candidates_factor == 0 {
            return Err(invalid(
                "knowledge.rerank_candidates_factor",
                "must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.embedding_weight) {
            return Err(invalid(
                "knowledge.embedding_weight",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// Who extracts memories: the agent's LLM when it has one, or the rules only.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MemoryExtractor {
    /// The LLM of an `openai` agent (JSON answer; the rules when it is unusable), the rules
    /// for every other agent.
    Auto,
    Rules,
}

/// Agent memory (src/domain/memory.rs, src/engine/insights.rs, src/store/memories.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySettings {
    pub extractor: MemoryExtractor,
    /// Memories put in one prompt (the most relevant to the messages being answered, then
    /// the most recent); 0 puts none.
    pub prompt_count: usize,
    /// Most recent memories of the contact read per turn to choose those from.
    pub candidates: i64,
    /// A contact's oldest memories beyond this many are forgotten.
    pub max_per_contact: i64,
    /// Facts kept from one extraction.
    pub max_per_extraction: usize,
    /// Characters of one memory.
    pub max_chars: usize,
    /// Messages an extraction reads, as a multiple of the agent's `memory_every_n_messages`
    /// (customer messages plus the answers between them).
    pub window_factor: u32,
    /// Completion tokens allowed for the LLM's JSON answer.
    pub llm_max_tokens: u32,
}

impl MemorySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.candidates < 1 {
            return Err(invalid("memory.candidates", "must be at least 1"));
        }
        if self.max_per_contact < 1 {
            return Err(invalid("memory.max_per_contact", "must be at least 1"));
        }
        if self.max_per_extraction == 0 {
            return Err(invalid("memory.max_per_extraction", "must be at least 1"));
        }
        if self.max_chars < 16 {
            return Err(invalid("memory.max_chars", "must be at least 16"));
        }
        if self.window_factor == 0 {
            return Err(invalid("memory.window_factor", "must be at least 1"));
        }
        if self.llm_max_tokens < 16 {
            return Err(invalid("memory.llm_max_tokens", "must be at least 16"));
        }
        Ok(())
    }
}

/// Feedback detection on the customer's message after an AI reply (src/domain/feedback.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackSettings {
    pub enabled: bool,
    /// Feedback at or above this score (0..1) is recorded and raised as `feedback_detected`.
    pub min_score: f64,
    /// Hand the conversation to a human (reason `negative_feedback`) on feedback at or
    /// above `escalate_min_score`.
    pub escalate: bool,
    pub escalate_min_score: f64,
    /// Word overlap (Jaccard, 0..1) from which a message repeats the previous question.
    pub repeat_similarity: f64,
}

impl FeedbackSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("feedback.min_score", self.min_score),
            ("feedback.escalate_min_score", self.escalate_min_score),
            ("feedback.repeat_similarity", self.repeat_similarity),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid(key, "must be between 0 and 1"));
            }
        }
        if self.repeat_similarity == 0.0 {
            return Err(invalid(
                "feedback.repeat_similarity",
                "must be above 0 (0 would call every message a repeat)",
            ));
        }
        Ok(())
    }
}

pub use crate::domain::tenant_settings::ClassificationMode;

/// Conversation category and priority (src/domain/classification.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationSettings {
    pub mode: ClassificationMode,
    /// Hand critical conversations to a human at once (reason `critical_priority`).
    pub escalate_critical: bool,
    /// Hand VIP contacts' conversations to a human at once (reason `vip_contact`).
    pub escalate_vip: bool,
    /// Contact tags (case-insensitive) that mark a VIP besides the `is_vip` flag.
    pub vip_tags: Vec<String>,
    /// Completion tokens allowed for the LLM's JSON answer.
    pub llm_max_tokens: u32,
}

impl ClassificationSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.llm_max_tokens < 16 {
            return Err(invalid(
                "classification.llm_max_tokens",
                "must be at least 16",
            ));
        }
        Ok(())
    }
}

/// `GET /metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// When set, `/metrics` answers only `Authorization: Bearer <token>` (401 otherwise).
    /// Empty: open, for development.
    pub token: SecretString,
    /// Conversations whose response clocks (waiting for the AI, waiting for a human's first
    /// message) the latency histograms keep at once; past it the oldest clocks are dropped.
    pub tracked_conversations: usize,
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
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("secrets.previous_encryption_keys")
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

    /// The run-time settings of a tenant that changed nothing (`GET /api/v1/settings`): the
    /// engine, classification, feedback, business-hours and CSAT keys of this file.
    pub fn tenant_defaults(&self) -> TenantSettings {
        let welcome = self.engine.welcome_message.trim();
        TenantSettings {
            handover_message: self.engine.handover_message.clone(),
            welcome_message: (!welcome.is_empty()).then(|| welcome.to_string()),
            human_request_phrases: self.engine.human_request_phrases.clone(),
            classification: ClassificationPolicy {
                mode: self.classification.mode,
                escalate_critical: self.classification.escalate_critical,
                escalate_vip: self.classification.escalate_vip,
                vip_tags: self.classification.vip_tags.clone(),
            },
            feedback: FeedbackPolicy {
                escalate: self.feedback.escalate,
                escalate_min_score: self.feedback.escalate_min_score,
            },
            business_hours: self.business_hours.clone(),
            csat: self.csat.clone(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = self.tenant_defaults().validate() {
            // The tenant keys live in several sections; the error names the tenant field.
            return Err(invalid(
                "tenant defaults",
                format!("{} {}", e.field, e.reason),
            ));
        }
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
        let dev_secrets_ok = development_secrets_allowed(&self.environment, &self.server.host);
        if !dev_secrets_ok && secret == DEVELOPMENT_JWT_SECRET {
            return Err(invalid(
                "auth.jwt_secret",
                "the built-in development secret is only accepted in development or test on a \
                 loopback address; set ATENDE__AUTH__JWT_SECRET",
            ));
        }
        let encryption_key = self.secrets.encryption_key.expose_secret();
        if encryption_key.len() < MIN_ENCRYPTION_KEY_LEN {
            return Err(invalid(
                "secrets.encryption_key",
                format!("must be at least {MIN_ENCRYPTION_KEY_LEN} characters"),
            ));
        }
        if !dev_secrets_ok && encryption_key == DEVELOPMENT_ENCRYPTION_KEY {
            return Err(invalid(
                "secrets.encryption_key",
                "the built-in development key is only accepted in development or test on a \
                 loopback address; set ATENDE__SECRETS__ENCRYPTION_KEY",
            ));
        }
        if let Some(bad) = self
            .server
            .trusted_proxies
            .iter()
            .find(|raw| parse_network(raw).is_none())
        {
            return Err(invalid(
                "server.trusted_proxies",
                format!("`{bad}` is not an IP address or CIDR network"),
            ));
        }
        for (key, value) in [
            ("auth.access_cache_seconds", self.auth.access_cache_seconds),
            (
                "auth.access_cache_capacity",
                self.auth.access_cache_capacity,
            ),
            (
                "auth.session_recheck_seconds",
                self.auth.session_recheck_seconds,
            ),
            (
                "auth.login_per_ip_per_minute",
                u64::from(self.auth.login_per_ip_per_minute),
            ),
            (
                "auth.login_per_account_per_minute",
                u64::from(self.auth.login_per_account_per_minute),
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
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
        if self.engine.request_count_flush_ms == 0 {
            return Err(invalid(
                "engine.request_count_flush_ms",
                "must be at least 1",
            ));
        }
        if self.engine.turn_max_attempts == 0 {
            return Err(invalid("engine.turn_max_attempts", "must be at least 1"));
        }
        if self.webhooks.max_in_flight == 0 {
            return Err(invalid("webhooks.max_in_flight", "must be at least 1"));
        }
        if self.webhooks.timeout_ms == 0 {
            return Err(invalid("webhooks.timeout_ms", "must be positive"));
        }
        if self.outbound.max_response_bytes == 0 {
            return Err(invalid("outbound.max_response_bytes", "must be positive"));
        }
        if self.outbound.max_error_body_bytes == 0 {
            return Err(invalid("outbound.max_error_body_bytes", "must be positive"));
        }
        if !url::Url::parse(self.wizard.public_base_url.trim())
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(invalid(
                "wizard.public_base_url",
                "must be an absolute http(s) URL",
            ));
        }
        if self.analytics.max_period_days == 0 {
            return Err(invalid("analytics.max_period_days", "must be at least 1"));
        }
        self.realtime.validate()?;
        self.calendar.validate()?;
        self.knowledge.validate()?;
        self.memory.validate()?;
        self.feedback.validate()?;
        self.classification.validate()?;
        if self.server.shutdown_timeout_seconds == 0 {
            return Err(invalid(
                "server.shutdown_timeout_seconds",
                "must be at least 1",
            ));
        }
        self.cluster.validate(self.database.kind()?)?;
        // A claim must outlast one attempt, or a slow attempt could be taken over mid-way.
        let longest_attempt_ms = self.webhooks.timeout_ms.max(self.outbound.timeout_ms);
        if self.cluster.claim_seconds.saturating_mul(1000) <= longest_attempt_ms {
            return Err(invalid(
                "cluster.claim_seconds",
                "must be longer than webhooks.timeout_ms and outbound.timeout_ms",
            ));
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
    fn development_secrets_only_on_a_loopback_development_server() {
        for (env, host, allowed) in [
            ("development", "127.0.0.1", true),
            ("test", "::1", true),
            ("test", "[::1]", true),
            ("development", "localhost", true),
            ("development", "127.0.0.2", true),
            ("development", "0.0.0.0", false),
            ("development", "10.0.0.5", false),
            ("development", "example.com", false),
            ("prod", "127.0.0.1", false),
            ("production", "127.0.0.1", false),
            ("staging", "127.0.0.1", false),
            ("", "127.0.0.1", false),
        ] {
            assert_eq!(
                development_secrets_allowed(env, host),
                allowed,
                "{env} on {host}"
            );
        }
        // ATENDE_ENV=prod (a typo of production) used to accept the public secret.
        let err = load("prod", &[]).expect_err("rejected");
        assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
        let err = load("development", &[("server.host", "0.0.0.0")]).expect_err("rejected");
        assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
        let err = load(
            "development",
            &[
                ("server.host", "0.0.0.0"),
                ("auth.jwt_secret", "a-real-secret-of-enough-length-0000000"),
            ],
        )
        .expect_err("rejected");
        assert!(err.to_string().contains("secrets.encryption_key"), "{err}");
        let ok = load(
            "prod",
            &[
                ("auth.jwt_secret", "a-real-secret-of-enough-length-0000000"),
                (
                    "secrets.encryption_key",
                    "a-real-encryption-key-of-length-00000",
                ),
            ],
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        assert!(parse_network("10.0.0.0/8").is_some());
        assert!(parse_network(" 192.0.2.7 ").is_some());
        assert!(parse_network("2001:db8::/32").is_some());
        assert!(parse_network("10.0.0.0/33").is_none());
        assert!(parse_network("proxy.local").is_none());
        let mut settings = load("development", &[]).expect("valid");
        assert!(
            settings.server.trusted_proxies.is_empty(),
            "none by default"
        );
        settings.server.trusted_proxies = vec!["10.1.0.0/16".into(), "192.0.2.7".into()];
        assert!(settings.validate().is_ok());
        assert_eq!(settings.server.trusted_proxy_networks().len(), 2);
        settings.server.trusted_proxies.push("nope".into());
        let err = settings.validate().expect_err("rejected");
        assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load("development", &[("database.urll", "x")]).expect_err("rejected");
        assert!(err.to_string().contains("urll"), "{err}");
    }

    #[test]
    fn knowledge_sizes_are_checked() {
        let settings = load("development", &[]).expect("valid");
        assert!(settings.knowledge.chunk_overlap_chars < settings.knowledge.chunk_chars);
        for (key, value) in [
            ("knowledge.chunk_overlap_chars", "5000"),
            ("knowledge.search_default_limit", "51"),
            ("knowledge.index_writer_memory_bytes", "1000"),
            ("knowledge.prompt_min_relevance", "1.5"),
        ] {
            let err = load("development", &[(key, value)]).expect_err("rejected");
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
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

    #[test]
    fn memory_feedback_and_classification_keys_are_checked() {
        let settings = load("development", &[]).expect("valid");
        assert_eq!(settings.memory.extractor, MemoryExtractor::Auto);
        assert_eq!(settings.classification.mode, ClassificationMode::Rules);
        let test = load("test", &[]).expect("valid");
        assert_eq!(test.memory.extractor, MemoryExtractor::Rules);
        for (key, value) in [
            ("memory.extractor", "sometimes"),
            ("memory.candidates", "0"),
            ("memory.max_chars", "3"),
            ("memory.window_factor", "0"),
            ("feedback.min_score", "1.5"),
            ("feedback.escalate_min_score", "-0.1"),
            ("feedback.repeat_similarity", "0"),
            ("classification.mode", "magic"),
            ("classification.llm_max_tokens", "1"),
        ] {
            let err = load("development", &[(key, value)]).expect_err(key);
            let field = key.rsplit('.').next().unwrap_or(key);
            assert!(err.to_string().contains(field), "{key}: {err}");
        }
    }
}
