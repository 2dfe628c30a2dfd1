"""Benchmark: the 2019 scenario at full population (4 million people).

Prints, for the whole command ``idlibsim run`` with every output (tables, needs, GeoJSON,
every plot and map, report.html, manifest) run as a separate process: wall seconds, CPU
seconds (user + system, the plotting child included) and peak memory (max resident set
size of the largest process); then the phases of one run in this process: model
(construction + simulation), tables and summary, planner outputs (needs, weekly, GeoJSON),
plots (two batches, the second in a forked child: wall), report.html and manifest.
Targets on an idle 2-core machine: under 10 s wall for the whole command, under 1.5 GB. Note the load average printed beside each figure: other
processes on the machine lengthen the wall time, not much the CPU seconds.

    python benchmarks/bench_full_run.py [--scale 1] [--seed 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load() -> str:
    """The 1-minute load average, as text."""
    return f"{os.getloadavg()[0]:.2f}"


def whole_command(scenario: str, scale: float, seed: int, out: Path) -> tuple[float, float, float]:
    """(wall s, user+sys CPU s, peak RSS MB) of ``python -m sim run`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sim", "run", scenario, "--out", str(out), "--force"]
        + ["--population-scale", str(scale), "--seed", str(seed)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024  # ru_maxrss is in kilobytes on Linux


def phases(scenario: str, scale: float, seed: int, folder: Path) -> None:
    """Time the phases of one run in this process (wall seconds)."""
    from sim.scenario.loading import load_scenario
    from sim.provenance import source_info
    from sim.report import render_plots, report_html, write_planner_outputs
    from sim.results import manifest, write_csv, write_json
    from sim.runner import simulate
    from sim.safety import output_files

    sc = load_scenario(scenario)
    folder.mkdir(parents=True)
    marks = [("start", time.perf_counter())]
    res = simulate(sc, seed=seed, population_scale=scale)
    marks.append(("model (build + simulate + tables in memory + summary)", time.perf_counter()))
    write_csv(res.daily, folder / "daily.csv")
    write_csv(res.locations, folder / "locations.csv")
    write_csv(res.routes, folder / "routes.csv")
    write_json(res.summary, folder / "summary.json")
    marks.append(("write daily/locations/routes/summary", time.perf_counter()))
    write_planner_outputs(folder, sc, res.summary, plots=False)
    marks.append(("needs.csv, weekly.csv, places.geojson", time.perf_counter()))
    (folder / "plots").mkdir()
    render_plots(folder, sc, res.summary, parallel=True)
    marks.append(("plots and maps (two batches in parallel)", time.perf_counter()))
    (folder / "report.html").write_text(report_html(folder, sc, res.summary), encoding="utf-8")
    man = manifest(
        sc, seed, scale, res.wall_seconds, output_files(folder), extra={"source": source_info()}
    )
    write_json(man, folder / "manifest.json")
    marks.append(("report.html and manifest", time.perf_counter()))
    for (_, a), (name, b) in zip(marks, marks[1:], strict=False):
        print(f"  {name:55s} {b - a:6.2f} s")
    print(f"  {'total (after imports)':55s} {marks[-1][1] - marks[0][1]:6.2f} s  (load {load()})")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "idlib_2019.toml"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        print(f"whole `idlibsim run` (every output), scale {args.scale}, seed {args.seed}:")
        runs = []
        for i in range(args.repeat):
            wall, cpu, rss = whole_command(args.scenario, args.scale, args.seed, Path(tmp) / "run")
            runs.append((wall, cpu))
            print(
                f"  run {i + 1}: wall {wall:.2f} s, CPU (user+sys) {cpu:.2f} s, "
                f"peak RSS {rss:.0f} MB (load {load()})"
            )
        print(f"  best: wall {min(r[0] for r in runs):.2f} s, CPU {min(r[1] for r in runs):.2f} s")
        print("phases of one run (this process):")
        phases(args.scenario, args.scale, args.seed, Path(tmp) / "phases")


if __name__ == "__main__":
    main()
