"""When each request of an open-loop run is due: offsets from the start, in ns, seeded."""

from __future__ import annotations

import random
from typing import Iterator, Optional

NS = 1_000_000_000


def arrival_offsets(
    rate: float, arrival: str, burstiness: float, seed: int, count: Optional[int], duration_s: Optional[float]
) -> Iterator[int]:
    """Offsets (ns, from the run's start) of requests at `rate` per second, until `count`
    requests or `duration_s` seconds, whichever comes first.

    `constant`: exactly 1/rate apart. `poisson`: gaps drawn from a gamma distribution of shape
    `burstiness` and mean 1/rate (burstiness 1 is a Poisson process; below 1 burstier, above 1
    more regular), as `vllm bench serve` draws them. The first request is due at 0.
    """
    rng = random.Random(seed)
    t = 0.0
    n = 0
    while count is None or n < count:
        offset = int(round(t * NS))
        if duration_s is not None and offset >= duration_s * NS:
            return
        yield offset
        n += 1
        if arrival == "constant":
            t = n / rate
        else:
            t += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
