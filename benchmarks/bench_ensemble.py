"""Benchmark: an ensemble of the 2019 scenario on a local Dask cluster, against a kernel.

    python benchmarks/bench_ensemble.py            # 20 replicates, scale 0.1, 2 workers
    python benchmarks/bench_ensemble.py --replicates 8 --population-scale 1   # 8 full
    python benchmarks/bench_ensemble.py --replicates 40 --workers 4
    python benchmarks/bench_ensemble.py --scheduler tcp://host:8786

First times the kernel (``benchmarks/kernel.py``: one random number per person per day
for the full population) in this process, and prints the ensemble's wall time as a ratio
to it too. Goals (issue 16): 20 replicates at scale 0.1 on 2 workers in <= 7 s; 8
full-population replicates on 2 workers <= 1.5x the kernel.

Prints the time of one replicate in this process (for reference), then the wall time
of the whole ensemble (cluster start, every replicate, writing the files and the bands,
cluster stop) and the replicates per minute, with the time split into those parts. The
results go to a temporary folder, removed at the end.
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
    p.add_argument("--replicates", type=int, default=20)
    p.add_argument("--population-scale", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler", help="existing Dask scheduler instead of a LocalCluster")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "benchmarks"))
    from kernel import time_kernel

    from sim.ensemble import dask_client, run_ensemble
    from sim.rng import replicate_seeds
    from sim.runner import simulate
    from sim.scenario.loading import load_scenario

    scenario = load_scenario(args.scenario)
    kernel = time_kernel(scenario.population_total, scenario.n_days)
    print(
        f"kernel ({scenario.population_total:,} people x {scenario.n_days} days, one uniform "
        f"each): {kernel}"
    )
    seed = replicate_seeds(args.seed, 1)[0]
    t0 = time.perf_counter()
    simulate(scenario, seed=seed, population_scale=args.population_scale)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    simulate(scenario, seed=seed, population_scale=args.population_scale)
    single = time.perf_counter() - t0
    where = args.scheduler or f"LocalCluster, {args.workers} worker processes"
    print(
        f"{scenario.name}: {scenario.n_days} days, {scenario.population_total:,} people, "
        f"population scale {args.population_scale:g}"
    )
    print(f"one replicate in this process: {single:.2f} s (first call {cold:.2f} s, with imports)")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} before the ensemble")

    with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp:
        t0 = time.perf_counter()
        with dask_client(args.workers, args.scheduler) as client:
            t1 = time.perf_counter()
            res = run_ensemble(
                [scenario],
                replicates=args.replicates,
                base_seed=args.seed,
                population_scale=args.population_scale,
                out=Path(tmp) / "ensemble",
                client=client,
            )
            t2 = time.perf_counter()
        wall = time.perf_counter() - t0
    assert res.ran == args.replicates, res.ran
    runs = t2 - t1
    ideal = single * args.replicates / max(1, args.workers)
    print(
        f"ensemble of {args.replicates} replicates on {where}: {wall:.1f} s wall "
        f"= {wall / kernel.wall:.2f}x the kernel's wall time"
    )
    print(f"  {args.replicates / wall * 60:.1f} replicates per minute (everything included)")
    print(
        f"  cluster start {t1 - t0:.1f} s, replicates and files {runs:.1f} s "
        f"({args.replicates / runs * 60:.1f} replicates per minute; includes each worker's "
        f"first-run imports), cluster stop {t0 + wall - t2:.1f} s"
    )
    print(
        f"  for reference: {args.replicates} x {single:.2f} s / {args.workers} workers = {ideal:.1f} s "
        "if the workers had whole CPUs to themselves and no start-up"
    )
    if args.population_scale == 0.1 and args.replicates == 20 and args.workers == 2:
        print(f"goal: 20 replicates at scale 0.1 on 2 workers <= 7 s: {wall:.1f} s")
    if args.population_scale == 1 and args.replicates == 8 and args.workers == 2:
        print(f"goal: 8 full replicates on 2 workers <= 1.5x the kernel: {wall / kernel.wall:.2f}x")
    return 0


if __name__ == "__main__":  # the guard is needed: Dask starts worker processes by spawning
    sys.exit(main())
