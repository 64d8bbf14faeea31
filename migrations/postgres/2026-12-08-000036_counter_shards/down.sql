CREATE TABLE usage_counters_merged AS
    SELECT agent_id, period, MIN(tenant_id) AS tenant_id, SUM(requests)::BIGINT AS requests,
           SUM(prompt_tokens)::BIGINT AS prompt_tokens,
           SUM(completion_tokens)::BIGINT AS completion_tokens, SUM(cost_usd) AS cost_usd,
           MAX(updated_at) AS updated_at
    FROM usage_counters GROUP BY agent_id, period;
DELETE FROM usage_counters;
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey;
ALTER TABLE usage_counters DROP COLUMN shard;
INSERT INTO usage_counters (agent_id, period, tenant_id, requests, prompt_tokens, completion_tokens, cost_usd, updated_at)
    SELECT agent_id, period, tenant_id, requests, prompt_tokens, completion_tokens, cost_usd, updated_at
    FROM usage_counters_merged;
DROP TABLE usage_counters_merged;
ALTER TABLE usage_counters ADD PRIMARY KEY (agent_id, period);

CREATE TABLE assignment_counts_merged AS
    SELECT tenant_id, owner_id, MIN(owner_type) AS owner_type,
           SUM(assigned_total)::BIGINT AS assigned_total
    FROM assignment_counts GROUP BY tenant_id, owner_id;
DELETE FROM assignment_counts;
ALTER TABLE assignment_counts DROP CONSTRAINT assignment_counts_pkey;
ALTER TABLE assignment_counts DROP COLUMN shard;
INSERT INTO assignment_counts (tenant_id, owner_id, owner_type, assigned_total)
    SELECT tenant_id, owner_id, owner_type, assigned_total FROM assignment_counts_merged;
DROP TABLE assignment_counts_merged;
ALTER TABLE assignment_counts ADD PRIMARY KEY (tenant_id, owner_id);
