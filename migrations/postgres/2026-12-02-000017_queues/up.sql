-- Departments as queues (issue 16, item 2): a cap on the conversations a department handles
-- at once (0 = no cap), its own first-response target in seconds (0 = the tenant's
-- `first_response_minutes`), and the classification categories routed to it (JSON list).
ALTER TABLE departments ADD COLUMN max_conversations INTEGER NOT NULL DEFAULT 0;
ALTER TABLE departments ADD COLUMN first_response_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE departments ADD COLUMN categories TEXT NOT NULL DEFAULT '[]';

-- Private notes between colleagues: a table of their own, never a message, so nothing that
-- reads messages (the AI's prompt, channels, the web chat, webhooks' message payloads) can
-- ever carry one. `kind` is `note` or `transfer` (the note given with a transfer).
CREATE TABLE conversation_notes (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    author_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX conversation_notes_by_conversation ON conversation_notes(conversation_id, id);

-- Canned responses: the tenant's (`user_id` NULL, managed by admins) and each user's own.
-- A shortcut is unique within its scope; a user's own may shadow a tenant one.
CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    shortcut TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX canned_responses_shortcut ON canned_responses(tenant_id, COALESCE(user_id, ''), shortcut);
