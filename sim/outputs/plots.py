"""Figures of a run for readers who never see the code: humanitarian planners and researchers.

Every function takes the run's tables (pandas DataFrames, as written to ``daily.csv``,
``locations.csv`` and ``routes.csv``), never the model, and returns a
:class:`matplotlib.figure.Figure`. Figures are built with the object API on an Agg canvas,
so nothing here touches pyplot's global state or needs a display.

All counts are people (a table's "movements" count a person displaced twice twice). Axes
show dates as "1 May" with the year in the axis label, and people as "250k" / "1.2M".
Colours are the Okabe-Ito and Paul Tol colour-blind-safe palettes, and every series also
differs by line style, marker or hatch so the figures survive grey-scale printing.

:func:`save_run_plots` writes the four standard PNGs (150 dpi, byte-identical for
identical tables) into a run folder's ``plots/``.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib
import matplotlib.dates as mdates
import matplotlib.image as mpl_image
import matplotlib.patheffects as path_effects
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath
from matplotlib.ticker import Formatter, FuncFormatter, Locator, MaxNLocator

from sim.observed import drawn_at, load_observed
from sim.outputs.canvas import Canvas
from sim.outputs.folders import RunFolder

if TYPE_CHECKING:
    from sim.scenario.loading import Scenario

__all__ = [
    "camp_occupancy",
    "cumulative_displacement",
    "displaced_by_district",
    "flow_map",
    "format_people",
    "save_run_plots",
]

DPI = 150
#: zlib level of the run's PNGs (:func:`write_png`): 3 writes them about twice as fast as
#: level 6 for files about 10% larger (measured on the 2019 run's figures)
PNG_COMPRESS_LEVEL = 3
PLOT_FILES = (
    "cumulative_displacement.png",
    "displaced_by_district.png",
    "camp_occupancy.png",
    "flow_map.png",
)

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
#: Paul Tol's "muted" qualitative palette, ordered so neighbours in a stack differ in lightness.
TOL_MUTED = (
    "#332288",  # indigo (dark)
    "#DDCC77",  # sand (light)
    "#44AA99",  # teal
    "#CC6677",  # rose
    "#117733",  # green (dark)
    "#88CCEE",  # cyan (light)
    "#882255",  # wine (dark)
    "#999933",  # olive
)
OTHER_COLOUR = "#DDDDDD"
INK = "#222222"  # text
MUTED = "#555555"  # subtitles, notes
GRID = "#E5E5E5"

TITLE_PT = 12.5
SCENARIO_PT = 10.0
SUBTITLE_PT = 9.0
NOTE_PT = 7.5
TICK_PT = 8.5
LABEL_PT = 9.0
LEGEND_PT = 8.0

#: The project's plot style, as matplotlib rc parameters: no top/right spines, muted ticks
#: with ink labels, a light grid behind the data. Applied to every figure function with
#: :func:`styled` (``matplotlib.rc_context``), so no figure sets these by hand.
STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "xtick.labelsize": TICK_PT,
    "ytick.labelsize": TICK_PT,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(figure_function: F) -> F:
    """Draw the figure of ``figure_function`` in the project's :data:`STYLE`."""

    @functools.wraps(figure_function)
    def draw(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return figure_function(*args, **kwargs)

    return draw  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Shared helpers (also meant for ensemble plots)
# --------------------------------------------------------------------------------------


def format_people(value: float, _pos: Any = None, signed: bool = False) -> str:
    """People as a short tick label: ``950``, ``2.5k``, ``100k``, ``1.25M`` (``+2.5k`` if signed)."""
    v = float(value)
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    v = abs(v)

    def trim(x: float) -> str:
        return f"{x:.2f}".rstrip("0").rstrip(".")

    if v >= 1e6:
        return f"{sign}{trim(v / 1e6)}M"
    if v >= 1e3:
        return f"{sign}{trim(v / 1e3)}k"
    return f"{sign}{v:,.0f}"


def _people(v: float) -> str:
    """People with thousands separators, for legends and notes."""
    return f"{v:,.0f}"


def _day_label(d: date, year: bool = False) -> str:
    """``1 May`` or ``1 May 2019`` (no platform-specific strftime flags)."""
    return f"{d.day} {d:%b}" + (f" {d.year}" if year else "")


def save_png(
    fig: Figure, path: Path | str, compress_level: int | None = PNG_COMPRESS_LEVEL
) -> Path:
    """Write ``fig`` as a PNG of :data:`DPI` dots per inch, with no timestamp (identical
    figures give identical bytes).

    ``compress_level``: zlib level (:data:`PNG_COMPRESS_LEVEL`) of :func:`write_png`, or
    None for Pillow's PNG (what ``savefig`` writes: the same bytes as ``fig.savefig(path,
    dpi=DPI, metadata={"Software": None})``).

    Drawn once: the canvas runs the figure's layout engine and renders in one pass.
    ``savefig`` itself draws a figure with a layout engine twice (a silent pass for the
    layout, then the real one): the same pixels for about a third more time.

    The figure is not cleared afterwards: a figure made without pyplot is freed with its
    last reference, and clearing one of many panels costs a tenth of a second for nothing.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else Canvas(fig)
    fig.dpi = DPI
    canvas.draw()
    if compress_level is not None:
        return write_png(np.asarray(canvas.buffer_rgba()), path, DPI, compress_level)
    mpl_image.imsave(
        path,
        canvas.buffer_rgba(),
        format="png",
        origin="upper",
        dpi=fig.dpi,
        metadata={"Software": None},
    )
    return Path(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(
    rgba: np.ndarray, path: Path | str, dpi: float = DPI, compress_level: int = PNG_COMPRESS_LEVEL
) -> Path:
    """Write an image (rows x columns x RGBA, 8 bits, opaque: a figure's canvas) as an RGB
    PNG with its resolution and nothing else (identical pixels give identical bytes).

    Rows unfiltered, then zlib at ``compress_level``: a figure's flat colours compress as
    well as with Pillow's per-row filter choice (whose trial of five filters per row takes
    most of Pillow's time), in about 60% of its time. The alpha channel is dropped: a
    figure on a white background is opaque.
    """
    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + 3 * width), np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:].reshape(height, width, 3)[...] = rgba[..., :3]
    per_metre = round(dpi / 0.0254)
    data = b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
            _png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            _png_chunk(b"IDAT", zlib.compress(rows.data, compress_level)),
            _png_chunk(b"IEND", b""),
        )
    )
    Path(path).write_bytes(data)
    return Path(path)


def _new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A figure on an Agg canvas, constrained layout by default (no pyplot involved)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    Canvas(fig)
    return fig


# --------------------------------------------------------------------------------------
# Figures prepared before their data exist
# --------------------------------------------------------------------------------------

T = TypeVar("T")

#: Empty figures (a figure and its axes, their ticks made) prepared ahead, by what they are:
#: a figure worker makes the run's while the model runs (:func:`prepare`), and a figure
#: function takes one (:func:`_made`) instead of making it. Axes and ticks are a third
#: of the drawing time of a plot of small panels, and do not depend on the run's numbers.
_PREPARED: dict[tuple[Any, ...], list[Any]] = {}

#: Ticks made per axis (x, y) when a figure is prepared: as many as the run's figures label
#: (a date axis up to 7, people up to 8; one not needed is never drawn, one more is made
#: at the draw).
_TICKS_MADE = (7, 8)


def _made(key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """A prepared ``make()`` of this ``key`` (once), else ``make()`` now: the same figure
    either way (``make`` runs in the same style, and drawing changes nothing it made)."""
    stock = _PREPARED.get(key)
    return stock.pop() if stock else make()


def prepare(key: tuple[Any, ...], make: Callable[[], Any]) -> None:
    """Make one ``make()`` now (in the project's :data:`STYLE`) for :func:`_made` later."""
    with matplotlib.rc_context(STYLE):
        _PREPARED.setdefault(key, []).append(make())


def _panels(
    width: float,
    height: float,
    nrows: int = 1,
    ncols: int = 1,
    grid_axis: str = "y",
    ticks: bool = True,
) -> tuple[Figure, np.ndarray]:
    """An empty figure ``width`` x ``height`` inches of ``nrows`` x ``ncols`` axes (an
    array of rows), placed later (:func:`_fit_grid`): a light grid along ``grid_axis``
    and, with ``ticks``, the tick marks and labels made now rather than at the first
    draw (each made as a copy of the first: the same ticks, sooner)."""
    fig = _new_figure(width, height, layout=None)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        _style_axes(ax, grid_axis)
        if ticks:
            ax.xaxis.get_major_ticks(_TICKS_MADE[0])
            ax.yaxis.get_major_ticks(_TICKS_MADE[1])
    return fig, axes


def _panels_key(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """The arguments of :func:`_panels` as one key, defaults filled in: the same figure
    asked for in different words is the same prepared figure."""
    bound = inspect.signature(_panels).bind(*args, **kwargs)
    bound.apply_defaults()
    width, height, *rest = bound.args
    return (float(width), float(height), *rest)


def _empty_figure(*args: Any, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """:func:`_panels` of these arguments, prepared ahead if it was (:func:`prepare_panels`)."""
    key = _panels_key(*args, **kwargs)
    return _made(("panels", *key), lambda: _panels(*key))


def prepare_panels(*args: Any, **kwargs: Any) -> None:
    """Make :func:`_panels` of these arguments now, for the figure that will ask for it."""
    key = _panels_key(*args, **kwargs)
    prepare(("panels", *key), lambda: _panels(*key))


@functools.lru_cache(maxsize=8192)
def _word_width_pt(word: str, pt: float, weight: str) -> float:
    """Width of a word in points (font metrics, no renderer; cached)."""
    w, _h, _d = TextToPath().get_text_width_height_descent(
        word, FontProperties(size=pt, weight=weight), ismath=False
    )
    return w


def _wrap(text: str, width_in: float, pt: float, weight: str = "normal") -> list[str]:
    """Greedy word wrap of ``text`` to lines at most ``width_in`` inches wide at ``pt`` points."""
    limit = width_in * 72 * 0.98  # a little slack for kerning across words
    space = _word_width_pt("a b", pt, weight) - 2 * _word_width_pt("a", pt, weight)
    lines: list[str] = []
    for para in text.split("\n"):
        line, width = "", 0.0
        for word in para.split():
            w = _word_width_pt(word, pt, weight)
            if line and width + space + w > limit:
                lines.append(line)
                line, width = word, w
            elif line:
                line, width = f"{line} {word}", width + space + w
            else:
                line, width = word, w
        lines.append(line)
    return lines


def _frame(
    fig: Figure,
    what: str,
    scenario_title: str = "",
    subtitle: str = "",
    note: str = "",
    legend_handles: Sequence[Any] = (),
    legend_ncols: int = 3,
) -> tuple[float, float]:
    """Title block at the top, an optional legend under it, and a note at the foot.

    ``what`` (what is shown, bold) is the figure's suptitle; the scenario title and the
    subtitle follow in lighter type. The layout engine keeps the axes clear of both blocks.
    """
    w, h = fig.get_size_inches()
    pad = 0.12  # inches
    x = pad / w
    y = 1 - pad / h
    text_w = w - 2 * pad
    renderer = fig.canvas.get_renderer()
    blocks = [
        (what, TITLE_PT, INK, "bold"),
        (scenario_title, SCENARIO_PT, INK, "normal"),
        (subtitle, SUBTITLE_PT, MUTED, "normal"),
    ]
    first = True
    for text, pt, colour, weight in blocks:
        if not text:
            continue
        body = "\n".join(_wrap(text, text_w, pt, weight))
        style = {"ha": "left", "va": "top", "fontsize": pt, "color": colour, "in_layout": False}
        if first:
            t = fig.suptitle(body, x=x, y=y, fontweight=weight, **style)
            first = False
        else:
            t = fig.text(x, y, body, **style)
        y -= (t.get_window_extent(renderer).height / fig.dpi + 0.05) / h
    if legend_handles:
        for ncols in range(max(1, legend_ncols), 0, -1):  # fewer columns if it overflows
            leg = fig.legend(
                handles=list(legend_handles),
                loc="upper left",
                bbox_to_anchor=(x, y),
                bbox_transform=fig.transFigure,
                ncols=ncols,
                fontsize=LEGEND_PT,
                frameon=False,
                borderaxespad=0.0,
                borderpad=0.0,
            )
            leg.set_in_layout(False)
            extent = leg.get_window_extent(renderer)
            if ncols == 1 or extent.width / fig.dpi <= text_w:
                break
            leg.remove()
        y -= (extent.height / fig.dpi + 0.04) / h
    top = y - 0.04 / h
    bottom = 0.0
    if note:
        t = fig.text(
            x,
            pad / 2 / h,
            "\n".join(_wrap(note, text_w, NOTE_PT)),
            ha="left",
            va="bottom",
            fontsize=NOTE_PT,
            color=MUTED,
            in_layout=False,
        )
        bottom = (pad / 2 + t.get_window_extent(renderer).height / fig.dpi + 0.06) / h
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.set(rect=(0, bottom, 1, top - bottom))
    return bottom, top


def _frame_height(
    width: float, what: str, scenario_title: str = "", subtitle: str = "", note: str = ""
) -> float:
    """Inches that :func:`_frame` takes at the top and foot of a figure ``width`` wide."""
    text_w = width - 0.24
    h = 0.12 + 0.04
    for text, pt, weight in (
        (what, TITLE_PT, "bold"),
        (scenario_title, SCENARIO_PT, "normal"),
        (subtitle, SUBTITLE_PT, "normal"),
    ):
        if text:
            h += len(_wrap(text, text_w, pt, weight)) * pt * 1.17 / 72 + 0.05
    if note:
        h += 0.06 + 0.06 + len(_wrap(note, text_w, NOTE_PT)) * NOTE_PT * 1.17 / 72
    return h


# --------------------------------------------------------------------------------------
# Fixed layout: the margins constrained layout would find, worked out from the text
# --------------------------------------------------------------------------------------

#: Room around each axes' decorations, inches (constrained layout's ``w_pad``/``h_pad``).
PAD_IN = 3 / 72


@functools.lru_cache(maxsize=1)
def _measuring_figure() -> Figure:
    fig = Figure(figsize=(1, 1), dpi=DPI)
    Canvas(fig)
    return fig


@functools.lru_cache(maxsize=4096)
def _text_box_pt(
    text: str, pt: float, weight: str = "normal", linespacing: float | None = None
) -> tuple[float, float, float]:
    """(width, height, depth below the baseline) in points of ``text`` (lines split at
    newlines) as drawn at :data:`DPI`: Matplotlib's own text layout on a scrap figure
    (cached)."""
    fig = _measuring_figure()
    t = fig.text(0, 0, text, fontsize=pt, fontweight=weight, va="baseline")
    if linespacing is not None:
        t.set_linespacing(linespacing)
    bb = t.get_window_extent(fig.canvas.get_renderer())
    t.remove()
    return bb.width * 72 / DPI, bb.height * 72 / DPI, -bb.y0 * 72 / DPI


def _text_size_pt(
    text: str, pt: float, weight: str = "normal", linespacing: float | None = None
) -> tuple[float, float]:
    """(width, height) in points of ``text`` as drawn (:func:`_text_box_pt`, always called
    with every argument: one cache key per text)."""
    return _text_box_pt(text, float(pt), weight, linespacing)[:2]


def measure_labels(first: date, last: date) -> None:
    """Measure now the tick labels a run from ``first`` to ``last`` is likely to show (dates
    of the period, months, round numbers of people), for :func:`_fit_grid` later."""
    days = pd.date_range(first, last, freq="D")
    texts = {_day_label(d.date()) for d in days} | {f"{d:%b}" for d in days}
    for exponent in range(7):
        for step in (1, 2, 2.5, 5):
            texts |= {format_people(k * step * 10**exponent) for k in range(11)}
    for text in sorted(texts):
        _text_size_pt(text, TICK_PT)  # the call _axes_margins_pt makes (the same cache key)


def _tick_labels(axis: Any) -> list[tuple[float, str]]:
    """(fraction along the axis, label) of the labelled major ticks of ``axis`` in its view,
    as the next draw will label them (the same calls, so cached labels are reused)."""
    if not axis._major_tick_kw.get("label1On", True) or not axis.get_visible():
        return []
    lo, hi = axis.get_view_interval()
    locs = axis.get_majorticklocs()
    labels = axis.get_major_formatter().format_ticks(locs)
    span = (hi - lo) or 1.0
    out = []
    for x, text in zip(locs, labels, strict=True):
        f = (x - lo) / span
        if text and -1e-9 <= f <= 1 + 1e-9:
            out.append((float(f), text))
    return out


def _axes_margins_pt(
    ax: Axes, width_pt: float, height_pt: float
) -> tuple[float, float, float, float]:
    """Room in points that the decorations of ``ax`` take beyond its box (left, right,
    bottom, top): tick labels, axis labels and titles, measured as they will be drawn, for
    axes ``width_pt`` x ``height_pt``. What constrained layout measures with a draw, from
    the text."""
    left = right = bottom = top = 0.0
    for axis in (ax.xaxis, ax.yaxis):
        ticks = _tick_labels(axis)
        tick = axis.majorTicks[0]  # every tick is styled as the first
        pt = tick.label1.get_fontsize()
        room = tick.get_pad() + tick.get_tick_padding()  # axes to tick label, as drawn
        label = axis.label.get_text() if axis.label.get_visible() else ""
        label_room = 0.0
        if label:
            label_room = axis.labelpad + _text_size_pt(label, axis.label.get_fontsize())[1]
        if axis is ax.yaxis:
            width = max((_text_size_pt(t, pt)[0] for _f, t in ticks), default=-room)
            left = max(left, room + width + label_room)
            for f, text in ticks[:1] + ticks[-1:]:  # a label centred near an end stands out
                half = _text_size_pt(text, pt)[1] / 2
                top = max(top, half - (1 - f) * height_pt)
                bottom = max(bottom, half - f * height_pt)
        else:
            if ticks:
                bottom = max(bottom, room + max(_text_size_pt(t, pt)[1] for _f, t in ticks))
                f, text = ticks[-1]
                right = max(right, _text_size_pt(text, pt)[0] / 2 - (1 - f) * width_pt)
                f, text = ticks[0]
                left = max(left, _text_size_pt(text, pt)[0] / 2 - f * width_pt)
            bottom += label_room
    for t in (ax.title, ax._left_title, ax._right_title):
        if t.get_text():  # on its baseline, axes.titlepad points above the axes
            _w, h, depth = _text_box_pt(
                t.get_text(), float(t.get_fontsize()), t.get_fontweight(), None
            )
            top = max(top, matplotlib.rcParams["axes.titlepad"] + h - depth)
    return left, right, bottom, top


def _fit_grid(
    fig: Figure,
    grid: Sequence[Sequence[Axes | None]],
    bottom: float,
    top: float,
    left_in: float = 0.0,
    right_in: float = 0.0,
) -> None:
    """Place a grid of axes (rows of columns; None: an empty cell) between ``bottom`` and
    ``top`` (figure fractions, as :func:`_frame` returns them), ``left_in``/``right_in``
    inches from the figure's sides: equal cells, each column's and row's margins the room
    its tick labels, axis labels and titles take (:func:`_axes_margins_pt`) plus
    :data:`PAD_IN`. The layout constrained layout finds, without its two extra passes
    over every tick label of every axes; axes with a fixed aspect then shrink into their
    cell (centred), as they do there.
    """
    fig_w, fig_h = fig.get_size_inches()
    nrows, ncols = len(grid), max(len(row) for row in grid)
    cells = [[row[c] if c < len(row) else None for c in range(ncols)] for row in grid]
    width_in = (fig_w - left_in - right_in) / ncols - 2 * PAD_IN  # first guesses
    height_in = (top - bottom) * fig_h / nrows - 2 * PAD_IN
    for _ in range(2):  # a label standing out at an end depends on the axes' size
        margins = [
            [
                _axes_margins_pt(ax, width_in * 72, height_in * 72)
                if ax is not None
                else (0.0,) * 4
                for ax in row
            ]
            for row in cells
        ]
        lefts = [max(margins[r][c][0] for r in range(nrows)) / 72 for c in range(ncols)]
        rights = [max(margins[r][c][1] for r in range(nrows)) / 72 for c in range(ncols)]
        room = fig_w - left_in - right_in - sum(lefts) - sum(rights) - 2 * PAD_IN * ncols
        width_in = room / ncols
        bottoms = [max(m[2] for m in row) / 72 for row in margins]
        tops = [max(m[3] for m in row) / 72 for row in margins]
        room = (top - bottom) * fig_h - sum(bottoms) - sum(tops) - 2 * PAD_IN * nrows
        height_in = room / nrows
    y = top * fig_h
    for r, row in enumerate(cells):
        y -= PAD_IN + tops[r] + height_in
        x = left_in
        for c, ax in enumerate(row):
            x += PAD_IN + lefts[c]
            if ax is not None:
                ax.set_position((x / fig_w, y / fig_h, width_in / fig_w, height_in / fig_h))
                for axis in (ax.xaxis, ax.yaxis):
                    if not axis.label.get_text():  # nothing to place: no measuring at the draw
                        axis.set_label_coords(0.0, 0.0)
            x += width_in + rights[c] + PAD_IN
        y -= bottoms[r] + PAD_IN


class _OncePerView(Locator):
    """The ticks of ``locator``, computed once per view interval of the axis.

    Drawing a figure asks each axis for its ticks many times (every layout pass, and for
    every axis sharing it: 444 times for the 12 panels of the camp plot); a date locator
    works them out with ``dateutil.rrule`` each time. The same ticks, computed once.
    For locators whose ticks depend only on the view interval (not on the axis' size).
    """

    def __init__(self, locator: Locator):
        self.locator = locator
        self._view: tuple[float, float] | None = None
        self._ticks: Any = None

    def set_axis(self, axis: Any) -> None:
        self.axis = axis
        self.locator.set_axis(axis)

    def __call__(self) -> Any:
        view = tuple(self.axis.get_view_interval())
        if view != self._view:
            self._ticks, self._view = self.locator(), view
        return self._ticks

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return self.locator.tick_values(vmin, vmax)

    def nonsingular(self, v0: float, v1: float) -> tuple[float, float]:
        return self.locator.nonsingular(v0, v1)

    def view_limits(self, vmin: float, vmax: float) -> tuple[float, float]:
        return self.locator.view_limits(vmin, vmax)


class _LabelsOnce(Formatter):
    """The tick labels of ``formatter``, worked out once per set of tick positions (a
    figure's draw asks for them as often as for the ticks, :class:`_OncePerView`). For
    formatters whose label of a tick depends only on its position."""

    def __init__(self, formatter: Formatter):
        self.formatter = formatter
        self._locs: tuple[float, ...] | None = None
        self._labels: list[str] = []

    def set_axis(self, axis: Any) -> None:
        self.axis = axis
        self.formatter.set_axis(axis)

    def format_ticks(self, values: Any) -> list[str]:
        locs = tuple(values)
        if locs != self._locs:
            self._labels, self._locs = self.formatter.format_ticks(values), locs
        return list(self._labels)

    def __call__(self, x: float, pos: Any = None) -> str:
        return self.formatter(x, pos)

    def format_data(self, value: float) -> str:
        return self.formatter.format_data(value)

    def format_data_short(self, value: float) -> str:
        return self.formatter.format_data_short(value)

    def get_offset(self) -> str:
        return self.formatter.get_offset()

    def set_locs(self, locs: Any) -> None:
        self.formatter.set_locs(locs)


def _style_axes(ax: Axes, grid_axis: str = "y") -> None:
    """A light grid behind the data along ``grid_axis`` (the rest is :data:`STYLE`)."""
    if grid_axis:
        ax.grid(axis=grid_axis)


def _band(ax: Axes, days: Any, lower: Any, upper: Any, **style: Any) -> PolyCollection:
    """The area between ``lower`` and ``upper`` (people, or one number) over ``days``
    (dates), as ``fill_between`` draws it (the same polygon, a collection styled by
    ``style``), without its checks and without widening the axes' limits: for axes whose
    limits are set afterwards. A tenth of the drawing time of a plot of twelve panels."""
    t = mdates.date2num(np.asarray(days))
    lo = np.broadcast_to(np.asarray(lower, float), t.shape)
    hi = np.broadcast_to(np.asarray(upper, float), t.shape)
    n = len(t)
    pts = np.empty((2 * n + 2, 2))
    pts[0] = t[0], lo[0]
    pts[1 : n + 1, 0], pts[1 : n + 1, 1] = t, hi
    pts[n + 1] = t[-1], lo[-1]
    pts[n + 2 :, 0], pts[n + 2 :, 1] = t[::-1], lo[::-1]
    return ax.add_collection(PolyCollection([pts], **style), autolim=False)


def _as_dates(values: Iterable[Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(list(values))))


def _year_label(first: pd.Timestamp, last: pd.Timestamp) -> str:
    return f"Date ({first.year})" if first.year == last.year else f"Date ({first.year}-{last.year})"


def format_date_axis(
    ax: Axes,
    first: pd.Timestamp,
    last: pd.Timestamp,
    max_ticks: int = 10,
    label: bool = True,
    pad: float = 0.0,
) -> None:
    """Readable date ticks ("1 May", "15 May"; months for long runs) and the year in the label.

    ``pad``: room after the last day, as a fraction of the period (for markers on it).
    """
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    span = max(1, (last - first).days)
    if span / 1 <= max_ticks:
        locator: mdates.DateLocator = mdates.DayLocator()
    elif span / 7 <= max_ticks:
        locator = mdates.DayLocator(bymonthday=(1, 8, 15, 22))
    elif span / 15 <= max_ticks:
        locator = mdates.DayLocator(bymonthday=(1, 15))
    elif span / 30 <= max_ticks:
        locator = mdates.MonthLocator()
    elif span / 61 <= max_ticks:
        locator = mdates.MonthLocator(bymonth=(1, 3, 5, 7, 9, 11))
    else:
        locator = mdates.MonthLocator(bymonth=(1, 4, 7, 10))
    monthly = isinstance(locator, mdates.MonthLocator)

    def fmt(x: float, _pos: Any = None) -> str:
        d = mdates.num2date(x).date()
        new_year = d.month == 1 and (monthly or d.day == 1) and first.year != last.year
        if monthly:
            return f"{d:%b}" + (f" {d.year}" if new_year else "")
        return _day_label(d, year=new_year)

    ax.xaxis.set_major_locator(_OncePerView(locator))
    ax.xaxis.set_major_formatter(_LabelsOnce(FuncFormatter(fmt)))
    lo, hi = mdates.date2num(first), mdates.date2num(last)
    if hi <= lo:  # a single day
        lo, hi = lo - 0.5, hi + 0.5
    ax.set_xlim(lo, hi + pad * (hi - lo))
    if label:
        ax.set_xlabel(_year_label(first, last), fontsize=LABEL_PT, color=INK)


def _format_people_axis(ax: Axes, label: str = "People", axis: str = "y") -> None:
    """People on an axis, from zero, ticks as "100k"; the unit in the label."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(_LabelsOnce(FuncFormatter(format_people)))
    target.set_major_locator(
        _OncePerView(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], integer=True))
    )
    if axis == "y":
        ax.set_ylim(bottom=0)
        ax.set_ylabel(label, fontsize=LABEL_PT, color=INK)
    else:
        ax.set_xlim(left=0)
        ax.set_xlabel(label, fontsize=LABEL_PT, color=INK)


def _legend(ax: Axes, handles=None, labels=None, **kw):
    # a white box without an edge: curves that rise behind the legend do not cross its text
    opts = {
        "fontsize": LEGEND_PT,
        "frameon": True,
        "framealpha": 0.85,
        "facecolor": "white",
        "edgecolor": "none",
        "loc": "upper left",
    }
    opts.update(kw)
    if handles is None:
        return ax.legend(**opts)
    return ax.legend(handles, labels, **opts)


def _require(df: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table} table lacks column(s) {', '.join(missing)}")
    if df.empty:
        raise ValueError(f"{table} table is empty: nothing to plot")


def _luminance(colour: Any) -> float:
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ink_on(colour: Any, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """Black or white, whichever reads better on ``colour``."""
    v = 0.0 if _luminance(colour) > 0.45 else 1.0
    return (v, v, v, alpha)


def _label_bands(ax: Axes, dates: pd.DatetimeIndex, bands: list, ymax: float) -> None:
    """Write each stacked band's name inside it where it is thickest (if thick enough)."""
    n = len(dates)
    if n < 2:
        return
    lo = n // 3
    for name, colour, base, values in bands:
        seg = values[lo:]
        k = lo + len(seg) - 1 - int(np.argmax(seg[::-1]))  # latest day of greatest thickness
        if values[k] < 0.05 * ymax or "\n" in name or len(name) > 24:
            continue
        end = k > n * 0.8
        ax.annotate(
            name,
            (mdates.date2num(dates[k]), base[k] + values[k] / 2),
            xytext=(-5 if end else 0, 0),
            textcoords="offset points",
            ha="right" if end else "center",
            va="center",
            fontsize=LEGEND_PT,
            color=_ink_on(colour),
            zorder=4,
            path_effects=[path_effects.withStroke(linewidth=2.5, foreground=colour)],
        )


def _short_district(name: str, notes: bool = False) -> str:
    """District label without admin codes (and bracketed notes unless ``notes``).

    'Idleb (SY0700)' -> 'Idleb'; with ``notes``, 'Jebel Saman (SY0200) [Atareb district
    since 2008]' -> 'Jebel Saman [Atareb district since 2008]', wrapped for a legend.
    """
    s = str(name) if notes else re.sub(r"\s*\[[^\]]*\]", "", str(name))
    s = re.sub(r"\s*\((?:[A-Z]{2,3})?\d{2,}\)", "", s).strip() or str(name)
    return "\n".join(_wrap(s, 2.6, LEGEND_PT)) if notes else s


# --------------------------------------------------------------------------------------
# 1. Cumulative displacement against observed figures
# --------------------------------------------------------------------------------------

_CURVES = {
    # column: (legend text, colour, line style, width, marker shared with observed points)
    "displacements_cumulative": (
        "Movements since {first}",
        OKABE_ITO["vermillion"],
        "-",
        2.2,
        "o",
    ),
    "displaced_people_cumulative": (
        "People displaced at least once since {first}",
        OKABE_ITO["blue"],
        "--",
        2.2,
        "s",
    ),
    "displaced_now": (
        "People displaced now{extra}",
        OKABE_ITO["black"],
        ":",
        1.3,
        None,
    ),
}


def _observed_points(
    observed: pd.DataFrame | None, daily: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    """Observed figures to draw (not ``context``, inside the run) with their plotting height.

    Returns the points (columns as_of, y, value, measure, use, lifted) and how many
    ``fit``/``check`` figures fell outside the run. A figure counted from the run's first
    days is drawn at its value; one counted from a later date is drawn at its value plus
    the model's cumulative total on the day before its period starts, so the gap to the
    curve is the model-observed difference for the same period.
    """
    cols = ["as_of", "y", "value", "measure", "use", "lifted"]
    if observed is None or len(observed) == 0:
        return pd.DataFrame(columns=cols), 0
    obs = observed.copy()
    if "use" not in obs.columns:
        obs["use"] = "fit"
    obs = obs[obs["use"].astype(str) != "context"]
    obs = obs[obs["measure"].isin(("movements", "people"))]
    obs["as_of"] = pd.to_datetime(obs["as_of"])
    if "period_start" in obs.columns:
        obs["period_start"] = pd.to_datetime(obs["period_start"])
    else:
        obs["period_start"] = first
    inside = (obs["as_of"] >= first) & (obs["as_of"] <= last)
    outside = int((~inside).sum())
    obs = obs[inside].copy()
    dates = _as_dates(daily["date"])
    cumulative = {
        "movements": pd.Series(daily["displacements_cumulative"].to_numpy(), index=dates),
        "people": pd.Series(daily["displaced_people_cumulative"].to_numpy(), index=dates),
    }
    drawn = [
        drawn_at(r.value, r.period_start, first, cumulative[r.measure]) for r in obs.itertuples()
    ]
    obs["y"] = [y for y, _ in drawn]
    obs["lifted"] = [lifted for _, lifted in drawn]
    obs["_use_rank"] = obs["use"].map({"fit": 0, "check": 1}).fillna(2)
    obs = obs.sort_values(["measure", "_use_rank", "as_of"], kind="stable")
    return obs[cols].reset_index(drop=True), outside


@styled
def cumulative_displacement(
    daily: pd.DataFrame, observed: pd.DataFrame | None = None, title: str = ""
) -> Figure:
    """Cumulative displacement (people) by day, with UN/OCHA figures where there are any.

    Curves: ``displacements_cumulative`` (movements: a person displaced twice counts
    twice), ``displaced_people_cumulative`` (unique people displaced at least once) and
    ``displaced_now`` (people away from home on the day). ``observed`` is a table as read
    by :func:`sim.observed.load_observed`; ``context`` figures are never drawn, ``fit``
    figures are filled markers and ``check`` figures hollow ones, shaped like their curve.
    """
    _require(daily, ["date", *_CURVES], "daily")
    dates = _as_dates(daily["date"])
    first, last = dates[0], dates[-1]
    first_txt = _day_label(first.date())
    fig, ((ax,),) = _empty_figure(9.0, 5.6)

    n = len(dates)
    extra = ""
    if float(daily["displaced_now"].iloc[0]) > 0:
        extra = (
            f" (incl. {_people(daily['displaced_now'].iloc[0])} already displaced on {first_txt})"
        )
    for k, (col, (text, colour, ls, lw, marker)) in enumerate(_CURVES.items()):
        end = float(daily[col].iloc[-1])
        label = (
            text.format(first=first_txt, extra=extra)
            + f": {_people(end)} by {_day_label(last.date())}"
        )
        markevery = (max(1, n // 10) // 2 * k, max(1, n // 10)) if marker else None
        ax.plot(
            dates,
            daily[col].to_numpy(float),
            color=colour,
            linestyle=ls,
            linewidth=lw,
            marker=marker,
            markersize=4,
            markevery=markevery,
            label=label,
            zorder=3,
        )

    points, outside = _observed_points(observed, daily, first, last)
    curve_of = {"movements": "displacements_cumulative", "people": "displaced_people_cumulative"}
    shapes = {m: (_CURVES[c][4], _CURVES[c][1]) for m, c in curve_of.items()}  # marker, colour
    use_text = {"fit": "used for fitting", "check": "check only, not fitted"}
    for (measure, use), grp in points.groupby(["measure", "use"], sort=False):
        marker, colour = shapes[measure]
        hollow = use != "fit"
        ax.scatter(
            grp["as_of"],
            grp["y"],
            marker=marker,
            s=58,
            facecolors="white" if hollow else colour,
            edgecolors=colour if hollow else "black",
            linewidths=1.6 if hollow else 0.8,
            zorder=5 if hollow else 6,  # fit figures on top where both coincide
            label=f"UN/OCHA {measure} figure ({use_text.get(use, use)})",
            gid=f"observed-{measure}-{use}",
        )

    format_date_axis(ax, first, last, pad=0.015)
    _format_people_axis(ax, "Movements (red) or people (blue, black)")
    ymax = max(
        float(daily[list(_CURVES)].to_numpy(float).max()),
        float(points["y"].max()) if len(points) else 0.0,
    )
    ax.set_ylim(0, max(ymax * 1.08, 10))
    _legend(ax)

    if points.empty:
        ax.text(
            0.99,
            0.03,
            "no UN/OCHA figures for this period",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=SUBTITLE_PT,
            color=MUTED,
            style="italic",
        )
    notes = []
    if not points.empty:
        starts = _observed_starts(observed, first, last)
        notes.append(
            f"Markers: UN/OCHA and partner figures at the date they run to{starts}; "
            "filled = used for fitting, hollow = check only (not fitted). Figures counted "
            "from other dates (e.g. since 1 January) are not shown."
        )
        if points["lifted"].any():
            notes.append(
                "Figures counted from a later date are drawn on top of the model's total on "
                "the day before that date."
            )
    if outside:
        notes.append(f"{outside} observed figure(s) dated outside the run not shown.")
    notes.append("Model: one run of idlibsim.")
    bottom, top = _frame(
        fig,
        "Displacement over time: movements, people displaced, people displaced now",
        title,
        subtitle="Movements count every flight: a person displaced twice counts twice (OCHA/CCCM "
        "'displacements'). People displaced count each person once, at their first flight. "
        "Cumulative counts start on the first day of the run.",
        note=" ".join(notes),
    )
    _fit_grid(fig, [[ax]], bottom, top)
    return fig


def _observed_starts(observed: pd.DataFrame | None, first: pd.Timestamp, last: pd.Timestamp) -> str:
    """' (counted from 29 Apr-1 May 2019)': the period starts of the figures drawn."""
    if observed is None or "period_start" not in observed.columns:
        return ""
    obs = observed
    if "use" in obs.columns:
        obs = obs[obs["use"].astype(str) != "context"]
    as_of = pd.to_datetime(obs["as_of"])
    obs = obs[(as_of >= first) & (as_of <= last)]
    if obs.empty:
        return ""
    starts = pd.to_datetime(obs["period_start"])
    lo, hi = starts.min().date(), starts.max().date()
    if lo == hi:
        return f" (counted from {_day_label(lo, year=True)})"
    return f" (counted from {_day_label(lo)}-{_day_label(hi, year=True)})"


# --------------------------------------------------------------------------------------
# 2. Displaced people by home district
# --------------------------------------------------------------------------------------


@styled
def displaced_by_district(locations: pd.DataFrame, title: str = "", top: int = 8) -> Figure:
    """Stacked area of people away from home (people), by home district, by day.

    ``displaced_from_here`` summed by ``district``; the ``top`` districts with the highest
    peak are named, the rest are stacked as "other districts".
    """
    _require(locations, ["date", "district", "displaced_from_here"], "locations")
    wide = (
        locations.assign(date=pd.to_datetime(locations["date"]))
        .pivot_table(index="date", columns="district", values="displaced_from_here", aggfunc="sum")
        .fillna(0.0)
        .sort_index()
    )
    wide = wide.loc[:, wide.max(axis=0) > 0]
    order = sorted(wide.columns, key=lambda c: (-wide[c].max(), str(c)))
    named = order if len(order) <= top + 1 else order[:top]
    rest = [c for c in order if c not in named]
    short = {c: _short_district(c) for c in order}
    clash = {v for v in short.values() if list(short.values()).count(v) > 1}
    label = {c: _short_district(c, notes=short[c] in clash) for c in order}  # keep names distinct
    series = [(label[c], wide[c].to_numpy(float)) for c in named]
    if rest:
        series.append((f"Other districts ({len(rest)})", wide[rest].sum(axis=1).to_numpy(float)))
    dates = wide.index
    fig, ((ax,),) = _empty_figure(9.0, 5.6)
    legend = None
    if len(dates) == 0 or not series:
        dates = pd.DatetimeIndex(pd.to_datetime(locations["date"]).drop_duplicates().sort_values())
        ax.plot(dates, np.zeros(len(dates)), color=MUTED, label="no one displaced")
        ax.text(
            0.5,
            0.5,
            "no one was away from home in this run",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=MUTED,
            fontsize=SUBTITLE_PT,
        )
    else:
        hatches = ["", "////", "", "....", "\\\\\\\\", "", "xxxx", "----"]
        base = np.zeros(len(dates))
        handles = []
        bands = []
        for i, (name, values) in enumerate(series):
            other = bool(rest) and i == len(series) - 1
            colour = OTHER_COLOUR if other else TOL_MUTED[i % len(TOL_MUTED)]
            hatch = "" if other else hatches[i % len(hatches)]
            handles.append(
                _band(
                    ax,
                    dates,
                    base,
                    base + values,
                    facecolor=colour,
                    edgecolor="white",
                    hatchcolor=_ink_on(colour, alpha=0.45),
                    linewidth=0.6,
                    hatch=hatch,
                    label=name,
                    zorder=2,
                )
            )
            bands.append((name, colour, base.copy(), values))
            base = base + values
        ax.plot(dates, base, color=INK, linewidth=1.0, zorder=3)
        ymax = float(base.max()) * 1.05 if base.max() > 0 else 1.0
        ax.set_ylim(0, ymax)
        _label_bands(ax, dates, bands, ymax)
        total = Line2D([], [], color=INK, linewidth=1.0)
        labels = [name for name, _ in series]
        # legend top-to-bottom in the same order as the stack
        legend = _legend(
            ax,
            [total, *handles[::-1]],
            [f"All districts (peak {_people(base.max())})", *labels[::-1]],
            title="Home district",
            title_fontsize=LEGEND_PT,
            alignment="left",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    if len(dates):
        format_date_axis(ax, dates[0], dates[-1])
    _format_people_axis(ax, "People away from home")
    bottom, top = _frame(
        fig,
        "People displaced from each district, by day",
        title,
        subtitle="People whose home is in the district and who are away from it on the day: "
        "on the move, hosted, in camps or informal sites, or abroad. People already living in "
        "camps when the run starts count only if they move again (under the camp's district).",
        note="Districts as given in the locations file. Model: one run of idlibsim.",
    )
    right_in = 0.0
    if legend is not None:  # beside the axes: 1% of their width and its pad to the right
        legend_in = legend.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
        legend_in += legend.borderaxespad * LEGEND_PT / 72
        right_in = legend_in + 0.01 * (fig.get_figwidth() - legend_in - 0.7)
    _fit_grid(fig, [[ax]], bottom, top, right_in=right_in)
    return fig


# --------------------------------------------------------------------------------------
# 3. Camp occupancy, small multiples
# --------------------------------------------------------------------------------------


def _grid(n: int) -> tuple[int, int]:
    if n <= 3:
        return 1, max(n, 1)
    if n == 4:
        return 2, 2
    if n <= 6:
        return 2, 3
    if n <= 9:
        return 3, 3
    return 3, 4


@styled
def camp_occupancy(locations: pd.DataFrame, title: str = "", max_panels: int = 12) -> Figure:
    """People in formal camps and informal sites against camp capacity (people), by place.

    One panel per place with formal camp capacity at any time, fullest first (peak of
    ``(in_camp + in_informal_site) / camp_capacity``), at most ``max_panels``.
    """
    cols = ["date", "location", "in_camp", "in_informal_site", "camp_capacity"]
    _require(locations, cols, "locations")
    df = locations[cols].copy()
    df["date"] = pd.to_datetime(df["date"])
    all_dates = pd.DatetimeIndex(df["date"].drop_duplicates().sort_values())
    first, last = all_dates[0], all_dates[-1]
    has_camp = df.groupby("location", sort=False)["camp_capacity"].max()
    places = [str(p) for p in has_camp.index[has_camp > 0]]
    stats = []
    for p in places:
        d = df[df["location"] == p].sort_values("date")
        cap = d["camp_capacity"].to_numpy(float)
        occ = (d["in_camp"] + d["in_informal_site"]).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(cap > 0, 100.0 * occ / cap, np.nan)
        k = int(np.nanargmax(pct))
        stats.append((p, float(pct[k]), d["date"].iloc[k], d))
    stats.sort(key=lambda s: (-s[1], s[0]))
    shown = stats[:max_panels]
    nrows, ncols = _grid(len(shown))
    width = 11.0 if ncols >= 3 else 4.2 * ncols + 1.8
    fig, axes = _empty_figure(width, 2.35 * nrows + 1.9, nrows, ncols)
    colours = {"camp": OKABE_ITO["blue"], "informal": OKABE_ITO["orange"]}
    max_ticks = 4 if ncols >= 3 else 6
    for i, ax in enumerate(axes.flat):
        if i >= len(shown):
            ax.set_visible(False)
            continue
        name, peak, peak_day, d = shown[i]
        x = d["date"]
        camp = d["in_camp"].to_numpy(float)
        both = camp + d["in_informal_site"].to_numpy(float)
        _band(ax, x, 0, camp, facecolor=colours["camp"], edgecolor="none", alpha=0.85, zorder=2)
        _band(
            ax,
            x,
            camp,
            both,
            facecolor=colours["informal"],
            edgecolor=OKABE_ITO["vermillion"],
            hatch="////",
            linewidth=0.0,
            alpha=0.75,
            zorder=2,
        )
        ax.plot(x, both, color=INK, linewidth=0.9, zorder=3)
        ax.plot(
            x,
            d["camp_capacity"].to_numpy(float),
            color="black",
            linestyle="--",
            linewidth=1.4,
            zorder=4,
            path_effects=[path_effects.withStroke(linewidth=3.2, foreground="white")],
        )
        ax.set_title(
            f"{name}\npeak {peak:,.0f}% of capacity on {_day_label(peak_day.date())}",
            fontsize=LABEL_PT,
            loc="left",
            color=INK,
            y=1.0,  # where Matplotlib would put it, without measuring every panel's ticks
        )
        format_date_axis(ax, first, last, max_ticks=max_ticks, label=i >= len(shown) - ncols)
        _format_people_axis(ax, "People" if i % ncols == 0 else "")
        top = max(float(both.max()), float(d["camp_capacity"].max()))
        ax.set_ylim(0, top * 1.12 if top > 0 else 1)
        ax.tick_params(axis="x", labelbottom=i >= len(shown) - ncols)
    handles = [
        Patch(facecolor=colours["camp"], alpha=0.85, label="In formal camps"),
        Patch(
            facecolor=colours["informal"],
            edgecolor=OKABE_ITO["vermillion"],
            hatch="////",
            alpha=0.75,
            linewidth=0,
            label="In informal sites (overflow)",
        ),
        Line2D([], [], color="black", linestyle="--", linewidth=1.4, label="Formal camp capacity"),
    ]
    if not shown:
        ax = axes.flat[0]
        ax.set_visible(True)
        ax.text(
            0.5,
            0.5,
            "no place has formal camp capacity in this run",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=MUTED,
            fontsize=SUBTITLE_PT,
        )
        format_date_axis(ax, first, last)
        _format_people_axis(ax, "People")
        ax.legend(handles=handles, fontsize=LEGEND_PT, frameon=False, loc="upper left")
    note = "Model: one run of idlibsim."
    if len(shown) > 1:
        note = "Panels ordered by peak occupancy; y scales differ between panels. " + note
    if len(stats) > len(shown):
        note = f"Showing the {len(shown)} fullest of {len(stats)} places with camps. " + note
    bottom, top = _frame(
        fig,
        "Camp occupancy: people in camps and informal sites against formal capacity",
        title,
        subtitle="Percentages: (people in formal camps + people in informal sites at the "
        "place) / formal camp places.",
        note=note,
        legend_handles=handles if shown else (),
    )
    _fit_grid(fig, [[ax if ax.get_visible() else None for ax in row] for row in axes], bottom, top)
    return fig


# --------------------------------------------------------------------------------------
# 4. Schematic flow map
# --------------------------------------------------------------------------------------

_KIND_STYLE = {
    # kind: (legend, marker, face colour)
    "sub_district": ("Sub-district / town", "o", OKABE_ITO["sky"]),
    "town": ("Sub-district / town", "o", OKABE_ITO["sky"]),
    "camp_cluster": ("Camp cluster", "^", OKABE_ITO["orange"]),
    "host_area": ("Host area", "s", OKABE_ITO["green"]),
    "crossing": ("Border crossing", "D", OKABE_ITO["vermillion"]),
    "abroad": ("Abroad (Turkey)", "*", OKABE_ITO["purple"]),
    "government": ("Government-held area", "o", "#E0E0E0"),
}
_CAPTURED = ("Captured in the run (government-held at end)", "#E0E0E0", "xxxx")
_GOV_START = ("Government-held throughout", "#E0E0E0", "")


def _nice(x: float) -> float:
    """A round number (1, 2, 2.5, 5 x 10^k) close to and not above x."""
    if x <= 0:
        return 1.0
    k = 10 ** math.floor(math.log10(x))
    for m in (5, 2.5, 2, 1):
        if m * k <= x:
            return m * k
    return k


#: The text of a point's label (:func:`_place_labels`).
PLACE_LABEL_STYLE = {"fontsize": 7, "color": INK, "linespacing": 1.1}


def _place_labels(
    fig: Figure,
    ax: Axes,
    items: list[tuple[float, float, str, float]],
    obstacles: list[tuple[float, float, float]],
) -> None:
    """Label points without overlaps, with a leader line when a label must stand off.

    ``items``: (x, y, text, marker radius in points), most important first; ``obstacles``:
    (x, y, radius in points) of every marker. Each label takes the first position, nearest
    ring first, that overlaps no marker, no earlier label and no text already on the axes,
    and stays inside the axes (or the least bad one).
    """
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()  # the layout engine places the axes
    else:
        ax.apply_aspect()  # placed by hand (:func:`_fit_grid`): only the aspect moves it
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72  # pixels per point
    spots = np.array(obstacles, dtype=float).reshape(-1, 3)  # x, y, radius in points
    centres = ax.transData.transform(spots[:, :2]) if len(spots) else np.empty((0, 2))
    reach = spots[:, 2:3] * px
    markers = np.hstack([centres - reach, centres + reach])  # x0, y0, x1, y1
    box = ax.get_window_extent(renderer)
    style = PLACE_LABEL_STYLE

    def overlap(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Summed area of each box (rows x0, y0, x1, y1) shared with the others."""
        w = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(
            boxes[:, None, 0], others[None, :, 0]
        )
        h = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(
            boxes[:, None, 1], others[None, :, 1]
        )
        return np.where((w > 0) & (h > 0), w * h, 0.0).sum(axis=1)

    # text already on the axes (a map's sea and country names, labels placed before) is
    # avoided as the labels placed here are
    placed = np.array(
        [
            t.get_window_extent(renderer).extents
            for t in ax.texts
            if t.get_visible() and t.get_text()
        ],
        dtype=float,
    ).reshape(-1, 4)
    directions = [  # unit offset, ha, va
        ((1, 0), "left", "center"),
        ((-1, 0), "right", "center"),
        ((0.75, 0.75), "left", "bottom"),
        ((-0.75, 0.75), "right", "bottom"),
        ((0.75, -0.75), "left", "top"),
        ((-0.75, -0.75), "right", "top"),
        ((0, 1), "center", "bottom"),
        ((0, -1), "center", "top"),
    ]
    units = np.array([u for u, _ha, _va in directions], dtype=float)
    shift_x = np.array(
        [{"left": 0.0, "center": 0.5, "right": 1.0}[ha] for _u, ha, _va in directions]
    )
    shift_y = np.array(
        [{"bottom": 0.0, "center": 0.5, "top": 1.0}[va] for _u, _ha, va in directions]
    )
    for x, y, text, r in items:
        w, h = _text_size_pt(text, style["fontsize"], linespacing=style["linespacing"])
        w, h = w * px + 2, h * px + 2
        cx, cy = ax.transData.transform((x, y))
        best = None
        for ring, extra in enumerate((2.5, 14.0, 26.0)):
            g = r + extra
            x0 = cx + units[:, 0] * g * px - shift_x * w
            y0 = cy + units[:, 1] * g * px - shift_y * h
            boxes = np.column_stack([x0, y0, x0 + w, y0 + h])
            costs = overlap(boxes, placed) * 4 + overlap(boxes, markers) + ring * 50.0
            outside = (x0 < box.x0) | (y0 < box.y0) | (x0 + w > box.x1) | (y0 + h > box.y1)
            costs = np.where(outside, costs + 1e9, costs)
            for k, ((ux, uy), ha, va) in enumerate(directions):
                if best is None or costs[k] < best[0]:
                    best = (costs[k], tuple(boxes[k]), (ux * g, uy * g), ha, va, ring)
            if best[0] < (ring + 1) * 50.0:  # free spot on this ring
                break
        assert best is not None
        _cost, b, off, ha, va, ring = best
        arrow = None
        if ring:
            arrow = {"arrowstyle": "-", "color": INK, "linewidth": 0.7, "shrinkA": 1.0}
            arrow["shrinkB"] = r
        t = ax.annotate(
            text,
            (x, y),
            xytext=off,
            textcoords="offset points",
            ha=ha,
            va=va,
            zorder=8,
            annotation_clip=False,
            in_layout=False,
            arrowprops=arrow,
            **style,
        )
        t.set_path_effects([path_effects.withStroke(linewidth=2.2, foreground="white")])
        placed = np.vstack([placed, b])


@styled
def flow_map(locations: pd.DataFrame, routes: pd.DataFrame, title: str = "") -> Figure:
    """Schematic map: places sized by peak residents (people), roads by people who used them.

    Road width and darkness grow with the people who travelled each road over the run
    (``routes.people`` summed, either direction). Places held by the government on the
    last day are grey: hatched if captured during the run.
    """
    need = ["date", "location", "kind", "lat", "lon", "government_held", "residents"]
    _require(locations, need, "locations")
    _require(routes, ["from", "to", "people"], "routes")
    loc = locations.copy()
    loc["date"] = pd.to_datetime(loc["date"])
    loc = loc.sort_values(["date"], kind="stable")
    g = loc.groupby("location", sort=False)
    places = g.last()[["kind", "lat", "lon", "government_held"]].copy()
    places["gov_first"] = g["government_held"].first()
    # people present: residents, plus people waiting there and people abroad at abroad places
    present = loc["residents"].astype(float)
    for c in ("on_the_move", "abroad"):
        if c in loc.columns:
            present = present + loc[c].astype(float)
    places["peak_residents"] = present.groupby(loc["location"], sort=False).max()
    for c in ("arrivals", "departures"):
        places[c] = g[c].sum() if c in loc.columns else 0
    places = places.astype({"lat": float, "lon": float})
    lat0 = float(places["lat"].mean())
    coslat = math.cos(math.radians(lat0))
    pad_x = (places["lon"].max() - places["lon"].min()) * 0.06 + 0.02
    pad_y = (places["lat"].max() - places["lat"].min()) * 0.06 + 0.02
    xlim = (places["lon"].min() - pad_x, places["lon"].max() + pad_x)
    ylim = (places["lat"].min() - pad_y, places["lat"].max() + pad_y)

    # laid out by hand: a fixed-aspect map beside a tall legend defeats constrained layout
    shape = (ylim[1] - ylim[0]) / ((xlim[1] - xlim[0]) * coslat)  # height / width on the ground
    map_w = 6.2
    map_h = min(max(map_w * shape, 3.8), 8.0)
    map_w = min(map_w, map_h / shape)
    left_in, bottom_in = 0.8, 0.55
    frame = {
        "what": "Where people fled: places and roads over the whole run",
        "scenario_title": title,
        "subtitle": "Circles sized by the most people a place held on any day (residents, displaced "
        "people there, people waiting at crossings or in Turkey); roads drawn "
        "wider and darker the more people travelled them (either direction). Labels: the "
        "places most people left and reached (movements), the camp clusters and the border "
        "crossings.",
        "note": "Schematic map: places at their coordinates joined by straight lines; no base "
        "map, borders or front lines. Control on the last day of the run. Model: one run of "
        "idlibsim.",
    }
    fig_w = 10.6
    fig = _new_figure(fig_w, map_h + bottom_in + 0.1 + _frame_height(fig_w, **frame), layout=None)
    ax = fig.add_axes((0.1, 0.1, 0.5, 0.5))
    ax.set_aspect(1 / coslat)
    ax.set_anchor("NW")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=TICK_PT - 1, color=MUTED, labelcolor=MUTED)

    # roads
    r = routes.copy()
    src, dst = r["from"].astype(str).to_numpy(), r["to"].astype(str).to_numpy()
    r["a"] = np.where(src <= dst, src, dst)  # a road is the same either way
    r["b"] = np.where(src <= dst, dst, src)
    flows = r.groupby(["a", "b"], sort=True)["people"].sum()
    pmax = float(flows.max()) if len(flows) else 0.0
    road_handles = []
    for (a, b), people in sorted(flows.items(), key=lambda kv: kv[1]):
        if a not in places.index or b not in places.index:
            continue
        xs = [places.at[a, "lon"], places.at[b, "lon"]]
        ys = [places.at[a, "lat"], places.at[b, "lat"]]
        f = people / pmax if pmax > 0 else 0.0
        if people <= 0:
            ax.plot(xs, ys, color="#CCCCCC", linewidth=0.6, zorder=1, solid_capstyle="round")
        else:
            grey = 0.65 - 0.5 * f
            ax.plot(
                xs,
                ys,
                color=(grey, grey, grey),
                linewidth=0.8 + 7.0 * f,
                zorder=1 + f,
                solid_capstyle="round",
            )
    road_handles.append((Line2D([], [], color="#CCCCCC", linewidth=0.6), "Road, not used"))
    if pmax > 0:
        for v in sorted({_nice(pmax), _nice(pmax / 4)}):
            f = v / pmax
            grey = 0.65 - 0.5 * f
            road_handles.append(
                (
                    Line2D([], [], color=(grey, grey, grey), linewidth=0.8 + 7.0 * f),
                    f"Road used by {format_people(v)} people",
                )
            )

    # places
    rmax = float(places["peak_residents"].max()) or 1.0
    max_area = 900.0  # points^2 of the biggest place

    def area(people: float) -> float:
        return 14.0 + max_area * people / rmax

    kind_handles: dict[str, Any] = {}
    places = places.sort_values(["peak_residents"], ascending=False, kind="stable")
    label_r: dict[str, float] = {}
    for name, p in places.iterrows():
        legend, marker, face = _KIND_STYLE.get(p["kind"], (str(p["kind"]), "o", "#FFFFFF"))
        gov_end = bool(p["government_held"])
        captured = gov_end and not bool(p["gov_first"])
        hatch = ""
        if gov_end:
            face = _GOV_START[1]
            hatch = _CAPTURED[2] if captured else ""
        s = area(float(p["peak_residents"]))
        if p["kind"] in ("crossing", "abroad", "host_area"):  # landmarks even when empty
            s = max(s, 70.0)
        if marker == "*":
            s *= 2.2
        ax.scatter(
            [p["lon"]],
            [p["lat"]],
            s=s,
            marker=marker,
            facecolors=face,
            edgecolors=INK,
            linewidths=0.7,
            hatch=hatch,
            zorder=5,
            alpha=0.95,
        )
        label_r[str(name)] = math.sqrt(s) / 2
        if not gov_end and p["kind"] != "government":
            kind_handles.setdefault(
                legend,
                Line2D(
                    [],
                    [],
                    marker=marker,
                    linestyle="",
                    markerfacecolor=face,
                    markeredgecolor=INK,
                    markersize=8 if marker != "*" else 12,
                ),
            )
        elif captured:
            kind_handles.setdefault(
                _CAPTURED[0],
                Patch(facecolor=_CAPTURED[1], hatch=_CAPTURED[2], edgecolor=INK, linewidth=0.7),
            )
        else:
            kind_handles.setdefault(
                _GOV_START[0], Patch(facecolor=_GOV_START[1], edgecolor=INK, linewidth=0.7)
            )

    size_handles = []
    for v in sorted({_nice(rmax), _nice(rmax / 5)}):
        size_handles.append(
            (
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markerfacecolor="white",
                    markeredgecolor=INK,
                    markersize=math.sqrt(area(v)),
                ),
                f"{format_people(v)} people (peak)",
            )
        )

    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("Longitude (degrees east)", fontsize=LABEL_PT, color=INK)
    ax.set_ylabel("Latitude (degrees north)", fontsize=LABEL_PT, color=INK)

    # scale bar and north arrow
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    width_km = (x1 - x0) * 111.32 * coslat
    km = _nice(width_km / 6)
    dlon = km / (111.32 * coslat)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + dlon], [by, by], color=INK, linewidth=2.5, solid_capstyle="butt", zorder=9)
    ax.text(
        bx + dlon / 2,
        by + (y1 - y0) * 0.012,
        f"{km:g} km",
        ha="center",
        va="bottom",
        fontsize=7.5,
        color=INK,
        zorder=9,
    )
    ax.annotate(
        "N",
        xy=(0.965, 0.97),
        xytext=(0.965, 0.88),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="top",
        fontsize=9,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": INK, "linewidth": 1.2},
        zorder=9,
    )

    # legend: kinds and control, sizes, roads
    headers = []
    handles, labels = [], []

    def section(name: str, entries):
        headers.append(len(labels))
        handles.append(Line2D([], [], linestyle="", marker=""))
        labels.append(name)
        for h, lab in entries:
            handles.append(h)
            labels.append(lab)

    rank = [v[0] for v in _KIND_STYLE.values()] + [_CAPTURED[0], _GOV_START[0]]
    kinds = sorted(kind_handles.items(), key=lambda kv: rank.index(kv[0]) if kv[0] in rank else 99)
    section("Places", [(h, lab) for lab, h in kinds])
    section("Size", size_handles)
    section("Roads", road_handles)
    leg = ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=LEGEND_PT,
        frameon=False,
        handlelength=2.4,
        borderaxespad=0.0,
        labelspacing=0.9,
    )
    for i in headers:
        leg.get_texts()[i].set_fontweight("bold")

    # labels: biggest departures and arrivals, crossings, abroad
    dep = places[places["departures"] > 0].sort_values("departures", ascending=False).head(5)
    arr = places[(places["arrivals"] > 0)].sort_values("arrivals", ascending=False).head(5)
    special = places[places["kind"].isin(("camp_cluster", "crossing", "abroad"))]
    wanted: list[str] = []
    for idx in [*dep.index, *arr.index, *special.index]:
        if idx not in wanted:
            wanted.append(idx)
    items = []
    for name in wanted:
        p = places.loc[name]
        bits = []
        if name in dep.index:
            bits.append(f"{format_people(p['departures'])} left")
        if name in arr.index:
            bits.append(f"{format_people(p['arrivals'])} arrived")
        text = str(name) + (f"\n{', '.join(bits)}" if bits else "")
        items.append((float(p["lon"]), float(p["lat"]), text, label_r.get(str(name), 4.0)))
    bottom, top = _frame(fig, **frame)
    fig_w, fig_h = fig.get_size_inches()
    ax.set_position(
        (
            left_in / fig_w,
            bottom + bottom_in / fig_h,
            map_w / fig_w,
            top - bottom - (bottom_in + 0.1) / fig_h,
        )
    )
    obstacles = [(float(p["lon"]), float(p["lat"]), label_r[str(n)]) for n, p in places.iterrows()]
    _place_labels(fig, ax, items, obstacles)  # after the layout: judged where text will be
    return fig


# --------------------------------------------------------------------------------------
# 5. All figures of a run folder
# --------------------------------------------------------------------------------------


def save_run_plots(
    folder: Path | str, scenario: Scenario | None = None, names: Sequence[str] = PLOT_FILES
) -> list[Path]:
    """Draw the four standard figures of a run folder into ``folder/plots`` (150 dpi PNG).

    ``scenario`` (a :class:`sim.scenario.loading.Scenario`) gives the title and the observed file;
    without it they are taken from ``folder/manifest.json`` when present. The PNGs carry no
    timestamp, so identical tables give identical bytes. ``names``: which of
    :data:`PLOT_FILES` to draw (all by default). Returns the paths written.
    """
    folder = Path(folder)
    daily = pd.read_csv(folder / "daily.csv")
    locations = pd.read_csv(folder / "locations.csv")
    routes = pd.read_csv(folder / "routes.csv", keep_default_na=False, na_values=[""])
    if scenario is not None:
        title = str(getattr(scenario, "title", "") or "")
        obs_path = getattr(scenario, "observed", None)
    else:
        title, obs_path = RunFolder(folder).title_and_observed()
    observed = load_observed(obs_path) if obs_path else None

    out = folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    makers = {
        "cumulative_displacement.png": lambda: cumulative_displacement(daily, observed, title),
        "displaced_by_district.png": lambda: displaced_by_district(locations, title),
        "camp_occupancy.png": lambda: camp_occupancy(locations, title),
        "flow_map.png": lambda: flow_map(locations, routes, title),
    }
    paths = []
    for name in names:
        paths.append(save_png(makers[name](), out / name))
    return paths
