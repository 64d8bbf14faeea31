//! `GET /api/v1/events`: the tenant's events as Server-Sent Events, for dashboards.
//!
//! A single node gives every event an id `<boot>-<n>` (`n` increases over the whole process,
//! `boot` tells runs apart) and keeps the last `realtime.sse_buffer_events` events of each
//! tenant in memory, so a client that reconnects with `Last-Event-ID` gets what it missed, in
//! order, without duplicates. In cluster mode the buffer is a JetStream stream on the bus
//! (`cluster::sse`) and the id is the event's sequence number there (`<n>`), so a client
//! resumes on any node. When the events it missed are no longer kept (or the id is not one
//! this node or cluster issued), it first gets `event: resync`: reload state over REST.
//! Comment lines (`: keep-alive`) keep idle connections and proxies open.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use tokio::sync::broadcast;

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use crate::auth::request::query_param;
use crate::auth::{Access, AuthError, Staff};
use crate::cluster::membership::ClusterError;
use crate::cluster::sse::SseBus;
use crate::config::RealtimeSettings;
use crate::domain::{Role, TenantId, UserId};
use crate::engine::events::{EventBus, TenantEvent};
use crate::store::StoreError;

pub struct Entry {
    seq: u64,
    tenant: TenantId,
    block: Bytes,
}

#[derive(Default)]
struct TenantLog {
    entries: VecDeque<Arc<Entry>>,
    /// Highest `seq` that fell out of `entries`: resuming before it has a gap.
    dropped_up_to: u64,
}

struct State {
    next: u64,
    tenants: HashMap<TenantId, TenantLog>,
}

pub struct EventLog {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<Entry>>,
    boot: String,
    capacity: usize,
    keepalive: Duration,
    /// Cluster mode: the buffer is the bus's stream, and ids are its sequence numbers.
    bus: Option<SseBus>,
    /// Cluster mode: the id of the last event the live feed brought.
    bus_seen: AtomicU64,
}

/// Where a reconnecting client resumes.
enum Resume {
    Fresh,
    After(u64),
    /// An id this process never issued (an earlier run, or garbage).
    Unknown,
}

impl EventLog {
    /// Starts the feeder task (on the current runtime) that records every bus event.
    pub fn start(bus: &EventBus, settings: &RealtimeSettings) -> Arc<EventLog> {
        let log = Arc::new(EventLog::new(settings, None));
        let mut receiver = bus.subscribe();
        let feeder = Arc::downgrade(&log);
        // A tokio task, not an actix one: the runtime drops it (and the bus subscription it
        // holds) inside its own context at exit; an actix task is dropped after, and a NATS
        // subscription dropped there panics the exit.
        tokio::spawn(async move {
            use broadcast::error::RecvError;
            loop {
                let event = match receiver.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "SSE log fell behind the event bus");
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let Some(log) = feeder.upgrade() else { break };
                log.record(&event);
            }
        });
        log
    }

    fn new(settings: &RealtimeSettings, bus: Option<SseBus>) -> EventLog {
        let (live, _) = broadcast::channel(settings.sse_buffer_events.max(16));
        EventLog {
            state: Mutex::new(State {
                next: 1,
                tenants: HashMap::new(),
            }),
            live,
            boot: format!("{:08x}", rand::random::<u32>()),
            capacity: settings.sse_buffer_events.max(1),
            keepalive: Duration::from_secs(settings.sse_keepalive_seconds.max(1)),
            bus,
            bus_seen: AtomicU64::new(0),
        }
    }

    /// Cluster mode: this node's events go to the bus's stream, and its SSE clients follow
    /// the stream (every node's events) and resume from it.
    pub async fn start_on_bus(
        events: &EventBus,
        bus: SseBus,
        settings: &RealtimeSettings,
    ) -> Result<Arc<EventLog>, ClusterError> {
        // Following before publishing: none of this node's own events passes unseen.
        let feed = bus.follow().await?;
        bus.spawn_publisher(events);
        let log = Arc::new(EventLog::new(settings, Some(bus)));
        let feeder = Arc::downgrade(&log);
        // A tokio task, not an actix one: the runtime drops it (and the bus subscription it
        // holds) inside its own context at exit; an actix task is dropped after, and a NATS
        // subscription dropped there panics the exit.
        tokio::spawn(async move {
            use futures::StreamExt;
            let mut feed = std::pin::pin!(feed);
            while let Some((seq, event)) = feed.next().await {
                let Some(log) = feeder.upgrade() else { break };
                log.bus_seen.fetch_max(seq, Ordering::SeqCst);
                let _ = log.live.send(Arc::new(Entry {
                    seq,
                    tenant: event.tenant_id.clone(),
                    block: render(&seq.to_string(), &event),
                }));
            }
            tracing::warn!("SSE live feed ended");
        });
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log half-updated in a way that
        // matters (worst case one event is missing), so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, event: &TenantEvent) {
        let mut state = self.lock();
        let seq = state.next;
        state.next += 1;
        let entry = Arc::new(Entry {
            seq,
            tenant: event.tenant_id.clone(),
            block: render(&format!("{}-{seq}", self.boot), event),
        });
        let log = state.tenants.entry(event.tenant_id.clone()).or_default();
        log.entries.push_back(entry.clone());
        while log.entries.len() > self.capacity {
            if let Some(old) = log.entries.pop_front() {
                log.dropped_up_to = old.seq;
            }
        }
        // Under the lock: a client subscribing meanwhile sees each event once, either in
        // its backlog or live.
        let _ = self.live.send(entry);
    }

    fn parse_resume(&self, raw: Option<&str>) -> Resume {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Resume::Fresh;
        };
        if self.bus.is_some() {
            return raw.parse().map_or(Resume::Unknown, Resume::After);
        }
        match raw.split_once('-') {
            Some((boot, n)) if boot == self.boot => {
                n.parse().map_or(Resume::Unknown, Resume::After)
            }
            _ => Resume::Unknown,
        }
    }

    /// What the client missed, whether some of it is gone, and the live feed from there.
    async fn attach(
        &self,
        tenant: &TenantId,
        resume: Resume,
    ) -> (Vec<Arc<Entry>>, bool, broadcast::Receiver<Arc<Entry>>, u64) {
        let Some(bus) = &self.bus else {
            return self.attach_local(tenant, resume);
        };
        // The live feed first, then the stream up to its end: what the feed brings meanwhile
        // is in both, and skipped by id.
        let receiver = self.live.subscribe();
        let now = self.bus_seen.load(Ordering::SeqCst);
        match resume {
            Resume::Fresh => (Vec::new(), false, receiver, now),
            Resume::Unknown => (Vec::new(), true, receiver, now),
            Resume::After(after) => match bus.since(tenant, after).await {
                Ok(backlog) => {
                    let entries = backlog
                        .events
                        .into_iter()
                        .map(|(seq, event)| {
                            Arc::new(Entry {
                                seq,
                                tenant: event.tenant_id.clone(),
                                block: render(&seq.to_string(), &event),
                            })
                        })
                        .collect();
                    // An id the stream never issued resumes from now.
                    let after = if backlog.gap && after > now {
                        now
                    } else {
                        after
                    };
                    (entries, backlog.gap, receiver, after)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SSE backlog not read; the client resyncs");
                    (Vec::new(), true, receiver, now)
                }
            },
        }
    }

    fn attach_local(
        &self,
        tenant: &TenantId,
        resume: Resume,
    ) -> (Vec<Arc<Entry>>, bool, broadcast::Receiver<Arc<Entry>>, u64) {
        let state = self.lock();
        let receiver = self.live.subscribe();
        let log = state.tenants.get(tenant);
        let (after, gap) = match resume {
            Resume::Fresh => (state.next - 1, false),
            Resume::Unknown => (state.next - 1, true),
            Resume::After(n) => (n, log.is_some_and(|l| n < l.dropped_up_to)),
        };
        let backlog = log
            .map(|l| {
                l.entries
                    .iter()
                    .filter(|e| e.seq > after)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        (backlog, gap, receiver, after)
    }
}

fn render(id: &str, event: &TenantEvent) -> Bytes {
    let kind = event.kind();
    let payload = serde_json::json!({
        "type": kind,
        "tenant_id": event.tenant_id,
        "conversation_id": event.conversation_id,
        "data": event.data(),
        "at": event.at,
    });
    Bytes::from(format!("id: {id}\nevent: {kind}\ndata: {payload}\n\n"))
}

/// The node is stopping: the stream ends after this; reconnect (to any node) with
/// `Last-Event-ID`. The `retry:` line sets the reconnection delay.
const RECONNECT: &str =
    "retry: 1000\nevent: reconnect\ndata: {\"type\":\"reconnect\",\"reason\":\"node_stopping\"}\n\n";

const RESYNC: &str =
    "event: resync\ndata: {\"type\":\"resync\",\"reason\":\"events since your Last-Event-ID are no longer kept; reload state\"}\n\n";

/// The listener, re-checked while the stream is open: a deleted, re-keyed or demoted user's
/// stream ends within `auth.session_recheck_seconds` (at once for changes made through this
/// process, which it is told of).
struct Listener {
    access: Arc<Access>,
    staff: Staff,
    changes: broadcast::Receiver<UserId>,
    recheck: tokio::time::Interval,
}

impl Listener {
    /// Whether the user may still read the tenant's events. A store that does not answer
    /// keeps the stream (the next check decides).
    async fn still_allowed(&self) -> bool {
        match self
            .access
            .check(
                &self.staff.user_id,
                &self.staff.tenant_id,
                self.staff.token_version,
            )
            .await
        {
            Ok(role) => may_listen(role),
            Err(AuthError::Store(StoreError::Unavailable(_))) => true,
            Err(_) => false,
        }
    }
}

/// Who may read the tenant's event stream.
fn may_listen(role: Role) -> bool {
    role.oversees_tenant()
}

struct Stream {
    log: Arc<EventLog>,
    tenant: TenantId,
    pending: VecDeque<Bytes>,
    receiver: broadcast::Receiver<Arc<Entry>>,
    last: u64,
    ticker: tokio::time::Interval,
    listener: Listener,
    /// Set when the node stops: the stream ends once `pending` is out.
    stopping: tokio::sync::watch::Receiver<bool>,
    ended: bool,
}

impl Stream {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        use broadcast::error::RecvError;
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.ended {
                return None;
            }
            tokio::select! {
                _ = crate::shutdown::stopping(&mut self.stopping) => {
                    self.ended = true;
                    self.pending.push_back(Bytes::from_static(RECONNECT.as_bytes()));
                }
                changed = self.listener.changes.recv() => {
                    let ours = match changed {
                        Ok(user) => user == self.listener.staff.user_id,
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => false,
                    };
                    if ours && !self.listener.still_allowed().await {
                        return None;
                    }
                }
                _ = self.listener.recheck.tick() => {
                    if !self.listener.still_allowed().await {
                        return None;
                    }
                }
                received = self.receiver.recv() => match received {
                    Ok(entry) => {
                        if entry.tenant == self.tenant && entry.seq > self.last {
                            self.last = entry.seq;
                            return Some(entry.block.clone());
                        }
                    }
                    // This client fell behind the live feed: catch up from the log.
                    Err(RecvError::Lagged(_)) => {
                        let (backlog, gap, receiver, _) =
                            self.log.attach(&self.tenant, Resume::After(self.last)).await;
                        self.receiver = receiver;
                        if gap {
                            self.pending.push_back(Bytes::from_static(RESYNC.as_bytes()));
                        }
                        for entry in backlog {
                            self.last = self.last.max(entry.seq);
                            self.pending.push_back(entry.block.clone());
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.ticker.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "resume after this event id"),
        ("token" = Option<String>, Query, description = "the bearer token, for EventSource clients")),
    responses((status = 200, content_type = "text/event-stream",
        description = "`id: <boot>-<n>` (a single node) or `id: <n>` (a cluster), `event: <kind>`, `data: {type, tenant_id, conversation_id, data, at}`; `event: resync` when events were lost; `event: reconnect` before the stream ends because the node stops; `: keep-alive` comments"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn stream(
    req: HttpRequest,
    caller: Caller,
    log: web::Data<EventLog>,
    access: web::Data<Access>,
    node: web::Data<crate::app::Node>,
) -> ApiResult<HttpResponse> {
    let staff = caller.staff()?;
    staff.require(may_listen)?;
    let last_event_id = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(&req, "last_event_id"));
    let log = log.into_inner();
    let resume = log.parse_resume(last_event_id.as_deref());
    let (backlog, gap, receiver, after) = log.attach(&staff.tenant_id, resume).await;
    let mut pending = VecDeque::new();
    // The reconnection delay, and a first chunk so clients see the stream open at once.
    pending.push_back(Bytes::from_static(b"retry: 3000\n: connected\n\n"));
    if gap {
        pending.push_back(Bytes::from_static(RESYNC.as_bytes()));
    }
    let mut last = after;
    for entry in backlog {
        last = last.max(entry.seq);
        pending.push_back(entry.block.clone());
    }
    let mut ticker = tokio::time::interval(log.keepalive);
    ticker.reset();
    let access = access.into_inner();
    let mut recheck = tokio::time::interval(access.recheck_interval());
    recheck.reset();
    let state = Stream {
        log,
        tenant: staff.tenant_id.clone(),
        pending,
        receiver,
        last,
        ticker,
        listener: Listener {
            changes: access.changes(),
            access,
            staff,
            recheck,
        },
        stopping: node.shutdown.watch(),
        ended: false,
    };
    let body = futures::stream::unfold(state, |mut state| async move {
        state
            .next_chunk()
            .await
            .map(|chunk| (Ok::<_, ApiError>(chunk), state))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // A stream's connection is not reused: closing it with the stream frees it at once
        // (a stopping node waits for no idle keep-alive).
        .force_close()
        .streaming(body))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(stream));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationId, MessageId};
    use crate::engine::events::EngineEvent;

    fn settings(buffer: usize) -> RealtimeSettings {
        RealtimeSettings {
            heartbeat_interval_seconds: 10,
            client_timeout_seconds: 30,
            outbound_queue_frames: 16,
            max_frame_bytes: 65536,
            frames_per_second: 10,
            frames_burst: 10,
            pipeline_depth: 8,
            known_conversations: 8,
            sync_max_messages: 100,
            away_after_seconds: 0,
            tcp_user_timeout_seconds: 0,
            sse_buffer_events: buffer,
            sse_keepalive_seconds: 15,
            webchat_sessions_per_minute: 10,
            stream_ai_replies: false,
            summary_max_messages: 200,
            summary_max_tokens: 400,
        }
    }

    fn event(tenant: &TenantId, n: i64) -> TenantEvent {
        TenantEvent {
            tenant_id: tenant.clone(),
            conversation_id: Some(ConversationId("c".into())),
            event: EngineEvent::MessageReceived {
                message_id: MessageId(format!("m{n}")),
                seq: n,
            },
            at: chrono::Utc::now(),
        }
    }

    fn ids(entries: &[Arc<Entry>]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[actix_web::test]
    async fn resumes_per_tenant_and_reports_gaps() {
        let bus = EventBus::new(16);
        let log = EventLog::start(&bus, &settings(3));
        let (a, b) = (TenantId::new(), TenantId::new());
        for n in 0..3 {
            log.record(&event(&a, n));
            log.record(&event(&b, n));
        }
        // a has 1, 3, 5; b has 2, 4, 6.
        let (backlog, gap, _, _) = log.attach(&a, Resume::After(1)).await;
        assert_eq!(ids(&backlog), vec![3, 5]);
        assert!(!gap);
        let (backlog, _, _, _) = log.attach(&b, Resume::After(1)).await;
        assert_eq!(ids(&backlog), vec![2, 4, 6]);
        log.record(&event(&a, 3)); // 7: evicts a's 1
        let (backlog, gap, _, _) = log.attach(&a, Resume::After(0)).await;
        assert_eq!(ids(&backlog), vec![3, 5, 7]);
        assert!(gap, "event 1 is gone");
        let (backlog, gap, _, _) = log.attach(&a, Resume::After(1)).await;
        assert!(!gap);
        assert_eq!(ids(&backlog), vec![3, 5, 7]);
        let (backlog, gap, _, _) = log.attach(&a, Resume::Fresh).await;
        assert!(backlog.is_empty() && !gap);
        let (backlog, gap, _, _) = log.attach(&a, log.parse_resume(Some("deadbeef-3"))).await;
        assert!(backlog.is_empty());
        assert_eq!(gap, log.boot != "deadbeef");
    }

    #[actix_web::test]
    async fn blocks_are_server_sent_events() {
        let tenant = TenantId::new();
        let block = render("b007-42", &event(&tenant, 1));
        let text = std::str::from_utf8(&block).expect("utf-8");
        assert!(
            text.starts_with("id: b007-42\nevent: message_received\ndata: {"),
            "{text}"
        );
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 4, "one data line: {text}");
        let data = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data");
        let json: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(json["type"], "message_received");
        assert_eq!(
            json["data"],
            serde_json::json!({"message_id": "m1", "seq": 1})
        );
    }
}
