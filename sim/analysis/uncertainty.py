"""Sources of uncertainty in an ensemble, and each replicate's draw of them.

An ensemble's band shows only what its replicates vary. ``--uncertainty`` says what that is:

``seed``
    seed noise only: every replicate runs the scenario as written, with its own seed.
``parameters``
    also the behaviour parameters: each replicate takes one draw (by weight) from the
    posterior saved beside the scenario's parameter file (:mod:`sim.analysis.posterior`).
``all`` (the command's default)
    also the population: the total (the published totals for north-west Syria differ by
    about 5 %, :data:`TOTAL_RANGE`) and every sub-district's estimate within the range its
    row of the locations file states (``+/-40%``, ``-40%/+60%``, ``range 10,000-60,000``;
    :func:`population_ranges`). The total is then shared out in proportion to the drawn
    estimates, so the shares change too. Counted camp residents are not drawn.

Common random numbers. A replicate's draw is a function of (ensemble base seed, replicate
index) only, never of the scenario: the posterior draw is chosen with a generator keyed by
(base seed, replicate), and each place's factor with one keyed by (base seed, replicate,
place name). Two scenarios of one ensemble therefore run replicate ``i`` with the same
seed, the same parameters and the same population, and their paired difference is the
effect of the scenario alone (zero for identical scenarios).

A value fixed by the user is not drawn: a behaviour parameter set in the scenario's
``[behaviour]`` table (in the file or a file it extends, not through its parameter
file), one changed in code (``Scenario.with_behaviour``) or named with ``--fix``;
``--fix population`` holds the population as estimated.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COVERS_TEXT",
    "MODES",
    "TOTAL_RANGE",
    "Draw",
    "covers",
    "covers_text",
    "draw",
    "population_ranges",
    "user_fixed",
]

#: The choices of ``--uncertainty``.
MODES = ("seed", "parameters", "all")
#: Sources of uncertainty and how a band's label names them.
COVERS_TEXT = {
    "seed": "seed noise",
    "parameters": "behaviour parameters (posterior draws)",
    "population": "population (total and sub-district shares)",
}
#: Range of the drawn population total, relative to the scenario's total (uniform).
#: Source: scenarios/data/SOURCES.md section 1: ECHO (23 August 2019) "approximately 3.8
#: million people", OCHA (Sitrep 12-13, 2019) "an estimated four million" in north-west
#: Syria: the published totals differ by 5 %, and a rounded "four million" may lie either
#: side of it. (OCHA's "three million" is the de-escalation zone alone, not the whole.)
TOTAL_RANGE = (0.95, 1.05)
TOTAL_SOURCE = (
    "ECHO 23 Aug 2019 'approximately 3.8 million' vs OCHA Sitrep 12 'an estimated four "
    "million' (scenarios/data/SOURCES.md section 1): +/-5 % around the scenario's total"
)
#: Name used with ``--fix`` to hold the population as estimated.
POPULATION = "population"

_KEY = zlib.crc32(b"uncertainty")
_PARAMETERS = zlib.crc32(b"parameters")
_TOTAL = zlib.crc32(b"population_total")
_PLACE = zlib.crc32(b"population_place")


def covers(mode: str, parameters: bool, population: bool) -> list[str]:
    """The sources a band covers: ``seed`` always, then what was actually drawn."""
    if mode not in MODES:
        raise ValueError(f"uncertainty must be one of {MODES}, got {mode!r}")
    out = ["seed"]
    if mode in ("parameters", "all") and parameters:
        out.append("parameters")
    if mode == "all" and population:
        out.append("population")
    return out


def covers_text(sources: Iterable[str]) -> str:
    """``seed noise + behaviour parameters (posterior draws) + ...``: for labels and CSVs."""
    return " + ".join(COVERS_TEXT.get(s, s) for s in sources)


# --------------------------------------------------------------------------------------
# What the user fixed
# --------------------------------------------------------------------------------------


def user_fixed(
    scenario: Any, overrides: Mapping[str, Any] = (), fix: Iterable[str] = ()
) -> set[str]:
    """Behaviour parameters the user fixed: in the scenario's ``[behaviour]`` table (the
    file or a file it extends; values from its parameter file are not fixed), changed in
    code (``overrides``, e.g. a task's behaviour overrides) or named in ``fix``."""
    from .fields import set_in_scenario_file

    names = set_in_scenario_file(scenario.path)
    return names | set(dict(overrides)) | {f for f in fix if f != POPULATION}


# --------------------------------------------------------------------------------------
# Population ranges stated in the locations file
# --------------------------------------------------------------------------------------

_NUM = r"(\d[\d,]*)"
_RANGE = re.compile(rf"range {_NUM}\s*-\s*{_NUM}")
_ASYM = re.compile(r"-(\d+(?:\.\d+)?)\s*%\s*/\s*\+(\d+(?:\.\d+)?)\s*%")
_SYM = re.compile(r"\+/-\s*(\d+(?:\.\d+)?)\s*%")
_ESTIMATE = re.compile(rf"(?:project estimate above \(|anchor ){_NUM}")


def _n(s: str) -> float:
    return float(s.replace(",", ""))


def stated_range(text: str) -> tuple[float, float] | None:
    """The relative range a row's ``population_source`` states, or None.

    ``range A-B`` around the row's own estimate (``project estimate above (E`` or
    ``anchor E``) gives ``(A/E, B/E)``; else ``-a%/+b%`` gives ``(1-a/100, 1+b/100)``; else
    ``+/-a%`` gives ``(1-a/100, 1+a/100)``.
    """
    text = str(text)
    m, e = _RANGE.search(text), _ESTIMATE.search(text)
    if m and e and _n(e.group(1)) > 0:
        lo, hi = _n(m.group(1)) / _n(e.group(1)), _n(m.group(2)) / _n(e.group(1))
        if 0 < lo <= 1 <= hi:
            return lo, hi
    m = _ASYM.search(text)
    if m:
        return 1 - float(m.group(1)) / 100, 1 + float(m.group(2)) / 100
    m = _SYM.search(text)
    if m:
        return 1 - float(m.group(1)) / 100, 1 + float(m.group(1)) / 100
    return None


def population_ranges(locations_file: Path | str) -> dict[str, tuple[float, float]]:
    """Place name -> (low, high) multiplier of its population estimate, for every populated
    sub-district whose ``population_source`` states a range (others are not drawn)."""
    df = pd.read_csv(locations_file, dtype=str, keep_default_na=False)
    if "population_source" not in df:
        return {}
    out = {}
    for r in df.itertuples():
        if r.kind != "sub_district" or _n(r.population or "0") <= 0:
            continue
        rng = stated_range(r.population_source)
        if rng is not None and 0 < rng[0] < rng[1]:
            out[r.name] = (float(rng[0]), float(rng[1]))
    return out


# --------------------------------------------------------------------------------------
# Draws
# --------------------------------------------------------------------------------------


def _uniform(base_seed: int, replicate: int, *keys: int) -> float:
    seq = np.random.SeedSequence(int(base_seed), spawn_key=(_KEY, int(replicate), *keys))
    return float(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(11)) / 2.0**53


@dataclass(frozen=True)
class Draw:
    """One replicate's draw: scenario-independent, a function of (base seed, replicate)."""

    replicate: int
    posterior_index: int = -1  # row of the posterior (-1: none drawn)
    behaviour: dict[str, float] = field(default_factory=dict)  # posterior values drawn
    total_factor: float = 1.0
    place_factors: dict[str, float] = field(default_factory=dict)

    def for_scenario(
        self, total: int, weight: int, fixed: set[str], population: bool
    ) -> dict[str, Any]:
        """What a run applies (:func:`apply`): the drawn behaviour less the user-fixed
        values, and (when ``population``) the total, a multiple of ``weight`` people, and
        the places' factors."""
        out: dict[str, Any] = {
            "behaviour": {k: v for k, v in self.behaviour.items() if k not in fixed}
        }
        if population:
            t = int(round(total * self.total_factor / weight)) * int(weight)
            out["population_total"] = t
            out["population_factors"] = dict(self.place_factors)
        return out


def draw(
    base_seed: int,
    replicate: int,
    mode: str,
    posterior: Any = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> Draw:
    """Replicate ``replicate``'s draw for ``mode`` (``seed``, ``parameters``, ``all``).

    ``posterior``: a :class:`sim.analysis.posterior.Posterior` (or None: no parameters
    drawn); ``ranges``: :func:`population_ranges` of the places (keyed by name, so two
    locations files share the factor of a place they both hold).
    """
    if mode not in MODES:
        raise ValueError(f"uncertainty must be one of {MODES}, got {mode!r}")
    if mode == "seed":
        return Draw(int(replicate))
    index, beh = -1, {}
    if posterior is not None and len(posterior):
        u = _uniform(base_seed, replicate, _PARAMETERS)
        index = posterior.pick(u)
        beh = posterior.row(index)
    if mode == "parameters":
        return Draw(int(replicate), index, beh)
    lo, hi = TOTAL_RANGE
    total = lo + (hi - lo) * _uniform(base_seed, replicate, _TOTAL)
    places = {}
    for name, (a, b) in sorted((ranges or {}).items()):
        u = _uniform(base_seed, replicate, _PLACE, zlib.crc32(name.encode("utf-8")))
        places[name] = a + (b - a) * u
    return Draw(int(replicate), index, beh, total, places)


def apply(scenario: Any, values: Mapping[str, Any]) -> Any:
    """The scenario with a replicate's draw applied (:meth:`Draw.for_scenario`)."""
    from dataclasses import replace

    sc = scenario
    beh = dict(values.get("behaviour") or {})
    if beh:
        sc = sc.with_behaviour(**beh)
    if "population_total" in values:
        total = int(values["population_total"])
        factors = {
            str(k): float(v) for k, v in dict(values.get("population_factors") or {}).items()
        }
        pop = sc.spec.population.model_copy(update={"total": total})
        sc = replace(
            sc, spec=sc.spec.model_copy(update={"population": pop}), population_factors=factors
        )
    return sc
