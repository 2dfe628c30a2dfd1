"""Outputs for humanitarian planners: needs, maps, GIS layer, weekly table, one-file report.

:func:`write_planner_outputs` writes into a run folder

``needs.csv``          per day and place: displaced people by setting and their needs
                       (:mod:`sim.outputs.needs`);
``weekly.csv``         one row per week (situation-report cadence), :func:`sim.outputs.places.weekly_table`;
``places.geojson``     a polygon per sub-district with a modelled place and a point per camp,
                       with displaced from / staying (end, peak) and needs at peak (QGIS, ArcGIS);
``plots/``             the maps (:mod:`sim.outputs.maps`), ``needs.png`` and ``displaced_by_setting.png``;
``report.html``        one self-contained file: every plot embedded (base64 PNG), the tables,
                       the scenario's description and sources, how to read each figure.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.observed import load_observed
from sim.outputs.geo import load_boundaries, place_pcodes
from sim.outputs.needs import NEED_MEASURES, daily_totals, needs_table, standards
from sim.outputs.places import place_table, places_geojson, sub_district_table, weekly_table
from sim.outputs.results import versions, write_csv
from sim.scenario.schema import NeedsSection
from sim.scenario.types import extra_of, unit_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Matplotlib (sim.outputs.plots, sim.outputs.maps) is imported only by the functions that draw: the tables,
# report.html and ``--no-plots`` never need it, and a run draws its figures in processes
# forked before the simulation that import it while the model runs (sim.outputs.figure_workers).


def _styled(figure_function: Callable[..., Figure]) -> Callable[..., Figure]:
    """:func:`sim.outputs.plots.styled`, importing Matplotlib only when the figure is drawn."""

    @functools.wraps(figure_function)
    def draw(*args: Any, **kwargs: Any) -> Figure:
        from sim.outputs.plots import styled

        return styled(figure_function)(*args, **kwargs)

    return draw


#: Figures of a run, in report order, with how to read each (shown under it in report.html).
FIGURES: dict[str, tuple[str, str]] = {
    "cumulative_displacement.png": (
        "Displacement over time",
        "Lines: the model's cumulative movements (every flight counts, as OCHA/CCCM "
        "'displacements'), unique people displaced and people displaced on the day, all counted "
        "from the first reported day. Markers: UN/OCHA figures; a figure counted from a later "
        "date is drawn on the model's total of the day before that date, so marker and line "
        "compare the same period.",
    ),
    "displaced_by_setting.png": (
        "Where the displaced are staying, by setting",
        "Stacked areas: displaced people on each day in formal camps, informal sites, host "
        "communities and on the move (people, not movements). The table under the report lists "
        "when each camp cluster became full.",
    ),
    "map_displaced_from.png": (
        "Where the displaced come from",
        "Each sub-district shaded by the people from it who are away from home: on the last "
        "day (left) and on its own worst day (right). Grey: held by the government from the "
        "start; hatched: captured during the run.",
    ),
    "map_staying.png": (
        "Where the displaced are staying",
        "Each sub-district shaded by the displaced people staying there (hosted, in camps, in "
        "informal sites), minus those already there on the first day: where this offensive's "
        "displaced are, not where they passed through.",
    ),
    "flow_map.png": (
        "Flows along the roads",
        "Arrows: net people along each road over the run, in the direction most travelled; "
        "width grows with the number. Triangles: camp clusters; squares: border crossings "
        "(crossed out: closed); dotted roads with a cross: closed by the scenario.",
    ),
    "situation_by_week.png": (
        "The situation week by week",
        "The staying map on successive dates (same colour scale in every panel), with the "
        "areas captured by each date hatched: for situation reports.",
    ),
    "needs.png": (
        "Needs of the displaced",
        "Zone totals per day of the Sphere minimum standards applied to the displaced (table "
        "'Standards used'): covered space for people without shelter, water, latrines for camps "
        "and sites, food, household and winterisation kits.",
    ),
    "displaced_by_district.png": (
        "Displaced by home district",
        "People away from home on each day, by the district of their home.",
    ),
    "camp_occupancy.png": (
        "Camp clusters",
        "People in each camp cluster's formal camps and the informal sites around it, against "
        "its formal places.",
    ),
}

SETTINGS = (
    ("in_camps", "in formal camps", "#117733", ""),
    ("in_informal_sites", "in informal sites", "#DDCC77", "///"),
    ("in_host_community", "in host communities", "#88CCEE", ""),
    ("on_the_move", "on the move", "#CC6677", ".."),
)


@_styled
def displaced_by_setting(daily: pd.DataFrame, camps: list[dict], title: str = "") -> Figure:
    """Stacked people by setting per day, and when each camp cluster became full."""
    from sim.outputs import plots as P

    dates = P._as_dates(daily["date"])
    fig, ((ax,),) = P._empty_figure(9.0, 5.4)
    ys = [daily[c].to_numpy(float) for c, *_ in SETTINGS]
    polys = ax.stackplot(
        dates, *ys, colors=[s[2] for s in SETTINGS], labels=[s[1] for s in SETTINGS], zorder=2
    )
    for poly, s in zip(polys, SETTINGS, strict=True):
        poly.set_hatch(s[3])
        poly.set_edgecolor("white")
    top = float(np.sum(ys, axis=0).max()) if len(dates) else 1.0
    full = sorted((c for c in camps if c.get("full_from")), key=lambda c: c["full_from"])
    first = str(daily["date"].iloc[0])
    from_start = [c["location"] for c in full if c["full_from"] <= first]
    later = [c for c in full if c["full_from"] > first]
    for c in later:
        ax.axvline(pd.Timestamp(c["full_from"]), color="black", lw=0.8, ls=":", zorder=3)
    P.format_date_axis(ax, dates[0], dates[-1], pad=0.01)
    P._format_people_axis(ax, "Displaced people (people, not movements)")
    ax.set_ylim(0, top * 1.45 + 1)
    handles, labels = ax.get_legend_handles_labels()
    full_text = []
    if from_start:
        full_text.append("Full from the first day: " + ", ".join(from_start) + ".")
    if later:
        full_text.append(
            "Dotted lines: the day a camp cluster's formal places were first all taken."
        )
    if not full:
        full_text.append("No camp cluster's formal places were all taken.")
    frame_bottom, frame_top = P._frame(
        fig,
        "Where the displaced are staying: camps, informal sites, host communities, on the move",
        title,
        subtitle="People displaced on each day, by where they are (formal camps include the "
        "people already there before the run; informal sites hold the overflow of full camps "
        "and towns). " + " ".join(full_text),
        legend_handles=handles[::-1],
        legend_ncols=4,
    )
    P._fit_grid(fig, [[ax]], frame_bottom, frame_top)
    _full_labels(ax, later, top)
    return fig


def _full_labels(ax: Any, camps: list[dict], top: float, rows: int = 9) -> None:
    """Name each camp cluster at the top of its dotted line (the day it became full, in
    date order), each label in the highest row where it clears the labels before it:
    clusters full within days of each other no longer print over each other."""
    import matplotlib.dates as mdates

    from sim.outputs import plots as P

    x0, x1 = ax.get_xlim()
    width_pt = ax.get_position().width * ax.get_figure().get_figwidth() * 72
    days_per_pt = (x1 - x0) / width_pt  # the axes are placed (_fit_grid)
    ends: list[float] = []  # where each row's last label ends (days)
    for c in camps:
        day = float(mdates.date2num(pd.Timestamp(c["full_from"])))
        text = f" {c['location']} full"
        row = next((r for r, end in enumerate(ends) if end < day), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = day + (P._text_size_pt(text, 7)[0] + 3) * days_per_pt
        ax.text(
            day,
            top * (1.38 - 0.05 * (row % rows)),
            text,
            fontsize=7,
            va="bottom",
            ha="left",
            zorder=4,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.4, "alpha": 0.85},
        )


@_styled
def needs_plot(needs_daily: pd.DataFrame, std: dict[str, Any], title: str = "") -> Figure:
    """Zone totals of each need per day (six small panels, units on each axis)."""
    import matplotlib.dates as mdates

    from sim.outputs import plots as P

    panels = (
        ("covered_space_m2", "Covered living space (m2)", f"{std['covered_space_m2_per_person']:g} m2 x people in informal sites and on the move"),
        ("water_litres_per_day", "Water (litres per day)", f"{std['water_litres_per_person_day']:g} l x displaced people"),
        ("latrines", "Latrines (toilets)", f"1 per {std['people_per_latrine']:g} people in camps and sites"),
        ("food_kcal_per_day", "Food (million kcal per day)", f"{std['kcal_per_person_day']:,.0f} kcal x displaced people"),
        ("nfi_kits", "Household NFI kits", f"{std['nfi_kits_per_household']:g} per household in camps, sites, on the move"),
        ("winterisation_kits", "Winterisation kits", f"{std['winterisation_kits_per_household']:g} per household, months {std['winter_start_month']}-{std['winter_end_month']}"),
    )  # fmt: skip
    dates = P._as_dates(needs_daily["date"])
    fig, grid = P._empty_figure(10.0, 6.6, 2, 3)
    axes = grid.ravel()
    for ax, (col, label, rule) in zip(axes, panels, strict=True):
        y = needs_daily[col].to_numpy(float)
        if col == "food_kcal_per_day":
            y = y / 1e6  # millions: "1,000M kcal" reads badly
        ax.plot(dates, y, color=P.OKABE_ITO["blue"], lw=1.8)
        P.format_date_axis(ax, dates[0], dates[-1], pad=0.01)
        P._format_people_axis(ax, label)
        ax.xaxis.set_major_locator(P._OncePerView(mdates.MonthLocator()))
        ax.xaxis.set_major_formatter(P._LabelsOnce(mdates.DateFormatter("%b")))
        ax.set_ylim(bottom=0)
        if float(needs_daily[col].max()) <= 0:
            ax.set_ylim(0, 1)
            ax.set_yticks([0])
            ax.text(
                0.5,
                0.5,
                "none needed in this period",
                transform=ax.transAxes,
                ha="center",
                color=P.MUTED,
                fontsize=8,
            )
        ax.set_title(rule, fontsize=7.5, loc="left", color=P.MUTED, y=1.0)
    bottom, top = P._frame(
        fig,
        "What the displaced need each day (whole zone, Sphere minimum standards)",
        title,
        subtitle="Each need is people times a standard of the scenario's [needs] table "
        "(Sphere Handbook 2018, cited in needs.csv's documentation and the report).",
    )
    P._fit_grid(fig, grid, bottom, top)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    from sim.outputs import plots as P

    return P.save_png(fig, path)


#: The run's figures in two batches of about equal drawing time: the second is drawn in a
#: forked process while the first is drawn here (2 cores: about half the wall time).
#: Balanced on CPU seconds measured at full scale (2019 scenario, nothing prepared):
#: camp_occupancy 0.7, situation_by_week 0.5, flow_map 0.45, needs 0.4, each choropleth
#: pair 0.3, the three line charts 0.25-0.3: 1.7 s a batch (this process also writes
#: needs.csv, weekly.csv and places.geojson meanwhile, 0.2 s).
BATCHES: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "camp_occupancy.png",
        "flow_map.png",
        "cumulative_displacement.png",
        "displaced_by_district.png",
    ),
    (
        "needs.png",
        "situation_by_week.png",
        "map_displaced_from.png",
        "map_staying.png",
        "displaced_by_setting.png",
    ),
)


def prepare_figures(scenario: Any, stop: Callable[[], bool] = lambda: False) -> None:
    """Make now what the figures of a run of ``scenario`` need and its numbers do not
    change: the empty figures (:func:`sim.outputs.plots.prepare_panels`: sizes from the
    scenario; the camp plot's for the most panels, twelve), the measures of likely tick
    labels and of the words every figure wraps, the maps' rings as paths. The figure
    worker's work while the model runs; it stops between steps once ``stop()`` is true
    (the run's tables are there: what is not made yet is made when needed).
    """
    from sim.outputs import maps as M
    from sim.outputs import plots as P

    start = getattr(scenario, "report_from", None) or getattr(scenario, "start", None)
    end = getattr(scenario, "end", None)
    period = start is not None and end is not None and end >= start

    def situation() -> None:
        if period:
            _step, _picks, (nrows, ncols) = M._situation_panels((end - start).days + 1)
            P.prepare_panels(
                *M._situation_size(nrows, ncols), nrows, ncols, grid_axis="", ticks=False
            )

    def rings() -> None:
        bounds = load_boundaries()
        M._rings_in(bounds, M.WHOLE_WORLD)  # those captured are drawn whole
        pcodes = place_pcodes(getattr(scenario, "locations_file", None))
        kinds: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError, KeyError):
            places = pd.read_csv(scenario.locations_file, usecols=["name", "kind"])
            kinds = dict(zip(places["name"].astype(str).str.strip(), places["kind"], strict=True))
        shown = {
            n: p for n, p in pcodes.items() if kinds.get(n) not in (None, "government", "abroad")
        }
        M._rings_in(bounds, M.map_extent(bounds, shown))

    steps = (  # the slowest figures' first: those are drawn first
        lambda: P.prepare_panels(11.0, 2.35 * 3 + 1.9, 3, 4),  # camp_occupancy
        lambda: P.prepare_panels(9.0, 9.6, grid_axis="", ticks=False),  # flow_map
        situation,
        rings,
        lambda: P.prepare_panels(10.0, 6.6, 2, 3),  # needs
        lambda: P.prepare_panels(11.0, 7.6, 1, 2, grid_axis="", ticks=False),  # map_displaced_from
        lambda: P.prepare_panels(11.0, 7.6, 1, 2, grid_axis="", ticks=False),  # map_staying
        lambda: P.prepare_panels(9.0, 5.6),  # cumulative_displacement
        lambda: P.prepare_panels(9.0, 5.4),  # displaced_by_setting
        lambda: P.prepare_panels(9.0, 5.6),  # displaced_by_district
        lambda: P.measure_labels(start, end) if period else None,
        lambda: P._wrap(str(getattr(scenario, "title", "") or ""), 10.0, P.SCENARIO_PT),
        lambda: P._wrap(M.ATTRIBUTION, 10.0, P.NOTE_PT),
        lambda: M.measure_place_labels(place_pcodes(getattr(scenario, "locations_file", None))),
    )
    for step in steps:
        if stop():
            return
        step()


def write_planner_outputs(
    folder: Path,
    scenario: Any,
    summary: dict[str, Any],
    plots: bool = True,
    workers: Any = None,
) -> None:
    """Write needs.csv, weekly.csv, places.geojson and every plot into ``folder``.

    Reads the run's tables from ``folder`` (written before), so a run folder can be
    re-rendered. ``summary`` is the run's summary (camps, for the camp plot). ``workers``
    (:class:`sim.outputs.figure_workers.FigureWorkers`, forked before the run) draw the figures
    while this process writes the tables; without them the figures are drawn here.
    """
    if plots and workers is not None:  # the figures first: they take longest
        (folder / "plots").mkdir(exist_ok=True)
        workers.draw(summary, folder)
    daily = pd.read_csv(folder / "daily.csv")
    locations = pd.read_csv(folder / "locations.csv")

    def tables() -> None:
        pcodes = place_pcodes(getattr(scenario, "locations_file", None))
        std = standards(getattr(scenario, "needs", None))
        hh = float(getattr(scenario, "household_size", 5.0))
        bounds = load_boundaries()
        needs = needs_table(locations, std, hh, pcodes)
        write_csv(needs, folder / "needs.csv")
        nd = daily_totals(needs)
        write_csv(weekly_table(daily, nd), folder / "weekly.csv")
        places = place_table(locations, pcodes, needs)
        subs = sub_district_table(locations, pcodes, bounds, needs)
        places_geojson(subs, places, bounds, folder / "places.geojson")

    if plots and workers is not None:
        tables()
        # while the workers draw: what the manifest records of the software (both cached)
        from sim.provenance import source_info

        versions()
        source_info()
        workers.wait()
    elif plots:
        (folder / "plots").mkdir(exist_ok=True)
        # the tables are written here while the forked child draws its batch of figures
        render_plots(
            folder, scenario, summary, parallel=True, tables=(daily, locations), meanwhile=tables
        )
    else:
        tables()


def render_plots(
    folder: Path,
    scenario: Any,
    summary: dict[str, Any],
    parallel: bool = True,
    tables: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """Draw every figure of :data:`FIGURES` into ``folder/plots`` (byte-identical either way).

    With ``parallel``, the ``fork`` start method (Linux) and no other thread running, the
    second batch is drawn in a child process; otherwise everything is drawn here, one figure
    after the other. ``tables``: the folder's daily.csv and locations.csv already read
    (else they are read here). ``meanwhile``: other work of this process, done before its
    own batch (while the child draws), or first of all when nothing is forked.
    """
    if tables is None:
        tables = (pd.read_csv(folder / "daily.csv"), pd.read_csv(folder / "locations.csv"))
    import multiprocessing as mp
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # fork only a single-threaded process: a lock held by another thread would stay held
    # in the child forever (in `idlibsim run` there is no other thread)
    if parallel and "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
            other = pool.submit(draw_batch, folder, scenario, summary, BATCHES[1], tables)
            if meanwhile is not None:
                meanwhile()
            draw_batch(folder, scenario, summary, BATCHES[0], tables)
            other.result()  # re-raises an error of the child here
    else:
        if meanwhile is not None:
            meanwhile()
        for batch in BATCHES:
            draw_batch(folder, scenario, summary, batch, tables)


def draw_batch(
    folder: Path,
    scenario: Any,
    summary: dict[str, Any],
    names: tuple[str, ...],
    tables: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> None:
    """Draw the figures ``names`` of a run folder into ``folder/plots``.

    ``tables``: the folder's daily.csv and locations.csv already read (else read here).
    """
    from sim.outputs import maps as M
    from sim.outputs import plots as P

    if tables is None:
        tables = (pd.read_csv(folder / "daily.csv"), pd.read_csv(folder / "locations.csv"))
    daily, locations = tables
    pcodes = place_pcodes(getattr(scenario, "locations_file", None))
    bounds = load_boundaries()
    title = str(getattr(scenario, "title", "") or "")
    out = folder / "plots"

    def needs_fig() -> Figure:
        std = standards(getattr(scenario, "needs", None))
        hh = float(getattr(scenario, "household_size", 5.0))
        return needs_plot(daily_totals(needs_table(locations, std, hh, pcodes)), std, title)

    def flow_fig() -> Figure:
        routes = pd.read_csv(folder / "routes.csv", keep_default_na=False, na_values=[""])
        crossings = list(dict.fromkeys(locations.loc[locations["kind"] == "crossing", "location"]))
        roads, closed = M.scenario_closures(scenario, crossings)
        return M.flow_map(locations, routes, bounds, pcodes, title, roads, closed)

    def cumulative_fig() -> Figure:
        obs_path = getattr(scenario, "observed", None)
        observed = load_observed(obs_path) if obs_path else None
        return P.cumulative_displacement(daily, observed, title)

    makers = {
        "cumulative_displacement.png": cumulative_fig,
        "displaced_by_district.png": lambda: P.displaced_by_district(locations, title),
        "camp_occupancy.png": lambda: P.camp_occupancy(locations, title),
        "map_displaced_from.png": lambda: M.choropleth_pair(locations, bounds, pcodes, "displaced_from", title),
        "map_staying.png": lambda: M.choropleth_pair(locations, bounds, pcodes, "staying_net", title),
        "flow_map.png": flow_fig,
        "situation_by_week.png": lambda: M.situation_small_multiples(locations, bounds, pcodes, title),
        "displaced_by_setting.png": lambda: displaced_by_setting(daily, summary.get("camps", []), title),
        "needs.png": needs_fig,
    }  # fmt: skip
    with M.reusing_tables():
        for name in names:
            _save(makers[name](), out / name)


# --------------------------------------------------------------------------------------
# report.html
# --------------------------------------------------------------------------------------

CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;white-space:nowrap}
pre{white-space:pre-wrap;font-size:13px;background:#f7f7f7;padding:8px}
figure{margin:16px 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#444}
.note{font-size:12px;color:#555}.key{font-size:15px}
"""


def _table(rows: list[list[Any]], header: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, (int, np.integer)):
            return f"{int(v):,}"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"
        return html.escape(str(v))

    def td(v: Any) -> str:
        num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        return f"<td class='n'>{cell(v)}</td>" if num else f"<td>{cell(v)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(td(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(folder: Path, scenario: Any, summary: dict[str, Any]) -> str:
    """The run as one self-contained HTML page (plots embedded as base64 PNG)."""

    esc = html.escape
    title = summary.get("title", "")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)} - idlibsim report</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='note'>idlibsim run of scenario <b>{esc(summary.get('scenario', ''))}</b>, "
        f"{esc(summary.get('period', ''))}. A model's projection, not a count: read the "
        "figures as orders of magnitude and compare scenarios.</p>",
        "<h2>Key figures</h2>",
    ]
    s_ = summary
    key = [
        [
            "movements (every flight counts; OCHA/CCCM 'displacements')",
            s_.get("displacements", 0),
            f"from {s_.get('counted_from', '')}",
        ],
        [
            "people displaced at least once",
            s_.get("people_displaced", 0),
            f"from {s_.get('counted_from', '')}",
        ],
        [
            "people displaced on the last day",
            s_.get("displaced_at_end", 0),
            "incl. those displaced before the run",
        ],
        [
            "most people displaced on one day",
            s_.get("peak_displaced", 0),
            f"on {s_.get('peak_displaced_date', '')}",
        ],
        [
            "in formal camps / informal sites / hosted at the end",
            f"{s_.get('in_camps_at_end', 0):,} / {s_.get('in_informal_sites_at_end', 0):,} / {s_.get('in_host_communities_at_end', 0):,}",
            "people",
        ],
    ]
    parts.append(_table(key, ["figure", "people or movements", "counted"]))
    parts.append(
        "<details><summary>The run's printout</summary><pre>"
        + esc(format_summary(summary))
        + "</pre></details>"
    )
    parts.append("<h2>Figures</h2>")
    plots_dir = folder / "plots"
    for name, (head, how) in FIGURES.items():
        p = plots_dir / name
        if not p.is_file():
            continue
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        parts.append(
            f"<figure id='{esc(name)}'><h3>{esc(head)}</h3><img alt='{esc(head)}' "
            f"src='data:image/png;base64,{data}'><figcaption><b>How to read it.</b> {esc(how)}"
            "</figcaption></figure>"
        )
    camps = summary.get("camps", [])
    if camps:
        rows = [
            [
                c["location"],
                c["capacity"],
                c["peak_people_in_camps_and_informal_sites"],
                c["peak_pct_of_capacity"],
                c["peak_date"],
                c.get("peak_people_over_capacity", 0),
                c.get("full_from") or "not full",
            ]
            for c in camps
        ]
        parts.append(
            "<h2>Places with camps and sites</h2>"
            "<p>Ranked by the most people beyond the formal places (in informal sites) on the "
            "worst day; a place with few formal places can be far over 100 % with few people.</p>"
            + _table(
                rows,
                [
                    "camp cluster",
                    "formal places",
                    "peak people (camps + informal sites)",
                    "peak % of places",
                    "peak date",
                    "most people beyond the places",
                    "full from",
                ],
            )
        )
    peaks = summary.get("peak_needs_by_camp_cluster", [])
    if peaks:
        rows = [
            [r["location"], r["peak_date"], r["displaced_people"], *[r[m] for m in NEED_MEASURES]]
            for r in peaks
        ]
        parts.append(
            "<h2>Peak needs per camp cluster</h2>"
            + _table(
                rows,
                [
                    "camp cluster",
                    "day",
                    "displaced people",
                    "covered space m2",
                    "water l/day",
                    "latrines",
                    "food kcal/day",
                    "NFI kits",
                    "winter kits",
                ],
            )
        )
    std = standards(getattr(scenario, "needs", None))
    rows = [
        [k, std[k], unit_of(f), extra_of(f)["source"]] for k, f in NeedsSection.model_fields.items()
    ]
    parts.append(
        "<h2>Standards used</h2><p>The scenario's <code>[needs]</code> table; household size "
        f"{getattr(scenario, 'household_size', 5.0):g} people.</p>"
        + _table(rows, ["standard", "value", "unit", "source"])
    )
    wk = folder / "weekly.csv"
    if wk.is_file():
        w = pd.read_csv(wk)
        cols = [
            "week_end",
            "movements_in_week",
            "people_newly_displaced_in_week",
            "displaced_now",
            "in_camps",
            "in_informal_sites",
            "in_host_communities",
            "on_the_move",
        ]
        parts.append(
            "<h2>Week by week</h2>"
            + _table(
                w[cols].values.tolist(),
                [
                    "week ending",
                    "movements in week",
                    "people newly displaced",
                    "displaced now",
                    "in camps",
                    "in informal sites",
                    "hosted",
                    "on the move",
                ],
            )
        )
    desc = getattr(scenario, "description", "") or ""
    if desc:
        parts.append(
            "<h2>The scenario and its sources</h2><p>"
            + esc(desc).replace("\n\n", "</p><p>")
            + "</p>"
        )
    events = getattr(scenario, "events", ()) or ()
    if events:
        rows = [
            [
                str(e.start or ""),
                e.kind,
                ", ".join(getattr(e, "locations", ())) or getattr(e, "crossing", ""),
                e.source,
            ]
            for e in events
        ]
        parts.append(
            "<h3>Events and their sources</h3>" + _table(rows, ["from", "event", "where", "source"])
        )
    observed = getattr(scenario, "observed", None)
    if observed is not None and Path(observed).is_file():
        obs = load_observed(observed)
        obs = obs[obs["use"].astype(str) != "context"]
        if len(obs):
            rows = [
                [str(r.period_start), str(r.as_of), r.measure, int(r.value), r.use, r.source]
                for r in obs.itertuples()
            ]
            parts.append(
                "<h3>Observed figures (UN/OCHA and partners) and their sources</h3>"
                + _table(rows, ["from", "to", "counts", "value", "use", "source"])
            )
    parts.append(
        "<h2>Files of this run</h2><p class='note'>needs.csv (needs per day and place), weekly.csv, "
        "places.geojson (open in QGIS/ArcGIS), daily.csv, locations.csv (arrivals and departures "
        "count every arrival and departure, including people passing through; 'staying' here is "
        "hosted + camps + informal sites), routes.csv, summary.json, manifest.json.</p>"
        f"<p class='note'>{esc('Sources: ' + P_SOURCES)}</p></body></html>"
    )
    return "\n".join(parts)


P_SOURCES = (
    "population, places, roads and observed figures: scenarios/data/SOURCES.md; boundaries: UN "
    "OCHA / UNCS COD-AB Syria 2020-12-17 (CC BY 3.0 IGO) and Natural Earth (public domain); the "
    "boundaries and names shown do not imply official endorsement or acceptance by the United "
    "Nations; needs: Sphere Association, The Sphere Handbook, 2018 edition."
)


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
    if s.get("fled_from_at_peak"):
        lines.append(
            f"  fled most from (people away from their homes there, net of {s['fled_counted_from']}), "
            "at each place's peak: "
            + ", ".join(
                f"{k} {v['people']:,} ({v['date']})"
                for k, v in list(s["fled_from_at_peak"].items())[:5]
            )
        )
    if s.get("departures_most_from"):
        lines.append(
            "    most departures (every move: flights, onward moves from informal sites, "
            "passing through): "
            + ", ".join(f"{k} {v:,}" for k, v in list(s["departures_most_from"].items())[:5])
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
    over = [c for c in s["camps"] if c.get("peak_people_over_capacity", 0) > 0]
    if over:
        lines.append(
            "  most people beyond the camp places (in informal sites), at the worst day: "
            + ", ".join(
                f"{c['location']} {c['peak_people_over_capacity']:,} over {c['capacity']:,} places"
                f" ({c['peak_over_capacity_date']})"
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
