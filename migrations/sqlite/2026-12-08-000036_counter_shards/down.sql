CREATE TABLE usage_counters_merged (
    agent_id TEXT NOT NULL,
    period TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    requests BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, period)
);
INSERT INTO usage_counters_merged
    SELECT agent_id, period, MIN(tenant_id), SUM(requests), SUM(prompt_tokens),
           SUM(completion_tokens), SUM(cost_usd), MAX(updated_at)
    FROM usage_counters GROUP BY agent_id, period;
DROP TABLE usage_counters;
ALTER TABLE usage_counters_merged RENAME TO usage_counters;

CREATE TABLE assignment_counts_merged (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL,
    owner_type TEXT NOT NULL,
    assigned_total BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, owner_id)
);
INSERT INTO assignment_counts_merged
    SELECT tenant_id, owner_id, MIN(owner_type), SUM(assigned_total)
    FROM assignment_counts GROUP BY tenant_id, owner_id;
DROP TABLE assignment_counts;
ALTER TABLE assignment_counts_merged RENAME TO assignment_counts;
