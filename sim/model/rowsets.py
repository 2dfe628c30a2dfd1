"""Households indexed by what they are doing, kept up to date as they change.

Each day a few thousand of the 800,000 households change; the daily rules need small
groups of them (the ~2,000 on the move, the ~30,000 in informal sites, the ~90,000
staying away from home). Finding those by scanning every household several times a day
cost more than the rules themselves, so :class:`RowSet` keeps each group as a sorted
array of rows and updates it from the rows that changed (:meth:`RowSet.note`, called by
:meth:`sim.model.movement.Movement._change`, the one place where a household's status or
location changes). The sets are what a scan would find, in the same (ascending) order,
so the rules give the same results; in check mode the model compares them with a scan
every day (:meth:`RowSet.check`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: A test of household rows: a boolean per row of ``rows`` (reads the household columns).
RowTest = Callable[[np.ndarray], np.ndarray]


class RowSet:
    """The rows (ascending) of the households for which ``test`` holds.

    ``test(rows)`` says, for household rows ``rows``, whether each belongs to the set now.
    After any change to the columns it reads, the changed rows are passed to
    :meth:`note`; :meth:`rows` then tests only those (the others cannot have joined or
    left) and merges them in.
    """

    def __init__(self, name: str, test: RowTest, n_households: int):
        self.name = name
        self._test = test
        self._member = test(np.arange(n_households)).astype(bool, copy=False)
        self._rows = np.flatnonzero(self._member)
        self._noted: list[np.ndarray] = []

    def note(self, rows: np.ndarray) -> None:
        """Rows whose tested columns may have changed (tested when the set is next read)."""
        if len(rows):
            self._noted.append(rows)

    def rows(self) -> np.ndarray:
        """The rows in the set now, ascending (do not modify)."""
        if self._noted:
            changed = np.concatenate(self._noted)
            self._noted.clear()
            now = self._test(changed)
            was = self._member[changed]
            leave = changed[was & ~now]
            join = changed[now & ~was]
            current = self._rows
            # (by masks: np.delete and np.insert are Python functions, ~15 us a call)
            if len(leave):
                self._member[leave] = False
                keep = np.ones(len(current), bool)
                keep[current.searchsorted(leave)] = False
                current = current[keep]
            if len(join):
                join = sorted_unique(join)
                self._member[join] = True
                current = _merge(current, join)
            self._rows = current
        return self._rows

    def check(self, n_households: int) -> str | None:
        """A problem description if the set differs from a scan of every household, else None."""
        scan = np.flatnonzero(self._test(np.arange(n_households)))
        if not np.array_equal(self.rows(), scan):
            return f"the index of households {self.name} disagrees with a scan"
        return None


def _merge(current: np.ndarray, join: np.ndarray) -> np.ndarray:
    """The ascending union of ``current`` and ``join`` (ascending, disjoint from ``current``)."""
    out = np.empty(len(current) + len(join), current.dtype)
    at = current.searchsorted(join) + np.arange(len(join))  # where each joins the union
    mine = np.ones(len(out), bool)
    mine[at] = False
    out[at] = join
    out[mine] = current
    return out


def sorted_unique(rows: np.ndarray) -> np.ndarray:
    """``np.unique(rows)`` for integers, by a sort (NumPy 2's unique is ten times slower here)."""
    rows = np.sort(rows)
    if len(rows) > 1:
        first = np.empty(len(rows), bool)
        first[0] = True
        np.not_equal(rows[1:], rows[:-1], out=first[1:])
        rows = rows[first]
    return rows


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for integers, by one stable sort (a few
    times faster for the small arrays of a day's movers)."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.empty(len(ordered), bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(keys), np.intp)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse
