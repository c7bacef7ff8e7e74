"""Test helpers: start a Rhetor simulator (a real HTTP/SSE/WebSocket server) from tests and
benchmarks.

    from tekton_llm_client.testing import RhetorSimulator

    with RhetorSimulator(chunk_delay_ms=5) as sim:
        client = TektonLLMClient(component_id="test", rhetor_url=sim.url)
        ...
        assert sim.requests[-1]["headers"]["x-tekton-component"] == "test"

The server runs on its own native threads (no GIL), so it works the same from sync tests,
``async with`` in asyncio tests, and other processes (see ``tekton-llm simulate``). Its
behaviour knobs (``chunk_delay_ms``, ``fail_status``, ``cut_after``, ...) are documented in
``docs/simulator.md``; keyword arguments set them for every request, and a request can override
them with ``X-Sim-*`` headers or a ``"sim"`` object in its JSON body.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Iterable

__all__ = ["RhetorSimulator", "answer_text", "split_chunks"]


def _core() -> Any:
    # Imported lazily so that importing this module never fails where the extension is missing.
    from . import _core as core

    return core


def answer_text(
    prompt: str,
    system_prompt: str | None = None,
    length: int | None = None,
    *,
    chunks: int | None = None,
    chunk_size: int | None = None,
) -> str:
    """The text the simulator answers to ``prompt``.

    ``"Simulated answer to: " + prompt``; with ``length`` (or ``chunks``) it is extended with
    deterministic words seeded by (system prompt, prompt) and cut to exactly that many
    characters (``chunks * chunk_size`` when only ``chunks`` is given).
    """
    return str(_core().sim_answer_text(prompt, system_prompt, length, chunks, chunk_size))


def split_chunks(text: str, *, chunks: int | None = None, chunk_size: int | None = None) -> list[str]:
    """How the simulator splits ``text`` into stream chunks (``chunk_size`` defaults to 16)."""
    return list(_core().sim_split_chunks(text, chunks, chunk_size))


class RhetorSimulator:
    """A Rhetor protocol v1 simulator on loopback.

    Args:
        port: TCP port; 0 picks a free one.
        host: address to bind.
        auth_token: when set, API calls need ``Authorization: Bearer <token>`` (WebSocket: on
            the upgrade request or in REGISTER's ``auth_token``). Health stays open.
        unavailable_providers: provider ids that answer 503 (unless a fallback is requested).
        path_prefix: also serve every route under this prefix (e.g. ``"/api/llm"``).
        record: record every request and WebSocket frame (see :attr:`requests`).
        worker_threads: threads of the simulator's own runtime.
        header_read_timeout: seconds a client has to send a request's head (and, on a kept-alive
            connection, its next request); then the connection is closed.
        idle_timeout: seconds after which a WebSocket that sends nothing, or any connection that
            takes none of the bytes written to it, is closed.
        max_connections: open connections at most; past it a new one gets 503 and is closed.
        **knobs: default behaviour knobs for every request (see docs/simulator.md).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        auth_token: str | None = None,
        unavailable_providers: Iterable[str] = (),
        path_prefix: str | None = None,
        *,
        record: bool = True,
        worker_threads: int = 1,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        header_read_timeout: float = 30.0,
        idle_timeout: float = 120.0,
        max_connections: int = 512,
        **knobs: Any,
    ) -> None:
        self.port = port
        self.host = host
        self.auth_token = auth_token
        self.unavailable_providers = list(unavailable_providers)
        self.path_prefix = path_prefix
        self.record = record
        self.worker_threads = worker_threads
        # PEM paths: serve https:// and wss:// (both or neither)
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.header_read_timeout = header_read_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.knobs: dict[str, Any] = dict(knobs)
        self._sim: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "RhetorSimulator":
        """Binds and starts serving; returns self. Raises ValueError on an unknown knob."""
        if self._sim is None:
            self._sim = _core().Simulator(
                host=self.host,
                port=self.port,
                auth_token=self.auth_token,
                unavailable_providers=self.unavailable_providers,
                path_prefix=self.path_prefix,
                record=self.record,
                worker_threads=self.worker_threads,
                knobs=self.knobs,
                tls_cert=self.tls_cert,
                tls_key=self.tls_key,
                header_read_timeout=self.header_read_timeout,
                idle_timeout=self.idle_timeout,
                max_connections=self.max_connections,
            )
        return self

    def stop(self) -> None:
        """Stops serving and closes every connection (idempotent)."""
        if self._sim is not None:
            self._sim.stop()
            self._sim = None

    def __enter__(self) -> "RhetorSimulator":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> "RhetorSimulator":
        return self.start()  # start/stop are quick and run without the GIL

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing sensible to do
            pass

    # -- inspection --------------------------------------------------------------------------

    def _running(self) -> Any:
        if self._sim is None:
            raise RuntimeError("the simulator is not running; call start() or use `with`")
        return self._sim

    @property
    def running(self) -> bool:
        return self._sim is not None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` plus the path prefix if one is configured."""
        return str(self._running().url) + (self._prefix() or "")

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` without any path prefix."""
        return str(self._running().url)

    @property
    def ws_url(self) -> str:
        """WebSocket URL, ``ws://127.0.0.1:PORT[/prefix]/ws`` (``wss://`` with TLS)."""
        scheme = "wss" if self.tls_cert else "ws"
        return f"{scheme}://{self.host_port}{self._prefix() or ''}/ws"

    @property
    def host_port(self) -> str:
        return str(self._running().url).split("://", 1)[1]

    @property
    def bound_port(self) -> int:
        """The TCP port actually bound (useful with ``port=0``)."""
        return int(self._running().port)

    def _prefix(self) -> str | None:
        if not self.path_prefix:
            return None
        prefix = self.path_prefix.strip().rstrip("/")
        return prefix or None

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded HTTP requests and received WebSocket frames (method ``"WS"``), oldest first.

        Each is a dict with ``method, path, query, headers`` (lowercase names), ``body`` (text),
        ``json`` (parsed or None), ``connection_id``, ``request_id``, ``time`` and ``auth_ok``.
        Credentials are redacted (``Bearer ***``); see :meth:`records`.
        """
        return list(self._running().records(False))

    def records(self, reveal_secrets: bool = False) -> list[dict[str, Any]]:
        """Like :attr:`requests`; with ``reveal_secrets`` tokens are shown as sent."""
        return list(self._running().records(reveal_secrets))

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive reuse shows as 1 for many requests)."""
        return int(self._running().connections_accepted)

    @property
    def active_tasks(self) -> int:
        """Streams/WebSocket sessions still being served (0 once every client went away)."""
        return int(self._running().active_tasks)

    def clear(self) -> None:
        """Forgets recorded requests and the ``fail_times`` attempt counters."""
        self._running().clear()

    def answer_text(
        self,
        prompt: str,
        system_prompt: str | None = None,
        length: int | None = None,
        *,
        chunks: int | None = None,
        chunk_size: int | None = None,
    ) -> str:
        """The text this simulator answers to ``prompt`` (see :func:`answer_text`)."""
        return answer_text(prompt, system_prompt, length, chunks=chunks, chunk_size=chunk_size)

    def __repr__(self) -> str:
        where = self.url if self._sim is not None else "stopped"
        return f"<RhetorSimulator {where}>"
