"""`Answer`: what a transport hands back for one request whose head has arrived, the interface
between the two transports (our own HTTP/1.1 in `h1/`, httpx in `httpx_transport.py`) and the
exchange, calls and streams above them."""

from __future__ import annotations

from typing import Awaitable, Callable, Optional, Protocol

__all__ = ["Answer", "POOL_IDLE_TIMEOUT", "Transport"]

POOL_IDLE_TIMEOUT = 90.0  # seconds an idle connection is kept, on either transport (as on the Rust path)


class Answer(Protocol):
    status: int
    url: str  # where it came from (after the redirects the exchange followed)

    def header(self, name: str) -> Optional[str]:
        """Retry-After, Location or Content-Length (lower-case names)."""
        ...

    async def read(self) -> bytes:
        """The next bytes of the body (b"" at its end). Raises `Failure` when the connection breaks."""
        ...

    def pump(self, on_data: Callable[[bytes], bool], idle: float) -> Awaitable[None]:
        """Hand the body to `on_data` piece by piece as it arrives, until its end: the awaitable
        completes there, or raises the Failure that ended it, what `on_data` raised, or
        asyncio.TimeoutError once `idle` seconds passed without `on_data` returning True (an
        event completed; the clock stops while paused). Our own HTTP/1.1 calls `on_data` in its
        receive callback: no task switch per read."""
        ...

    def pause_reading(self) -> None:
        """Hand over nothing more until `resume_reading` (the consumer is behind)."""
        ...

    def resume_reading(self) -> None: ...

    async def aclose(self) -> None:
        """Done with it: the connection goes back to the pool if the body was read to its end."""
        ...


class Transport(Protocol):
    async def send_once(self, method: str, url: str, body: Optional[bytes], request_id: str) -> Answer:
        """Send one request (no redirects followed) and wait for the head of its answer. Raises
        `Failure` when it cannot."""
        ...

    async def preconnect(self, count: int) -> int:
        """Open connections ahead, until `count` are idle; how many were opened."""
        ...

    def close(self) -> None:
        """Close the idle connections; callable from any thread."""
        ...
