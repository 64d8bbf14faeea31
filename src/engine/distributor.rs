//! Distributor: assigns every new, released or escalated conversation. Order: the contact's
//! previous owner (sticky), the integration's default AI agent, then the tenant's method over
//! available humans and (when `assign_to_ai_agent` is on) AI agents with room. Nobody
//! available → the conversation queues (priority first, then age) and is assigned when
//! capacity frees. The choice itself is `domain::distribution`; this actor gathers the
//! candidates and applies the decision through the conversation's own actor.
//!
//! Assignments run one at a time (`ctx.wait`): a human's load read for one assignment already
//! includes the previous one, so nobody is given more than their `max_conversations`.
//!
//! Departments are queues (`domain::department`): before anything else a conversation is
//! routed to its department (its own, its category's, its integration's default), which it
//! then waits in; only the department's members and the AI agents attached to it are
//! offered it, and a department at its `max_conversations` takes nothing more until one of
//! its conversations closes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::NaiveDateTime;

use super::agent::{Admit, GetConfig, GetLoad, SupervisorOf, Supervisors};
use super::conversation::Assign;
use super::events::{EngineEvent, EventBus};
use super::registry::{Ask, ConversationRegistry};
use super::writer::{Fence, MessageWriter, Write};
use crate::cluster::lease::Leases;
use crate::domain::agent::OnLimit;
use crate::domain::conversation::Owner;
use crate::domain::department;
use crate::domain::distribution::{
    self, Candidate, CandidateKind, DistributionSettings, Method, Priority, Request,
    RoundRobinCursors,
};
use crate::domain::performance;
use crate::domain::waiting_queue::ShapedQueue;
use crate::domain::{AgentId, ContactId, ConversationId, TenantId, UserId};
use crate::store::{
    agents, analytics, contacts, conversations, departments, distribution as settings_store,
    integrations, users, Store, StoreError,
};

/// How long measured performance scores are reused: the records move slowly, and measuring
/// them is two grouped queries over the window, too much to repeat for every assignment.
const PERFORMANCE_REFRESH: Duration = Duration::from_secs(60);

/// A tenant's departments as routing sees them.
type Queues = Arc<Vec<department::Queue>>;

/// Performance scores by candidate id, and when they were measured.
type Scores = (Instant, Arc<HashMap<String, f64>>);

#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct RequestAssignment {
    pub conversation_id: ConversationId,
    pub tenant_id: TenantId,
    pub contact_id: ContactId,
    /// The integration's default AI agent, tried before the method.
    pub preferred_agent: Option<AgentId>,
    /// Escalations: only humans may take it.
    pub humans_only: bool,
    pub priority: String,
    pub specialty: Option<String>,
    pub queued_at: NaiveDateTime,
    /// SLA reassignment: anyone but the current owner, who keeps it when nobody else can.
    pub exclude: Option<String>,
    /// The department whose queue it waits in: routing fills it in (callers pass `None`).
    pub department: Option<String>,
}

/// Capacity may have freed in a tenant (a conversation closed, a human became available):
/// try the queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CapacityFreed(pub TenantId);

/// Distribution settings or departments changed: forget the cached copies.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SettingsChanged(pub TenantId);

/// Cluster mode: this node lost the tenant's lease; its queue is the new owner's now (the
/// queued conversations are in the store, and the new owner resumes them).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForgetTenant(pub TenantId);

impl Handler<ForgetTenant> for Distributor {
    type Result = ();

    fn handle(&mut self, msg: ForgetTenant, _: &mut Self::Context) {
        self.tenants.remove(&msg.0);
    }
}

/// Queue length per tenant (metrics, tests).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct QueueLength(pub TenantId);

/// What decides who may take a waiting conversation: entries of one shape have the same
/// candidates (`ShapedQueue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Shape {
    preferred_agent: Option<AgentId>,
    humans_only: bool,
    specialty: Option<String>,
    department: Option<String>,
}

impl Shape {
    fn of(request: &RequestAssignment) -> Shape {
        Shape {
            preferred_agent: request.preferred_agent.clone(),
            humans_only: request.humans_only,
            specialty: request.specialty.clone(),
            department: request.department.clone(),
        }
    }
}

/// What routing found before anyone is asked to take a conversation.
#[derive(Debug, Clone, Default)]
struct Routed {
    department: Option<String>,
    /// Routing just put it in `department` (staff hear of it).
    placed: bool,
    /// The department is at its `max_conversations`.
    full: bool,
    /// The department caps its conversations: its assignments run one at a time.
    capped: bool,
    /// The integration's default AI agent may take it: there is no department, or the
    /// agent is attached to it.
    preferred_allowed: bool,
}

#[derive(Default)]
struct TenantState {
    settings: Option<DistributionSettings>,
    /// The tenant's departments as routing sees them, and when they were read: most
    /// tenants have none, and then routing needs no read at all.
    queues: Option<(Instant, Queues)>,
    scores: Option<Scores>,
    cursors: RoundRobinCursors,
    queue: ShapedQueue<Shape, ConversationId, RequestAssignment>,
    /// A drain under way, with the shapes that found nobody in it: one waiting
    /// conversation is tried at a time.
    draining: Option<HashSet<Shape>>,
}

/// What follows an assignment attempt.
#[derive(Debug, Clone)]
enum Then {
    Nothing,
    /// It came from the tenant's queue: go on draining.
    Drain(TenantId),
}

pub struct Distributor {
    store: Store,
    /// Assignment counts commit with the conversation's lane (group commit, behind its owner
    /// write) instead of paying a commit of their own.
    writer: MessageWriter,
    supervisors: Addr<Supervisors>,
    registry: Addr<ConversationRegistry>,
    tenants: HashMap<TenantId, TenantState>,
    queue_check: Duration,
    sla: SlaClock,
    events: EventBus,
    /// Humans must also be online on a WebSocket to take conversations.
    require_presence: bool,
    /// Cluster mode: the tenants this node owns (`None`: a single node owns them all).
    owning: Option<Leases>,
    /// How long a tenant's departments are reused without a change heard of (a backstop:
    /// the API and the cluster relay announce every change).
    departments_ttl: Duration,
}

/// How often the first-response SLA is checked, and how long one SLA minute lasts (60 s in
/// production; tests shorten it instead of waiting whole minutes).
#[derive(Debug, Clone, Copy)]
pub struct SlaClock {
    pub check_every: Duration,
    pub minute: Duration,
}

impl SlaClock {
    /// `now` as seen on the SLA's clock for something assigned at `since`.
    fn scaled_now(&self, since: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
        let elapsed = (now - since).num_milliseconds().max(0);
        let minute_ms = i64::try_from(self.minute.as_millis())
            .unwrap_or(60_000)
            .max(1);
        since + chrono::Duration::milliseconds(elapsed.saturating_mul(60_000) / minute_ms)
    }

    /// `seconds` of the SLA's clock as real time (a minute of it lasts `self.minute`).
    fn seconds(&self, seconds: u32) -> chrono::Duration {
        let minute_ms = i64::try_from(self.minute.as_millis()).unwrap_or(60_000);
        chrono::Duration::milliseconds(minute_ms.saturating_mul(i64::from(seconds)) / 60)
    }
}

enum Decision {
    Assigned,
    Queue,
}

/// What became of trying the integration's default agent.
enum Preferred {
    Done,
    Queue,
    HumansOnly,
    TryMethod,
}

struct Gathered {
    settings: DistributionSettings,
    /// Freshly measured scores, to cache (`None` when reused or not needed).
    scores: Option<Scores>,
    candidates: Vec<Candidate>,
    previous_owner: Option<String>,
}

impl Distributor {
    pub fn new(
        store: Store,
        writer: MessageWriter,
        supervisors: Addr<Supervisors>,
        registry: Addr<ConversationRegistry>,
        queue_check: Duration,
        sla: SlaClock,
        events: EventBus,
    ) -> Self {
        Distributor {
            store,
            writer,
            supervisors,
            registry,
            tenants: HashMap::new(),
            queue_check,
            sla,
            events,
            require_presence: false,
            owning: None,
            departments_ttl: Duration::ZERO,
        }
    }

    /// Reuse a tenant's departments for `ttl` between changes (zero: read them every time).
    pub fn departments_cached_for(mut self, ttl: Duration) -> Self {
        self.departments_ttl = ttl;
        self
    }

    fn cached_queues(&self, tenant: &TenantId) -> Option<Queues> {
        self.tenants
            .get(tenant)
            .and_then(|t| t.queues.as_ref())
            .filter(|(at, _)| at.elapsed() < self.departments_ttl)
            .map(|(_, queues)| queues.clone())
    }

    /// Cluster mode: this distributor serves only the tenants this node holds the lease of
    /// (their conversations live here); the SLA clock skips the others'.
    pub fn owning(mut self, leases: Option<Leases>) -> Self {
        self.owning = leases;
        self
    }

    fn serves(&self, tenant: &TenantId) -> bool {
        self.owning.as_ref().is_none_or(|l| l.holds(tenant))
    }

    /// `engine.require_presence`: only humans who are `available` AND online get work.
    pub fn require_presence(mut self, required: bool) -> Self {
        self.require_presence = required;
        self
    }

    /// Human-owned conversations still without a first response past the tenant's
    /// `first_response_minutes` go to another available human.
    fn check_sla(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let sla = self.sla;
        ctx.wait(
            async move {
                store
                    .run(move |conn| {
                        // Departments may set targets under a minute: look back as far as
                        // the shortest target, scaled like the SLA's minute.
                        let targets = departments::response_targets(conn)?;
                        let shortest = targets.values().copied().min().unwrap_or(60).min(60);
                        let cutoff = crate::store::now() - sla.seconds(shortest);
                        let late = conversations::late_first_response(conn, cutoff)?;
                        let mut settings: HashMap<TenantId, DistributionSettings> = HashMap::new();
                        for c in &late {
                            if !settings.contains_key(&c.tenant_id) {
                                settings.insert(
                                    c.tenant_id.clone(),
                                    settings_store::get(conn, &c.tenant_id)?,
                                );
                            }
                        }
                        Ok((late, settings, targets))
                    })
                    .await
            }
            .into_actor(self)
            .map(move |loaded, act, ctx| {
                let (late, settings, targets) = match loaded {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = %e, "SLA check failed");
                        return;
                    }
                };
                let now = crate::store::now();
                for c in late {
                    if !act.serves(&c.tenant_id) {
                        continue;
                    }
                    let Some(assigned_at) = c.assigned_at else {
                        continue;
                    };
                    let minutes = settings
                        .get(&c.tenant_id)
                        .map_or(0, |s| s.first_response_minutes);
                    let own = c
                        .department_id
                        .as_ref()
                        .and_then(|d| targets.get(d))
                        .copied()
                        .unwrap_or(0);
                    let seconds = department::first_response_target(own, minutes);
                    if !department::first_response_late(
                        assigned_at,
                        sla.scaled_now(assigned_at, now),
                        seconds,
                    ) {
                        continue;
                    }
                    act.events.publish(
                        &c.tenant_id,
                        Some(&c.id),
                        EngineEvent::SlaBreached {
                            owner: c.owner(),
                            first_response_minutes: minutes,
                            first_response_seconds: seconds,
                        },
                    );
                    act.assign(
                        RequestAssignment {
                            conversation_id: c.id.clone(),
                            tenant_id: c.tenant_id.clone(),
                            contact_id: c.contact_id.clone(),
                            preferred_agent: None,
                            humans_only: true,
                            priority: c.priority.clone(),
                            specialty: c.category.clone(),
                            queued_at: assigned_at,
                            exclude: c.owner_id.clone(),
                            department: None,
                        },
                        Then::Nothing,
                        ctx,
                    );
                }
            }),
        );
    }

    fn enqueue(&mut self, request: RequestAssignment) {
        if request.exclude.is_some() {
            return;
        }
        let state = self.tenants.entry(request.tenant_id.clone()).or_default();
        let priority = Priority::parse(&request.priority).unwrap_or_default();
        state.queue.push(
            Shape::of(&request),
            request.conversation_id.clone(),
            priority,
            request.queued_at,
            request,
        );
    }

    /// An attempt ended: an unassigned conversation waits again, and a drain goes on (or
    /// stops trying that shape).
    fn settled(
        &mut self,
        request: RequestAssignment,
        assigned: bool,
        then: Then,
        ctx: &mut Context<Self>,
    ) {
        let shape = Shape::of(&request);
        if !assigned {
            self.enqueue(request);
        }
        if let Then::Drain(tenant) = then {
            if !assigned {
                if let Some(failed) = self
                    .tenants
                    .get_mut(&tenant)
                    .and_then(|t| t.draining.as_mut())
                {
                    failed.insert(shape);
                }
            }
            self.drain_next(&tenant, ctx);
        }
    }

    /// Routes a conversation to its department's queue, then assigns it. Routing runs one
    /// conversation at a time, so a department's count of open conversations read for one
    /// includes the previous one.
    fn assign(&mut self, request: RequestAssignment, then: Then, ctx: &mut Context<Self>) {
        let cached = self.cached_queues(&request.tenant_id);
        if cached.as_ref().is_some_and(|queues| queues.is_empty()) {
            // No departments: there is nothing to route, so nothing to read or wait for.
            return self.routed(request, Ok(Routed::nowhere()), then, ctx);
        }
        let store = self.store.clone();
        let probe = request.clone();
        ctx.wait(
            async move { route(&store, &probe, cached).await }
                .into_actor(self)
                .map(move |routed, act, ctx| {
                    let routed = routed.map(|(routed, read)| {
                        if let Some(read) = read {
                            let state = act.tenants.entry(request.tenant_id.clone()).or_default();
                            state.queues = Some((Instant::now(), read));
                        }
                        routed
                    });
                    act.routed(request, routed, then, ctx)
                }),
        );
    }

    fn routed(
        &mut self,
        mut request: RequestAssignment,
        routed: Result<Routed, StoreError>,
        then: Then,
        ctx: &mut Context<Self>,
    ) {
        let routed = match routed {
            Ok(routed) => routed,
            // Gone meanwhile: nothing to assign.
            Err(StoreError::NotFound) => return self.settled(request, true, then, ctx),
            Err(e) => {
                tracing::warn!(conversation = %request.conversation_id, error = %e, "routing failed; queued");
                return self.settled(request, false, then, ctx);
            }
        };
        request.department = routed.department.clone();
        if let (true, Some(department)) = (routed.placed, &routed.department) {
            self.events.publish(
                &request.tenant_id,
                Some(&request.conversation_id),
                EngineEvent::ConversationUpdated {
                    changes: crate::domain::ticket::ConversationChanges {
                        department_id: Some(department.clone()),
                        ..Default::default()
                    },
                    by: None,
                },
            );
        }
        if routed.full {
            return self.settled(request, false, then, ctx);
        }
        self.assign_routed(request, &routed, then, ctx);
    }

    /// The integration's default agent is tried concurrently with other assignments (its
    /// supervisor's `Admit` is atomic) unless the department caps its conversations; the
    /// method over humans and agents runs one assignment at a time, so loads read for one
    /// include the previous one.
    fn assign_routed(
        &mut self,
        request: RequestAssignment,
        routed: &Routed,
        then: Then,
        ctx: &mut Context<Self>,
    ) {
        let Some(agent) = request
            .preferred_agent
            .clone()
            .filter(|_| !request.humans_only)
            .filter(|_| routed.department.is_none() || routed.preferred_allowed)
        else {
            self.assign_by_method(request, then, ctx);
            return;
        };
        let supervisors = self.supervisors.clone();
        let target = self.target(&request);
        let conversation = request.conversation_id.clone();
        let attempt = async move {
            let Some(addr) = supervisors
                .send(SupervisorOf(agent.clone()))
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten()
            else {
                return Preferred::TryMethod;
            };
            match addr.send(Admit(conversation.clone())).await {
                Ok(Ok(())) => match apply(&target, Owner::AiAgent(agent), true).await {
                    Ok((Decision::Assigned, _)) => Preferred::Done,
                    _ => Preferred::Queue,
                },
                Ok(Err(_)) => {
                    let handover = addr
                        .send(GetConfig)
                        .await
                        .map(|c| c.settings.on_limit == OnLimit::Handover)
                        .unwrap_or(false);
                    if handover {
                        Preferred::HumansOnly
                    } else {
                        Preferred::Queue
                    }
                }
                Err(_) => Preferred::TryMethod,
            }
        }
        .into_actor(self)
        .map(move |outcome, act, ctx| match outcome {
            Preferred::Done => act.settled(request, true, then, ctx),
            Preferred::Queue => act.settled(request, false, then, ctx),
            Preferred::TryMethod => act.assign_by_method(request, then, ctx),
            Preferred::HumansOnly => act.assign_by_method(
                RequestAssignment {
                    humans_only: true,
                    ..request
                },
                then,
                ctx,
            ),
        });
        if routed.capped {
            ctx.wait(attempt);
        } else {
            ctx.spawn(attempt);
        }
    }

    /// The tenant's method over whoever is available, one assignment at a time.
    fn assign_by_method(
        &mut self,
        request: RequestAssignment,
        then: Then,
        ctx: &mut Context<Self>,
    ) {
        let store = self.store.clone();
        let supervisors = self.supervisors.clone();
        let tenant = self.tenants.get(&request.tenant_id);
        let cached = Cached {
            settings: tenant.and_then(|t| t.settings.clone()),
            scores: tenant
                .and_then(|t| t.scores.as_ref())
                .filter(|(at, _)| at.elapsed() < PERFORMANCE_REFRESH)
                .map(|(_, scores)| scores.clone()),
        };
        let for_map = request.clone();
        let require_presence = self.require_presence;
        ctx.wait(
            async move { gather(&store, &supervisors, &request, cached, require_presence).await }
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(gathered) => act.choose_and_apply(for_map, gathered, then, ctx),
                    Err(e) => {
                        tracing::warn!(conversation = %for_map.conversation_id, error = %e, "distribution failed; queued");
                        act.settled(for_map, false, then, ctx);
                    }
                }),
        );
    }

    fn choose_and_apply(
        &mut self,
        request: RequestAssignment,
        gathered: Gathered,
        then: Then,
        ctx: &mut Context<Self>,
    ) {
        let state = self.tenants.entry(request.tenant_id.clone()).or_default();
        state.settings = Some(gathered.settings.clone());
        if gathered.scores.is_some() {
            state.scores = gathered.scores.clone();
        }
        let choice = distribution::choose_with_settings(
            &gathered.settings,
            &gathered.candidates,
            &Request {
                specialty: request.specialty.as_deref(),
                previous_owner: gathered.previous_owner.as_deref(),
            },
            &mut state.cursors,
        );
        let Some(choice) = choice else {
            self.settled(request, false, then, ctx);
            return;
        };
        let supervisors = self.supervisors.clone();
        let target = self.target(&request);
        let conversation = request.conversation_id.clone();
        // The SLA's reassignment replaces the late owner; everything else assigns only a
        // conversation nobody took meanwhile.
        let only_if_unowned = request.exclude.is_none();
        ctx.wait(
            async move {
                let owner = match choice.kind {
                    CandidateKind::Human => Owner::User(UserId(choice.id)),
                    CandidateKind::Ai => {
                        let agent = AgentId(choice.id);
                        let addr = supervisors
                            .send(SupervisorOf(agent.clone()))
                            .await
                            .ok()
                            .and_then(|r| r.ok())
                            .flatten();
                        let admitted = match addr {
                            Some(addr) => {
                                matches!(addr.send(Admit(conversation.clone())).await, Ok(Ok(())))
                            }
                            None => false,
                        };
                        if !admitted {
                            return Ok((Decision::Queue, None));
                        }
                        Owner::AiAgent(agent)
                    }
                };
                apply(&target, owner, only_if_unowned).await
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                let assigned = matches!(result, Ok((Decision::Assigned, _)));
                act.settled(request, assigned, then, ctx);
            }),
        );
    }

    /// Capacity may have freed: serve waiting conversations one at a time, best first,
    /// while someone takes them (`ShapedQueue`). A drain already under way goes on.
    fn drain_queue(&mut self, tenant: &TenantId, ctx: &mut Context<Self>) {
        let Some(state) = self.tenants.get_mut(tenant) else {
            return;
        };
        if state.draining.is_some() || state.queue.is_empty() {
            return;
        }
        state.draining = Some(HashSet::new());
        self.drain_next(tenant, ctx);
    }

    fn drain_next(&mut self, tenant: &TenantId, ctx: &mut Context<Self>) {
        let Some(state) = self.tenants.get_mut(tenant) else {
            return;
        };
        let next = state
            .draining
            .as_ref()
            .and_then(|failed| state.queue.pop_untried(failed));
        match next {
            Some((_, _, request)) => self.assign(request, Then::Drain(tenant.clone()), ctx),
            None => state.draining = None,
        }
    }
}

impl Routed {
    /// No department: the default agent may take it, nothing caps it.
    fn nowhere() -> Routed {
        Routed {
            preferred_allowed: true,
            ..Routed::default()
        }
    }
}

/// The department whose queue the conversation waits in (`domain::department::resolve`),
/// put on the conversation when routing chose it, and whether that department has room;
/// with the tenant's departments when they were read here (`cached` was `None`).
async fn route(
    store: &Store,
    request: &RequestAssignment,
    cached: Option<Queues>,
) -> Result<(Routed, Option<Queues>), StoreError> {
    let tenant = request.tenant_id.clone();
    let id = request.conversation_id.clone();
    let category = request.specialty.clone();
    let preferred = request.preferred_agent.clone();
    // The SLA's reassignment moves a conversation already counted among the open ones.
    let counted = request.exclude.is_some();
    store
        .run(move |conn| {
            let (queues, read) = match cached {
                Some(queues) => (queues, None),
                None => {
                    let queues = Arc::new(departments::queues(conn, &tenant)?);
                    (queues.clone(), Some(queues))
                }
            };
            if queues.is_empty() {
                return Ok((Routed::nowhere(), read));
            }
            let conversation = conversations::find(conn, &tenant, &id)?;
            let default = match &conversation.integration_id {
                Some(integration) => integrations::find_by_id(conn, integration)
                    .ok()
                    .and_then(|i| i.default_department_id)
                    .map(|d| d.0),
                None => None,
            };
            let resolved = department::resolve(
                conversation.department_id.as_deref(),
                category.as_deref(),
                &queues,
                default.as_deref(),
            );
            // A department deleted meanwhile routes nothing.
            let Some((queue, source)) = resolved
                .and_then(|(d, source)| queues.iter().find(|q| q.id == d).map(|q| (q, source)))
            else {
                return Ok((Routed::nowhere(), read));
            };
            let placed = source != department::Source::Conversation
                && departments::place(conn, &id, &queue.id)?;
            let open = if queue.max_conversations > 0 && !counted {
                departments::open_conversations(conn, &tenant, &queue.id)?
            } else {
                0
            };
            let preferred_allowed = match &preferred {
                Some(agent) => {
                    departments::of_agent(conn, agent.as_str())?.as_deref()
                        == Some(queue.id.as_str())
                }
                None => false,
            };
            Ok((
                Routed {
                    department: Some(queue.id.clone()),
                    placed,
                    full: !department::has_room(open, queue.max_conversations),
                    capped: queue.max_conversations > 0,
                    preferred_allowed,
                },
                read,
            ))
        })
        .await
}

/// Gives the conversation to `owner` and counts the assignment for `by_percentage`.
async fn apply(
    target: &Target,
    owner: Owner,
    only_if_unowned: bool,
) -> Result<(Decision, Option<Gathered>), StoreError> {
    let assign = Assign {
        owner: owner.clone(),
        admitted: true,
        only_if_unowned,
    };
    match target
        .registry
        .send(Ask(
            target.tenant.clone(),
            target.conversation.clone(),
            assign,
        ))
        .await
    {
        Ok(Ok(Ok(()))) => {
            let tenant = target.tenant.clone();
            let fence = Fence::Owner(tenant.clone());
            let shard = target.writer.lane_of(&target.conversation);
            let count: Write = Box::new(move |conn| {
                settings_store::count_assignment(conn, &tenant, &owner, shard)
            });
            let counted = target
                .writer
                .write_behind(&target.conversation, fence, count)
                .await;
            if let Err(e) = counted {
                // The assignment stands; only the share history misses one.
                tracing::warn!(conversation = %target.conversation, error = %e, "assignment not counted");
            }
            Ok((Decision::Assigned, None))
        }
        // Closed meanwhile, or the agent filled up: nothing to queue for a closed one, and the
        // conversation asks again otherwise.
        Ok(Ok(Err(super::EngineError::Closed))) => Ok((Decision::Assigned, None)),
        _ => Ok((Decision::Queue, None)),
    }
}

/// Where an assignment goes: the conversation, its tenant, and how to reach both.
struct Target {
    writer: MessageWriter,
    registry: Addr<ConversationRegistry>,
    conversation: ConversationId,
    tenant: TenantId,
}

impl Distributor {
    fn target(&self, request: &RequestAssignment) -> Target {
        Target {
            writer: self.writer.clone(),
            registry: self.registry.clone(),
            conversation: request.conversation_id.clone(),
            tenant: request.tenant_id.clone(),
        }
    }
}

/// What the distributor keeps between assignments of a tenant.
struct Cached {
    settings: Option<DistributionSettings>,
    /// Performance scores measured less than [`PERFORMANCE_REFRESH`] ago.
    scores: Option<Arc<HashMap<String, f64>>>,
}

/// What the tenant's method needs to know of each candidate besides its load.
#[derive(Default)]
struct Features {
    scores: Option<Arc<HashMap<String, f64>>>,
    counts: HashMap<String, u64>,
}

impl Features {
    fn score(&self, id: &str) -> f64 {
        self.scores
            .as_ref()
            .and_then(|s| s.get(id).copied())
            .unwrap_or_else(performance::neutral)
    }

    fn assigned(&self, id: &str) -> u64 {
        self.counts.get(id).copied().unwrap_or(0)
    }
}

/// The share of `id` under `by_percentage`; with no shares set everyone weighs the same
/// (zero weights all round weigh equally in `domain::distribution`).
fn share(settings: &DistributionSettings, id: &str) -> u32 {
    settings.shares.get(id).copied().unwrap_or(0)
}

async fn gather(
    store: &Store,
    supervisors: &Addr<Supervisors>,
    request: &RequestAssignment,
    cached: Cached,
    require_presence: bool,
) -> Result<Gathered, StoreError> {
    let tenant = request.tenant_id.clone();
    let contact = request.contact_id.clone();
    let humans_only = request.humans_only;
    let (settings, humans, loads, agents, previous, features, measured) = store
        .run(move |conn| {
            let settings = match cached.settings {
                Some(s) => s,
                None => settings_store::get(conn, &tenant)?,
            };
            let humans = if require_presence {
                users::available_online(conn, &tenant)?
            } else {
                users::available(conn, &tenant)?
            };
            let loads: HashMap<String, i64> = conversations::open_count_by_user(conn, &tenant)?
                .into_iter()
                .collect();
            let agents = if settings.assign_to_ai_agent && !humans_only {
                agents::list_active(conn)?
                    .into_iter()
                    .filter(|a| a.tenant_id == tenant)
                    .collect()
            } else {
                Vec::new()
            };
            let previous = contacts::find(conn, &tenant, &contact).ok().and_then(|c| {
                c.last_owner_id
                    .map(|id| (c.last_owner_type.unwrap_or_default(), id))
            });
            let mut features = Features::default();
            let mut measured = false;
            match settings.method {
                Method::ByPerformance => {
                    features.scores = match cached.scores {
                        Some(scores) => Some(scores),
                        None => {
                            measured = true;
                            let window =
                                chrono::Duration::days(i64::from(settings.performance_window_days));
                            let since = crate::store::now() - window;
                            let records = analytics::performance_records(conn, &tenant, since)?;
                            Some(Arc::new(performance::scores(&records)))
                        }
                    };
                }
                Method::ByPercentage => {
                    features.counts = settings_store::assignment_counts(conn, &tenant)?;
                }
                _ => {}
            }
            Ok((
                settings, humans, loads, agents, previous, features, measured,
            ))
        })
        .await?;
    let wanted = request.department.as_deref();
    let mut candidates: Vec<Candidate> = humans
        .into_iter()
        .filter(|u| {
            let member_of: Vec<String> =
                serde_json::from_str(&u.department_ids).unwrap_or_default();
            department::serves(&member_of, wanted)
        })
        .map(|u| Candidate {
            active_conversations: u32::try_from(loads.get(u.id.as_str()).copied().unwrap_or(0))
                .unwrap_or(u32::MAX),
            max_conversations: u32::try_from(u.max_conversations).unwrap_or(0),
            specialties: serde_json::from_str(&u.specialties).unwrap_or_default(),
            performance_score: features.score(u.id.as_str()),
            percentage: share(&settings, u.id.as_str()),
            assigned_total: features.assigned(u.id.as_str()),
            available: u.available,
            kind: CandidateKind::Human,
            id: u.id.0,
        })
        .collect();
    let attached = |agent: &agents::AiAgent| {
        let member_of: Vec<String> = agent.department_id.iter().map(|d| d.0.clone()).collect();
        department::serves(&member_of, wanted)
    };
    for agent in agents.into_iter().filter(|a| attached(a)) {
        let Some(addr) = supervisors
            .send(SupervisorOf(agent.id.clone()))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten()
        else {
            continue;
        };
        let Ok(load) = addr.send(GetLoad).await else {
            continue;
        };
        candidates.push(Candidate {
            kind: CandidateKind::Ai,
            active_conversations: load.active,
            max_conversations: load.max,
            specialties: load.specialties,
            performance_score: features.score(agent.id.as_str()),
            percentage: share(&settings, agent.id.as_str()),
            assigned_total: features.assigned(agent.id.as_str()),
            available: load.enabled,
            id: agent.id.0,
        });
    }
    if let Some(excluded) = &request.exclude {
        candidates.retain(|c| &c.id != excluded);
    }
    let previous_owner = previous
        .filter(|(kind, _)| !(humans_only && kind == "ai_agent"))
        .map(|(_, id)| id)
        .filter(|id| request.exclude.as_ref() != Some(id));
    let scores = features
        .scores
        .filter(|_| measured)
        .map(|scores| (Instant::now(), scores));
    Ok(Gathered {
        settings,
        scores,
        candidates,
        previous_owner,
    })
}

impl Actor for Distributor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.sla.check_every, |act, ctx| act.check_sla(ctx));
        // Capacity that frees without a message (an AI agent's rate window passing, a human
        // coming online) is found by this tick: it costs one attempt per waiting shape, not
        // one per waiting conversation.
        ctx.run_interval(self.queue_check, |act, ctx| {
            let tenants: Vec<TenantId> = act
                .tenants
                .iter()
                .filter(|(_, t)| !t.queue.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            for tenant in tenants {
                act.drain_queue(&tenant, ctx);
            }
        });
    }
}

impl Handler<RequestAssignment> for Distributor {
    type Result = ();

    fn handle(&mut self, msg: RequestAssignment, ctx: &mut Self::Context) {
        let queued = self
            .tenants
            .get(&msg.tenant_id)
            .is_some_and(|t| t.queue.contains(&msg.conversation_id));
        if !queued {
            self.assign(msg, Then::Nothing, ctx);
        }
    }
}

impl Handler<CapacityFreed> for Distributor {
    type Result = ();

    fn handle(&mut self, msg: CapacityFreed, ctx: &mut Self::Context) {
        self.drain_queue(&msg.0, ctx);
    }
}

impl Handler<SettingsChanged> for Distributor {
    type Result = ();

    fn handle(&mut self, msg: SettingsChanged, _: &mut Self::Context) {
        if let Some(state) = self.tenants.get_mut(&msg.0) {
            state.settings = None;
            state.scores = None;
            state.queues = None;
        }
    }
}

impl Handler<QueueLength> for Distributor {
    type Result = usize;

    fn handle(&mut self, msg: QueueLength, _: &mut Self::Context) -> usize {
        self.tenants.get(&msg.0).map_or(0, |t| t.queue.len())
    }
}
