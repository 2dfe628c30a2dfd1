"""Benchmark: the Morris sensitivity analysis (`idlibsim sensitivity`) at its defaults.

    python benchmarks/bench_sensitivity.py            # 10 trajectories x 27 runs + 1,
                                                      # scale 0.05, 2 Dask workers

Runs into a temporary folder and prints the wall time and the load average before and
after (on a shared machine the load says how much of the 2 cores it had).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "idlib_2019.toml")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--trajectories", type=int, default=10)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from sim.cli import main as idlibsim

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-sensitivity-") as tmp:
        t0 = time.perf_counter()
        code = idlibsim(
            [
                "sensitivity", str(args.scenario), "--workers", str(args.workers),
                "--trajectories", str(args.trajectories), "--out", str(Path(tmp) / "s"),
            ]
        )  # fmt: skip
        wall = time.perf_counter() - t0
    print(
        f"sensitivity: {wall / 60:.1f} min wall ({wall:.0f} s) on {args.workers} workers; load "
        f"average {load0:.1f} before, {os.getloadavg()[0]:.1f} after on {os.cpu_count()} CPUs"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
