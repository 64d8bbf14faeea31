-- Work queues claimed by any node (src/store/claims.rs): a pending webhook delivery or
-- channel send is held by the node named in `claimed_by` until `claimed_until`; after that
-- any node may take it over. Each attempt renews the claim first.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until TIMESTAMP;
ALTER TABLE channel_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE channel_deliveries ADD COLUMN claimed_until TIMESTAMP;
