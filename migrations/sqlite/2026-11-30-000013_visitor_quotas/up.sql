-- What a web-chat visitor has asked of a conversation (issue 12, finding 6): each
-- request_summary may be an LLM call and each schedule_confirm a meeting, so both are capped
-- per conversation (webchat.max_*_per_conversation). One row per conversation and kind.
CREATE TABLE visitor_quotas (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, kind)
);
