"""What the dashboard shows, as plain functions (matplotlib and pandas, no Solara).

Each figure comes with a caption holding its key numbers as text, so a planner (and a
browser test) can read them without reading the picture. The map is the run's
sub-district choropleth for one day (``sim/outputs/maps.py``); the needs are those of needs.csv
(``sim/outputs/needs.py``) for one day.
"""

from __future__ import annotations

import calendar
import functools
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.outputs import plots as P
from sim.outputs.runner import RunResult, summarize
from sim.scenario.loading import Scenario

#: Population scale proposed for interactive use: one simulated person per 10 people, a
#: few seconds a run, the same curves within noise (see the calibration report).
INTERACTIVE_SCALE = 0.1
#: Metrics drawn as curves, with the observed UN/OCHA figures they measure.
CURVE_METRICS = ("displacements_cumulative", "displaced_people_cumulative")
#: Where a displaced person staying at a place is counted (locations.csv columns).
STAYING = ("in_host_community", "in_camp", "in_informal_site")
#: Places listed in the needs table (the most displaced people first).
NEEDS_LISTED = 10


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
    from sim.model.model import DisplacementModel

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
    levers: Any = None  # sim.dashboard.scenario_edit.Levers

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
    """The runs' daily values of ``metric`` in the long form of :func:`sim.analysis.compare.load_curves`."""
    from sim.analysis.compare import CURVE_COLUMNS

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
                    "uncertainty": "none (a single run)",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[list(CURVE_COLUMNS)]


def curves_figure(
    runs: list[RunView], metric: str, ensemble_curves: pd.DataFrame | None = None
) -> Figure:
    """The project's comparison figure (``idlibsim compare``) for the runs, an ensemble's
    bands if given, and the observed UN/OCHA figures of the period."""
    from sim.analysis.compare import observed_for, plot_comparison

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


@functools.lru_cache(maxsize=1)
def boundaries():
    """The OCHA sub-district polygons (``scenarios/data/geo``), read once per process."""
    from sim.outputs.geo import load_boundaries

    return load_boundaries()


@functools.lru_cache(maxsize=16)
def pcodes_of(locations_file: Path | str | None) -> dict[str, str]:
    """``{place: sub-district pcode}`` of a scenario's locations file (read once)."""
    from sim.outputs.geo import place_pcodes

    return place_pcodes(locations_file)


def staying_by_sub_district(
    locations: pd.DataFrame, pcodes: dict[str, str], day: int
) -> pd.DataFrame:
    """Per sub-district on a day: displaced people staying there (hosted + in camps +
    informal sites, summed over its places), with its name; largest first, empty ones out.
    The numbers the map (:func:`displaced_map`) fills the sub-districts with."""
    from sim.outputs.places import by_sub_district, daily_series

    bounds = boundaries()
    staying = daily_series(on_day(locations, day))["staying"]
    wide = by_sub_district(staying, pcodes, set(bounds.sub_districts))
    vals = wide.iloc[0] if wide.size else pd.Series(dtype=float)
    t = pd.DataFrame(
        {
            "pcode": vals.index,
            "sub_district": [bounds.sub_districts[pc].name for pc in vals.index],
            "displaced_staying": vals.to_numpy(dtype=np.int64),
        }
    )
    t = t[t["displaced_staying"] > 0]
    return t.sort_values(
        ["displaced_staying", "sub_district"], ascending=[False, True]
    ).reset_index(drop=True)


def displaced_map(
    locations: pd.DataFrame, day: int, pcodes: dict[str, str], title: str = ""
) -> Figure:
    """Where the displaced are staying on a day: the run's sub-district choropleth
    (:func:`sim.outputs.maps.staying_day_map`), captured areas hatched."""
    from sim.outputs.maps import staying_day_map

    return staying_day_map(locations, boundaries(), pcodes, int(day), title)


def map_caption(locations: pd.DataFrame, day: int, pcodes: dict[str, str]) -> str:
    """The map's numbers in words: total staying, in how many sub-districts, the largest
    three, and the sub-districts captured by the day."""
    from sim.outputs.maps import control_pcodes

    t = staying_by_sub_district(locations, pcodes, day)
    date = on_day(locations, day)["date"].iloc[0]
    if t.empty:
        return f"On {date}: nobody displaced is staying anywhere yet."
    head = ", ".join(
        f"{r.sub_district} {people(r.displaced_staying)}" for r in t.head(3).itertuples()
    )
    _, captured = control_pcodes(locations, pcodes, date)
    text = (
        f"On {date}: {people(t['displaced_staying'].sum())} displaced people staying in "
        f"{len(t)} sub-districts; most in {head}."
    )
    if captured:
        n = len(captured)
        text += f" {n} sub-district{'s' if n > 1 else ''} captured since the first day (hatched)."
    return text


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


@P.styled
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


# --------------------------------------------------------------------------------------
# The places now, from the model's Location agents (the live page)
# --------------------------------------------------------------------------------------


def places_now(agents: Iterable[Any]) -> pd.DataFrame:
    """What the :class:`~sim.model.model.Location` agents carry now, one row a place, the places
    with most displaced people staying first (ties by name)."""
    t = pd.DataFrame(
        [
            {
                "place": a.name,
                "displaced_staying": a.displaced_staying,
                "in_camp": a.in_camp,
                "in_informal_site": a.in_informal_site,
                "camp_capacity": a.camp_capacity,
                "threat": a.threat,
                "government_held": a.government_held,
            }
            for a in agents
        ]
    )
    return t.sort_values(["displaced_staying", "place"], ascending=[False, True]).reset_index(
        drop=True
    )


def places_markdown(agents: Iterable[Any], top: int = 8) -> str:
    """The ``top`` places by displaced people staying there now (Markdown): people staying,
    camps against their places, the danger expected there (0-1), held by the government."""
    t = places_now(agents)
    t = t[t["displaced_staying"] > 0].head(top)
    if t.empty:
        return "Nobody is displaced yet."
    rows = [
        "| place | displaced staying | in camps / camp places | informal sites | danger | "
        "government-held |",
        "|:--|--:|--:|--:|--:|:--|",
    ]
    for r in t.itertuples():
        camps = f"{people(r.in_camp)} / {people(r.camp_capacity)}" if r.camp_capacity else "-"
        held = "yes" if r.government_held else ""
        rows.append(
            f"| {r.place} | {people(r.displaced_staying)} | {camps} | "
            f"{people(r.in_informal_site)} | {r.threat:.2f} | {held} |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------------------
# Needs by place on a day
# --------------------------------------------------------------------------------------

#: The needs shown, in the table's order: needs.csv column -> heading (units).
NEEDS_SHOWN = {
    "displaced_people": "displaced people",
    "water_litres_per_day": "water (litres/day)",
    "latrines": "latrines",
    "food_kcal_per_day": "food (kcal/day)",
    "covered_space_m2": "covered space (m²)",
    "nfi_kits": "household kits",
    "winterisation_kits": "winter kits",
}


def needs_on_day(result: RunResult, day: int) -> pd.DataFrame:
    """The rows of the run's needs.csv (:func:`sim.outputs.needs.needs_table`, the scenario's
    [needs] standards) for one reported day, the places with most displaced people first."""
    from sim.outputs.needs import needs_table

    sc = result.scenario
    today = on_day(result.locations, day)
    t = needs_table(today, sc.needs, sc.household_size, pcodes_of(sc.locations_file))
    return t.sort_values(["displaced_people", "location"], ascending=[False, True]).reset_index(
        drop=True
    )


def needs_markdown(result: RunResult, day: int, top: int = NEEDS_LISTED) -> str:
    """The needs of the ``top`` places with most displaced people on a day, and of every
    place together (Markdown table; a line saying so when nobody is displaced)."""
    t = needs_on_day(result, day)
    if t.empty:
        return "Nobody is displaced on this day: no needs."
    cols = list(NEEDS_SHOWN)
    rows = [
        "| place | sub-district | " + " | ".join(NEEDS_SHOWN.values()) + " |",
        "|:--|:--" + "|--:" * len(cols) + "|",
    ]
    names = {pc: sd.name for pc, sd in boundaries().sub_districts.items()}
    for r in t.head(top).itertuples():
        where = names.get(r.pcode, "")
        rows.append(
            f"| {r.location} | {where} | " + " | ".join(people(getattr(r, c)) for c in cols) + " |"
        )
    total = t[cols].sum()
    rows.append(
        f"| **all {len(t)} places** | | "
        + " | ".join(f"**{people(total[c])}**" for c in cols)
        + " |"
    )
    return "\n".join(rows)


def needs_caption(result: RunResult, day: int) -> str:
    """What the needs table counts, with the standards of the scenario's [needs] section."""
    from sim.outputs.needs import standards

    s = standards(result.scenario.needs)
    date = on_day(result.locations, day)["date"].iloc[0]
    hh = result.scenario.household_size
    return (
        f"Needs on {date} by place (most displaced people first), from the minimum standards "
        f"of the scenario's [needs] section (Sphere Handbook 2018 by default): displaced "
        f"people (hosted, in camps, in informal sites, on the move) x "
        f"{s['water_litres_per_person_day']:g} litres of water and "
        f"{s['kcal_per_person_day']:,.0f} kcal a day; one latrine per "
        f"{s['people_per_latrine']:g} people in camps and informal sites; "
        f"{s['covered_space_m2_per_person']:g} m² of covered space per person in informal "
        f"sites or on the move; household kits: {s['nfi_kits_per_household']:g} per household "
        f"of {hh:g} people in camps, sites or on the move (winter kits: "
        f"{s['winterisation_kits_per_household']:g} per household, "
        f"{calendar.month_name[int(s['winter_start_month'])]} to "
        f"{calendar.month_name[int(s['winter_end_month'])]}). The same figures as the run "
        "folder's needs.csv."
    )
