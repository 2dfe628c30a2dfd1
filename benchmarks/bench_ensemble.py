"""Benchmark: an ensemble of the 2019 scenario on a local Dask cluster, against a kernel.

    python benchmarks/bench_ensemble.py            # 20 replicates, scale 0.1, 2 workers
    python benchmarks/bench_ensemble.py --replicates 8 --population-scale 1   # 8 full
    python benchmarks/bench_ensemble.py --repeat 3  # three ensembles, each its own cluster
    python benchmarks/bench_ensemble.py --replicates 40 --workers 4
    python benchmarks/bench_ensemble.py --scheduler tcp://host:8786

First times the kernel (``benchmarks/kernel.py``: one random number per person per day
for the full population) in a new process (kernel.py says why), and prints the ensemble's wall time as a ratio
to it too. Goals (issue 16): 20 replicates at scale 0.1 on 2 workers in <= 7 s; 8
full-population replicates on 2 workers <= 1.5x the kernel.

Prints the time of one replicate as a worker runs it (``execute``: the daily table only),
in this process, for reference; then the wall time of the whole ensemble (cluster start,
every replicate, writing the files and the bands, cluster stop) and the replicates per
minute, with the time split into those parts, and the CPU seconds of every process: this
one (client, scheduler, writing the files), the workers, and the fork server the local
workers are forked from (its imports; Linux only). On a machine shared with other work the
wall time varies from run to run; the CPU seconds much less (``--repeat`` shows both). The
results go to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _process_cpu(pid: int | None) -> tuple[float, float]:
    """CPU seconds (user + system) of another process so far, and of its children it has
    waited for, from /proc (zeros elsewhere)."""
    if not pid:
        return 0.0, 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def _children_cpu() -> float:
    """CPU seconds of this process's children it has waited for (spawned workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _fork_server_pid() -> int | None:
    from multiprocessing import forkserver

    return getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)


class _StartRecord(logging.Handler):
    """Keeps what sim.analysis.ensemble logs about a local cluster's start."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds = float("nan")
        self.here = 0

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "cluster_start_seconds"):
            self.seconds = record.cluster_start_seconds
            self.here = record.computed_here


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "idlib_2019.toml")
    p.add_argument("--replicates", type=int, default=20)
    p.add_argument("--population-scale", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler", help="existing Dask scheduler instead of a LocalCluster")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="ensembles to run, each on a new cluster")
    p.add_argument(
        "--client-first",
        action="store_true",
        help="start the local cluster (dask_client) before run_ensemble, as a script that "
        "passes its client does; by default run_ensemble starts it, as the command does",
    )
    args = p.parse_args(argv)

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "benchmarks"))
    from kernel import time_kernel

    from sim.analysis.ensemble import RunTask, dask_client, execute, run_ensemble
    from sim.model.rng import replicate_seeds
    from sim.scenario.loading import load_scenario

    scenario = load_scenario(args.scenario)
    kernel = time_kernel(scenario.population_total, scenario.n_days)
    print(
        f"kernel ({scenario.population_total:,} people x {scenario.n_days} days, one uniform "
        f"each): {kernel}"
    )
    task = RunTask.from_scenario(scenario, replicate_seeds(args.seed, 1)[0], args.population_scale)

    def timed() -> tuple[float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        execute(task)
        return time.perf_counter() - t0, time.process_time() - c0

    # In a thread, as a Dask worker runs a task: a process with several threads draws no
    # flight candidates ahead in a forked helper (sim.forking.can_fork), so the replicate
    # uses one core, as in the ensemble (where the other core has its own worker).
    with ThreadPoolExecutor(1) as pool:
        cold, cold_cpu = pool.submit(timed).result()
        single, single_cpu = pool.submit(timed).result()
    where = args.scheduler or f"LocalCluster, {args.workers} worker processes"
    print(
        f"{scenario.name}: {scenario.n_days} days, {scenario.population_total:,} people, "
        f"population scale {args.population_scale:g}"
    )
    print(
        f"one replicate as a worker runs it, in this process: {single:.2f} s wall, "
        f"{single_cpu:.2f} s CPU (first call {cold:.2f} s, {cold_cpu:.2f} s CPU)"
    )

    started = _StartRecord()
    ens_log = logging.getLogger("sim.analysis.ensemble")
    ens_log.addHandler(started)
    ens_log.setLevel(logging.INFO)
    walls = []
    for r in range(args.repeat):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        head = f"[{r + 1}/{args.repeat}] " if args.repeat > 1 else ""
        print(f"{head}machine: {os.cpu_count()} CPUs, load average {load:.1f} before the ensemble")
        server0 = _process_cpu(_fork_server_pid())
        with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp:
            kids0 = _children_cpu()
            c0, t0 = time.process_time(), time.perf_counter()
            with (
                dask_client(args.workers, args.scheduler)
                if args.scheduler or args.client_first
                else nullcontext()
            ) as client:
                t1 = time.perf_counter()
                res = run_ensemble(
                    [scenario],
                    replicates=args.replicates,
                    base_seed=args.seed,
                    population_scale=args.population_scale,
                    workers=args.workers,
                    out=Path(tmp) / "ensemble",
                    client=client,
                )
            wall = time.perf_counter() - t0
            client_cpu = time.process_time() - c0
        server1 = _process_cpu(_fork_server_pid())
        server_cpu, workers_cpu = server1[0] - server0[0], server1[1] - server0[1]
        workers_cpu += _children_cpu() - kids0  # workers spawned by this process (no fork server)
        assert res.ran == args.replicates, res.ran
        walls.append(wall)
        ideal = single * args.replicates / max(1, args.workers)
        print(
            f"ensemble of {args.replicates} replicates on {where}: {wall:.1f} s wall "
            f"= {wall / kernel.wall:.2f}x the kernel's wall time"
        )
        print(f"  {args.replicates / wall * 60:.1f} replicates per minute (everything included)")
        if args.scheduler or args.client_first:
            print(f"  cluster start (before any replicate) {t1 - t0:.1f} s")
        else:
            print(
                f"  the workers were up after {started.seconds:.1f} s; this process computed "
                f"{started.here} replicate(s) (while they started, and to even their rounds)"
            )
        total_cpu = client_cpu + workers_cpu + server_cpu
        if not args.scheduler:
            print(
                f"  CPU: {total_cpu:.1f} s = this process {client_cpu:.1f} s + workers "
                f"{workers_cpu:.1f} s + fork server {server_cpu:.1f} s; / {args.workers} cores = "
                f"{total_cpu / args.workers:.1f} s (the wall time on {args.workers} idle cores "
                "if everything ran in parallel)"
            )
        print(
            f"  for reference: {args.replicates} x {single:.2f} s / {args.workers} workers = "
            f"{ideal:.1f} s if the workers had whole CPUs to themselves and no start-up"
        )
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"  load average {load:.1f} after the ensemble")
    wall = walls[0]  # a new fork server, as in a command; later repeats reuse it
    if args.repeat > 1:
        print(
            f"wall of {args.repeat} ensembles: first {wall:.1f} s (the goals use it), min "
            f"{min(walls):.1f} s, median {statistics.median(walls):.1f} s, max {max(walls):.1f} s"
        )
    if args.population_scale == 0.1 and args.replicates == 20 and args.workers == 2:
        print(f"goal: 20 replicates at scale 0.1 on 2 workers <= 7 s: {wall:.1f} s")
    if args.population_scale == 1 and args.replicates == 8 and args.workers == 2:
        print(f"goal: 8 full replicates on 2 workers <= 1.5x the kernel: {wall / kernel.wall:.2f}x")
    return 0


if __name__ == "__main__":  # the guard is needed: Dask starts worker processes by spawning
    sys.exit(main())
