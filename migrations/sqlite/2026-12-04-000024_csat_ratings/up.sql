-- CSAT: a rating asked for when a conversation closed (tenant setting csat.enabled), and the
-- customer's 1-5 answer once given. Who served the conversation, its category and channel are
-- kept as they were at close, so analytics by agent, category and channel read one table.
CREATE TABLE csat_ratings (
    conversation_id TEXT PRIMARY KEY NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL,
    owner_type TEXT,
    owner_id TEXT,
    category TEXT,
    channel TEXT NOT NULL,
    asked_at TIMESTAMP NOT NULL,
    -- A reply after this is a new conversation, not a rating.
    expires_at TIMESTAMP NOT NULL,
    rating INTEGER,
    rated_at TIMESTAMP
);
-- The contact's latest pending question (the rating reply finds it), analytics by period.
CREATE INDEX csat_ratings_contact ON csat_ratings (contact_id, asked_at);
CREATE INDEX csat_ratings_tenant ON csat_ratings (tenant_id, rated_at);
