"""What a client run cost this process, split the way the realistic benches report it: user and
system time, the Python thread (the one running the event loop) against every other thread (the
Rust runtime's, a DNS pool's), and voluntary context switches — each one a thread that went to
sleep and had to be woken again, which is what paced streams cost when every event wakes a thread.

Uses getrusage: RUSAGE_SELF sums every thread of the process, RUSAGE_THREAD is the calling thread.
Measure from the thread that runs the event loop."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class Usage:
    wall: float
    user: float
    system: float
    py_user: float
    py_system: float
    switches: int  # voluntary context switches, all threads
    py_switches: int

    @staticmethod
    def now() -> "Usage":
        p = resource.getrusage(resource.RUSAGE_SELF)
        t = resource.getrusage(resource.RUSAGE_THREAD)
        return Usage(time.perf_counter(), p.ru_utime, p.ru_stime, t.ru_utime, t.ru_stime, p.ru_nvcsw, t.ru_nvcsw)

    def since(self, start: "Usage") -> "Usage":
        return Usage(
            self.wall - start.wall,
            self.user - start.user,
            self.system - start.system,
            self.py_user - start.py_user,
            self.py_system - start.py_system,
            self.switches - start.switches,
            self.py_switches - start.py_switches,
        )

    def per(self, n: int, unit: str = "chunk") -> Dict[str, float]:
        """Figures per item (µs, and wake-ups) for a run that handled `n` items."""
        cpu = self.user + self.system
        py = self.py_user + self.py_system
        return {
            f"cpu_us_per_{unit}": cpu / n * 1e6,
            "user_us": self.user / n * 1e6,
            "sys_us": self.system / n * 1e6,
            "py_thread_us": py / n * 1e6,
            "other_threads_us": (cpu - py) / n * 1e6,
            f"wakeups_per_{unit}": self.switches / n,
            f"{unit}s_per_s": n / self.wall if self.wall > 0 else float("nan"),
        }
