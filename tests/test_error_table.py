"""One status → error table: `exceptions.STATUS_KINDS`. The Rust core's copy (`ErrorKind::from_status`)
and the JS client's (`errorClassForStatus`) are proven equal to it here, status by status, as is
the JS client's VERSION to the package's; and one WebSocket ERROR code table,
`exceptions.CODE_KINDS`, which both backends are proven to follow.

The Python backends are checked through the public API: a peer answers each call with the status
its prompt names, and the exception raised must be the table's class, with that status.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
import tekton_llm_client
from tekton_llm_client import TektonLLMClient, TektonLLMError, TektonLLMWebSocketClient
from tekton_llm_client.exceptions import (
    CODE_KINDS,
    KIND_CLASSES,
    STATUS_KINDS,
    error_from_kind,
    kind_for_error,
    kind_for_status,
)

from . import ws_peer
from .peer_server import PeerServer, response
from .rhetor_replay import Request

# Every error status a server may send (redirects have their own rules: test_redirects.py).
STATUSES = range(400, 600)
JS_CLIENT = Path(tekton_llm_client.static_path()) / "js" / "tekton-llm-client.js"


def _answer(req: Request) -> bytes:
    status = int(req.json["messages"][0]["content"])
    return response(status, {"error": f"status {status}"})


def test_every_class_has_its_own_kind() -> None:
    assert len({cls.kind for cls in KIND_CLASSES.values()}) == len(KIND_CLASSES)
    for kind, cls in KIND_CLASSES.items():
        assert cls.kind == kind
        assert type(error_from_kind(kind, "m")) is cls
    assert set(STATUS_KINDS.values()) <= set(KIND_CLASSES)
    assert kind_for_status(418) == "error" and kind_for_status(503) == "service_unavailable"


async def test_each_backend_raises_the_tables_class_for_every_status(backend: str) -> None:
    seen: Dict[int, str] = {}
    with PeerServer(_answer) as peer:
        client = TektonLLMClient(
            "error-table", rhetor_url=peer.url, backend=backend, dialect="v1", max_retries=0, use_fallback=False
        )
        try:
            for status in STATUSES:
                with pytest.raises(TektonLLMError) as info:
                    await client.generate_text(str(status))
                assert info.value.status_code == status
                seen[status] = info.value.kind
        finally:
            await client.shutdown()
    assert seen == {status: kind_for_status(status) for status in STATUSES}


def test_the_js_client_has_the_same_table_and_version() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the JS client's checks (scripts/test-all installs it)"
    script = (
        f"const C = require({json.dumps(str(JS_CLIENT))});"
        "const table = {};"
        f"for (let s = {STATUSES.start}; s < {STATUSES.stop}; s++) table[s] = C.errorClassForStatus(s).name;"
        "process.stdout.write(JSON.stringify({version: C.VERSION, table}));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(out.stdout)
    assert found["version"] == tekton_llm_client.__version__
    expected = {str(status): KIND_CLASSES[kind_for_status(status)].__name__ for status in STATUSES}
    assert found["table"] == expected


# WebSocket ERROR frames: (code, status) pairs, each answered to the request whose prompt names it.
WS_CASES = [(code, None) for code in CODE_KINDS] + [
    ("Rate_Limited", None),  # codes are compared in lower case
    ("mystery", None),
    ("", None),
    (None, None),
    ("rate_limited", 503),  # a mapped status wins over the code
    ("rate_limited", 418),  # an unmapped one does not
    (None, 401),
    ("overloaded", 200),
]


async def _ws_errors(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Registers, then answers every request with the ERROR its prompt describes."""
    await ws_peer.register(reader, writer)
    while True:
        opcode, data = await ws_peer.read_frame(reader)
        if opcode == 0x8:
            return
        if opcode != 0x1:
            continue
        request = json.loads(data)
        if request.get("type") not in ("GENERATE", "STREAM", "CHAT", "CHAT_STREAM"):
            continue
        code, status = json.loads(request["prompt"])
        answer: Dict[str, Any] = {"type": "ERROR", "request_id": request["request_id"], "error": "no"}
        if code is not None:
            answer["code"] = code
        if status is not None:
            answer["status"] = status
        writer.write(ws_peer.text(json.dumps(answer)))
        await writer.drain()


async def test_each_backend_maps_websocket_error_codes_by_the_table(backend: str) -> None:
    seen: Dict[str, str] = {}
    async with ws_peer.Peer(_ws_errors) as peer:
        ws = TektonLLMWebSocketClient("error-table", ws_url=peer.ws_url, backend=backend, reconnect=False)
        try:
            await asyncio.wait_for(ws.connect(), 30)
            for code, status in WS_CASES:
                prompt = json.dumps([code, status])
                with pytest.raises(TektonLLMError) as info:
                    await asyncio.wait_for(ws.complete(prompt), 30)
                seen[prompt] = info.value.kind
        finally:
            await ws.disconnect()
    assert seen == {json.dumps([code, status]): kind_for_error(code, status) for code, status in WS_CASES}
    assert kind_for_error("rate_limited", 503) == "service_unavailable"  # the status won
    assert kind_for_error("Rate_Limited", None) == "rate_limit"
