"""Run a scenario and write its results folder (the `idlibsim run` command, as a function)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError, Problem
from sim.model.model import DisplacementModel, population_weight
from sim.observed import compare, in_period, load_observed
from sim.outputs import figure_workers
from sim.outputs.folders import RunFolder
from sim.outputs.geo import place_pcodes
from sim.outputs.needs import needs_table, peak_needs
from sim.outputs.places import fled_from_summary, staying_summary
from sim.outputs.results import default_run_dir, manifest, write_csv, write_json
from sim.provenance import source_info
from sim.safety import FolderWriter, output_files, refuse_in_spawned_child, signals_held
from sim.scenario.loading import Scenario

#: Fewest person-rows a run may have (below, a "population scale" is a typo, not a model).
MIN_ROWS = 100


@dataclass
class RunResult:
    """What a run produced: its tables, summary and (if written) its folder."""

    scenario: Scenario
    seed: int
    population_scale: float
    daily: pd.DataFrame
    locations: pd.DataFrame
    routes: pd.DataFrame
    summary: dict[str, Any]
    wall_seconds: float
    run_dir: Path | None = None


def simulate(
    scenario: Scenario,
    seed: int = 0,
    population_scale: float = 1.0,
    check: bool | None = None,
    progress: bool = False,
    summary: bool = True,
) -> RunResult:
    """Run the model and return its tables (nothing is written).

    ``summary=False``: no headline numbers (an empty :attr:`RunResult.summary`): an ensemble
    replicate needs only the daily table, and the summary (needs, observed figures) takes
    about a tenth of a replicate at population scale 0.1.
    """
    check_population_scale(scenario, population_scale)
    t0 = time.perf_counter()
    model = DisplacementModel(scenario, seed=seed, population_scale=population_scale, check=check)
    model.run(progress=progress)
    daily, locations, routes = model.daily(), model.locations(), model.route_flows()
    model.close()  # frees the population's arrays now (no full collection needed)
    del model
    wall = time.perf_counter() - t0
    headline = summarize(scenario, daily, locations, routes) if summary else {}
    return RunResult(
        scenario, int(seed), float(population_scale), daily, locations, routes, headline, wall
    )


def run(
    scenario: Scenario,
    seed: int = 0,
    population_scale: float = 1.0,
    out: Path | str | None = None,
    force: bool = False,
    plots: bool = True,
    check: bool | None = None,
    progress: bool = False,
    results_root: Path | str | None = None,
    command: list[str] | None = None,
    workers: figure_workers.FigureWorkers | None = None,
) -> RunResult:
    """Run a scenario and write ``results/<scenario>/<run-id>/`` (or ``out``) atomically.

    ``workers``: figure workers the caller forked already (without a folder: the command
    line forks them before it imports the model, so that Matplotlib loads meanwhile on the
    other core); they are closed here whatever happens. Else, with ``plots``, they are
    forked here.

    Before anything is simulated, the output folder is checked (:mod:`sim.safety`): an
    existing ``out`` is replaced only with ``force`` and only if it is a results folder
    idlibsim wrote (its manifest lists every file, unchanged); a second process writing
    the same folder is refused; the files go to a temporary folder beside it, renamed
    into place when complete (an interrupted run leaves the previous one intact).
    """
    try:
        refuse_in_spawned_child("sim.run()")
        check_population_scale(scenario, population_scale)
        target = (
            Path(out) if out else default_run_dir(scenario, seed, population_scale, results_root)
        )
        protected = tuple(Path(p) for p in scenario.files)
        writer = FolderWriter(target, force=force, protected=protected)
    except BaseException:
        if workers is not None:
            workers.close()
        raise
    if not plots and workers is not None:
        workers.close()
        workers = None
    try:
        tmp = writer.open()  # refuses a bad target, locks it, proves it is writable
        if plots and workers is None and figure_workers.available():
            # forked now, small: they import Matplotlib on the other core while the model runs
            workers = figure_workers.FigureWorkers(tmp, scenario)
        res = simulate(scenario, seed, population_scale, check=check, progress=progress)
        write_run_files(res, tmp, plots=plots, command=command, workers=workers)
        if workers is not None:
            workers.close()
        writer.commit()
    except BaseException:
        # Whatever stopped the run (a second Ctrl-C included), the workers end before their
        # folder is removed, and nothing of it is left.
        with signals_held():
            if workers is not None:
                workers.close()
            writer.abort()
        raise
    res.run_dir = writer.target
    return res


def check_population_scale(scenario: Scenario, population_scale: float) -> int:
    """People per simulated person, or an :class:`InputError` if the scale cannot honour
    the scenario's total exactly (the total is never silently changed)."""
    try:
        weight = population_weight(float(population_scale))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        raise InputError(
            [Problem("--population-scale", "", str(exc), "use e.g. 1, 0.5, 0.2, 0.1 or 0.01")]
        ) from None
    total = int(scenario.population_total)
    fix = "use a population scale 1/k whose k divides the total, e.g. 1, 0.5, 0.2, 0.1 or 0.01"
    if total // weight < MIN_ROWS:
        raise InputError(
            [
                Problem(
                    "--population-scale",
                    "",
                    f"scale {population_scale:g} leaves {total // weight:,} simulated persons for "
                    f"{total:,} people (at least {MIN_ROWS:,} are needed)",
                    fix,
                )
            ]
        )
    if total % weight:
        raise InputError(
            [
                Problem(
                    "--population-scale",
                    "",
                    f"{total:,} people cannot be shared into simulated persons of {weight:,} "
                    f"people each (scale {population_scale:g}); the total would change",
                    fix + f", or set [population] total to a multiple of {weight:,}",
                )
            ]
        )
    return weight


def write_run_files(
    res: RunResult,
    folder: Path,
    plots: bool = True,
    command: list[str] | None = None,
    workers: figure_workers.FigureWorkers | None = None,
) -> None:
    """Write the tables, summary, plots and manifest of a run into ``folder``.

    ``workers``: processes forked for the figures (:mod:`sim.outputs.figure_workers`), else the
    figures are drawn here (in two batches, the second in a forked child).
    """
    write_csv(res.daily, folder / "daily.csv")
    write_csv(res.locations, folder / "locations.csv")
    write_csv(res.routes, folder / "routes.csv")
    write_json(res.summary, folder / "summary.json")
    from sim.outputs.report import (  # planner outputs and all plots
        report_html,
        write_planner_outputs,
    )

    write_planner_outputs(folder, res.scenario, res.summary, plots=plots, workers=workers)
    (folder / "report.html").write_text(
        report_html(folder, res.scenario, res.summary), encoding="utf-8"
    )
    outputs = output_files(folder)  # every file but our private marker
    man = manifest(
        res.scenario,
        res.seed,
        res.population_scale,
        res.wall_seconds,
        outputs,
        command=command,
        extra={"source": source_info()},
    )
    RunFolder(folder).write_manifest(man)


# --------------------------------------------------------------------------------------
def summarize(
    scenario: Scenario, daily: pd.DataFrame, locations: pd.DataFrame, routes: pd.DataFrame
) -> dict[str, Any]:
    """Headline numbers a planner reads first."""
    last = daily.iloc[-1]
    peak = daily.loc[daily["displaced_now"].idxmax()]
    origin = locations.groupby("location")["departures"].sum().sort_values(ascending=False)
    camps = locations[locations["camp_capacity"] > 0]
    camp_rows = []
    for name, g in camps.groupby("location", sort=False):
        occ = g["in_camp"] + g["in_informal_site"]
        i = int(np.argmax(occ.to_numpy()))
        row = g.iloc[i]
        full = g["date"][g["in_camp"] >= g["camp_capacity"]]  # formal places all taken
        over = occ - g["camp_capacity"]
        j = int(np.argmax(over.to_numpy()))
        row_over = g.iloc[j]
        camp_rows.append(
            {
                "location": name,
                "kind": row["kind"],
                "capacity": int(row["camp_capacity"]),
                "peak_people_in_camps_and_informal_sites": int(occ.iloc[i]),
                "peak_date": row["date"],
                "full_from": str(full.iloc[0]) if len(full) else None,
                "peak_pct_of_capacity": round(
                    100.0 * float(occ.iloc[i]) / max(int(row["camp_capacity"]), 1), 1
                ),
                # people beyond the formal places (in informal sites) on the worst day
                "peak_people_over_capacity": int(max(0, over.iloc[j])),
                "peak_over_capacity_date": row_over["date"],
            }
        )
    # Ranked by people over capacity, not by percent: a place with 37 places and 2,500 people
    # in sites is a smaller problem than a camp cluster 20,000 people over its places.
    camp_rows.sort(key=lambda r: (-r["peak_people_over_capacity"], -r["peak_pct_of_capacity"]))
    roads = routes.groupby(["from", "to"])["people"].sum().sort_values(ascending=False)
    out: dict[str, Any] = {
        "scenario": scenario.name,
        "title": scenario.title,
        "period": f"{daily['date'].iloc[0]} to {daily['date'].iloc[-1]}",
        "population": int(last["population"]),
        "counted_from": str(daily["date"].iloc[0]),
        "displacements": int(last["displacements_cumulative"]),
        "people_displaced": int(last["displaced_people_cumulative"]),
        "displaced_at_end": int(last["displaced_now"]),
        "peak_displaced": int(peak["displaced_now"]),
        "peak_displaced_date": peak["date"],
        "in_camps_at_end": int(last["in_camps"]),
        "in_informal_sites_at_end": int(last["in_informal_sites"]),
        "in_host_communities_at_end": int(last["in_host_community"]),
        "returned_at_end": int(last["returned"]),
        "abroad_at_end": int(last["abroad"]),
        **fled_from_summary(locations),
        # every departure: flights from home and from refuges, onward moves out of informal
        # sites, people passing through (not where people fled from: fled_from_at_peak)
        "departures_most_from": {k: int(v) for k, v in origin.head(8).items() if v > 0},
        **staying_summary(locations),
        "peak_needs_by_camp_cluster": peak_needs(
            needs_table(
                locations,
                scenario.needs,
                scenario.household_size,
                place_pcodes(scenario.locations_file),
            )
        ),
        "busiest_roads": {f"{a} - {b}": int(v) for (a, b), v in roads.head(5).items() if v > 0},
        "camps": camp_rows,
    }
    if scenario.observed is not None:
        obs = load_observed(scenario.observed)
        obs = in_period(
            obs,
            pd.Timestamp(daily["date"].iloc[0]).date(),
            pd.Timestamp(daily["date"].iloc[-1]).date(),
        )
        obs = obs[obs["use"] == "fit"]
        if not obs.empty:
            cmp = compare(daily, obs)
            out["observed"] = [
                {
                    "period_start": r.period_start.isoformat(),
                    "as_of": r.as_of.isoformat(),
                    "measure": r.measure,
                    "observed": int(r.value),
                    "model": int(r.model),
                    "relative_error_pct": round(100 * r.relative_error, 1),
                }
                for r in cmp.itertuples()
            ]
    return out
