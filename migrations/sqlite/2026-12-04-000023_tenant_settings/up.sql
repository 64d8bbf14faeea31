-- What each tenant's admin changed of the run-time settings (PATCH /api/v1/settings): a JSON
-- object of overrides over the process defaults. No row: the defaults apply.
CREATE TABLE tenant_settings (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    overrides TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
