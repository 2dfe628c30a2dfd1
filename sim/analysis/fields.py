"""What the analyses need to know about the behaviour parameters, read from the scenario
schema (:mod:`sim.scenario.schema`) in one place: name, kind, valid range, unit, source,
sensitivity range; and which values a scenario file sets itself (the user's, not its
parameter file's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ParamInfo", "behaviour_params", "set_in_scenario_file"]


@dataclass(frozen=True)
class ParamInfo:
    """One behaviour parameter: ``kind`` is ``float``, ``prob`` or ``int``; ``lo``/``hi``
    its valid range (None: unbounded); ``sensitivity`` a range the schema declares for the
    sensitivity analysis (None: none declared)."""

    name: str
    kind: str
    lo: float | None
    hi: float | None
    unit: str
    source: str
    sensitivity: tuple[float, float] | None = None

    def bounds(self) -> tuple[float, float]:
        lo = self.lo if self.lo is not None else (0.0 if self.kind == "prob" else -float("inf"))
        hi = self.hi if self.hi is not None else (1.0 if self.kind == "prob" else float("inf"))
        return lo, hi


def behaviour_params() -> dict[str, ParamInfo]:
    """Every numeric behaviour parameter of the schema, by name (schema order)."""
    from ..scenario.schema import behaviour_fields
    from ..scenario.types import bounds_of, extra_of, kind_of

    out = {}
    for name, f in behaviour_fields().items():
        kind = kind_of(f).name
        if kind not in ("float", "prob", "int"):
            continue
        lo, hi = bounds_of(f)
        if kind == "prob":
            lo = 0.0 if lo is None else lo
            hi = 1.0 if hi is None else hi
        extra = extra_of(f)
        sens = extra.get("sensitivity")
        out[name] = ParamInfo(
            name,
            kind,
            lo,
            hi,
            str(extra.get("unit", "")),
            str(extra.get("source", "")),
            (float(sens[0]), float(sens[1])) if sens else None,
        )
    return out


def set_in_scenario_file(path: Path | str) -> set[str]:
    """Behaviour parameters that a scenario file (or a file it extends) sets in its own
    ``[behaviour]`` table: values from its ``parameters`` file are not included."""
    from ..scenario.reading import read_chain

    merged: Any = read_chain(Path(path))[0]
    table = merged.get("behaviour", {}) if isinstance(merged, dict) else {}
    return {k for k in table if k != "parameters"} if isinstance(table, dict) else set()
