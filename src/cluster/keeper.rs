//! The lease keeper: every `cluster.lease_renew_ms` this node renews the tenant leases it
//! holds and takes over those that ran out (their node died or stopped). A tenant it lost is
//! evicted from its engine; a tenant it took (here, or on first use through the router) has
//! its pending conversations resumed, so a dead node's customers are answered by the
//! survivors within about `cluster.lease_ms`.

use std::time::Duration;

use tokio::sync::mpsc;

use super::routing::Router;
use crate::domain::TenantId;
use crate::engine::Engine;

/// Leases taken over per renewal; the rest wait for the next one (or for another node).
pub const TAKE_OVER_BATCH: i64 = 100;

pub fn spawn(
    router: Router,
    engine: Engine,
    every: Duration,
    mut acquired: mpsc::UnboundedReceiver<TenantId>,
) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match router.keep(TAKE_OVER_BATCH).await {
                        Ok((lost, taken)) => {
                            for tenant in lost {
                                engine.evict(tenant).await;
                            }
                            for tenant in taken {
                                resume(&engine, tenant).await;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "tenant leases not renewed"),
                    }
                }
                first_use = acquired.recv() => match first_use {
                    Some(tenant) => resume(&engine, tenant).await,
                    None => return,
                },
            }
        }
    });
}

async fn resume(engine: &Engine, tenant: TenantId) {
    if let Err(e) = engine.resume(Some(tenant.clone())).await {
        tracing::warn!(tenant = %tenant, error = %e, "conversations of a taken tenant not resumed");
    }
}
