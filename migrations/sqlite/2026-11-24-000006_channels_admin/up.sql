-- Issue 6: outbound webhook attempt log, and the indexes analytics, metrics and the operator
-- resources query by.

-- One row per delivery attempt of an outbound event webhook (status, latency, excerpt), so
-- an operator sees every try, not only the last.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    response_excerpt TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, attempt);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhooks_tenant ON webhooks(tenant_id);

-- Analytics over a period, per tenant; metrics over recent turns.
CREATE INDEX conversations_tenant_created ON conversations(tenant_id, created_at);
CREATE INDEX messages_tenant_created ON messages(tenant_id, created_at);
CREATE INDEX ai_turns_created ON ai_turns(created_at);
CREATE INDEX conversations_status ON conversations(status);

-- Operator resources.
CREATE UNIQUE INDEX departments_tenant_name ON departments(tenant_id, name);
CREATE UNIQUE INDEX funnels_tenant_name ON funnels(tenant_id, name);
CREATE INDEX stages_funnel ON stages(funnel_id, position);
CREATE INDEX contacts_tenant ON contacts(tenant_id, id);
CREATE INDEX activities_tenant ON activities(tenant_id, id);
CREATE INDEX activities_contact ON activities(contact_id);
