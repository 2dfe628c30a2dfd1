"""Dated tables per place that a scenario names: camp capacities and weekly bombardment.

``[geography] camp_table``
    Columns ``place, date, capacity``: formal camp places (people) from ``date`` on.
``[conflict] bombardment_table``
    Columns ``place, week_start, week_end, intensity``: weekly bombardment (0-1) derived
    from UCDP GED by the rule in :mod:`sim.conflict` (:func:`sim.conflict.ged_intensity`).

Both are read the same way (:func:`_read_rows`): every place must be in the locations
file, every bad cell is a :class:`~sim.errors.Problem` naming file, column and line, and
all problems are raised together. Extra columns are documentation.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from .errors import (
    InputError,
    Problem,
    clip,
    decode_text,
    did_you_mean,
    read_bytes,
    require_columns,
)

BOMBARDMENT_TABLE_COLUMNS = ("place", "week_start", "week_end", "intensity")
CAMP_TABLE_COLUMNS = ("place", "date", "capacity")

Row = TypeVar("Row")


@dataclass(frozen=True)
class BombardmentRow:
    """One week of event-derived bombardment at one place (dates inclusive)."""

    place: str
    start: date
    end: date
    intensity: float


@dataclass(frozen=True)
class CampCapacityRow:
    """Formal camp and site places (people) at a place from ``date`` on."""

    place: str
    date: date
    capacity: int


class _BadCell(Exception):
    """A cell that cannot be read: becomes a :class:`Problem` on the row's line."""

    def __init__(self, field: str, message: str, fix: str):
        super().__init__(message)
        self.field, self.message, self.fix = field, message, fix


def _read_rows(
    path: Path,
    columns: tuple[str, ...],
    what: str,
    names: list[str],
    parse: Callable[[str, dict[str, str]], Row],
) -> list[Row]:
    """The rows of a per-place CSV, each read by ``parse(place, row)``.

    ``parse`` raises :class:`_BadCell` for a bad value; an unknown place is caught here.
    All problems of the file are raised together as one :class:`InputError`.
    """
    path = Path(path)
    text = decode_text(path, read_bytes(path, what), f"the {what}")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    require_columns(path, header, columns, f"the {what} needs the columns " + ", ".join(columns))
    problems: list[Problem] = []
    rows: list[Row] = []
    known = set(names)
    for line, row in _stripped(reader):
        place = row.get("place", "")
        if place not in known:
            problems.append(
                Problem(
                    path,
                    "place",
                    f"unknown place '{clip(place)}' (not in the locations file)",
                    did_you_mean(place, names),
                    line,
                )
            )
            continue
        try:
            rows.append(parse(place, row))
        except _BadCell as bad:
            problems.append(Problem(path, bad.field, bad.message, bad.fix, line))
    if problems:
        raise InputError(problems)
    return rows


def _stripped(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str]]]:
    for row in reader:
        yield (
            reader.line_num,
            {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None},
        )


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _camp_row(place: str, row: dict[str, str]) -> CampCapacityRow:
    try:
        d = date.fromisoformat(row["date"])
    except ValueError:
        raise _BadCell(
            f"date (place '{clip(place)}')", "is not a date", "write YYYY-MM-DD"
        ) from None
    cap = _number(row["capacity"])
    if not (0 <= cap <= 10_000_000) or not cap.is_integer():
        raise _BadCell(
            f"capacity (place '{clip(place)}')",
            f"'{clip(row['capacity'])}' is not a whole number of people from 0 to 10,000,000",
            "give the camp places in people, e.g. 12000",
        )
    return CampCapacityRow(place, d, int(cap))


def _bombardment_row(place: str, row: dict[str, str]) -> BombardmentRow:
    try:
        a = date.fromisoformat(row["week_start"])
        b = date.fromisoformat(row["week_end"])
    except ValueError:
        raise _BadCell(
            f"week_start/week_end (place '{clip(place)}')",
            "is not a date",
            "write dates as YYYY-MM-DD",
        ) from None
    if b < a:
        raise _BadCell("week_end", f"{b} is before week_start {a}", "swap them")
    x = _number(row["intensity"])
    if not (0.0 <= x <= 1.0):
        raise _BadCell(
            f"intensity (place '{clip(place)}')",
            f"'{clip(row['intensity'])}' is not a number from 0 to 1",
            "give an intensity between 0 and 1",
        )
    return BombardmentRow(place, a, b, x)


def load_camp_table(path: Path, names: list[str]) -> tuple[CampCapacityRow, ...]:
    """Read and check a table of dated camp capacities (columns ``place, date, capacity``;
    extra columns are documentation), sorted by date. Places must be in ``names``."""
    rows = _read_rows(path, CAMP_TABLE_COLUMNS, "camp table", names, _camp_row)
    return tuple(sorted(rows, key=lambda r: r.date))


def load_bombardment_table(path: Path, names: list[str]) -> tuple[BombardmentRow, ...]:
    """Read and check a bombardment table (columns ``place, week_start, week_end,
    intensity``; extra columns are documentation). Places must be in ``names``."""
    return tuple(
        _read_rows(path, BOMBARDMENT_TABLE_COLUMNS, "bombardment table", names, _bombardment_row)
    )
