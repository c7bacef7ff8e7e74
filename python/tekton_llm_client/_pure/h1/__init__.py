"""Our own HTTP/1.1 for the pure path (`transport.Http1`)."""

from .transport import Http1

__all__ = ["Http1"]
