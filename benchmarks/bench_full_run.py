"""Benchmark: the 2019 scenario at full population (4 million people), against a kernel.

Times the kernel (``benchmarks/kernel.py``: one random number per person per day, 4
million x the scenario's days) in a new process before each repeat, as each command runs; every goal is printed
as seconds (wall and CPU) and as a ratio to the kernel of the same repeat (median and
best over the repeats), so that figures measured on a loaded or slower machine can be
compared. Goals (issue 16): the whole command <= 0.8x the kernel, ``--no-plots``
<= 0.5x, simulate (the days) <= 1 s, ``--help`` and ``validate`` < 0.3 s, state <= 20 B
per person, peak memory <= 250 MB.

Then prints, for the whole command ``idlibsim run`` with every output (tables, needs, GeoJSON,
every plot and map, report.html, manifest) run as a separate process: wall seconds, CPU
seconds (user + system, the plotting child included) and peak memory (max resident set
size of the largest process); then the phases of one run in this process: model
(construction + simulation), tables and summary, planner outputs (needs, weekly, GeoJSON),
plots (the figure worker and its helper: wall), report.html and manifest.
Note the load average printed beside each figure: other processes on the machine lengthen
the wall time, not much the CPU seconds.

    python benchmarks/bench_full_run.py [--scale 1] [--seed 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from kernel import Timing, cpu_seconds, time_kernel  # noqa: E402 - after the path


def load() -> str:
    """The 1-minute load average, as text."""
    return f"{os.getloadavg()[0]:.2f}"


def command(args: list[str]) -> tuple[Timing, float]:
    """(wall and user+sys CPU seconds, peak RSS MB) of ``python -m sim ARGS`` in a new process.

    The CPU seconds include every child (the plotting processes); the peak is the largest
    resident set of any process waited for so far (``ru_maxrss`` of the children).
    """
    c0 = cpu_seconds(children=True)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    return Timing(wall, cpu_seconds(children=True) - c0), rss


def best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def state_bytes(pop) -> tuple[int, int]:
    """Bytes of the population's arrays (households, people, membership), and people."""
    seen = {id(c): c.nbytes for c in pop.households.columns.values()}
    people = pop.people
    if hasattr(people, "columns"):  # a frame of stored columns (before issue 16)
        seen.update({id(c): c.nbytes for c in people.columns.values()})
    else:
        seen[id(people)] = people.nbytes
    for name in ("member_index", "member_start"):
        arr = getattr(pop, name, None)
        if arr is not None:
            seen[id(arr)] = arr.nbytes
    return sum(seen.values()), pop.n_people * pop.weight


def phases(scenario: str, scale: float, seed: int, folder: Path) -> tuple[Timing, int, int]:
    """Time the phases of one run in this process; return the simulate timing and state size."""
    from sim.model.model import DisplacementModel
    from sim.outputs.figure_workers import FigureWorkers
    from sim.outputs.report import report_html, write_planner_outputs
    from sim.outputs.results import manifest, write_csv, write_json
    from sim.outputs.runner import summarize
    from sim.provenance import source_info
    from sim.safety import output_files
    from sim.scenario.loading import load_scenario

    sc = load_scenario(scenario)
    folder.mkdir(parents=True)
    marks = [("start", time.perf_counter(), cpu_seconds())]

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter(), cpu_seconds()))

    workers = FigureWorkers(folder, sc)  # as `idlibsim run` does
    mark("fork the figure workers")
    model = DisplacementModel(sc, seed=seed, population_scale=scale)
    mark("build the model (geography, routes, population)")
    nbytes, npeople = state_bytes(model.population)
    model.run()
    mark("simulate (every day)")
    daily, locations, routes = model.daily(), model.locations(), model.route_flows()
    model.close()
    summary = summarize(sc, daily, locations, routes)
    mark("tables in memory and summary")
    write_csv(daily, folder / "daily.csv")
    write_csv(locations, folder / "locations.csv")
    write_csv(routes, folder / "routes.csv")
    write_json(summary, folder / "summary.json")
    mark("write daily/locations/routes/summary")
    write_planner_outputs(folder, sc, summary, plots=True, workers=workers)
    workers.close()
    mark("needs, weekly, GeoJSON here; every figure in the workers (CPU: here)")
    (folder / "report.html").write_text(report_html(folder, sc, summary), encoding="utf-8")
    man = manifest(sc, seed, scale, 0.0, output_files(folder), extra={"source": source_info()})
    write_json(man, folder / "manifest.json")
    mark("report.html and manifest")
    sim = None
    for (_, a, ca), (name, b, cb) in zip(marks, marks[1:], strict=False):
        print(f"  {name:66s} {b - a:6.2f} s wall {cb - ca:6.2f} s CPU")
        if name.startswith("simulate"):
            sim = Timing(b - a, cb - ca)
    print(f"  {'total (after imports)':66s} {marks[-1][1] - marks[0][1]:6.2f} s  (load {load()})")
    assert sim is not None
    return sim, nbytes, npeople


def simulate_alone(scenario: str, scale: float, seed: int, repeat: int) -> list[Timing]:
    """Wall and CPU seconds of the days of ``repeat`` models built one after the other in
    this process, nothing else running in it (as `idlibsim run` simulates once its figure
    worker, forked before the model's imports, has warmed up). The first pays the page
    faults of fresh memory; CPU includes the flight-candidates helper (a child)."""
    from sim.model.model import DisplacementModel
    from sim.scenario.loading import load_scenario

    sc = load_scenario(scenario)
    out = []
    for _ in range(max(repeat, 1)):
        model = DisplacementModel(sc, seed=seed, population_scale=scale)
        t0, c0 = time.perf_counter(), cpu_seconds() + cpu_seconds(children=True)
        model.run()
        c1 = cpu_seconds() + cpu_seconds(children=True)
        out.append(Timing(time.perf_counter() - t0, c1 - c0))
        model.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "idlib_2019.toml"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from sim.scenario.loading import load_scenario

    sc = load_scenario(args.scenario)
    people = round(sc.population_total * args.scale)
    print(f"machine: {os.cpu_count()} CPUs, load {load()}")
    # The commands are timed as an installed idlibsim runs: its bytecode compiled. Where
    # PYTHONDONTWRITEBYTECODE is set (as on the development machine) every start would
    # otherwise compile sim/ again (50 ms of a 0.3 s `validate`).
    compileall.compile_dir(ROOT / "sim", quiet=1)
    # The kernel is timed again before each repeat, in a new process as each command runs
    # (kernel.py says why), and each command is compared with the kernel of its own
    # repeat: other virtual machines on the host move both within an hour.
    kernels: list[Timing] = []

    with tempfile.TemporaryDirectory() as tmp:
        run = ["run", args.scenario, "--out", str(Path(tmp) / "run"), "--force"]
        run += ["--population-scale", str(args.scale), "--seed", str(args.seed)]
        results: dict[str, list[Timing]] = {"run": [], "run --no-plots": []}
        ratios: dict[str, list[float]] = {"run": [], "run --no-plots": []}
        peak = 0.0
        for i in range(args.repeat):
            k = time_kernel(people, sc.n_days)
            kernels.append(k)
            print(f"kernel {i + 1} ({people:,} people x {sc.n_days} days, one uniform each): {k}")
            for what, extra in (("run", []), ("run --no-plots", ["--no-plots"])):
                t, rss = command(run + extra)
                peak = max(peak, rss)
                results[what].append(t)
                ratios[what].append(t.wall / k.wall)
                print(f"  {what} {i + 1}: {t} = {t.ratio(k)} (load {load()})")
        helps = [command(["--help"])[0] for _ in range(args.repeat)]
        validates = [command(["validate", args.scenario])[0] for _ in range(args.repeat)]
        print("phases of one run (this process):")
        in_run, nbytes, npeople = phases(args.scenario, args.scale, args.seed, Path(tmp) / "phases")
        sims = simulate_alone(args.scenario, args.scale, args.seed, args.repeat)
    sim = best(sims)

    whole, no_plots = best(results["run"]), best(results["run --no-plots"])
    k = best(kernels)
    walls = ", ".join(f"{t.wall:.2f}" for t in kernels)
    print(f"goals (best of {args.repeat}; kernels {walls} s wall; load now {load()}):")

    def paired(what: str) -> str:
        r = sorted(ratios[what])
        return f"{r[len(r) // 2]:.2f}x median, {r[0]:.2f}x best, of its own repeat's kernel"

    print(f"  whole run, every output:  {whole}; {paired('run')}   (goal <= 0.8x; 10 s wall)")
    print(f"  run --no-plots:           {no_plots}; {paired('run --no-plots')}   (goal <= 0.5x)")
    print(
        f"  simulate (the days):      {sim} = {sim.ratio(k)} of the best kernel   (goal <= 1.0 s)"
    )
    print(
        f"    (alone in this process, best of {len(sims)}: "
        + ", ".join(f"{t.wall:.2f}" for t in sims)
        + f" s wall; beside the figure worker's warm-up in the phases above: {in_run.wall:.2f} s)"
    )
    print(f"  idlibsim --help:          {best(helps)}   (goal < 0.3 s)")
    print(f"  idlibsim validate:        {best(validates)}   (goal < 0.3 s)")
    print(
        f"  state: {nbytes / 1e6:.0f} MB, {nbytes / max(npeople, 1):.1f} B per person"
        "   (goal <= 20 B)"
    )
    print(f"  peak memory (largest process of the runs): {peak:.0f} MB   (goal <= 250 MB)")


if __name__ == "__main__":
    main()
