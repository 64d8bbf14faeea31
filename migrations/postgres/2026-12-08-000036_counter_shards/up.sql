-- Counters hit by every AI turn and every assignment are split by writer lane: lanes commit
-- concurrently, and one shared row would make them wait on each other's row lock (or
-- deadlock, two counters locked in opposite orders). A reader sums the shards.
ALTER TABLE usage_counters ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey;
ALTER TABLE usage_counters ADD PRIMARY KEY (agent_id, period, shard);

ALTER TABLE assignment_counts ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignment_counts DROP CONSTRAINT assignment_counts_pkey;
ALTER TABLE assignment_counts ADD PRIMARY KEY (tenant_id, owner_id, shard);
