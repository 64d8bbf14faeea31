-- How many conversations the distributor gave each human and AI agent since the tenant's
-- `by_percentage` shares last changed: the history the shares are balanced against, kept
-- across restarts. `owner_id` is a user's or an AI agent's id (both are unique ids).
CREATE TABLE assignment_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL,
    owner_type TEXT NOT NULL,
    assigned_total BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, owner_id)
);
