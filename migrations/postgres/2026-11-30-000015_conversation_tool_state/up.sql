-- What the conversation's earlier tool calls returned (JSON list), restored on rehydration.
ALTER TABLE conversations ADD COLUMN tool_state TEXT NOT NULL DEFAULT '[]';
