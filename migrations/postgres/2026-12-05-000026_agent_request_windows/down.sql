DROP TABLE agent_request_windows;
