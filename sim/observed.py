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

import csv
import io
import math
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, Problem, read_bytes, require_columns

if TYPE_CHECKING:
    import pandas as pd

# pandas and NumPy are imported by the functions that use them: checking an observed file
# (`idlibsim validate`) reads it with the csv module and needs neither.

OBSERVED_COLUMNS = ("as_of", "period_start", "value", "measure", "use", "source")
MEASURES = {"movements": "new_displacements", "people": "new_people_displaced"}
USES = ("fit", "check", "context")
#: An observed figure whose period starts more than this many days after a plot's first
#: day is drawn lifted by the model's cumulative total before its period (:func:`drawn_at`).
OBSERVED_START_TOLERANCE_DAYS = 7
#: Largest observed file read (bytes).
OBSERVED_LIMIT = 5_000_000

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def load_observed(path: Path | str) -> pd.DataFrame:
    """Read and check an observed file; dates parsed, one row per figure."""
    import pandas as pd

    header, rows = check_observed(path)
    df = pd.DataFrame(rows, columns=header, dtype=str)
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.date
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    df["value"] = df["value"].astype(float)
    return df


def check_observed(path: Path | str) -> tuple[list[str], list[list[Any]]]:
    """Read and check an observed file: its header and rows (text), or an :class:`InputError`
    naming every bad cell.

    A plain UTF-8 CSV file (every row as long as the header, no blank line) is read with the
    csv module; anything else is read by pandas as before (``dtype=str``, empty cells kept),
    so its messages and its reading of odd files are unchanged.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            [Problem(path, "", "observed data file not found", "check [scenario] observed")]
        )
    data = read_bytes(path, "observed data", limit=OBSERVED_LIMIT)  # a regular file, not a pipe
    table = _plain_csv(data)
    if table is None:
        table = _pandas_csv(path, data)
    header, rows = table
    require_columns(
        path, header, OBSERVED_COLUMNS, f"columns needed: {', '.join(OBSERVED_COLUMNS)}"
    )
    at = {c: header.index(c) for c in OBSERVED_COLUMNS}
    problems = []
    for i, row in enumerate(rows):
        line = i + 2
        for col in ("as_of", "period_start"):
            if not _is_timestamp(row[at[col]]):
                problems.append(
                    Problem(
                        path,
                        col,
                        f"'{row[at[col]]}' is not a date",
                        "write dates like 2019-07-30",
                        line,
                    )
                )
        measure, use, value = row[at["measure"]], row[at["use"]], row[at["value"]]
        if measure not in MEASURES:
            problems.append(
                Problem(
                    path,
                    "measure",
                    f"'{measure}' is not one of {', '.join(MEASURES)}",
                    "movements or people",
                    line,
                )
            )
        if use not in USES:
            problems.append(
                Problem(
                    path,
                    "use",
                    f"'{use}' is not one of {', '.join(USES)}",
                    "fit, check or context",
                    line,
                )
            )
        try:
            v = float(value)
            if not math.isfinite(v) or v < 0:
                raise ValueError
        except ValueError:
            problems.append(
                Problem(
                    path,
                    "value",
                    f"'{value}' is not a non-negative number",
                    "write a count of people",
                    line,
                )
            )
    if problems:
        raise InputError(problems)
    return header, rows


def _plain_csv(data: bytes) -> tuple[list[str], list[list[Any]]] | None:
    """Header and rows of a plain CSV file (UTF-8 without a byte-order mark, a header of
    distinct non-empty names, every row as long as the header, no blank line), else None.

    On such a file the csv module and pandas' reader agree cell for cell; on any other,
    pandas decides (:func:`_pandas_csv`).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("\ufeff"):
        return None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    if not rows:
        return None
    header = rows[0]
    if len(set(header)) != len(header) or not all(h.strip() for h in header):
        return None
    body = rows[1:]
    if any(len(r) != len(header) for r in body):
        return None
    return header, body


def _pandas_csv(path: Path, data: bytes) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of an observed file as pandas reads it (``dtype=str``, empty cells
    kept as empty text; a short row's missing cells are NaN)."""
    import pandas as pd

    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many kinds
        raise InputError(
            [Problem(path, "", f"cannot be read as CSV: {exc}", "save it as UTF-8 CSV")]
        ) from None
    return list(df.columns), df.values.tolist()


def _is_timestamp(value: Any) -> bool:
    """Whether ``pandas.Timestamp(value)`` accepts ``value`` (without pandas for plain ISO
    dates, ``2019-07-30``, of years 1700-2200)."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            if 1700 <= date.fromisoformat(value).year <= 2200:
                return True
        except ValueError:
            pass
    import pandas as pd

    try:
        pd.Timestamp(value)
    except ValueError:
        return False
    return True


def model_value(daily: pd.DataFrame, period_start, as_of, measure: str) -> float:
    """The model's figure for one observation (people or movements), NaN outside the run."""
    import pandas as pd

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
    import numpy as np

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
