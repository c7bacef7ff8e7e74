"""https:// and wss:// Rhetor URLs: the simulator serves TLS with a certificate made at test
time (a throwaway CA and a server certificate for 127.0.0.1 / localhost); the client trusts it
through `ca_bundle=` or through SSL_CERT_FILE, on both backends, HTTP and WebSocket; a server
whose CA is unknown fails fast with a ConnectionError."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tekton_llm_client import ConnectionError, InvalidRequestError, TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator
from tekton_llm_client.websocket import TektonLLMWebSocketClient

GUARD = 30.0  # hang guard


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server's certificate


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(tmp: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert, ca_path = _ca(tmp, "tekton-test-ca")
    _, _, other = _ca(tmp, "tekton-other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(ca=ca_path, cert=cert_path, key=key_path, other_ca=other)


@pytest.fixture
def tls_sim(pki: Pki) -> Iterator[RhetorSimulator]:
    with RhetorSimulator(tls_cert=str(pki.cert), tls_key=str(pki.key)) as s:
        yield s


async def _chat_and_stream(url: str, backend: str, **kw: object) -> tuple[str, str]:
    client = TektonLLMClient("tls", rhetor_url=url, backend=backend, max_retries=0, dialect="v1", **kw)  # type: ignore[arg-type]
    try:
        whole = await asyncio.wait_for(client.generate_text("over tls"), GUARD)
        call = client.generate_text("streamed over tls", streaming=True)
        streamed = await asyncio.wait_for(call.__aiter__().collect(), GUARD)
        return whole.content, streamed
    finally:
        await client.shutdown()


async def _ws_complete(url: str, backend: str, **kw: object) -> str:
    ws = TektonLLMWebSocketClient("tls", ws_url=url, backend=backend, reconnect=False, connect_timeout=10, **kw)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(ws.connect(), GUARD)
        r = await asyncio.wait_for(ws.complete("ws over tls"), GUARD)
        return r.content
    finally:
        await ws.disconnect()


def test_simulator_urls_say_https_and_wss(tls_sim: RhetorSimulator) -> None:
    assert tls_sim.url.startswith("https://127.0.0.1:")
    assert tls_sim.ws_url.startswith("wss://127.0.0.1:")


async def test_https_with_ca_bundle(tls_sim: RhetorSimulator, pki: Pki, backend: str) -> None:
    whole, streamed = await _chat_and_stream(tls_sim.url, backend, ca_bundle=str(pki.ca))
    assert whole == tls_sim.answer_text("over tls")
    assert streamed == tls_sim.answer_text("streamed over tls")


async def test_https_with_ssl_cert_file(
    tls_sim: RhetorSimulator, pki: Pki, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    whole, streamed = await _chat_and_stream(tls_sim.url, backend)
    assert whole == tls_sim.answer_text("over tls")
    assert streamed == tls_sim.answer_text("streamed over tls")


async def test_https_unknown_ca_is_a_connection_error(
    tls_sim: RhetorSimulator, pki: Pki, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    for kw in ({}, {"ca_bundle": str(pki.other_ca)}):
        with pytest.raises(ConnectionError) as ei:
            await _chat_and_stream(tls_sim.url, backend, **kw)
        assert "cert" in str(ei.value).lower() or "ssl" in str(ei.value).lower(), str(ei.value)


async def test_missing_ca_bundle_is_a_clear_error(tls_sim: RhetorSimulator, backend: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="ca_bundle"):
        await _chat_and_stream(tls_sim.url, backend, ca_bundle=str(tmp_path / "missing.pem"))


async def test_wss_with_ca_bundle_and_ssl_cert_file(
    tls_sim: RhetorSimulator, pki: Pki, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = await _ws_complete(tls_sim.ws_url, backend, ca_bundle=str(pki.ca))
    assert content == tls_sim.answer_text("ws over tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    assert await _ws_complete(tls_sim.ws_url, backend) == tls_sim.answer_text("ws over tls")


async def test_wss_unknown_ca_is_a_connection_error(
    tls_sim: RhetorSimulator, pki: Pki, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    with pytest.raises(ConnectionError):
        await _ws_complete(tls_sim.ws_url, backend)


async def test_cli_simulator_serves_tls(pki: Pki) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tekton_llm_client",
            "simulate",
            "--port",
            "0",
            "--tls-cert",
            str(pki.cert),
            "--tls-key",
            str(pki.key),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("RHETOR_SIMULATOR_URL=https://"), line
        url = line.split("=", 1)[1]
        whole, _ = await _chat_and_stream(url, "rust", ca_bundle=str(pki.ca))
        assert whole.startswith("Simulated answer to: over tls")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
