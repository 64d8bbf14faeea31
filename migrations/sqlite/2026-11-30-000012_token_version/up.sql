-- Issue 12 (finding 3): a token carries the version of its user's credentials; changing the
-- password bumps it, so every token issued before stops working at once.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
