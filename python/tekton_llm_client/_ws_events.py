"""The events a WebSocket backend hands the facade (`websocket.py`) from `next_events()`: tuples
tagged by these numbers (both backends, the Rust binding and `_pure/websocket.py`, send them)."""

EV_CHUNK = 0  # (0, request_id, StreamingChunk)  received_ns set by the backend
EV_RESPONSE = 1  # (1, request_id, content, model, provider, finish_reason, usage, context_id, fallback, timestamp)
EV_REQUEST_FAILED = 2  # (2, request_id, kind, message, code, status, retry_after)
EV_CANCELLED = 3  # (3, request_id)
EV_MESSAGE = 4  # (4, text)  every decoded server message, only when on_message is set
EV_ERROR = 5  # (5, kind, message, code, status, retry_after)  for on_error
EV_CONNECTED = 6  # (6, session_id)
EV_CLOSED = 7  # (7, reason)
# `usage` is None or (prompt_tokens, completion_tokens, total_tokens).
