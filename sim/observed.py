"""Observed figures and the observation model: how a model run is compared with them.

An observed file (``scenarios/data/observed/displacement_2019.csv``) holds cumulative
figures by the date they run to (``as_of``) and the start of the period they count
(``period_start``), each with what it counts (``measure``):

``movements``
    OCHA/CCCM "displacements" or "individual movements": a person displaced twice
    counts twice. Model: sum of ``new_displacements`` over the period.
``people``
    unique people displaced at least once. Model: growth of
    ``displaced_people_cumulative`` over the period. When the period starts after the
    first reported day, people already displaced before it who flee again inside it are
    not counted, a small undercount for the few days between 26 April and 1 May 2019.

and how it is used (``use``): ``fit`` (calibration targets), ``check`` (shown, not fitted:
other agencies' versions of the same quantity, lower bounds) or ``context`` (periods the
model cannot match, e.g. since 1 January).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, Problem, read_bytes, require_columns

OBSERVED_COLUMNS = ("as_of", "period_start", "value", "measure", "use", "source")
MEASURES = {"movements": "new_displacements", "people": "new_people_displaced"}
USES = ("fit", "check", "context")
#: An observed figure whose period starts more than this many days after a plot's first
#: day is drawn lifted by the model's cumulative total before its period (:func:`drawn_at`).
OBSERVED_START_TOLERANCE_DAYS = 7


def load_observed(path: Path | str) -> pd.DataFrame:
    """Read and check an observed file; dates parsed, one row per figure."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            [Problem(path, "", "observed data file not found", "check [scenario] observed")]
        )
    data = read_bytes(path, "observed data", limit=5_000_000)  # a regular file, not a pipe
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many kinds
        raise InputError(
            [Problem(path, "", f"cannot be read as CSV: {exc}", "save it as UTF-8 CSV")]
        ) from None
    require_columns(
        path, df.columns, OBSERVED_COLUMNS, f"columns needed: {', '.join(OBSERVED_COLUMNS)}"
    )
    problems = []
    for i, row in df.iterrows():
        line = int(i) + 2
        for col in ("as_of", "period_start"):
            try:
                pd.Timestamp(row[col])
            except ValueError:
                problems.append(
                    Problem(
                        path,
                        col,
                        f"'{row[col]}' is not a date",
                        "write dates like 2019-07-30",
                        line,
                    )
                )
        if row["measure"] not in MEASURES:
            problems.append(
                Problem(
                    path,
                    "measure",
                    f"'{row['measure']}' is not one of {', '.join(MEASURES)}",
                    "movements or people",
                    line,
                )
            )
        if row["use"] not in USES:
            problems.append(
                Problem(
                    path,
                    "use",
                    f"'{row['use']}' is not one of {', '.join(USES)}",
                    "fit, check or context",
                    line,
                )
            )
        try:
            v = float(row["value"])
            if not np.isfinite(v) or v < 0:
                raise ValueError
        except ValueError:
            problems.append(
                Problem(
                    path,
                    "value",
                    f"'{row['value']}' is not a non-negative number",
                    "write a count of people",
                    line,
                )
            )
    if problems:
        raise InputError(problems)
    df = df.copy()
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.date
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    df["value"] = df["value"].astype(float)
    return df


def model_value(daily: pd.DataFrame, period_start, as_of, measure: str) -> float:
    """The model's figure for one observation (people or movements), NaN outside the run."""
    dates = pd.to_datetime(daily["date"]).dt.date
    col = MEASURES[measure]
    if as_of < dates.iloc[0] or as_of > dates.iloc[-1]:
        return float("nan")
    window = (dates >= period_start) & (dates <= as_of)
    return float(daily.loc[window, col].sum())


def compare(daily: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """Each observed figure beside the model's, with the relative error (model/observed - 1)."""
    out = observed.copy()
    out["model"] = [
        model_value(daily, r.period_start, r.as_of, r.measure) for r in observed.itertuples()
    ]
    out["relative_error"] = out["model"] / out["value"] - 1.0
    return out


def ard(comparison: pd.DataFrame) -> float:
    """Averaged relative difference: mean of ``|model - observed| / observed`` over the points.

    The error measure of Flee (Suleimenova, Bell & Groen 2017, Sci. Rep. 7:13377),
    there averaged over days of camp populations; here over the observed figures.
    """
    c = comparison.dropna(subset=["model"])
    if c.empty:
        return float("nan")
    return float(np.mean(np.abs(c["model"] - c["value"]) / c["value"]))


def in_period(observed: pd.DataFrame, first, last) -> pd.DataFrame:
    """Figures whose whole period lies within [first, last]."""
    return observed[(observed["period_start"] >= first) & (observed["as_of"] <= last)]


def drawn_at(
    value: float, period_start: pd.Timestamp, first: pd.Timestamp, cumulative: pd.Series
) -> tuple[float, bool]:
    """Height (people) at which an observed figure is drawn over a cumulative curve, and
    whether it is lifted.

    A figure counted from the plot's first days (its ``period_start`` at most
    :data:`OBSERVED_START_TOLERANCE_DAYS` after ``first``) is drawn at its ``value``; one
    counted from a later date at its value plus the curve's last value before its period
    starts, so that the gap to the curve is the model-observed difference over the same
    period. ``cumulative``: the model's cumulative curve, indexed by date (Timestamps).
    """
    if (period_start - first).days <= OBSERVED_START_TOLERANCE_DAYS:
        return float(value), False
    before = cumulative[cumulative.index < period_start]
    return float(value) + (float(before.iloc[-1]) if len(before) else 0.0), True
