"""The yardstick of the benchmarks: one random number per person per day, nothing else.

The kernel draws, for every day of a scenario, one uniform for each of its people with the
model's counter-based generator (:func:`sim.model.rng.uniforms` as it was in issue 16, keyed by
person id) and
counts those below 1 %: about the least work an agent-based model of that many people over
that many days can do. The benchmarks time it in the same process as what they measure, so
their goals read as ratios (``run / kernel``) that change little when the machine is
loaded by others or is faster or slower.

The kernel is always timed in a **new process** (:func:`time_kernel`), as issue 16 timed it
and as the benchmarks run every command. Its arrays of a few megabytes are then served by
a C allocator that has not seen them before: glibc maps each one fresh and returns it on
free, which costs about 900,000 page faults and 3 s of system time at full population. In
a process that has already run it, glibc has raised its thresholds and reuses the memory,
and the same kernel takes half the time (measured on the 2-CPU development machine,
2026-11-29: 5.1-5.6 s in new processes; 5.6, then 3.1, then 2.7 s three times in one
process). Timed in the benchmark's own process, as it was until session 9, the yardstick
therefore moved by a factor of two with the order of the measurements.

    python benchmarks/kernel.py [--people 4000000] [--days 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Timing:
    """Wall and CPU (user + system) seconds of one measurement."""

    wall: float
    cpu: float

    def ratio(self, other: Timing) -> str:
        """``wall x, CPU x`` of this timing against ``other`` (the kernel)."""
        return f"{self.wall / other.wall:.2f}x wall, {self.cpu / other.cpu:.2f}x CPU"

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


def cpu_seconds(children: bool = False) -> float:
    """User + system CPU seconds of this process (or of its finished children)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def kernel(n_people: int, n_days: int, seed: int = 1, chunk: int = 1 << 20) -> int:
    """One uniform per person per day (``sim.model.rng.uniforms``); returns how many were < 0.01.

    Drawn in chunks of ``chunk`` people so that memory stays small, as a model would.
    """
    import numpy as np

    from sim.model.rng import _day_key

    def uniforms(seed: int, stream: str, day: int, ids: np.ndarray) -> np.ndarray:
        # sim.model.rng.uniforms as it was when the kernel was introduced (frozen here, so that
        # making the model's generator faster does not move the yardstick)
        z = np.asarray(ids, dtype=np.uint64) * _GAMMA + _day_key(seed, stream, day)
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
        return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    _GAMMA = np.uint64(0x9E3779B97F4A7C15)
    _M1 = np.uint64(0xBF58476D1CE4E5B9)
    _M2 = np.uint64(0x94D049BB133111EB)
    hits = 0
    ids = np.arange(n_people, dtype=np.int64)
    for day in range(n_days):
        for a in range(0, n_people, chunk):
            hits += int(np.count_nonzero(uniforms(seed, "flee", day, ids[a : a + chunk]) < 0.01))
    return hits


def time_kernel_here(n_people: int, n_days: int, seed: int = 1) -> Timing:
    """Wall and CPU seconds of :func:`kernel` in this process (NumPy imported beforehand).
    Only meaningful in a new process: see the module's docstring."""
    import numpy  # noqa: F401 - imported before timing

    import sim.model.rng  # noqa: F401

    t0, c0 = time.perf_counter(), cpu_seconds()
    kernel(n_people, n_days, seed)
    return Timing(time.perf_counter() - t0, cpu_seconds() - c0)


def time_kernel(n_people: int, n_days: int, seed: int = 1) -> Timing:
    """Wall and CPU seconds of :func:`kernel`, run in a new Python process (the process's
    start and imports not counted)."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--people", str(n_people)]
        + ["--days", str(n_days), "--seed", str(seed), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return Timing(float(figures["wall"]), float(figures["cpu"]))


def load() -> str:
    """The 1-minute load average, as text."""
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=4_000_000)
    ap.add_argument("--days", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = time_kernel_here(args.people, args.days, args.seed)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    if args.json:
        print(json.dumps({"wall": t.wall, "cpu": t.cpu, "page_faults": faults}))
    else:
        print(
            f"kernel, {args.people:,} people x {args.days} days: {t}, {faults:,} page faults "
            f"(load {load()})"
        )


if __name__ == "__main__":
    main()
