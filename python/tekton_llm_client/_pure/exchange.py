"""One HTTP exchange with Rhetor on either transport (answer.py): send (following only same-origin
307/308), turn a non-2xx answer into a `Failure`, read a body under a size limit."""

from __future__ import annotations

from typing import List, Optional, Tuple
from urllib.parse import urljoin, urlsplit

from .. import config
from ..exceptions import kind_for_status
from .answer import Answer, Transport
from .errors import Failure, error_message, status_text
from .retry import parse_retry_after

__all__ = ["read_body", "send"]

ERROR_BODY_LIMIT = 1 << 20  # of a non-2xx body, read for its message
MAX_REDIRECTS = 5  # same-origin 307/308 followed per request


async def send(
    transport: Transport, method: str, url: str, body: Optional[bytes], request_id: str, body_limit: int
) -> Answer:
    """The answer, its body not read yet, when the status is 2xx; else raises the Failure the
    status (or the transport error) means. The caller closes the answer."""
    first: Optional[str] = None
    for hop in range(MAX_REDIRECTS + 1):
        resp = await transport.send_once(method, url, body, request_id)
        status = resp.status
        if 200 <= status < 300:
            return resp
        first = first or resp.url
        if 300 <= status < 400:
            target = _redirect_target(resp)
            await resp.aclose()
            keeps_body = status in (307, 308)  # 301/302/303 would turn the POST into a GET
            if target is not None and keeps_body and hop < MAX_REDIRECTS and _origin(target) == _origin(first):
                url = target
                continue
            raise _redirect_failure(resp, target, request_id)
        try:
            raise await _status_failure(resp, request_id, min(body_limit, ERROR_BODY_LIMIT))
        finally:
            await resp.aclose()
    raise AssertionError("unreachable: the last hop returns or raises")  # pragma: no cover


async def read_body(resp: Answer, limit: int, request_id: str) -> bytes:
    """The whole body, refused as soon as it is known to be larger than `limit`."""
    length = resp.header("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit, request_id)
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = await resp.read()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, request_id)
        chunks.append(chunk)


async def _status_failure(resp: Answer, request_id: str, body_limit: int) -> Failure:
    status = resp.status
    retry_after = resp.header("retry-after")
    try:
        body = await read_body(resp, body_limit, request_id)
    except Failure:
        body = b""
    message, code = error_message(body)
    return Failure(
        kind_for_status(status),
        f"Rhetor answered {status_text(status)}: {message}",
        request_id,
        status=status,
        code=code,
        retry_after=None if retry_after is None else parse_retry_after(retry_after),
    )


def _too_large(limit: int, request_id: str) -> Failure:
    return Failure("limit_exceeded", f"response body larger than the limit of {limit} bytes", request_id)


def _origin(url: str) -> Tuple[str, Optional[str], Optional[int]]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, parts.hostname, port or {"http": 80, "https": 443}.get(parts.scheme)


def _redirect_target(resp: Answer) -> Optional[str]:
    """Where a 3xx points, made absolute; None when it points nowhere an HTTP request can go."""
    location = resp.header("location")
    if location is None:
        return None
    try:
        target = urljoin(resp.url, location.strip())
        parts = urlsplit(target)
        parts.port  # noqa: B018  # raises ValueError for a port that is not one
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or not target.isprintable():
        return None
    return target


def _redirect_failure(resp: Answer, target: Optional[str], request_id: str) -> Failure:
    """A 3xx not followed: which status, where it pointed, and why not."""
    status = resp.status
    location = target if target is not None else (resp.header("location") or "(no Location)")
    shown = config.without_userinfo(location)
    if target is not None and _origin(target) != _origin(resp.url):
        why = (
            "it leads to another origin (host, port or scheme), and the request would carry the prompt "
            "and the token there"
        )
    elif status not in (307, 308):
        why = "only 307/308 keep the method and body"
    else:
        why = "too many redirects"
    return Failure(
        "redirect",
        f"Rhetor answered {status_text(status)} redirecting to {shown}: not followed, {why}",
        request_id,
        status=status,
    )
