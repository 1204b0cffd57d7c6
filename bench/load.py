"""Closed-loop load over Rasa's REST channel with aiohttp: N users, each sends its next message as soon
as the previous one is answered. Bounded in requests and in seconds."""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import List, Sequence

import aiohttp


@dataclass
class LoadResult:
    users: int
    latencies_ms: List[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        rank = max(0, min(len(data) - 1, int(round(q / 100 * len(data) + 0.5)) - 1))
        return data[rank]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)


async def _post(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> None:
    async with session.post(url, json={"sender": sender, "message": text}) as response:
        body = await response.json(content_type=None)
        if response.status != 200 or not isinstance(body, list) or not body:
            raise RuntimeError(f"HTTP {response.status}: {str(body)[:200]}")


async def run_load(url: str, script: Sequence[str], users: int, max_requests: int, max_seconds: float,
                   tag: str = "bench") -> LoadResult:
    """Each user walks through `script` (a new sender id for every pass) until `max_requests` have
    been sent in all or `max_seconds` have passed; requests still running then are awaited."""
    result = LoadResult(users)
    budget = itertools.count()
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=users, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        start = time.perf_counter()
        deadline = start + max_seconds

        async def user(number: int) -> None:
            for conversation in itertools.count():
                sender = f"{tag}-{users}u-{number}-{conversation}"
                for text in script:
                    if next(budget) >= max_requests or time.perf_counter() >= deadline:
                        return
                    sent = time.perf_counter()
                    try:
                        await _post(session, url, sender, text)
                    except Exception as error:  # noqa: BLE001 - counted and reported
                        result.errors += 1
                        result.first_error = result.first_error or f"{type(error).__name__}: {error}"
                        if result.errors > 50:
                            return
                        continue
                    result.latencies_ms.append((time.perf_counter() - sent) * 1000)

        await asyncio.gather(*(user(n) for n in range(users)))
        result.elapsed_s = time.perf_counter() - start
    return result


def load(url: str, script: Sequence[str], users: int, max_requests: int, max_seconds: float,
         tag: str = "bench") -> LoadResult:
    return asyncio.run(run_load(url, script, users, max_requests, max_seconds, tag))
