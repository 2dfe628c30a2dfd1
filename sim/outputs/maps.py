"""Maps of a run on the OCHA sub-districts: where people fled from, where they stay, the flows.

Every function takes the run's tables and returns a :class:`matplotlib.figure.Figure` (Agg
canvas, no pyplot). The base map (:func:`draw_base`) fills each OCHA COD-AB sub-district by a
value keyed by pcode (places are tied to sub-districts by the ``pcode`` column of the
locations file, several places in one sub-district are summed), draws the Syria-Turkey
border and the coast, greys sub-districts held by the government from the start and
hatches those captured during the run (the front line moved over them).

Figures:

* :func:`choropleth_pair`: one measure at the end and at its peak, side by side
  (``map_displaced_from.png``, ``map_staying.png``);
* :func:`flow_map`: net directed flows along the roads (arrows, width = people), camps,
  crossings (closed ones crossed out), closed roads, the main towns labelled
  (``flow_map.png``);
* :func:`situation_small_multiples`: the displaced staying in each sub-district on chosen
  dates (weekly or every few weeks), with the captured areas of that day
  (``situation_by_week.png``);
* :func:`staying_day_map`: the displaced staying in each sub-district on one day (the
  dashboard's map; both draw a day with :func:`draw_day`).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import BoundaryNorm, ListedColormap, to_rgba, to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch
from matplotlib.path import Path

from sim.outputs import plots as P
from sim.outputs.geo import Boundaries
from sim.outputs.places import by_sub_district, daily_series

#: Map extent (lon_min, lon_max, lat_min, lat_max): the zone, northern Aleppo and Hama.
EXTENT = (35.92, 37.55, 35.12, 36.78)
COSLAT = math.cos(math.radians(36.0))
NO_DATA = "#F2F2F2"
GOV_HELD = "#BDBDBD"
CAPTURED_EDGE = "#7A0177"
BORDER = "#222222"
COAST = "#3B7DB5"
SEQ = ("#FFF7EC", "#FDD49E", "#FDBB84", "#FC8D59", "#E34A33", "#B30000", "#7F0000")
SEQ_BLUE = ("#F7FBFF", "#C6DBEF", "#9ECAE1", "#6BAED6", "#3182BD", "#08519C", "#08306B")
#: Places always labelled when they are in the run (planners look for them first).
LANDMARKS = {"Idlib": "Idleb city", "Afrin": "Afrin", "Azaz": "A'zaz"}


def _breaks(vmax: float, n: int = 6) -> list[float]:
    """Class breaks 0 < b1 < ... rounded to nice numbers up to ``vmax`` (people)."""
    if vmax <= 0:
        return [0.0, 1.0]
    top = P._nice(vmax)
    if top < vmax:
        top = top * 2
    # roughly geometric classes: planners compare orders of magnitude
    raw = [top / (2.5**k) for k in range(n - 1, -1, -1)]
    out = sorted({max(1.0, P._nice(x)) for x in raw})
    if out[-1] < vmax:
        out.append(P._nice(vmax * 2))
    return [0.0, *out]


def _norm(vmax: float, colours: Sequence[str]) -> tuple[ListedColormap, BoundaryNorm, list]:
    b = _breaks(vmax, len(colours) - 1)
    cols = list(colours[: len(b) - 1])
    cmap = ListedColormap(cols)
    return cmap, BoundaryNorm(b, cmap.N), b


def map_extent(bounds: Boundaries, pcodes: dict[str, str]) -> tuple[float, float, float, float]:
    """(lon0, lon1, lat0, lat1): :data:`EXTENT` widened to every sub-district holding a place."""
    x0, x1, y0, y1 = EXTENT
    for pc in set(pcodes.values()):
        sd = bounds.sub_districts.get(pc)
        if sd is not None:
            b = sd.bbox
            x0, y0, x1, y1 = (
                min(x0, b[0] - 0.03),
                min(y0, b[1] - 0.03),
                max(x1, b[2] + 0.03),
                max(y1, b[3] + 0.03),
            )
    return (x0, x1, y0, y1)


class _RunTables:
    """What the maps derive from one run's locations table, each worked out once: the
    daily series by place, a measure by sub-district, who holds what, the map's extent."""

    def __init__(self, locations: pd.DataFrame, bounds: Boundaries, pcodes: dict[str, str]):
        self.locations, self.bounds, self.pcodes = locations, bounds, dict(pcodes)
        self._wide: dict[str, pd.DataFrame] = {}

    @functools.cached_property
    def series(self) -> dict[str, pd.DataFrame]:
        return daily_series(self.locations)

    def wide(self, measure: str) -> pd.DataFrame:
        """``measure`` of :attr:`series` summed by sub-district (dates x pcodes, people)."""
        if measure not in self._wide:
            known = set(self.bounds.sub_districts)
            self._wide[measure] = by_sub_district(self.series[measure], self.pcodes, known)
        return self._wide[measure]

    @functools.cached_property
    def control(self) -> Control:
        return Control(self.locations, self.pcodes)

    @functools.cached_property
    def extent(self) -> tuple[float, float, float, float]:
        return map_extent(self.bounds, _modelled(self.locations, self.pcodes))


#: While :func:`reusing_tables` is on: the :class:`_RunTables` of the last table mapped.
_REUSED: list[_RunTables] | None = None


@contextlib.contextmanager
def reusing_tables() -> Iterator[None]:
    """Within this block, maps of the same locations table (the same object, never changed
    meanwhile) share what they derive from it (:class:`_RunTables`): the figures of a run
    folder, drawn one after the other from the tables read once."""
    global _REUSED
    if _REUSED is not None:  # within an outer block: share with it
        yield
        return
    _REUSED = []
    try:
        yield
    finally:
        _REUSED = None


def _tables(locations: pd.DataFrame, bounds: Boundaries, pcodes: dict[str, str]) -> _RunTables:
    if _REUSED is None:
        return _RunTables(locations, bounds, pcodes)
    for t in _REUSED:
        if t.locations is locations and t.bounds is bounds and t.pcodes == pcodes:
            return t
    _REUSED[:] = [_RunTables(locations, bounds, pcodes)]
    return _REUSED[0]


def _modelled(locations: pd.DataFrame, pcodes: dict[str, str]) -> dict[str, str]:
    """The pcodes of the places the zone is made of (government cities are context only)."""
    # one row per place (its last: as a dict of every row keeps the last), not per place-day
    last = locations.drop_duplicates("location", keep="last")
    kinds = dict(zip(last["location"], last["kind"], strict=False))
    return {n: p for n, p in pcodes.items() if kinds.get(n) not in (None, "government", "abroad")}


def _setup_axes(ax, extent: tuple[float, float, float, float] = EXTENT) -> None:
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect(1 / COSLAT)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#FFFFFF")
    for s in ax.spines.values():
        s.set_color("#999999")
        s.set_linewidth(0.6)


def _overlaps(bbox: tuple[float, float, float, float], extent: tuple) -> bool:
    """Whether a (lon0, lat0, lon1, lat1) box overlaps the map extent (lon0, lon1, lat0, lat1)."""
    return not (
        bbox[2] < extent[0] or bbox[0] > extent[1] or bbox[3] < extent[2] or bbox[1] > extent[3]
    )


#: An extent holding every sub-district (lon0, lon1, lat0, lat1).
WHOLE_WORLD = (-180.0, 180.0, -90.0, 90.0)

#: The sub-district rings of a map extent, as closed paths (see :func:`_rings_in`).
_RINGS: dict[tuple[int, tuple[float, ...]], tuple[Boundaries, list[str], list[Path]]] = {}


def _rings_in(
    bounds: Boundaries, extent: tuple[float, float, float, float]
) -> tuple[list[str], list[Path]]:
    """The pcode and closed path of every ring of the sub-districts overlapping ``extent``,
    made once per boundaries and extent (every map of a run draws the same rings)."""
    key = (id(bounds), tuple(float(v) for v in extent))
    hit = _RINGS.get(key)
    if hit is None or hit[0] is not bounds:
        pcodes, paths = [], []
        for pc, sd in bounds.sub_districts.items():
            if _overlaps(sd.bbox, extent):
                for r in sd.rings:
                    pcodes.append(pc)
                    paths.append(Path(np.concatenate([r, r[:1]]), closed=True))
        hit = _RINGS[key] = (bounds, pcodes, paths)
    return hit[1], hit[2]


def _faces(
    pcodes: list[str], values: dict[str, float], cmap: Any, norm: Any, gov_pcodes: set[str]
) -> np.ndarray:
    """RGBA of each ring: government-held grey, else its sub-district's class colour (white
    for none, light grey for a sub-district without a modelled place)."""
    classes = {}
    shaded = [pc for pc in dict.fromkeys(pcodes) if pc in values and pc not in gov_pcodes]
    positive = [pc for pc in shaded if cmap is not None and values[pc] > 0]
    if positive:  # one lookup for every shaded sub-district
        colours = np.atleast_2d(cmap(norm(np.array([values[pc] for pc in positive], float))))
        classes = dict(zip(positive, map(tuple, colours), strict=True))
    white, no_data, gov = to_rgba("#FFFFFF"), to_rgba(NO_DATA), to_rgba(GOV_HELD)
    return to_rgba_array(
        [
            gov if pc in gov_pcodes else classes.get(pc, white) if pc in values else no_data
            for pc in pcodes
        ]
    )


def draw_base(
    ax,
    bounds: Boundaries,
    values: dict[str, float] | None = None,
    cmap=None,
    norm=None,
    gov_pcodes: set[str] = frozenset(),
    captured_pcodes: set[str] = frozenset(),
    names: bool = True,
    extent: tuple[float, float, float, float] = EXTENT,
) -> None:
    """Sub-districts (filled by ``values`` keyed by pcode), border, coast, control;
    ``names`` labels Turkey (off for small panels; the sea is named once the map is placed:
    :func:`name_the_sea`)."""
    _setup_axes(ax, extent)
    values = values or {}
    # the limits are set: nothing drawn here needs measuring (autolim=False)
    pcodes, paths = _rings_in(bounds, extent)
    faces = _faces(pcodes, values, cmap, norm, gov_pcodes)
    ax.add_collection(
        PathCollection(paths, facecolors=faces, edgecolors="#8C8C8C", linewidths=0.35, zorder=1),
        autolim=False,
    )
    cap = []
    if captured_pcodes:  # every ring of each, in pcode order
        every = list(zip(*_rings_in(bounds, WHOLE_WORLD), strict=True))
        cap = [path for pc in sorted(captured_pcodes) for p, path in every if p == pc]
    if cap:
        ax.add_collection(
            PathCollection(
                cap, facecolors="none", edgecolors=CAPTURED_EDGE, hatch="////", linewidths=1.1,
                zorder=2,
            ),
            autolim=False,
        )  # fmt: skip
    ax.add_collection(
        LineCollection(bounds.coast, colors=COAST, linewidths=0.9, zorder=3), autolim=False
    )
    ax.add_collection(
        LineCollection(bounds.border, colors=BORDER, linewidths=1.6, linestyles=(0, (5, 2)), zorder=3),
        autolim=False,
    )  # fmt: skip
    style = {"fontsize": 7.5, "color": "#555555", "style": "italic", "zorder": 4}
    ax.text(36.3, 36.62, "TURKEY", ha="center", **style)


#: The sea's name on the maps (:func:`name_the_sea`), 7 pt italic.
SEA_NAME = "Mediterranean\nSea"
SEA_NAME_PT = 7.0


def _westmost(p: np.ndarray, q: np.ndarray, lat0: float, lat1: float) -> float | None:
    """The westernmost longitude of the segments ``p``-``q`` (rows lon, lat) between
    latitudes ``lat0`` and ``lat1``, or None where none reaches that band."""
    lo, hi = np.minimum(p[:, 1], q[:, 1]), np.maximum(p[:, 1], q[:, 1])
    m = (hi >= lat0) & (lo <= lat1)
    if not m.any():
        return None
    p, q = p[m], q[m]
    dy = q[:, 1] - p[:, 1]
    flat = dy == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.stack([(lat0 - p[:, 1]) / dy, (lat1 - p[:, 1]) / dy]), 0.0, 1.0)
    t = np.where(flat, np.array([[0.0], [1.0]]), t)  # a segment along the band: both ends
    lons = p[:, 0] + t * (q[:, 0] - p[:, 0])
    return float(lons.min())


def name_the_sea(fig: Figure, ax, bounds: Boundaries) -> bool:
    """Write :data:`SEA_NAME` at sea on a map whose axes are placed: right of the map's
    west edge and left of every point of the coast at its height, where the whole name
    fits; nowhere when the map shows no such stretch of sea. Returns whether it was written.

    Called after the layout (the name's size in degrees depends on the map's scale) and
    before the place labels, which then keep off it.
    """
    ax.apply_aspect()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    (px0, py0), (px1, py1) = ax.transData.transform([(x0, y0), (x1, y1)])
    if px1 <= px0 or py1 <= py0 or not bounds.coast:
        return False
    w_pt, h_pt = P._text_size_pt(SEA_NAME, SEA_NAME_PT, linespacing=None)
    per_pt = fig.dpi / 72.0
    w = w_pt * per_pt * (x1 - x0) / (px1 - px0)  # degrees of longitude
    h = h_pt * per_pt * (y1 - y0) / (py1 - py0)  # degrees of latitude
    pad_x = 4 * per_pt * (x1 - x0) / (px1 - px0)  # 4 pt off the coast and the frame
    pad_y = 4 * per_pt * (y1 - y0) / (py1 - py0)
    lines = [np.asarray(c, dtype=float) for c in bounds.coast if len(c) > 1]
    p = np.concatenate([c[:-1] for c in lines])  # the coast's segments, p to q
    q = np.concatenate([c[1:] for c in lines])
    best: tuple[float, float, float] | None = None  # (room, lat, coast lon)
    for lat in np.linspace(y0 + h / 2 + pad_y, y1 - h / 2 - pad_y, 41):
        shore = _westmost(p, q, lat - h / 2 - pad_y, lat + h / 2 + pad_y)
        if shore is None:  # no coast at this height: land or sea, nothing says which
            continue
        room = shore - pad_x - w - (x0 + pad_x)
        if room >= 0 and (best is None or room > best[0]):
            best = (room, float(lat), shore)
    if best is None:
        return False
    _room, lat, shore = best
    ax.text(
        shore - pad_x,
        lat,
        SEA_NAME,
        ha="right",
        va="center",
        color=COAST,
        fontsize=SEA_NAME_PT,
        style="italic",
        zorder=4,
    )
    return True


def measure_place_labels(names: Sequence[str]) -> None:
    """Measure now the labels the flow map may give these places (for later)."""
    for name in [*names, *LANDMARKS.values()]:
        for text in (name, f"{name} (closed)"):
            P._text_size_pt(
                text,
                P.PLACE_LABEL_STYLE["fontsize"],
                linespacing=P.PLACE_LABEL_STYLE["linespacing"],
            )


def _label_largest(fig: Figure, ax, bounds: Boundaries, vals: pd.Series, n: int = 6) -> None:
    """Name the ``n`` sub-districts with the largest values (pcode-indexed, people) on the
    map, each with its number rounded to hundreds."""
    items = []
    for pc, v in vals.sort_values(ascending=False).head(n).items():
        if v > 0:
            sd = bounds.sub_districts[pc]
            items.append((*sd.centroid, f"{sd.name} {P.format_people(round(v, -2))}", 0.5))
    P._place_labels(fig, ax, items, [(x, y, 1.0) for x, y, *_ in items])


def draw_day(
    ax,
    locations: pd.DataFrame,
    bounds: Boundaries,
    pcodes: dict[str, str],
    wide: pd.DataFrame,
    i: int,
    cmap,
    norm,
    gov_pcodes: set[str],
    extent: tuple[float, float, float, float],
    names: bool = False,
    control: Control | None = None,
) -> Any:
    """The map of reported day ``i`` (0 = first) of ``wide`` (dates x pcodes, people): the
    sub-districts filled by that day's values, those captured by that day hatched.
    ``control``: :class:`Control` of ``locations`` when several days are drawn.
    Returns the day (as in the table's ``date`` column)."""
    day = wide.index[i]
    _, cap = (control or Control(locations, pcodes)).on(day)
    vals = wide.iloc[i].to_dict() if wide.size else {}
    draw_base(ax, bounds, vals, cmap, norm, gov_pcodes, cap, names=names, extent=extent)
    return day


def control_pcodes(
    locations: pd.DataFrame, pcodes: dict[str, str], day: str | None = None
) -> tuple[set[str], set[str]]:
    """(held by the government from the first day, captured by ``day`` (default: the last)).

    A sub-district counts as held or captured when any sub-district place in it is (a
    sub-district place stands for the whole area; camps and towns do not).
    """
    return Control(locations, pcodes).on(day)


class Control:
    """:func:`control_pcodes` of one ``locations`` table for any day: the table is split by
    day once (a map of twelve days filtered the place-days twelve times)."""

    def __init__(self, locations: pd.DataFrame, pcodes: dict[str, str]):
        self._loc = locations[locations["kind"].isin(("sub_district", "government"))]
        self._rows = self._loc.groupby("date").indices  # day -> row positions
        self.dates = sorted(self._rows)
        self._pcodes = pcodes
        self._first = self._held(self.dates[0]) if self.dates else None

    def _held(self, day: Any) -> pd.Series:
        rows = self._rows.get(day, [])
        return self._loc.iloc[rows].set_index("location")["government_held"]

    def on(self, day: str | None = None) -> tuple[set[str], set[str]]:
        """(held from the first day, captured by ``day``), as pcodes."""
        if self._first is None:
            return set(), set()
        first, pcodes = self._first, self._pcodes
        last = self._held(day or self.dates[-1])
        gov = {pcodes.get(n, "") for n, v in first.items() if v}
        cap = {pcodes.get(n, "") for n, v in last.items() if v and not first.get(n, 0)}
        return gov - {""}, cap - {""}


def _legend_classes(breaks: list, cmap, what: str) -> list:
    handles = []
    for k in range(len(breaks) - 1):
        lo, hi = breaks[k], breaks[k + 1]
        text = f"{P.format_people(lo)}-{P.format_people(hi)}"
        handles.append(
            Patch(
                facecolor=cmap(k), edgecolor="#8C8C8C", label=f"{what}: {text}" if k == 0 else text
            )
        )
    return handles


def _control_handles() -> list:
    return [
        Patch(facecolor=GOV_HELD, edgecolor="#8C8C8C", label="government-held from the start"),
        Patch(
            facecolor="white",
            edgecolor=CAPTURED_EDGE,
            hatch="////",
            label="captured during the run",
        ),
        Patch(facecolor=NO_DATA, edgecolor="#8C8C8C", label="no modelled place"),
        Line2D([], [], color=BORDER, lw=1.6, ls=(0, (5, 2)), label="Syria-Turkey border"),
    ]


ATTRIBUTION = (
    "Boundaries: UN OCHA / UNCS COD-AB Syria 2020-12-17 (CC BY 3.0 IGO); coast: Natural Earth. "
    "The boundaries and names shown do not imply official endorsement or acceptance by the "
    "United Nations."
)


@P.styled
def choropleth_pair(
    locations: pd.DataFrame,
    bounds: Boundaries,
    pcodes: dict[str, str],
    measure: str,
    title: str = "",
) -> Figure:
    """Two maps of one measure by sub-district: on the last day and at its peak.

    ``measure`` ``"displaced_from"``: people away from their homes in the sub-district;
    ``"staying_net"``: displaced people staying in the sub-district, net of those already
    there on the first reported day. Each sub-district's peak is its own highest day.
    """
    run = _tables(locations, bounds, pcodes)
    series, wide = run.series, run.wide(measure)
    first, last = str(series["staying"].index[0]), str(series["staying"].index[-1])
    end = wide.iloc[-1] if len(wide.columns) else pd.Series(dtype=float)
    peak = wide.max() if len(wide.columns) else pd.Series(dtype=float)
    vmax = float(max(peak.max() if len(peak) else 0, 1))
    colours = SEQ if measure == "displaced_from" else SEQ_BLUE
    cmap, norm, breaks = _norm(vmax, colours)
    gov, cap = run.control.on()
    ext = run.extent
    fig, (axes,) = P._empty_figure(11.0, 7.6, 1, 2, grid_axis="", ticks=False)
    fl = P._day_label(pd.Timestamp(first).date(), year=True)
    ll = P._day_label(pd.Timestamp(last).date(), year=True)
    shown = (
        (axes[0], end, f"On {ll} (end of the run)"),
        (axes[1], peak, "At each sub-district's peak (its own highest day)"),
    )
    for ax, vals, sub in shown:
        draw_base(ax, bounds, vals.to_dict(), cmap, norm, gov, cap, extent=ext)
        ax.set_title(sub, fontsize=P.LABEL_PT, loc="left", y=1.0)
    if measure == "displaced_from":
        what = "Where the displaced come from: people away from their homes, by home sub-district"
        sub = (
            f"People whose home is in the sub-district and who are displaced (on the move, "
            f"hosted, in camps or sites) on the day; counted from {fl}."
        )
    else:
        what = "Where the displaced are staying: displaced people in each sub-district (net)"
        sub = (
            f"Displaced people staying in the sub-district (hosted, in camps or informal "
            f"sites; not people passing through), minus those already there on {fl}."
        )
    label = "people away from home" if measure == "displaced_from" else "displaced staying (net)"
    handles = _legend_classes(breaks, cmap, label) + _control_handles()
    bottom, top = P._frame(
        fig, what, title, subtitle=sub, note=ATTRIBUTION, legend_handles=handles, legend_ncols=6
    )
    P._fit_grid(fig, [list(axes)], bottom, top)
    for ax, vals, _sub in shown:  # where the maps are now: labels judged where they will be
        name_the_sea(fig, ax, bounds)
        _label_largest(fig, ax, bounds, vals)
    return fig


@P.styled
def flow_map(
    locations: pd.DataFrame,
    routes: pd.DataFrame,
    bounds: Boundaries,
    pcodes: dict[str, str],
    title: str = "",
    closed_roads: Sequence[tuple[str, str]] = (),
    closed_crossings: Sequence[str] = (),
) -> Figure:
    """Net flows of people along the roads over the run, on the sub-district map.

    Each arrow is one road, pointing the way more people travelled; its width is the net
    number (people one way minus the other, summed over the run). Sub-districts are shaded
    by the displaced staying there at the end (net, as :func:`choropleth_pair`).
    """
    run = _tables(locations, bounds, pcodes)
    series, wide = run.series, run.wide("staying_net")
    end = wide.iloc[-1] if len(wide.columns) else pd.Series(dtype=float)
    cmap, norm, breaks = _norm(float(max(end.max() if len(end) else 0, 1)), SEQ_BLUE[:5])
    gov, cap = run.control.on()
    ext = run.extent
    last = locations.drop_duplicates("location", keep="last").set_index("location")
    pos = {
        n: (float(x), float(y))
        for n, x, y in zip(last.index, last["lon"], last["lat"], strict=True)
    }
    fig, ((ax,),) = P._empty_figure(9.0, 9.6, grid_axis="", ticks=False)
    draw_base(ax, bounds, end.to_dict(), cmap, norm, gov, cap, extent=ext)

    if {"people_from_to", "people_to_from"} <= set(routes.columns):
        tot = routes.groupby(["from", "to"], sort=True)[["people_from_to", "people_to_from"]].sum()
        net = (tot["people_from_to"] - tot["people_to_from"]).astype(float)
    else:  # an older run folder: direction unknown, draw undirected widths
        net = routes.groupby(["from", "to"], sort=True)["people"].sum().astype(float)
    big = float(net.abs().max()) if len(net) else 0.0
    arrows = []  # (from, to, width in points), drawn once the map is placed
    for (a, b), v in net.sort_values(key=np.abs).items():
        if big <= 0 or abs(v) < 0.01 * big or a not in pos or b not in pos:
            continue
        s, t = (a, b) if v > 0 else (b, a)
        arrows.append((pos[s], pos[t], 0.6 + 7.0 * math.sqrt(abs(v) / big)))
    for a, b in closed_roads:
        if a in pos and b in pos:
            (xa, ya), (xb, yb) = pos[a], pos[b]
            ax.plot([xa, xb], [ya, yb], color="black", lw=1.2, ls=(0, (1, 1.5)), zorder=6)
            ax.plot((xa + xb) / 2, (ya + yb) / 2, marker="x", color="black", ms=7, mew=2, zorder=7)

    kinds = last["kind"].to_dict()
    camps = last["camp_capacity"].to_dict()
    labels, obstacles = [], []
    # one line of markers per kind of place (a line per place costs a hundred artists)
    styles = {
        "camp": {"marker": "^", "ms": 8, "mfc": P.OKABE_ITO["green"], "mec": "black", "mew": 0.7, "zorder": 8},
        "open": {"marker": "s", "ms": 7, "mfc": P.OKABE_ITO["blue"], "mec": "black", "zorder": 8},
        "closed": {"marker": "s", "ms": 7, "mfc": "white", "mec": "black", "zorder": 8},
        "cross": {"marker": "x", "ms": 7, "color": "#C00000", "mew": 2, "zorder": 9},
        "town": {"marker": "o", "ms": 6, "mfc": "black", "mec": "white", "zorder": 8},
        "place": {"marker": "o", "ms": 2.5, "color": "#444444", "zorder": 7},
    }  # fmt: skip
    points: dict[str, list[tuple[float, float]]] = {k: [] for k in styles}
    for n, (x, y) in pos.items():
        if not (ext[0] <= x <= ext[1] and ext[2] <= y <= ext[3]):
            continue
        k = kinds[n]
        if k == "camp_cluster" or int(camps[n]) > 0:
            points["camp"].append((x, y))
            labels.append((x, y, n, 4.0))
            obstacles.append((x, y, 4.0))
        elif k == "crossing":
            closed = n in closed_crossings
            points["closed" if closed else "open"].append((x, y))
            if closed:
                points["cross"].append((x, y))
            labels.append((x, y, n + (" (closed)" if closed else ""), 4.0))
            obstacles.append((x, y, 4.0))
        elif n in LANDMARKS:
            points["town"].append((x, y))
            labels.insert(0, (x, y, LANDMARKS[n], 3.0))
            obstacles.append((x, y, 3.0))
        else:
            points["place"].append((x, y))
            obstacles.append((x, y, 1.5))
    for k, style in styles.items():
        if points[k]:
            xs, ys = zip(*points[k], strict=True)
            ax.plot(xs, ys, ls="", **style)
    handles = [
        Line2D([], [], color=P.OKABE_ITO["vermillion"], lw=4, label=f"net flow along a road (widest: {P.format_people(big)} people)"),
        Line2D([], [], color="black", lw=1.2, ls=(0, (1, 1.5)), marker="x", label="road closed in the scenario"),
        Line2D([], [], ls="", marker="^", mfc=P.OKABE_ITO["green"], mec="black", ms=8, label="camp cluster"),
        Line2D([], [], ls="", marker="s", mfc=P.OKABE_ITO["blue"], mec="black", ms=7, label="border crossing (open)"),
        Line2D([], [], ls="", marker="s", mfc="white", mec="black", ms=7, label="crossing closed to civilians"),
        Line2D([], [], ls="", marker="o", mfc="black", mec="white", ms=6, label="town"),
        *_legend_classes(breaks, cmap, "displaced staying (net)"),
        *_control_handles(),
    ]  # fmt: skip
    first = P._day_label(pd.Timestamp(series["staying"].index[0]).date(), year=True)
    bottom, top = P._frame(
        fig,
        "Where people went: net movements along the roads, and where they are staying",
        title,
        subtitle=f"Arrows: people who travelled each road one way minus the other, {first} to the "
        "end of the run; width grows with the square root of the number. Shading: displaced people "
        f"staying in each sub-district at the end, net of those there on {first}. {len(arrows)} roads shown "
        "(flows under 1% of the largest left out).",
        note=ATTRIBUTION,
        legend_handles=handles,
        legend_ncols=3,
    )
    P._fit_grid(fig, [[ax]], bottom, top)
    ax.apply_aspect()
    _flow_arrows(ax, arrows)
    name_the_sea(fig, ax, bounds)
    P._place_labels(fig, ax, labels, obstacles)  # where the map is now
    return fig


def _flow_arrows(ax, arrows: list[tuple[tuple[float, float], tuple[float, float], float]]) -> None:
    """An arrow per (from, to, width in points), its ends 4 and 6 points short of the
    places: the ends worked out here on the placed map (a straight line), not searched for
    along the arrow's path by Matplotlib at the draw (``shrinkA``/``shrinkB``)."""
    px = ax.get_figure().dpi / 72  # pixels per point
    to_px = ax.transData
    for start, end, w in arrows:
        (ax_, ay), (bx, by) = to_px.transform([start, end])
        length = math.hypot(bx - ax_, by - ay)
        shrink = (4, 6)
        if length > 10 * px:  # else too short to shorten: as drawn before, Matplotlib's
            ux, uy = (bx - ax_) / length, (by - ay) / length
            ends = [(ax_ + ux * 4 * px, ay + uy * 4 * px), (bx - ux * 6 * px, by - uy * 6 * px)]
            start, end = to_px.inverted().transform(ends)
            shrink = (0, 0)
        ax.add_artist(  # not add_patch: the limits are set, no need to measure the arrow
            FancyArrowPatch(
                start, end, arrowstyle=f"-|>,head_length={0.25 + w * 0.09:.2f},head_width={0.15 + w * 0.06:.2f}",
                mutation_scale=12, linewidth=w, color=P.OKABE_ITO["vermillion"], alpha=0.85,
                shrinkA=shrink[0], shrinkB=shrink[1], zorder=5,
            )
        )  # fmt: skip


def _staying_classes(
    locations: pd.DataFrame, bounds: Boundaries, pcodes: dict[str, str], measure: str
) -> tuple[
    dict[str, pd.DataFrame],
    pd.DataFrame,
    tuple[ListedColormap, BoundaryNorm, list],
    set[str],
    tuple[float, float, float, float],
]:
    """What a map of the displaced staying needs: the daily series by place, ``measure``
    ("staying" or "staying_net") by sub-district and day, colour classes spanning every day,
    the sub-districts held by the government, and the map's extent."""
    run = _tables(locations, bounds, pcodes)
    series, wide = run.series, run.wide(measure)
    vmax = float(max(wide.to_numpy().max() if wide.size else 0, 1))
    gov, _ = run.control.on()
    return series, wide, _norm(vmax, SEQ_BLUE), gov, run.extent


def _situation_panels(n_days: int, max_panels: int = 12) -> tuple[int, list[int], tuple[int, int]]:
    """Days between panels, the days shown (0 = first reported) and (rows, columns) of
    :func:`situation_small_multiples` for a run of ``n_days`` reported days."""
    step = 7 * max(1, math.ceil(n_days / 7 / max_panels))
    picks = list(range(step - 1, n_days, step))
    if picks and n_days - 1 - picks[-1] < step // 2:
        picks[-1] = n_days - 1  # the last day replaces a panel only a few days before it
    elif not picks or picks[-1] != n_days - 1:
        picks.append(n_days - 1)
    picks = picks[-max_panels:]
    ncols = min(4, math.ceil(math.sqrt(len(picks))))
    return step, picks, (math.ceil(len(picks) / ncols), ncols)


def _situation_size(nrows: int, ncols: int) -> tuple[float, float]:
    return 3.0 * ncols, 3.0 * nrows + 1.6


@P.styled
def situation_small_multiples(
    locations: pd.DataFrame,
    bounds: Boundaries,
    pcodes: dict[str, str],
    title: str = "",
    max_panels: int = 12,
) -> Figure:
    """The displaced staying in each sub-district (net) on evenly spaced dates (weekly or
    every few weeks, at most ``max_panels``), with the areas captured by each date."""
    series, wide, (cmap, norm, breaks), gov, ext = _staying_classes(
        locations, bounds, pcodes, "staying_net"
    )
    dates = list(series["staying"].index)
    step, picks, (nrows, ncols) = _situation_panels(len(dates), max_panels)
    fig, grid = P._empty_figure(
        *_situation_size(nrows, ncols), nrows, ncols, grid_axis="", ticks=False
    )
    axes = list(grid.flat[: len(picks)])
    for ax in grid.flat[len(picks) :]:
        ax.set_visible(False)
    totals = series["staying_net"].sum(axis=1)
    control = _tables(locations, bounds, pcodes).control
    for ax, i in zip(axes, picks, strict=False):
        day = draw_day(
            ax, locations, bounds, pcodes, wide, i, cmap, norm, gov, ext, control=control
        )
        ax.set_title(
            f"{P._day_label(pd.Timestamp(day).date())}: {P.format_people(round(totals.iloc[i], -3))} staying",
            fontsize=8, loc="left", y=1.0,
        )  # fmt: skip
    every = "week" if step == 7 else f"{step // 7} weeks"
    first = P._day_label(pd.Timestamp(dates[0]).date(), year=True)
    bottom, top = P._frame(
        fig,
        f"The situation every {every}: displaced people staying in each sub-district",
        title,
        subtitle=f"Net of those already displaced there on {first}; hatched: captured by that day.",
        note=ATTRIBUTION,
        legend_handles=_legend_classes(breaks, cmap, "displaced staying (net)")
        + _control_handles(),
        legend_ncols=6,  # fewer if they do not fit (_frame)
    )
    P._fit_grid(
        fig, [[ax if ax.get_visible() else None for ax in row] for row in grid], bottom, top
    )
    return fig


@P.styled
def staying_day_map(
    locations: pd.DataFrame,
    bounds: Boundaries,
    pcodes: dict[str, str],
    i: int,
    title: str = "",
) -> Figure:
    """Displaced people staying in each sub-district on reported day ``i`` (0 = first):
    hosted, in camps or informal sites (not people passing through), all of them (not net
    of the first day, unlike the run's maps: a planner serves everyone there). The colour
    classes span every day in ``locations``, so that days compare; hatched: captured by the day.
    """
    _, wide, (cmap, norm, breaks), gov, ext = _staying_classes(locations, bounds, pcodes, "staying")
    fig, ((ax,),) = P._empty_figure(8.0, 8.4, grid_axis="", ticks=False)
    day = draw_day(ax, locations, bounds, pcodes, wide, i, cmap, norm, gov, ext, names=True)
    total = float(wide.iloc[i].sum()) if wide.size else 0.0
    bottom, top = P._frame(
        fig,
        f"Displaced people staying in each sub-district on "
        f"{P._day_label(pd.Timestamp(day).date(), year=True)}: {P.format_people(round(total, -2))}",
        title,
        subtitle="Hosted, in camps or informal sites (not people passing through). Colour "
        "classes span every day simulated, so that days compare; hatched: captured by this day.",
        note=ATTRIBUTION,
        legend_handles=_legend_classes(breaks, cmap, "displaced staying") + _control_handles(),
        legend_ncols=3,
    )
    P._fit_grid(fig, [[ax]], bottom, top)
    name_the_sea(fig, ax, bounds)
    if wide.size:  # where the map is now
        _label_largest(fig, ax, bounds, wide.iloc[i])
    return fig


def scenario_closures(
    scenario: Any, crossing_names: Sequence[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Roads closed by a ``route_closure`` event, and crossings closed on the last day
    (a crossing not listed in ``[crossings]`` is closed, as in the model)."""
    if scenario is None:
        return [], []
    roads = [tuple(e.between) for e in scenario.events if e.kind == "route_closure" and e.between]
    state = {n: c.open for n, c in scenario.crossings.items()}
    for e in sorted(scenario.events, key=lambda ev: ev.start or scenario.start):
        if e.kind == "border" and e.crossing and e.open is not None:
            started = e.start is None or e.start <= scenario.end
            lasts = e.end is None or e.end >= scenario.end  # still in force on the last day
            if started and lasts:
                state[e.crossing] = bool(e.open)
    return roads, [n for n in crossing_names if not state.get(n, False)]
