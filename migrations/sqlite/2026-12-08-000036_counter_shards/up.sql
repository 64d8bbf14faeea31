-- Counters hit by every AI turn and every assignment are split by writer lane (see the
-- PostgreSQL migration; SQLite has one lane, so everything stays in shard 0). A reader sums
-- the shards.
CREATE TABLE usage_counters_sharded (
    agent_id TEXT NOT NULL,
    period TEXT NOT NULL,
    shard INTEGER NOT NULL DEFAULT 0,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    requests BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, period, shard)
);
INSERT INTO usage_counters_sharded
    (agent_id, period, shard, tenant_id, requests, prompt_tokens, completion_tokens, cost_usd, updated_at)
    SELECT agent_id, period, 0, tenant_id, requests, prompt_tokens, completion_tokens, cost_usd, updated_at
    FROM usage_counters;
DROP TABLE usage_counters;
ALTER TABLE usage_counters_sharded RENAME TO usage_counters;

CREATE TABLE assignment_counts_sharded (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL,
    shard INTEGER NOT NULL DEFAULT 0,
    owner_type TEXT NOT NULL,
    assigned_total BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, owner_id, shard)
);
INSERT INTO assignment_counts_sharded (tenant_id, owner_id, shard, owner_type, assigned_total)
    SELECT tenant_id, owner_id, 0, owner_type, assigned_total FROM assignment_counts;
DROP TABLE assignment_counts;
ALTER TABLE assignment_counts_sharded RENAME TO assignment_counts;
