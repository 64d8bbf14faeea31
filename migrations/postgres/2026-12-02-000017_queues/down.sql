DROP TABLE canned_responses;
DROP TABLE conversation_notes;
ALTER TABLE departments DROP COLUMN categories;
ALTER TABLE departments DROP COLUMN first_response_seconds;
ALTER TABLE departments DROP COLUMN max_conversations;
