ALTER TABLE channel_deliveries DROP COLUMN claimed_until;
ALTER TABLE channel_deliveries DROP COLUMN claimed_by;
ALTER TABLE webhook_deliveries DROP COLUMN claimed_until;
ALTER TABLE webhook_deliveries DROP COLUMN claimed_by;
