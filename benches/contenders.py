"""What a user would otherwise write: httpx + httpx-sse and aiohttp against the same endpoints,
plus our client on each backend. Every contender does the same work: send the request, decode
every event's JSON, and hand the text to the caller.

`drain` is the loop a user writes around each client, inline (no generator of ours in between,
whose cost would be the same for every contender and hide the clients' own). It returns how many
events it read and hands each text to `on_text` when given (the latency bench timestamps them)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Callable, Dict, List, Optional

import aiohttp
import httpx
from httpx_sse import aconnect_sse
from tekton_llm_client import TektonLLMClient

OnText = Optional[Callable[[str], None]]

# Connections each contender may keep: more than the largest concurrency any bench runs.
POOL = 1100


def body(prompt: str, sim: Dict[str, Any], streaming: bool) -> Dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": prompt}],
        "context_id": "bench",
        "component_id": "bench",
        "streaming": streaming,
        "options": {"sim": sim},
    }


def headers() -> Dict[str, str]:
    return {"X-Tekton-Component": "bench", "X-Request-ID": str(uuid.uuid4())}


class Ours:
    def __init__(self, url: str, backend: str) -> None:
        self.client = TektonLLMClient("bench", rhetor_url=url, backend=backend, timeout=120, pool_size=POOL)

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        n = 0
        async for c in self.client.generate_text(prompt, streaming=True, options={"sim": sim}):
            text = c.chunk
            n += 1
            if on_text is not None:
                on_text(text)
        return n

    async def call(self, prompt: str, sim: Dict[str, Any]) -> str:
        r = await self.client.generate_text(prompt, options={"sim": sim})
        return r.content

    async def close(self) -> None:
        await self.client.shutdown()


class HttpxSse:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient(
            timeout=120, limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        )

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        n = 0
        async with aconnect_sse(
            self.client, "POST", self.url + "/api/v1/chat/stream", json=body(prompt, sim, True), headers=headers()
        ) as source:
            async for sse in source.aiter_sse():
                if sse.data == "[DONE]":
                    break
                event = json.loads(sse.data)
                text = event.get("chunk", "")
                n += 1
                if on_text is not None:
                    on_text(text)
                if event.get("done"):
                    break
        return n

    async def call(self, prompt: str, sim: Dict[str, Any]) -> str:
        r = await self.client.post(self.url + "/api/v1/chat", json=body(prompt, sim, False), headers=headers())
        r.raise_for_status()
        return str(r.json()["content"])

    async def close(self) -> None:
        await self.client.aclose()


class Aiohttp:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session: Optional[aiohttp.ClientSession] = None

    def _s(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
        return self.session

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        n = 0
        async with self._s().post(
            self.url + "/api/v1/chat/stream", json=body(prompt, sim, True), headers=headers()
        ) as r:
            async for raw in r.content:
                line = raw.rstrip(b"\r\n")
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                event = json.loads(data)
                text = event.get("chunk", "")
                n += 1
                if on_text is not None:
                    on_text(text)
                if event.get("done"):
                    break
        return n

    async def call(self, prompt: str, sim: Dict[str, Any]) -> str:
        async with self._s().post(self.url + "/api/v1/chat", json=body(prompt, sim, False), headers=headers()) as r:
            r.raise_for_status()
            return str((await r.json())["content"])

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class ProtocolFloor:
    """Not a client: the least a Python program can do per event. An asyncio Protocol that sends
    the request and only counts the events in what it receives (no HTTP or JSON parsing). What
    it costs per event is the event loop's own price for one wake-up and one read: the floor for
    every client whose events reach Python one by one."""

    def __init__(self, url: str) -> None:
        host_port = url.split("://", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        loop = asyncio.get_running_loop()
        payload = json.dumps(body(prompt, sim, True)).encode()
        request = (
            b"POST /api/v1/chat/stream HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        done: "asyncio.Future[int]" = loop.create_future()

        class Counter(asyncio.Protocol):
            events = 0

            def connection_made(self, transport: Any) -> None:
                transport.write(request)

            def data_received(self, data: bytes) -> None:
                n = data.count(b"data:")
                self.events += n
                if on_text is not None:
                    for _ in range(n):
                        on_text("x")

            def connection_lost(self, exc: Optional[BaseException]) -> None:
                if not done.done():
                    done.set_result(self.events)

        await loop.create_connection(Counter, self.host, self.port)
        return await done

    async def call(self, prompt: str, sim: Dict[str, Any]) -> str:
        raise NotImplementedError("the floor is measured on streams only")

    async def close(self) -> None:
        pass


def make(name: str, url: str) -> Any:
    if name == "rust":
        return Ours(url, "rust")
    if name == "python":
        return Ours(url, "python")
    if name == "httpx+httpx-sse":
        return HttpxSse(url)
    if name == "aiohttp":
        return Aiohttp(url)
    if name == "floor: asyncio Protocol":
        return ProtocolFloor(url)
    raise ValueError(name)


def percentile(values: List[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]
