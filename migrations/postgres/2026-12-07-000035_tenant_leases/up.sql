-- Cluster mode (src/cluster/lease.rs): the node that owns a tenant's conversations, agents
-- and queue holds its lease until `expires_at` (database time) and renews it. Every take-over
-- raises `token`; the message writer commits a batch only while its node still holds the
-- token it was given (fencing), so a node that lost its lease writes nothing.
CREATE TABLE tenant_leases (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    node_id TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX tenant_leases_node ON tenant_leases(node_id);
CREATE INDEX tenant_leases_expiry ON tenant_leases(expires_at);
