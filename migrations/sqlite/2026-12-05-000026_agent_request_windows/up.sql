-- An AI agent's model requests per fixed window (minute, hour, day; `window_start` in Unix
-- seconds, a multiple of the window's length), so its request limits hold across restarts.
-- Written in batches by the agent's supervisor; rows older than two days are pruned.
CREATE TABLE agent_request_windows (
    agent_id TEXT NOT NULL REFERENCES ai_agents(id) ON DELETE CASCADE,
    window_kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (agent_id, window_kind, window_start)
);
