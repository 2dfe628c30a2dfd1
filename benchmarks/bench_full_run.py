"""Benchmark: the 2019 scenario at full population (4 million people).

Prints wall seconds (model construction + simulation, and the whole `idlibsim run`
including writing the results folder), simulated person-days per second and peak
memory (max resident set size of this process). Targets on a 2-core machine: under
15 s and under 1.5 GB.

    python benchmarks/bench_full_run.py [--scale 1] [--seed 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.config import load_scenario  # noqa: E402
from sim.model import DisplacementModel  # noqa: E402
from sim.runner import run  # noqa: E402


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "idlib_2019.toml"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    sc = load_scenario(args.scenario)
    print(
        f"scenario {sc.name}: {sc.n_days} days, population {sc.population_total:,} at scale {args.scale}"
    )
    times = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        m = DisplacementModel(sc, seed=args.seed, population_scale=args.scale)
        t1 = time.perf_counter()
        m.run()
        t2 = time.perf_counter()
        times.append((t1 - t0, t2 - t1))
        people = m.population.n_people
        print(
            f"  run {i + 1}: build {t1 - t0:.2f} s, simulate {t2 - t1:.2f} s, "
            f"{people * sc.n_days / (t2 - t1) / 1e6:.0f} million person-days/s"
        )
    build, simulate = min(times, key=lambda t: sum(t))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run(sc, seed=args.seed, population_scale=args.scale, out=Path(tmp) / "run")
        whole = time.perf_counter() - t0
    print(
        f"best model time: {build + simulate:.2f} s (build {build:.2f} s, simulate {simulate:.2f} s)"
    )
    print(
        f"simulated persons: {people:,}; person-days per second: {people * sc.n_days / simulate / 1e6:.1f} million"
    )
    print(f"whole `idlibsim run` (model + tables + plots + manifest): {whole:.2f} s")
    print(f"peak memory (max RSS of this process): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
