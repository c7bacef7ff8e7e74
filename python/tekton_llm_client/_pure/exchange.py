"""One HTTP exchange with Rhetor on an httpx client: send (following only same-origin 307/308),
turn a non-2xx answer into a `Failure`, read a body under a size limit."""

from __future__ import annotations

from typing import List, Optional, Tuple

import httpx

from .. import config
from ..exceptions import kind_for_status
from .errors import Failure, error_message, status_text, transport_failure
from .retry import parse_retry_after

__all__ = ["read_body", "send"]

ERROR_BODY_LIMIT = 1 << 20  # of a non-2xx body, read for its message
MAX_REDIRECTS = 5  # same-origin 307/308 followed per request


async def send(
    client: httpx.AsyncClient, method: str, url: str, body: Optional[bytes], request_id: str, body_limit: int
) -> httpx.Response:
    """The response, its body not read yet, when the status is 2xx; else raises the Failure the
    status (or the transport error) means. The caller closes the response."""
    first: Optional[httpx.URL] = None
    for hop in range(MAX_REDIRECTS + 1):
        try:
            req = client.build_request(method, url, content=body, headers={"x-request-id": request_id})
            resp = await client.send(req, stream=True)
        except httpx.HTTPError as e:
            raise transport_failure(e, request_id, False) from None
        except httpx.InvalidURL as e:
            raise Failure("connection", f"HTTP request to Rhetor failed: {e}", request_id) from None
        status = resp.status_code
        if 200 <= status < 300:
            return resp
        first = first or resp.url
        if 300 <= status < 400:
            target = _redirect_target(resp)
            await resp.aclose()
            keeps_body = status in (307, 308)  # 301/302/303 would turn the POST into a GET
            if target is not None and keeps_body and hop < MAX_REDIRECTS and _origin(target) == _origin(first):
                url = str(target)
                continue
            raise _redirect_failure(resp, target, request_id)
        try:
            raise await _status_failure(resp, request_id, min(body_limit, ERROR_BODY_LIMIT))
        finally:
            await resp.aclose()
    raise AssertionError("unreachable: the last hop returns or raises")  # pragma: no cover


async def read_body(resp: httpx.Response, limit: int, request_id: str) -> bytes:
    """The whole body, refused as soon as it is known to be larger than `limit`."""
    length = resp.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit, request_id)
    chunks: List[bytes] = []
    size = 0
    reads = resp.aiter_raw()
    try:
        async for chunk in reads:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, request_id)
            chunks.append(chunk)
    except httpx.HTTPError as e:
        raise transport_failure(e, request_id, True) from None
    finally:
        await reads.aclose()  # type: ignore[attr-defined]  # an async generator, typed AsyncIterator
    return b"".join(chunks)


async def _status_failure(resp: httpx.Response, request_id: str, body_limit: int) -> Failure:
    status = resp.status_code
    retry_after = resp.headers.get("retry-after")
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


def _origin(url: httpx.URL) -> Tuple[str, str, Optional[int]]:
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


def _redirect_target(resp: httpx.Response) -> Optional[httpx.URL]:
    location = resp.headers.get("location")
    if location is None:
        return None
    try:
        return resp.url.join(location)
    except (httpx.InvalidURL, ValueError):
        return None


def _redirect_failure(resp: httpx.Response, target: Optional[httpx.URL], request_id: str) -> Failure:
    """A 3xx not followed: which status, where it pointed, and why not."""
    status = resp.status_code
    location = str(target) if target is not None else resp.headers.get("location", "(no Location)")
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
