"""What the analyses need to know about the behaviour parameters, read from the scenario
schema in one place: name, kind, valid range, unit, source, sensitivity range; and which
values a scenario file sets itself (the user's, not its parameter file's)."""

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
    from ..config import BEHAVIOUR_FIELDS

    out = {}
    for f in BEHAVIOUR_FIELDS:
        if f.type not in ("float", "prob", "int"):
            continue
        lo = f.lo if f.lo is not None else (0.0 if f.type == "prob" else None)
        hi = f.hi if f.hi is not None else (1.0 if f.type == "prob" else None)
        out[f.name] = ParamInfo(f.name, f.type, lo, hi, f.unit, f.source)
    return out


def set_in_scenario_file(path: Path | str) -> set[str]:
    """Behaviour parameters that a scenario file (or a file it extends) sets in its own
    ``[behaviour]`` table: values from its ``parameters`` file are not included."""
    from ..config import _load_chain

    merged: Any = _load_chain(Path(path))[0]
    table = merged.get("behaviour", {}) if isinstance(merged, dict) else {}
    return {k for k in table if k != "parameters"} if isinstance(table, dict) else set()
