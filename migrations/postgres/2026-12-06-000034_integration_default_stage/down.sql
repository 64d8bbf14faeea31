ALTER TABLE integrations DROP COLUMN default_stage_id;
ALTER TABLE integrations DROP COLUMN default_funnel_id;
