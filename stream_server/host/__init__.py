"""The stream host process: the WebSocket server and probes, ECS task protection, the ActiveCalls metric."""
