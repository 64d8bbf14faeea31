-- New conversations of the integration start in this funnel and stage (issue 16).
ALTER TABLE integrations ADD COLUMN default_funnel_id TEXT;
ALTER TABLE integrations ADD COLUMN default_stage_id TEXT;
