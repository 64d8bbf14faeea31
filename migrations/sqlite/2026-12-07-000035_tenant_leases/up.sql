-- Cluster mode needs PostgreSQL (src/cluster/lease.rs); the table exists on SQLite only so both
-- schemas stay alike. A single node holds every tenant without a lease.
CREATE TABLE tenant_leases (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    node_id TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX tenant_leases_node ON tenant_leases(node_id);
CREATE INDEX tenant_leases_expiry ON tenant_leases(expires_at);
