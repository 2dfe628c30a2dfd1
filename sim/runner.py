"""Run a scenario and write its results folder (the `idlibsim run` command, as a function)."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Scenario
from .geo import place_pcodes
from .model import DisplacementModel
from .needs import needs_table, peak_needs
from .observed import compare, in_period, load_observed
from .places import staying_summary
from .results import RunWriter, default_run_dir, file_sha256, manifest, write_csv, write_json


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
) -> RunResult:
    """Run the model and return its tables (nothing is written)."""
    t0 = time.perf_counter()
    model = DisplacementModel(scenario, seed=seed, population_scale=population_scale, check=check)
    model.run(progress=progress)
    daily, locations, routes = model.daily(), model.locations(), model.route_flows()
    model.close()
    del model
    gc.collect()  # the model's agents and arrays form reference cycles: free them now
    wall = time.perf_counter() - t0
    summary = summarize(scenario, daily, locations, routes)
    return RunResult(
        scenario, int(seed), float(population_scale), daily, locations, routes, summary, wall
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
) -> RunResult:
    """Run a scenario and write ``results/<scenario>/<run-id>/`` (or ``out``) atomically."""
    target = Path(out) if out else default_run_dir(scenario, seed, population_scale, results_root)
    if target.exists() and not force:
        from .results import ResultsExistError

        raise ResultsExistError(
            f"results folder {target} already exists; use --force to replace it or --out to write elsewhere"
        )
    res = simulate(scenario, seed, population_scale, check=check, progress=progress)
    with RunWriter(target, force=force) as tmp:
        write_run_files(res, tmp, plots=plots, command=command)
    res.run_dir = target
    return res


def write_run_files(
    res: RunResult, folder: Path, plots: bool = True, command: list[str] | None = None
) -> None:
    """Write the tables, summary, plots and manifest of a run into ``folder``."""
    write_csv(res.daily, folder / "daily.csv")
    write_csv(res.locations, folder / "locations.csv")
    write_csv(res.routes, folder / "routes.csv")
    write_json(res.summary, folder / "summary.json")
    from .report import report_html, write_planner_outputs  # planner outputs and all plots

    write_planner_outputs(folder, res.scenario, res.summary, plots=plots)
    (folder / "report.html").write_text(
        report_html(folder, res.scenario, res.summary), encoding="utf-8"
    )
    outputs = {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    man = manifest(
        res.scenario, res.seed, res.population_scale, res.wall_seconds, outputs, command=command
    )
    write_json(man, folder / "manifest.json")


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
            }
        )
    camp_rows.sort(key=lambda r: -r["peak_pct_of_capacity"])
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
        "top_origins": {k: int(v) for k, v in origin.head(8).items() if v > 0},
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


def format_summary(s: dict[str, Any]) -> str:
    """The summary as a few lines of text."""
    lines = [
        f"{s['title']}",
        f"  period {s['period']}, {s['population']:,} people simulated",
        f"  counted from {s.get('counted_from', s['period'][:10])}: {s['displacements']:,} displacements "
        f"(movements: a person fleeing twice counts twice); {s['people_displaced']:,} people displaced at least once",
        f"  displaced at the end: {s['displaced_at_end']:,} (peak {s['peak_displaced']:,} on {s['peak_displaced_date']})",
        f"    in camps {s['in_camps_at_end']:,}, informal sites {s['in_informal_sites_at_end']:,}, "
        f"host communities {s['in_host_communities_at_end']:,}; returned {s['returned_at_end']:,}; abroad {s['abroad_at_end']:,}",
    ]
    if s["top_origins"]:
        lines.append(
            "  fled most from: "
            + ", ".join(f"{k} {v:,}" for k, v in list(s["top_origins"].items())[:5])
        )
    if s.get("staying_at_end"):
        lines.append(
            f"  staying most in (displaced there, net of {s['staying_counted_from']}), at the end: "
            + ", ".join(f"{k} {v:,}" for k, v in list(s["staying_at_end"].items())[:5])
        )
    if s.get("staying_at_peak"):
        lines.append(
            "    at each place's peak: "
            + ", ".join(
                f"{k} {v['people']:,} ({v['date']})"
                for k, v in list(s["staying_at_peak"].items())[:5]
            )
        )
    over = [c for c in s["camps"] if c["peak_pct_of_capacity"] > 100]
    if over:
        lines.append(
            "  over capacity: "
            + ", ".join(
                f"{c['location']} {c['peak_pct_of_capacity']:.0f}% ({c['peak_date']})"
                for c in over[:5]
            )
        )
    full = [c for c in s["camps"] if c.get("full_from")]
    if full:
        lines.append(
            "  camps full from: " + ", ".join(f"{c['location']} {c['full_from']}" for c in full[:6])
        )
    for r in s.get("peak_needs_by_camp_cluster", [])[:4]:
        lines.append(
            f"  peak needs {r['location']} ({r['peak_date']}, {r['displaced_people']:,} people): "
            f"water {r['water_litres_per_day']:,.0f} l/day, {r['latrines']:,} latrines, "
            f"covered space {r['covered_space_m2']:,.0f} m2, {r['nfi_kits']:,} NFI kits"
        )
    if s.get("observed"):
        lines.append(
            "  UN/OCHA figures vs the model over the SAME period (each from its own start):"
        )
    for o in s.get("observed", []):
        since = o.get("period_start", "")
        lines.append(
            f"    {o['measure']} {since} to {o['as_of']}: observed {o['observed']:,}; "
            f"model {o['model']:,} ({o['relative_error_pct']:+.1f}%)"
        )
    return "\n".join(lines)
