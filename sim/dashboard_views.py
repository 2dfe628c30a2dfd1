"""What the dashboard shows, as plain functions (matplotlib and pandas, no Solara).

Each figure comes with a caption holding its key numbers as text, so a planner (and a
browser test) can read them without reading the picture. The map is
:func:`displaced_map`: places at their latitude and longitude sized by the displaced
people staying there. When the sub-district choropleth (``sim/maps.py``) lands, that one
function is the one to swap.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .config import Scenario
from .runner import RunResult, summarize

#: Population scale proposed for interactive use: one simulated person per 10 people, a
#: few seconds a run, the same curves within noise (see the calibration report).
INTERACTIVE_SCALE = 0.1
#: Metrics drawn as curves, with the observed UN/OCHA figures they measure.
CURVE_METRICS = ("displacements_cumulative", "displaced_people_cumulative")
#: Where a displaced person staying at a place is counted (locations.csv columns).
STAYING = ("in_host_community", "in_camp", "in_informal_site")


def people(n: float) -> str:
    """A count of people as a planner reads it: 12,345."""
    return f"{int(round(float(n))):,}"


def simulate_with_progress(
    scenario: Scenario,
    seed: int,
    population_scale: float,
    on_day: Callable[[int, int], None] | None = None,
) -> RunResult:
    """``sim.simulate`` day by day, calling ``on_day(days_done, n_days)`` as it goes (for a
    progress bar). Same model, same numbers as :func:`sim.simulate`."""
    from .model import DisplacementModel

    t0 = time.perf_counter()
    model = DisplacementModel(scenario, seed=seed, population_scale=population_scale)
    n = scenario.n_days
    while model.running:
        model.step()
        if on_day is not None:
            on_day(model.day, n)
    daily, locations, routes = model.daily(), model.locations(), model.route_flows()
    model.close()
    del model
    gc.collect()
    wall = time.perf_counter() - t0
    summary = summarize(scenario, daily, locations, routes)
    return RunResult(
        scenario, int(seed), float(population_scale), daily, locations, routes, summary, wall
    )


@dataclass
class RunView:
    """One run shown in the dashboard: its number in the session, what it was, its tables."""

    number: int
    result: RunResult
    changes: list[str] = field(default_factory=list)  # the levers, in words
    base: Scenario | None = None  # the scenario file the levers were applied to
    levers: Any = None  # sim.scenario_edit.Levers

    @property
    def key(self) -> str:
        return f"run{self.number}"

    @property
    def label(self) -> str:
        r = self.result
        name = (self.base or r.scenario).name
        what = name + (" + " + "; ".join(self.changes) if self.changes else "")
        return f"Run {self.number}: {what} (scale {r.population_scale:g})"


# --------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------


def run_curves(runs: list[RunView], metric: str) -> pd.DataFrame:
    """The runs' daily values of ``metric`` in the long form of :func:`sim.compare.load_curves`."""
    from .compare import CURVE_COLUMNS

    parts = []
    for rv in runs:
        r = rv.result
        d = r.daily
        parts.append(
            pd.DataFrame(
                {
                    "scenario": rv.key,
                    "label": rv.label,
                    "title": r.scenario.title,
                    "source": f"dashboard run {rv.number}",
                    "kind": "run",
                    "population_scale": r.population_scale,
                    "replicate": 0,
                    "seed": r.seed,
                    "date": d["date"].astype(str).to_numpy(dtype=object),
                    "day": d["day"].to_numpy(),
                    "metric": metric,
                    "value": d[metric].to_numpy(dtype=np.float64),
                    "observed_file": str(r.scenario.observed) if r.scenario.observed else "",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[list(CURVE_COLUMNS)]


def curves_figure(
    runs: list[RunView], metric: str, ensemble_curves: pd.DataFrame | None = None
) -> Figure:
    """The project's comparison figure (``idlibsim compare``) for the runs, an ensemble's
    bands if given, and the observed UN/OCHA figures of the period."""
    from .compare import observed_for, plot_comparison

    curves = run_curves(runs, metric) if runs else None
    if ensemble_curves is not None and len(ensemble_curves):
        curves = (
            ensemble_curves
            if curves is None
            else pd.concat([curves, ensemble_curves], ignore_index=True)
        )
    return plot_comparison(curves, metric, observed=observed_for(curves))


def curves_caption(rv: RunView) -> str:
    """The run's headline numbers on its last day."""
    s = rv.result.summary
    d = rv.result.daily
    return (
        f"Run {rv.number}, from {d['date'].iloc[0]} to {d['date'].iloc[-1]}: "
        f"{people(s['displacements'])} displacements (movements), "
        f"{people(s['people_displaced'])} people displaced at least once; "
        f"{people(s['displaced_at_end'])} displaced on the last day "
        f"(peak {people(s['peak_displaced'])} on {s['peak_displaced_date']})"
        + (f"; {people(s['abroad_at_end'])} crossed into Turkey." if s["abroad_at_end"] else ".")
    )


def observed_table(rv: RunView) -> str:
    """The UN/OCHA figures of the period beside the run's, counted over the same days
    (Markdown table; empty when the scenario has no observed figures for its period)."""
    obs = rv.result.summary.get("observed", [])
    if not obs:
        return ""
    rows = [
        "| by | counted | UN/OCHA | this run | difference |",
        "|---|---|--:|--:|--:|",
    ]
    for o in obs:
        what = "movements" if o["measure"] == "movements" else "people"
        rows.append(
            f"| {o['as_of']} | {what} | {people(o['observed'])} | {people(o['model'])} | "
            f"{o['relative_error_pct']:+.1f}% |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------------------
# Map and camps on a day
# --------------------------------------------------------------------------------------


def on_day(locations: pd.DataFrame, day: int) -> pd.DataFrame:
    """The locations table of one reported day (``day``: 0 = the first reported day)."""
    return locations[locations["day"] == int(day)].reset_index(drop=True)


def displaced_staying(locations: pd.DataFrame, day: int) -> pd.DataFrame:
    """Per place on a day: displaced people staying there (host communities + camps +
    informal sites), with its kind and coordinates; largest first."""
    t = on_day(locations, day).copy()
    t["displaced_staying"] = t[list(STAYING)].sum(axis=1)
    t = t[t["displaced_staying"] > 0]
    return t.sort_values(["displaced_staying", "location"], ascending=[False, True]).reset_index(
        drop=True
    )


_KIND_COLOURS = {
    "camp_cluster": "#c0392b",
    "host_area": "#8e44ad",
    "sub_district": "#2471a3",
    "town": "#2471a3",
}


MAP_LISTED = 10  # places numbered on the map and listed beside it


def _round_people(n: float) -> int:
    """n rounded down to one significant digit (a legend size: 20,000)."""
    if n < 1:
        return 0
    p = 10 ** int(np.floor(np.log10(n)))
    return int(n // p * p)


def displaced_map(locations: pd.DataFrame, day: int, title: str = "") -> Figure:
    """Where the displaced are staying on a day: each place at its latitude and longitude,
    its circle's area proportional to the displaced people staying there; the largest
    are named with their numbers. (To be replaced by the sub-district choropleth.)"""
    all_places = on_day(locations, day)
    staying = displaced_staying(locations, day)
    fig = Figure(figsize=(8.2, 6.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(all_places["lon"], all_places["lat"], s=6, color="#bbbbbb", zorder=1)
    gov = all_places[all_places["government_held"].astype(bool)]
    ax.scatter(
        gov["lon"], gov["lat"], s=40, marker="x", color="#555555", zorder=2, label="government-held"
    )
    top = float(staying["displaced_staying"].max()) if len(staying) else 1.0

    def area(n):
        return 1500.0 * np.asarray(n, dtype=float) / max(top, 1.0)

    if len(staying):
        colours = [_KIND_COLOURS.get(k, "#2471a3") for k in staying["kind"]]
        ax.scatter(
            staying["lon"],
            staying["lat"],
            s=area(staying["displaced_staying"]),
            c=colours,
            alpha=0.55,
            edgecolors="white",
            linewidths=0.8,
            zorder=3,
        )
        # the largest are numbered on the map and listed beside it (no overlapping names)
        listed = []
        for k, r in enumerate(staying.head(MAP_LISTED).itertuples(), 1):
            ax.annotate(
                str(k),
                (r.lon, r.lat),
                fontsize=8,
                fontweight="bold",
                ha="center",
                va="center",
                zorder=4,
            )
            listed.append(f"{k:>2}  {r.location}: {people(r.displaced_staying)}")
        ax.text(
            1.03,
            1.0,
            "Most displaced staying\n\n" + "\n".join(listed),
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=8,
            family="DejaVu Sans Mono",
        )
    for kind, label in (
        ("camp_cluster", "camps"),
        ("host_area", "host areas (Afrin, Azaz ...)"),
        ("sub_district", "sub-districts"),
    ):
        ax.scatter([], [], s=60, color=_KIND_COLOURS[kind], alpha=0.55, label=label)
    ref = _round_people(top / 2)
    if ref > 0:
        ax.scatter(
            [],
            [],
            s=area(ref),
            facecolors="none",
            edgecolors="#555555",
            label=f"{people(ref)} people",
        )
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(1.02, 0.0),
        fontsize=7.5,
        frameon=False,
        labelspacing=1.3,
        handletextpad=1.6,
        borderpad=1.0,
    )
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect(1.0 / np.cos(np.radians(35.9)))
    ax.grid(alpha=0.3)
    ax.set_title(title or "Displaced people staying in each place", fontsize=10)
    return fig


def map_caption(locations: pd.DataFrame, day: int) -> str:
    t = displaced_staying(locations, day)
    date = on_day(locations, day)["date"].iloc[0]
    if t.empty:
        return f"On {date}: nobody displaced is staying anywhere yet."
    head = ", ".join(f"{r.location} {people(r.displaced_staying)}" for r in t.head(3).itertuples())
    return (
        f"On {date}: {people(t['displaced_staying'].sum())} displaced people staying in "
        f"{len(t)} places; most in {head}."
    )


def camps_table(locations: pd.DataFrame, day: int) -> pd.DataFrame:
    """Places with formal camps on a day: capacity, people in camps, in informal sites
    (overflow) and occupancy of camps and sites together as % of capacity."""
    t = on_day(locations, day)
    t = t[t["camp_capacity"] > 0]
    out = pd.DataFrame(
        {
            "place": t["location"],
            "capacity": t["camp_capacity"].astype(int),
            "in_camps": t["in_camp"].astype(int),
            "in_informal_sites": t["in_informal_site"].astype(int),
        }
    )
    out["pct_of_capacity"] = (
        100.0 * (out["in_camps"] + out["in_informal_sites"]) / out["capacity"]
    ).round(0)
    return out.sort_values("pct_of_capacity", ascending=False).reset_index(drop=True)


def camps_figure(locations: pd.DataFrame, day: int) -> Figure:
    """People in camps and informal sites against the camp places, per camp place, on a day."""
    t = camps_table(locations, day).iloc[::-1]
    fig = Figure(figsize=(6.4, 3.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = np.arange(len(t))
    ax.barh(y, t["in_camps"], color="#c0392b", alpha=0.8, label="in camps")
    ax.barh(
        y,
        t["in_informal_sites"],
        left=t["in_camps"],
        color="#e59866",
        label="in informal sites (overflow)",
    )
    ax.scatter(t["capacity"], y, marker="|", s=400, color="black", zorder=3, label="camp places")
    for yi, r in zip(y, t.itertuples(), strict=True):
        ax.annotate(
            f" {r.pct_of_capacity:.0f}% of capacity",
            (max(r.capacity, r.in_camps + r.in_informal_sites), yi),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, t["place"])
    ax.set_xlabel("people")
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v:,.0f}")
    ax.legend(fontsize=7.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
    ax.margins(x=0.25)
    fig.suptitle("Camps and informal sites against camp places", fontsize=10)
    return fig


def camps_caption(locations: pd.DataFrame, day: int) -> str:
    t = camps_table(locations, day)
    date = on_day(locations, day)["date"].iloc[0]
    over = t[t["pct_of_capacity"] > 100]
    text = (
        f"On {date}: {people(t['in_camps'].sum())} in camps and "
        f"{people(t['in_informal_sites'].sum())} in informal sites, for "
        f"{people(t['capacity'].sum())} camp places."
    )
    if len(over):
        text += " Over capacity: " + ", ".join(
            f"{r.place} {r.pct_of_capacity:.0f}%" for r in over.itertuples()
        )
    return text
