-- Who owned a conversation, from when to when (issue 16, item 8). A spell opens when the
-- conversation is given to a human or an AI agent and ends when it is given to someone else
-- or to the queue (`transferred`) or closed (`closed`). Written in the same commit as the
-- owner change (engine::conversation::actor::owner_write), so human analytics read real
-- assignment history rather than the conversation's current owner only.
CREATE TABLE ownership_spells (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    owner_type TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    -- The conversation's department when the spell began (its queue).
    department_id TEXT,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    end_reason TEXT
);
-- The open spell of a conversation (closed at each owner change), analytics by period.
CREATE INDEX ownership_spells_conversation ON ownership_spells (conversation_id, ended_at);
CREATE INDEX ownership_spells_tenant ON ownership_spells (tenant_id, started_at);
-- Conversations owned before this table existed: their current owner's spell since it was
-- assigned, so the history starts complete for open conversations.
INSERT INTO ownership_spells (id, tenant_id, conversation_id, owner_type, owner_id,
    department_id, started_at, ended_at, end_reason)
SELECT 'backfill-' || id, tenant_id, id, owner_type, owner_id, department_id,
    assigned_at, closed_at, CASE WHEN status = 'closed' THEN 'closed' END
FROM conversations
WHERE owner_id IS NOT NULL AND owner_type IN ('user', 'ai_agent') AND assigned_at IS NOT NULL;
