"""The simulator keeps credentials out of its records wherever a client puts them (bearer header,
API-key headers, the query string, a JSON `auth_token` without a header, a REGISTER frame that is
not valid JSON), whether right or wrong; and `tekton-llm simulate` takes its token from a file or
the environment, so it need not show in the process list."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from tekton_llm_client.testing import RhetorSimulator
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
GUARD = 10.0  # hang guard, never a timing assertion
TOKEN = "configured-s3cret-7f1d"
WRONG = "wrong-guess-91ab"

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator(auth_token=TOKEN) as s:
        yield s


def assert_hidden(sim: RhetorSimulator, *secrets: str) -> None:
    shown = json.dumps(sim.requests)
    revealed = json.dumps(sim.records(reveal_secrets=True))
    for secret in secrets:
        assert secret not in shown, f"{secret} is in sim.requests: {shown}"
        assert secret in revealed, "the test sent nothing: reveal_secrets should show it"


@pytest.mark.parametrize("secret", [TOKEN, WRONG])
def test_http_credentials_are_redacted_wherever_sent(sim: RhetorSimulator, secret: str) -> None:
    with httpx.Client(base_url=sim.url, timeout=GUARD) as c:
        c.post("/api/v1/chat", json=CHAT, headers={"Authorization": f"Bearer {secret}"})
        c.post("/api/v1/chat", json=CHAT, headers={"X-Api-Key": secret})
        c.post("/api/v1/chat", json=CHAT, headers={"Api-Key": secret})
        c.post("/api/v1/chat", json=CHAT, params={"api_key": secret, "other": "1"})
        c.post("/api/v1/chat", json=CHAT, params={"token": secret})
        c.post("/api/v1/chat", json=CHAT, params={"access_token": secret})
        c.post("/api/v1/chat", json={**CHAT, "auth_token": secret})
        c.post("/api/v1/chat", json={**CHAT, "options": {"authToken": secret}})
        c.get(f"/api/v1/health?auth_token={secret}")
    assert_hidden(sim, secret)
    recorded = sim.requests
    assert recorded[3]["query"] == "api_key=***&other=1"
    assert recorded[6]["json"]["auth_token"] == "***"
    assert recorded[0]["headers"]["authorization"] == "Bearer ***"


@pytest.mark.parametrize("secret", [TOKEN, WRONG])
async def test_websocket_frames_are_redacted_even_when_malformed(sim: RhetorSimulator, secret: str) -> None:
    async with ws_connect(sim.ws_url, open_timeout=GUARD, additional_headers={"X-Api-Key": secret}) as ws:
        await ws.send('{"type": "REGISTER", "auth_token": "' + secret + '", oops')  # not JSON
        await ws.send(json.dumps({"type": "REGISTER", "authToken": secret}))
        for _ in range(3):  # an ERROR for the bad frame; then the ACK, or a refusal and a close
            try:
                reply = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
            except ConnectionClosed:
                break
            if reply.get("type") == "REGISTER_ACK":
                break
    assert_hidden(sim, secret)


def test_a_token_can_be_checked_against_the_recorded_auth_flag(sim: RhetorSimulator) -> None:
    with httpx.Client(base_url=sim.url, timeout=GUARD) as c:
        assert c.post("/api/v1/chat", json=CHAT, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        for near in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x"):
            assert c.post("/api/v1/chat", json=CHAT, headers={"Authorization": f"Bearer {near}"}).status_code == 401
    assert [r["auth_ok"] for r in sim.requests] == [True, False, False, False, False]


def _simulate(*args: str, env: dict[str, str]) -> "subprocess.Popen[str]":
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("RHETOR_", "TEKTON_"))}
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "tekton_llm_client", "simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=full_env,
    )


def _serves_with_token(proc: "subprocess.Popen[str]", token: str) -> None:
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("RHETOR_SIMULATOR_URL="), line
        url = line.split("=", 1)[1]
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            assert token.encode() not in f.read()
        with httpx.Client(base_url=url, timeout=GUARD) as c:
            assert c.post("/api/v1/chat", json=CHAT).status_code == 401
            ok = c.post("/api/v1/chat", json=CHAT, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
    finally:
        proc.terminate()
        proc.wait(GUARD)


def test_cli_token_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    _serves_with_token(_simulate("--auth-token-file", str(path), env={}), TOKEN)


def test_cli_token_from_the_environment() -> None:
    _serves_with_token(_simulate(env={"TEKTON_SIM_AUTH_TOKEN": TOKEN}), TOKEN)


def test_cli_token_file_errors_are_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path / "empty"):
        if path.name == "empty":
            path.write_text("\n")
        proc = _simulate("--auth-token-file", str(path), env={})
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2  # a bad option: docs/cli.md's usage status
        assert err.startswith("tekton-llm simulate: usage: ") and "Traceback" not in err, err
        assert len(err.splitlines()) == 1, err
