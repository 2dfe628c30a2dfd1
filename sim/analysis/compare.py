"""Scenario comparison: several scenarios' curves with their bands, and their differences.

``idlibsim compare RUN_OR_ENSEMBLE_DIR ... [--metric NAME] [--observed] -o FILE.png``
draws, for one daily.csv metric,

* top: each scenario's median across its runs with the 25-75 % (darker) and 5-95 %
  (lighter) bands, and the observed UN/OCHA figures of the period when asked;
* bottom: each scenario's difference from the *first* one. The difference is taken run
  by run between runs with the same seed (common random numbers: both runs faced the
  same dice), then summarised as a median and bands. This is far tighter than the
  difference between two independent bands, and it is the effect of the scenario.

The numbers behind the plot are written beside it (same name, ``.csv``).

Folders may be run folders (``idlibsim run``: one run, its "band" is its line), ensemble
folders (``idlibsim ensemble``: one or several scenarios), or one scenario's sub-folder
of an ensemble.

Python (notebooks)::

    from sim.analysis.compare import load_curves, plot_comparison, observed_for
    curves = load_curves(["results/ensemble_..."], "displacements_cumulative")
    fig = plot_comparison(curves, "displacements_cumulative", observed=observed_for(curves))
    fig.savefig("comparison.png", dpi=150)
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.analysis.ensemble import (
    METRICS,
    QUANTILES,
    band_covers,
    quantile_bands,
    read_replicate,
)
from sim.errors import InputError, Problem, UsageError, did_you_mean, require_columns
from sim.model.history import DAILY_COLUMNS
from sim.observed import OBSERVED_START_TOLERANCE_DAYS, drawn_at, load_observed
from sim.outputs import plots as P
from sim.outputs.folders import (
    ENSEMBLE_KIND,
    MANIFEST_NAME,
    REPLICATES_DIR,
    EnsembleFolder,
    ResultsFolder,
    validate_ensemble_manifest,
)
from sim.outputs.plots import INK, MUTED, format_people
from sim.outputs.results import PROJECT_ROOT, write_csv
from sim.safety import check_replaceable_file, staged, starts_with

__all__ = [
    "CURVE_COLUMNS",
    "TABLE_COLUMNS",
    "comparison_table",
    "load_curves",
    "observed_for",
    "plot_comparison",
    "save_comparison",
]

DPI = 150
#: Columns of :func:`load_curves`: one row per scenario, run and day.
CURVE_COLUMNS = (
    "scenario",
    "label",
    "title",
    "source",
    "kind",
    "population_scale",
    "replicate",
    "seed",
    "date",
    "day",
    "metric",
    "value",
    "observed_file",
    "uncertainty",
)
#: Columns of the CSV written beside the figure.
TABLE_COLUMNS = (
    "panel",
    "scenario",
    "label",
    "reference",
    "date",
    "day",
    "metric",
    *QUANTILES,
    "n",
    "paired",
    "value",
    "plotted_value",
    "use",
    "period_start",
    "source",
    "uncertainty",
)

#: Observed measure that each cumulative metric is comparable with (sim/observed.py).
MEASURE_OF = {"displacements_cumulative": "movements", "displaced_people_cumulative": "people"}
#: An observed figure counted from more than this many days after the first plotted day is
#: drawn on top of the reference scenario's median on the day before its period starts.

#: What each metric is, for titles and axis labels (the unit is always people).
HUMAN = {
    "population": ("Population", "People"),
    "at_home": ("People at home (never left since the start)", "People"),
    "on_the_move": ("People on the move", "People"),
    "in_host_community": ("Displaced people in host communities", "People"),
    "in_camps": ("Displaced people in formal camps", "People"),
    "in_informal_sites": ("Displaced people in informal sites", "People"),
    "displaced_now": ("People displaced now", "People"),
    "returned": ("People back home after displacement", "People"),
    "abroad": ("People who crossed into Turkey (total)", "People"),
    "new_displacements": ("New displacements per day (movements)", "People per day"),
    "displacements_cumulative": (
        "Cumulative displacements (movements: a person fleeing twice counts twice)",
        "People (movements)",
    ),
    "new_people_displaced": ("People displaced for the first time, per day", "People per day"),
    "displaced_people_cumulative": ("People displaced at least once (cumulative)", "People"),
    "returns_started": ("Returns started per day", "People per day"),
    "returns_cumulative": ("Returns started (cumulative)", "People"),
    "crossed_to_turkey": ("Crossings into Turkey per day", "People per day"),
    "camp_capacity": ("Formal camp capacity", "Places (people)"),
    "camp_overflow": ("People in informal sites at places with formal camps", "People"),
}

# Colour-blind-safe (Okabe & Ito 2008) colours; every scenario also has its own line
# style, marker and band hatch, so the figure reads in grey-scale print.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 1)), (0, (8, 3)))
MARKERS = ("o", "s", "^", "v", "P", "X", "h")
HATCHES = (None, "////", "\\\\\\\\", "....", "xx", "++", "--")
OBSERVED_MARKER = "D"


def _style(k: int) -> dict[str, Any]:
    n = len(COLOURS)
    return {
        "colour": COLOURS[k % n],
        "ls": LINESTYLES[k % n],
        "marker": MARKERS[k % n],
        "hatch": HATCHES[k % n],
    }


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _not_results(folder: Path, why: str) -> InputError:
    hint = (
        "give run folders (results/<scenario>/<run-id>) or ensemble folders (results/ensemble_...)"
    )
    if folder.is_dir():
        inner = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_dir() and (p / MANIFEST_NAME).exists() and not p.name.startswith(".")
        )
        if inner:
            shown = ", ".join(inner[:4]) + (" ..." if len(inner) > 4 else "")
            hint = f"it holds result folders: give one of them, e.g. {folder / inner[0]} ({shown})"
    return InputError([Problem(folder, "", why, hint)])


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        man = ResultsFolder(folder).read_manifest()
        if not isinstance(man, dict):
            raise ValueError("not a JSON object")
        if man.get("kind") == ENSEMBLE_KIND:  # untrusted: names become paths
            validate_ensemble_manifest(man, folder / MANIFEST_NAME)
        return man
    except (OSError, ValueError) as exc:
        raise InputError(
            [
                Problem(
                    folder / MANIFEST_NAME,
                    "",
                    f"cannot be read: {exc}",
                    "rerun the command that made it",
                )
            ]
        ) from None


def _project_path(p: str | None) -> str:
    """A manifest path (relative to the repository root when inside it) as an absolute one."""
    if not p:
        return ""
    path = Path(p)
    return str(path if path.is_absolute() else PROJECT_ROOT / path)


def _sources(folder: Path) -> list[dict[str, Any]]:
    """The scenarios a folder holds: each with its runs' (replicate, seed, daily path)."""
    if not folder.exists():
        raise InputError([Problem(folder, "", "folder not found", "check the path")])
    if not folder.is_dir():
        raise _not_results(folder, "is a file, not a run or ensemble folder")
    has_manifest = (folder / MANIFEST_NAME).is_file()
    if has_manifest:
        man = _read_manifest(folder)
        if man.get("kind") == ENSEMBLE_KIND:
            return [_ensemble_source(folder, man, s) for s in man.get("scenarios", [])]
        if (folder / "daily.csv").is_file():
            observed = ((man.get("scenario") or {}).get("scenario") or {}).get("observed") or ""
            name = str(man.get("scenario_name") or folder.parent.name)
            return [
                {
                    "name": name,
                    "label": str(man.get("scenario_label") or name),
                    "title": str(man.get("scenario_title") or ""),
                    "source": str(folder),
                    "kind": "run",
                    "population_scale": float(man.get("population_scale", float("nan"))),
                    "runs": [(0, int(man.get("seed", 0)), folder / "daily.csv")],
                    "n_days": None,
                    "observed_file": _project_path(observed),
                    "uncertainty": SINGLE_RUN,
                }
            ]
    # One scenario's sub-folder of an ensemble?
    parent = folder.parent
    if (folder / REPLICATES_DIR).is_dir() and (parent / MANIFEST_NAME).is_file():
        man = _read_manifest(parent)
        if man.get("kind") == ENSEMBLE_KIND:
            for s in man.get("scenarios", []):
                if s.get("name") == folder.name:
                    return [_ensemble_source(parent, man, s)]
    why = (
        "has a manifest.json but no daily.csv: not a run folder or an ensemble folder"
        if has_manifest
        else "is neither a run folder (daily.csv and manifest.json) nor an ensemble folder "
        "(manifest.json written by 'idlibsim ensemble')"
    )
    raise _not_results(folder, why)


def _ensemble_source(folder: Path, man: dict, s: dict) -> dict[str, Any]:
    seeds = man.get("replicate_seeds", [])
    return {
        "name": s["name"],
        "label": str(s.get("label") or s["name"]),
        "title": str(s.get("title") or ""),
        "source": str(folder),
        "kind": "ensemble",
        "population_scale": float(man.get("population_scale", float("nan"))),
        "runs": [
            (i, int(seed), EnsembleFolder(folder).replicate_path(s["name"], i))
            for i, seed in enumerate(seeds)
        ],
        "n_days": s.get("reported_days"),
        "observed_file": _project_path(s.get("observed")),
        "uncertainty": band_covers(s),
    }


def load_curves(
    folders: Sequence[Path | str], metric: str = "displacements_cumulative"
) -> pd.DataFrame:
    """One metric of every run in the folders, as a long table (:data:`CURVE_COLUMNS`).

    Scenarios keep the order of the folders (and, within an ensemble, of its manifest);
    the first is the reference of the differences. A scenario met twice (e.g. the same
    scenario in two ensembles) gets its folder name appended to tell them apart.
    Replicates missing from an interrupted ensemble are left out.
    """
    _check_metric(metric)
    if not folders:
        raise ValueError("give at least one folder")
    parts = []
    seen: dict[str, int] = {}
    labels: dict[str, int] = {}
    for folder in folders:
        for src in _sources(Path(folder)):
            key, label = src["name"], src["label"]
            if key in seen:
                seen[key] += 1
                key = f"{key} ({Path(src['source']).name})"
            else:
                seen[key] = 1
            if label in labels:
                label = f"{label} ({Path(src['source']).name})"
            labels[label] = 1
            frames = []
            for rep, seed, path in src["runs"]:
                df = (
                    read_replicate(path, src["n_days"])
                    if src["kind"] == "ensemble"
                    else _read_daily(path)
                )
                if df is None:
                    continue
                frames.append(
                    pd.DataFrame(
                        {
                            "replicate": rep,
                            "seed": seed,
                            "date": df["date"].astype(str).to_numpy(dtype=object),
                            "day": df["day"].to_numpy(),
                            "value": df[metric].to_numpy(dtype=np.float64),
                        }
                    )
                )
            if not frames:
                raise InputError(
                    [
                        Problem(
                            src["source"],
                            "",
                            f"scenario '{src['name']}' has no complete runs yet",
                            "rerun the 'idlibsim ensemble' command that made it to finish it",
                        )
                    ]
                )
            d = pd.concat(frames, ignore_index=True)
            d.insert(0, "population_scale", src["population_scale"])
            d.insert(0, "kind", src["kind"])
            d.insert(0, "source", src["source"])
            d.insert(0, "title", src["title"])
            d.insert(0, "label", label)
            d.insert(0, "scenario", key)
            d["metric"] = metric
            d["observed_file"] = src["observed_file"]
            d["uncertainty"] = src["uncertainty"]
            parts.append(d[list(CURVE_COLUMNS)])
    return pd.concat(parts, ignore_index=True)


def _read_daily(path: Path) -> pd.DataFrame | None:
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(
            [Problem(path, "", f"cannot be read as CSV: {exc}", "rerun the run that made it")]
        ) from None
    require_columns(path, df.columns, ("date", "day"), "not a daily.csv")
    return df


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        if metric in DAILY_COLUMNS:
            raise ValueError(f"'{metric}' is not a quantity that can be plotted; choose a count")
        raise ValueError(f"'{metric}' is not a daily.csv metric; {did_you_mean(metric, METRICS)}")


def observed_for(curves: pd.DataFrame) -> pd.DataFrame | None:
    """The observed figures of the first scenario that names an observed file (or None)."""
    for path in curves.drop_duplicates("scenario")["observed_file"]:
        if isinstance(path, str) and path and Path(path).exists():
            return load_observed(path)
    return None


# --------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------


SINGLE_RUN = "none (a single run)"


def _uncertainty_of(c: pd.DataFrame) -> str:
    """What one scenario's spread of runs covers (curves without the column: seed noise)."""
    if "uncertainty" not in c or c.empty:
        return "seed noise" if c["seed"].nunique() > 1 else SINGLE_RUN
    return str(c["uncertainty"].iloc[0])


def _order(curves: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(curves["scenario"]))


def _band_rows(values: pd.DataFrame) -> pd.DataFrame:
    """values: index date (sorted), columns = runs -> date, median ... n (NaNs ignored)."""
    arr = values.to_numpy(dtype=np.float64)
    rows = {"date": values.index.to_numpy(dtype=object)}
    if arr.shape[1] and not np.isnan(arr).any():
        q = quantile_bands(arr, axis=1)
    else:
        qs = np.nanquantile(arr, list(QUANTILES.values()), axis=1) if arr.shape[1] else None
        q = {
            name: (qs[k] if qs is not None else np.full(len(arr), np.nan))
            for k, name in enumerate(QUANTILES)
        }
        q["n"] = (~np.isnan(arr)).sum(axis=1)
    for name in (*QUANTILES, "n"):
        rows[name] = q[name]
    return pd.DataFrame(rows)


def comparison_table(
    curves: pd.DataFrame, metric: str | None = None, observed: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The numbers behind the comparison figure (:data:`TABLE_COLUMNS`).

    ``panel`` is ``scenario`` (each scenario's median and bands), ``difference`` (each
    scenario minus the first, ``reference``: computed per pair of runs with the same
    seed, ``paired`` = True; when two scenarios share no seed, the difference of their
    medians, ``paired`` = False, no band) or ``observed`` (observed figures with the
    height they are drawn at, ``plotted_value``).
    """
    metric = metric or str(curves["metric"].iloc[0])
    order = _order(curves)
    ref = order[0]
    out = []
    pivots: dict[str, pd.DataFrame] = {}
    days: dict[str, pd.Series] = {}
    for key in order:
        c = curves[curves["scenario"] == key]
        pv = c.pivot_table(
            index="date", columns="seed", values="value", aggfunc="first"
        ).sort_index()
        pivots[key] = pv
        days[key] = c.drop_duplicates("date").set_index("date")["day"]
        b = _band_rows(pv)
        b.insert(0, "reference", "")
        b.insert(0, "label", c["label"].iloc[0])
        b.insert(0, "scenario", key)
        b.insert(0, "panel", "scenario")
        b["paired"] = pd.NA
        b["uncertainty"] = _uncertainty_of(c)
        out.append(b)
    for key in order[1:]:
        a, r = pivots[key], pivots[ref]
        common_dates = a.index.intersection(r.index)
        seeds = [s for s in a.columns if s in set(r.columns)]
        if seeds:
            diff = a.loc[common_dates, seeds] - r.loc[common_dates, seeds]
            b = _band_rows(diff)
            paired = True
        else:
            med = a.loc[common_dates].median(axis=1) - r.loc[common_dates].median(axis=1)
            b = pd.DataFrame(
                {"date": common_dates.to_numpy(dtype=object), "median": med.to_numpy()}
            )
            for name in QUANTILES:
                if name != "median":
                    b[name] = np.nan
            b["n"] = 0
            paired = False
        lab = curves.loc[curves["scenario"] == key, "label"].iloc[0]
        b.insert(0, "reference", ref)
        b.insert(0, "label", lab)
        b.insert(0, "scenario", key)
        b.insert(0, "panel", "difference")
        b["paired"] = paired
        ua = _uncertainty_of(curves[curves["scenario"] == key])
        ur = _uncertainty_of(curves[curves["scenario"] == ref])
        b["uncertainty"] = ua if ua == ur else f"{key}: {ua}; {ref}: {ur}"
        out.append(b)
    table = pd.concat(out, ignore_index=True)
    day_of = {}
    for key in order:
        for d, v in days[key].items():
            day_of.setdefault((key, d), v)
    table["day"] = [
        int(day_of.get((k, d), -1)) for k, d in zip(table["scenario"], table["date"], strict=True)
    ]
    table["metric"] = metric
    pts = observed_points(curves, metric, observed)
    if not pts.empty:
        first = pd.Timestamp(min(curves["date"]))
        obs = pd.DataFrame(
            {
                "panel": "observed",
                "scenario": "",
                "label": "observed (" + pts["use"] + ")",
                "reference": ref,
                "date": pts["as_of"].dt.strftime("%Y-%m-%d"),
                "day": (pts["as_of"] - first).dt.days,
                "metric": metric,
                "value": pts["value"],
                "plotted_value": pts["y"],
                "use": pts["use"],
                "period_start": pts["period_start"].dt.strftime("%Y-%m-%d"),
                "source": pts["source"],
            }
        )
        table = pd.concat([table, obs], ignore_index=True)
    for col in TABLE_COLUMNS:
        if col not in table.columns:
            table[col] = pd.NA
    return table[list(TABLE_COLUMNS)]


def observed_points(
    curves: pd.DataFrame, metric: str, observed: pd.DataFrame | None
) -> pd.DataFrame:
    """Observed figures to draw for ``metric``: ``fit`` and ``check`` figures of its measure
    (movements for displacements_cumulative, people for displaced_people_cumulative) whose
    period lies within the plotted days; ``y`` is the height drawn (the value, lifted by
    the reference scenario's median before the period when it starts late)."""
    cols = ["as_of", "period_start", "value", "y", "measure", "use", "source"]
    measure = MEASURE_OF.get(metric)
    if observed is None or measure is None or len(observed) == 0:
        return pd.DataFrame(columns=cols)
    obs = observed.copy()
    if "source" not in obs.columns:
        obs["source"] = ""
    obs = obs[(obs["measure"] == measure) & obs["use"].isin(("fit", "check"))]
    obs["as_of"] = pd.to_datetime(obs["as_of"])
    obs["period_start"] = pd.to_datetime(obs["period_start"])
    dates = pd.to_datetime(pd.Series(sorted(set(curves["date"]))))
    first, last = dates.iloc[0], dates.iloc[-1]
    obs = obs[(obs["period_start"] >= first) & (obs["as_of"] >= first) & (obs["as_of"] <= last)]
    if obs.empty:
        return pd.DataFrame(columns=cols)
    ref = _order(curves)[0]
    c = curves[curves["scenario"] == ref]
    med = c.groupby("date")["value"].median()
    med.index = pd.to_datetime(med.index)
    obs["y"] = [drawn_at(r.value, r.period_start, first, med)[0] for r in obs.itertuples()]
    obs = obs.sort_values(["use", "as_of"], kind="stable")
    return obs[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------


def _draw_band(ax, x, b: pd.DataFrame, st: dict, label: str, zorder: float) -> None:
    from matplotlib.colors import to_rgb

    rgb = to_rgb(st["colour"])
    wide = (b["p95"] - b["p05"]).to_numpy(dtype=float)
    if np.nanmax(np.nan_to_num(wide, nan=0.0), initial=0.0) > 0:
        ax.fill_between(
            x,
            b["p05"].astype(float),
            b["p95"].astype(float),
            facecolor=(*rgb, 0.13),
            edgecolor=(*rgb, 0.55),
            hatch=st["hatch"],
            linewidth=0,
            zorder=zorder,
        )
        ax.fill_between(
            x,
            b["p25"].astype(float),
            b["p75"].astype(float),
            facecolor=(*rgb, 0.32),
            linewidth=0,
            zorder=zorder + 0.1,
        )
        for edge in ("p05", "p95"):
            ax.plot(
                x,
                b[edge].astype(float),
                color=st["colour"],
                ls=st["ls"],
                lw=0.6,
                alpha=0.8,
                zorder=zorder + 0.2,
            )
    n = len(x)
    step = max(1, n // 9)
    ax.plot(
        x,
        b["median"].astype(float),
        color=st["colour"],
        ls=st["ls"],
        lw=2.0,
        marker=st["marker"],
        markersize=5,
        markevery=((st["k"] * step // st["of"]) % step, step),
        markeredgecolor="white",
        markeredgewidth=0.6,
        label=label,
        zorder=zorder + 0.3,
    )


def _runs_text(n: int, seed: Any) -> str:
    return f"1 run, seed {seed}" if n == 1 else f"median of {n} runs"


@P.styled
def plot_comparison(
    curves: pd.DataFrame,
    metric: str | None = None,
    observed: pd.DataFrame | None = None,
    title: str | None = None,
    table: pd.DataFrame | None = None,
) -> Figure:
    """The comparison figure (matplotlib Figure on an Agg canvas; pyplot is not used).

    ``curves``: from :func:`load_curves`; ``observed``: a table from
    :func:`sim.observed.load_observed` (e.g. :func:`observed_for`), drawn for the
    cumulative metrics it measures. The first scenario is the reference of the
    difference panel (shown when there are at least two scenarios).
    """
    metric = metric or str(curves["metric"].iloc[0])
    if table is None:
        table = comparison_table(curves, metric, observed)
    order = _order(curves)
    labels = dict(zip(curves["scenario"], curves["label"], strict=True))
    nruns = curves.groupby("scenario")["seed"].nunique().to_dict()
    seed_of = curves.groupby("scenario")["seed"].first().to_dict()
    human, unit = HUMAN.get(metric, (metric.replace("_", " ").capitalize(), "People"))
    two = len(order) > 1

    fig = Figure(figsize=(9.5, 8.6 if two else 5.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    if two:
        gs = fig.add_gridspec(2, 1, height_ratios=(3, 2))
        ax = fig.add_subplot(gs[0])
        axd = fig.add_subplot(gs[1], sharex=ax)
    else:
        ax, axd = fig.add_subplot(), None
    first = pd.Timestamp(min(curves["date"]))
    last = pd.Timestamp(max(curves["date"]))

    lev = table[table["panel"] == "scenario"]
    covers = {
        key: str(lev.loc[lev["scenario"] == key, "uncertainty"].iloc[0])
        for key in order
        if nruns[key] > 1 and (lev["scenario"] == key).any()
    }
    same = len(set(covers.values())) <= 1
    handles, texts = [], []
    for k, key in enumerate(order):
        st = {**_style(k), "k": k, "of": len(order)}
        b = lev[lev["scenario"] == key]
        x = pd.to_datetime(b["date"])
        lab = f"{labels[key]} ({_runs_text(nruns[key], seed_of[key])})"
        if not same and key in covers:
            lab += f"\n  band covers: {covers[key]}"
        _draw_band(ax, x, b, st, lab, zorder=2 + k)
    h, t = ax.get_legend_handles_labels()
    handles += h
    texts += t
    if max(nruns.values()) > 1:
        grey = "#777777"
        handles += [
            Patch(facecolor=grey, alpha=0.55, linewidth=0),
            Patch(facecolor=grey, alpha=0.2, linewidth=0),
        ]
        texts += ["middle 50 % of runs (25-75 %)", "90 % of runs (5-95 %)"]
        if same and covers:
            handles.append(Patch(facecolor="none", edgecolor="none"))
            texts.append(
                "bands cover: " + "\n  ".join(textwrap.wrap(next(iter(covers.values())), 48))
            )

    pts = table[table["panel"] == "observed"]
    for use, fill, text in (
        ("fit", INK, "observed (UN/OCHA; used for fitting)"),
        ("check", "white", "observed (other reports; check only)"),
    ):
        p = pts[pts["use"] == use]
        if p.empty:
            continue
        ax.scatter(
            pd.to_datetime(p["date"]),
            p["plotted_value"].astype(float),
            marker=OBSERVED_MARKER,
            s=40,
            facecolors=fill,
            edgecolors=INK,
            linewidths=1.1,
            zorder=20,
            gid=f"observed-{use}",
        )
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker=OBSERVED_MARKER,
                markersize=6,
                markerfacecolor=fill,
                markeredgecolor=INK,
            )
        )
        texts.append(text)

    ax.grid(axis="y")
    ax.yaxis.set_major_formatter(FuncFormatter(format_people))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    if float(np.nanmin(lev["p05"].astype(float))) >= 0:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(unit, fontsize=9, color=INK)
    ax.set_title(
        "Each scenario: median across runs"
        + (" with the spread of runs" if max(nruns.values()) > 1 else ""),
        loc="left",
        fontsize=9.5,
        color=INK,
    )
    ax.legend(handles, texts, fontsize=8, frameon=False, loc="best")
    P.format_date_axis(ax, first, last, label=not two)
    if two:
        ax.tick_params(labelbottom=False)

    notes = []
    if axd is not None:
        ref = order[0]
        dif = table[table["panel"] == "difference"]
        unpaired = []
        for k, key in enumerate(order[1:], 1):
            st = {**_style(k), "k": k, "of": len(order)}
            b = dif[dif["scenario"] == key]
            if b.empty:
                continue
            x = pd.to_datetime(b["date"])
            paired = bool(b["paired"].iloc[0])
            npairs = int(b["n"].max()) if paired else 0
            if not paired:
                how = "difference of medians: no runs with the same seed"
            elif npairs == 1:
                how = "1 pair of runs"
            else:
                how = f"median of {npairs} pairs of runs"
            lab = f"{labels[key]} minus {labels[ref]} ({how})"
            if not paired:
                unpaired.append(labels[key])
            _draw_band(ax=axd, x=x, b=b, st=st, label=lab, zorder=2 + k)
        axd.axhline(0, color=INK, lw=0.9, zorder=1.5)
        axd.grid(axis="y")
        axd.yaxis.set_major_formatter(FuncFormatter(lambda v, p: format_people(v, p, signed=True)))
        axd.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        axd.set_ylabel(f"Difference: {unit[0].lower() + unit[1:]}", fontsize=9, color=INK)
        if not unpaired:
            how = "run by run with the same seeds"
        elif len(unpaired) == len(order) - 1:
            how = "difference of the medians (the runs share no seed)"
        else:
            how = "run by run where runs share a seed"
        axd.set_title(
            f"Difference from '{labels[ref]}', {how}", loc="left", fontsize=9.5, color=INK
        )
        axd.legend(fontsize=8, frameon=False, loc="best")
        P.format_date_axis(axd, first, last)
        notes.append(
            "Differences are taken between runs with the same seed (common random numbers: "
            "both runs face the same random draws, and the same draws of parameters and "
            "population where the band covers them), then summarised; the bands show how much "
            "the effect of the scenario varies, not the noise of two independent runs."
        )
        if unpaired:
            notes.append(
                "No runs with the same seed for: "
                + ", ".join(unpaired)
                + "; the line is the difference of the medians, without a band."
            )

    scales = sorted({float(s) for s in curves["population_scale"] if pd.notna(s)})
    if scales:
        notes.append(
            "Population scale "
            + ", ".join(f"{s:g} (1 simulated person = {round(1 / s):,} people)" for s in scales)
            + "."
        )
    notes.append(f"{metric}: {DAILY_COLUMNS.get(metric, '')}.")
    if observed is not None and MEASURE_OF.get(metric) and not pts.empty:
        notes.append(
            "Diamonds: observed figures at the date they run to (filled: used for fitting; "
            "hollow: other reports, check only); figures counted from more than "
            f"{OBSERVED_START_TOLERANCE_DAYS} days after the first day are drawn on top of the "
            "first scenario's median on the day before they start."
        )
    elif observed is not None:
        notes.append(f"No observed figures for {metric} in this period.")
    fig.suptitle(title or human, x=0.01, ha="left", fontsize=12.5, color=INK, fontweight="bold")
    fig.supxlabel(
        "\n".join(textwrap.wrap(" ".join(notes), 150)), x=0.01, ha="left", fontsize=7, color=MUTED
    )
    return fig


# --------------------------------------------------------------------------------------
# Files and command line
# --------------------------------------------------------------------------------------


def _check_outputs(output: Path) -> None:
    """An existing PNG/CSV pair is replaced only if it is a comparison idlibsim wrote
    (recognised by the CSV's header); anything else (a user's figure) is refused."""
    csv_path = output.with_suffix(".csv")
    header = (",".join(TABLE_COLUMNS) + "\n").encode()

    def ours(_: Path) -> bool:
        return starts_with(csv_path, header)

    check_replaceable_file(csv_path, ours, "comparison table")
    check_replaceable_file(output, ours, "comparison figure")


def save_comparison(
    folders: Sequence[Path | str] | pd.DataFrame,
    output: Path | str,
    metric: str = "displacements_cumulative",
    observed: bool | pd.DataFrame | None = False,
    title: str | None = None,
) -> tuple[Path, Path, pd.DataFrame]:
    """Plot and write ``output`` (PNG, 150 dpi, identical bytes for identical numbers)
    and the numbers behind it beside it (same name, ``.csv``).

    ``folders``: run/ensemble folders, or curves already loaded with :func:`load_curves`.
    ``observed``: True for the scenarios' own observed file, or a table. Returns the PNG
    path, the CSV path and the table.
    """
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise ValueError(f"the output must be a .png file, got '{output.name}'")
    _check_outputs(output)  # before any work: never replace a file idlibsim did not write
    curves = folders if isinstance(folders, pd.DataFrame) else load_curves(folders, metric)
    if observed is True:
        obs = observed_for(curves)
    elif observed is False or observed is None:
        obs = None
    else:
        obs = observed
    table = comparison_table(curves, metric, obs)
    fig = plot_comparison(curves, metric, obs, title=title, table=table)
    output.parent.mkdir(parents=True, exist_ok=True)
    csv_path = output.with_suffix(".csv")
    try:
        with staged(csv_path) as tmp_csv, staged(output) as tmp_png:
            # drawn once (savefig draws a constrained layout twice); the bytes savefig wrote
            P.save_png(fig, tmp_png, compress_level=None)
            write_csv(table, tmp_csv)
    finally:
        fig.clear()
    return output, csv_path, table


def cli_compare(args, argv: list[str]) -> int:
    """``idlibsim compare RUN_OR_ENSEMBLE_DIR ... [--metric NAME] [--observed] -o FILE.png``."""
    try:
        _check_metric(args.metric)
    except ValueError as exc:
        raise UsageError(f"--metric: {exc}") from None
    if Path(args.output).suffix.lower() != ".png":
        raise UsageError(f"-o/--output must name a .png file, got '{args.output}'")
    curves = load_curves(args.runs, args.metric)
    obs = None
    if args.observed:
        obs = observed_for(curves)
        if obs is None:
            print(
                "idlibsim: note: none of these scenarios names an observed file; no observed points",
                file=sys.stderr,
            )
        elif args.metric not in MEASURE_OF:
            print(
                f"idlibsim: note: observed figures count movements and people; use --metric "
                f"{' or '.join(MEASURE_OF)} to see them",
                file=sys.stderr,
            )
    png, csv_path, table = save_comparison(curves, args.output, args.metric, obs)
    print(f"wrote {png} and {csv_path}")
    last = table[table["panel"].isin(("scenario", "difference"))]
    label_of = dict(zip(curves["scenario"], curves["label"], strict=True))
    for (panel, _key), g in last.groupby(["panel", "scenario"], sort=False):
        r = g.iloc[-1]
        what = "" if panel == "scenario" else f"minus {label_of[r['reference']]}: "
        band = (
            "" if pd.isna(r["p05"]) or r["n"] <= 1 else f" (90% {r['p05']:,.0f} to {r['p95']:,.0f})"
        )
        covers = "" if not band else f"; band covers {r['uncertainty']}"
        print(f"  {r['label']}: {what}{r['median']:,.0f}{band} on {r['date']}{covers}")
    return 0
