"""Benchmark: the posterior fit (`idlibsim posterior`) from scratch on a local Dask cluster.

    python benchmarks/bench_posterior.py                 # the defaults: 4 waves (150 + 3 x 100
                                                         # runs) at scale 0.05, 2 workers,
                                                         # 40 + 40 posterior predictive runs
    python benchmarks/bench_posterior.py --predictive 0  # the fit alone

Runs the command into a temporary folder (no checkpoints to resume from, the shipped draws
untouched) and prints the wall time, the CPU time of this process and the load average
before and after: on a shared machine the load says how much of the 2 cores the fit had.
The target: under 30 minutes on 2 cores.
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
    p.add_argument("--waves", type=int, default=4)
    p.add_argument("--predictive", type=int, default=40)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from sim.cli import main as idlibsim

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-posterior-") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        code = idlibsim(
            [
                "posterior", str(args.scenario), "--workers", str(args.workers),
                "--waves", str(args.waves), "--predictive", str(args.predictive),
                "--out", str(Path(tmp) / "fit"),
            ]
        )  # fmt: skip
        wall = time.perf_counter() - t0
    print(
        f"posterior fit: {wall / 60:.1f} min wall ({wall:.0f} s) on {args.workers} workers; "
        f"{time.process_time() - c0:.0f} s CPU in this process (emulator, sampling); load "
        f"average {load0:.1f} before, {os.getloadavg()[0]:.1f} after on {os.cpu_count()} CPUs"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
