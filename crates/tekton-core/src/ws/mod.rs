//! Multiplexed WebSocket client for Rhetor's /ws (PROTOCOL.md, WebSocket section).
