"""A reference open-loop client written the way `vllm bench serve` writes one: aiohttp, one task
per request created after `asyncio.sleep(1/rate)`, TTFT from when the task started its request
(`time.perf_counter()`), chunk times when `async for` hands a line over. What `vllm bench serve`
does not measure, the bench measures from outside its code path: how late each task started
against the ideal schedule (schedule lag) and the rate requests really went out at."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Dict, List

from .careful_client import BODY


async def run(url: str, rate: float, count: int) -> Dict[str, List[float]]:
    import aiohttp

    ttfts: List[float] = []
    itls: List[float] = []
    starts: List[float] = []
    lags: List[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=6 * 60 * 60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(due: float) -> None:
            st = time.perf_counter()
            starts.append(st)
            lags.append((st - due) * 1e3)
            most_recent = st
            first = True
            async with session.post(url + "/v1/chat/completions", json=BODY) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                async for chunk_bytes in response.content:
                    chunk = chunk_bytes.strip()
                    if not chunk:
                        continue
                    text = chunk.decode("utf-8").removeprefix("data: ")
                    if text == "[DONE]":
                        continue
                    event = json.loads(text)
                    choices = event.get("choices") or []
                    if choices and choices[0].get("delta", {}).get("content"):
                        now = time.perf_counter()
                        if first:
                            ttfts.append((now - st) * 1e3)
                            first = False
                        else:
                            itls.append((now - most_recent) * 1e3)
                        most_recent = now

        tasks = []
        start = time.perf_counter()
        for i in range(count):
            tasks.append(asyncio.create_task(one(start + i / rate)))
            await asyncio.sleep(1.0 / rate)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failed = sum(1 for o in outcomes if isinstance(o, BaseException))
    span = max(starts) - min(starts) if len(starts) > 1 else 0.0
    return {
        "ttft": ttfts,
        "itl": itls,
        "schedule_lag": lags,
        "achieved_rate": [(len(starts) - 1) / span if span > 0 else 0.0],
        "failed": [float(failed)],
    }
