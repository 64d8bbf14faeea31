-- Memory, feedback and classification (issue 7). No new columns: classification uses
-- conversations.category / priority / metadata; these indexes serve the new reads.

-- A turn reads the contact's memories, most recent first (memories_contact_fingerprint
-- covers only deduplication).
CREATE INDEX memories_tenant_contact ON memories(tenant_id, contact_id, updated_at);
-- Analytics count feedback per tenant (and agent) over a period.
CREATE INDEX feedback_events_tenant_created ON feedback_events(tenant_id, created_at);
CREATE INDEX feedback_events_conversation ON feedback_events(conversation_id);
