//! Cache invalidation across nodes. Each node caches what its hot paths read (users' access,
//! integrations, tenant settings, webhook subscriptions) and keeps actors that hold an agent's
//! or a tenant's configuration; the API forgets or reloads them when it writes. In cluster mode
//! the write happened on one node, so it also announces the [`Change`] here and every peer
//! applies it to its own caches and actors: a user disabled through node A is refused on node
//! B at once, an agent's new limits hold on the node that owns its tenant.
//!
//! Plain NATS (at most once): a change lost on the bus is applied by the caches' own expiry
//! (`auth.access_cache_seconds`, `engine.integration_cache_seconds`, …).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::membership::ClusterError;
use crate::domain::{AgentId, IntegrationId, TenantId, UserId};

/// What an API write changed, for the peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A user's role, password or existence (their sessions re-check).
    User(UserId),
    /// An agent's configuration (its supervisor reloads it).
    Agent(AgentId),
    /// A tenant's distribution settings or departments.
    Distribution(TenantId),
    Integration(IntegrationId),
    /// Integrations of unknown ids (an agent they pointed to was deleted …).
    AllIntegrations,
    TenantSettings(TenantId),
    /// A tenant's outbound webhook subscriptions.
    Webhooks(TenantId),
}

/// Where this node's API announces its changes; only the cluster relay listens (a single
/// node has no peers, and announcing costs nothing then).
#[derive(Clone)]
pub struct Announcer(broadcast::Sender<Change>);

impl Announcer {
    pub fn new(capacity: usize) -> Self {
        Announcer(broadcast::channel(capacity.max(1)).0)
    }

    pub fn announce(&self, change: Change) {
        // Nobody listening (a single node) is fine.
        let _ = self.0.send(change);
    }
}

/// Relays this node's changes to the peers, and applies theirs here with `apply`.
pub async fn spawn_relay<A>(
    client: async_nats::Client,
    bucket: &str,
    node: String,
    announcer: &Announcer,
    apply: A,
) -> Result<(), ClusterError>
where
    A: Fn(Change) + Send + 'static,
{
    super::relay::spawn(
        client,
        format!("{bucket}.changes"),
        node,
        super::relay::receive(announcer.0.subscribe()),
        |change| match change {
            Ok(change) => Some(change),
            Err(missed) => {
                tracing::warn!(
                    missed,
                    "changes not relayed to peers; their caches expire them"
                );
                None
            }
        },
        move |change| {
            apply(change);
            std::future::ready(())
        },
    )
    .await
}

/// What a peer's change is applied to on this node.
pub struct Caches {
    pub access: std::sync::Arc<crate::auth::Access>,
    pub dispatcher: crate::engine::webhooks::WebhookDispatcher,
    pub engine: crate::engine::EngineParts,
}

impl Caches {
    /// Applies a peer's change here, as the API does where it wrote it (without announcing
    /// it again).
    pub fn apply(&self, change: Change) {
        let engine = &self.engine;
        match change {
            Change::User(user) => self.access.changed(&user),
            Change::Agent(agent) => engine
                .supervisors
                .do_send(crate::engine::agent::AgentChanged(agent)),
            Change::Distribution(tenant) => engine
                .distributor
                .do_send(crate::engine::distributor::SettingsChanged(tenant)),
            Change::Integration(id) => engine.integrations.forget(&id),
            Change::AllIntegrations => engine.integrations.forget_all(),
            Change::TenantSettings(tenant) => engine.tenant_settings.forget(&tenant),
            Change::Webhooks(tenant) => self.dispatcher.invalidate(&tenant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_the_trip_between_nodes() {
        for change in [
            Change::User(UserId("u1".into())),
            Change::Agent(AgentId("a1".into())),
            Change::Distribution(TenantId("t1".into())),
            Change::Integration(IntegrationId("i1".into())),
            Change::AllIntegrations,
            Change::TenantSettings(TenantId("t1".into())),
            Change::Webhooks(TenantId("t1".into())),
        ] {
            let crossed: Change =
                serde_json::from_slice(&serde_json::to_vec(&change).expect("encodes"))
                    .expect("decodes");
            assert_eq!(crossed, change);
        }
    }
}
