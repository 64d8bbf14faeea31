ALTER TABLE conversations DROP COLUMN tool_state;
