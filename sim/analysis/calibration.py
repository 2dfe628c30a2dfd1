"""Calibration against the 2019 UN/OCHA figures and REACH ISMI shares, and scoring of any run.

What is fitted, and why (details and results in the calibration report). Only 2019
figures are used; nothing of the December 2019 - March 2020 offensive.

``flee_rate``
    the response to expected danger (a ground assault, the front at the door): the fast
    first wave (180,000 people in 11 days, when the first towns were assaulted).
``propensity_shape``
    how much households differ in their readiness to flee (gamma shape): with a small
    shape the readiest leave at once and the rest slowly, so a fast first wave is
    followed by a summer that slows down (OCHA: 180,000 people in 11 days, 400,000 by the
    end of August).
``bombardment_rate``
    the steady response to sustained air strikes: the growth of the summer, when the
    front hardly moved, and how many *people* were displaced in all (400,000 by the end
    of August).
``front_distance_km``
    how far ahead of the front people leave, and how far from it they avoid going: the
    August advance, and the departures from the southern towns (ISMI, July).
``destination_distance_km``
    how far households flee: short hops to the next town against the long way to the
    northern border areas (ISMI arrival shares: Dana 71 % of May's arrivals in Idleb and
    surroundings), the ratio of movements to people (630,000 / 400,000) and the share
    reaching Aleppo governorate.
``border_pull_km``
    the pull of the border areas (aid hubs, kin; distance to the border line): the shares
    reaching northern Aleppo (ISMI) and Aleppo governorate (OCHA), and the western Harim
    border areas (ISMI July: Salqin, Darkush).
``camp_weight``
    the pull of camps, by their size, full or not (aid, registration, services; Flee's
    camp weight): how many go all the way to Dana and its camps rather than to Idleb city
    or the next town (ISMI: 71 % of May's arrivals in Idleb and surroundings went to Dana
    sub-district, whose camps were full).
``reach_danger_exponent``
    how far people go by the danger they flee: the long way to the border camps from the
    front (ISMI May: Dana 71 %), nearer quiet places from scattered strikes (ISMI June and
    July: Dana 29 % and 23 %, Maaret Tamsrin, Salqin and Darkush much of the rest).

Fixed, although they matter: ``fear_exponent`` (6.96, from the earlier totals-only 2019
fit: with the front's threat inside the expected danger, the data no longer separate it
from ``front_distance_km``), ``safety_weight`` (8, an estimate: front-line places are
avoided; the ISMI shares alone cannot separate it from ``border_pull_km``) (both written
into the parameter file, :data:`FIXED_IN_FIT`), ``fear_tolerance`` (0.05), ``destination_distance_spread`` (1), ``onward_rate`` (0.03 a
day) and the return rules: the 2019 figures at hand (five sub-district shares a month at
most) cannot separate more parameters. ``host_preference`` (its default) is set from OCHA's
statement that roughly two-thirds of the displaced stayed outside camps, and the share of
the first wave in camps and sites (54 %) and the ISMI/OCHA returns are kept as unfitted
checks. All can be fitted on request (``fit(names=...)``) and the most influential are in
the sensitivity analysis.

Everything else keeps its documented default (``sim/scenario/schema.py``): the data say little
about it (travel speed, memory) or it is a planning quantity (capacities).

Method: the objective is a sum of squared standardised errors, ``((log m - log o) /
0.10)^2`` for each fitted count (figures reported to about 10 %), ``((m / o - 1) /
0.25)^2`` for each REACH ISMI share of a month's arrivals or departures by sub-district
(Flee-style relative error of a share; key-informant counts of the assessed communities)
and ``((m - o) / 0.03)^2`` for each other fitted share, where ``m`` is the mean over a fixed set of seeds (common random
numbers: every evaluation sees the same dice, so the objective is smooth in the
parameters) at a reduced population scale (the report shows that it gives the same
curves as the full population). Parameters are searched in log or logit space with
SciPy's Nelder-Mead from fixed starting values, so a rerun gives the same result; the
uncertainty is the Laplace approximation (inverse Hessian of the objective at the
optimum, by finite differences).
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.ensemble import RunTask
from sim.errors import InputError, Problem, read_bytes
from sim.model import geography
from sim.model.history import DAILY_COLUMNS
from sim.model.rng import replicate_seeds
from sim.observed import MEASURES, ard, compare, in_period, load_observed
from sim.outputs.folders import RunFolder
from sim.outputs.results import PROJECT_ROOT, display_path, versions
from sim.outputs.runner import simulate
from sim.provenance import source_info
from sim.scenario.loading import Scenario
from sim.scenario.schema import Behaviour, FitSpec, fits
from sim.scenario.types import unit_of

COUNT_SIGMA = 0.10  # log-error of a reported count (figures rounded to ~10 %)
SHARE_SIGMA = 0.03  # absolute error of a reported share of arrivals by area (CCCM tallies)
SITES_SIGMA = 0.10  # absolute error of the share staying in camps/sites (rough sitrep statements)
#: relative error of a sub-district's share of a month's arrivals or departures (REACH ISMI:
#: key-informant counts in the assessed communities only, top sub-districts only)
ISMI_SIGMA = 0.25
#: Measures scored by the relative difference of shares (Flee's ARD term).
ISMI_MEASURES = ("arrival_share", "departure_share")
CALIBRATION_BASE_SEED = 2019


@dataclass(frozen=True)
class FitParameter:
    name: str
    space: str  # "log" or "logit"
    start: float
    why: str

    def to_x(self, v: float) -> float:
        return math.log(v) if self.space == "log" else math.log(v / (1 - v))

    def from_x(self, x: float) -> float:
        return math.exp(x) if self.space == "log" else 1 / (1 + math.exp(-x))


def _fit_parameter(name: str, fit: FitSpec) -> FitParameter:
    start = fit.start if fit.start is not None else Behaviour.model_fields[name].default
    return FitParameter(name, fit.space, start, fit.why)


#: The parameters the 2019 calibration fits, in the order of its search vector (declared
#: with each behaviour field: :class:`sim.scenario.schema.FitSpec`).
FIT_PARAMETERS = tuple(
    _fit_parameter(name, fit)
    for name, fit in sorted(
        ((n, f) for n, f in fits().items() if f.rank is not None), key=lambda nf: nf[1].rank
    )
)
#: Values the fit holds fixed and writes into the parameter file with the fitted ones (so
#: every scenario run on the 2019 parameters uses them), with why.
FIXED_IN_FIT = {
    name: (fit.held, fit.held_why) for name, fit in fits().items() if fit.held is not None
}
#: Parameters that can be fitted on request (``fit(names=...)``) but are fixed by default.
OPTIONAL_FIT_PARAMETERS = tuple(
    _fit_parameter(name, fit) for name, fit in fits().items() if fit.rank is None
)
FIT_BY_NAME = {p.name: p for p in FIT_PARAMETERS + OPTIONAL_FIT_PARAMETERS}


# --------------------------------------------------------------------------------------
# Targets and the observation model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One observed figure the model is compared with."""

    kind: str  # "movements", "people" or a share measure
    period_start: date
    as_of: date
    value: float
    use: str
    source: str
    places: str = ""
    whole: str = ""

    @property
    def label(self) -> str:
        where = f" {self.places}" if self.kind in ISMI_MEASURES else ""
        return f"{self.kind}{where} {self.period_start:%d %b}-{self.as_of:%d %b %Y}"

    @property
    def relative(self) -> bool:
        """Scored relative to the observed value (counts, ISMI shares), not as a difference."""
        return self.kind in MEASURES or self.kind in ISMI_MEASURES

    @property
    def sigma(self) -> float:
        if self.kind in MEASURES:
            return COUNT_SIGMA
        if self.kind in ISMI_MEASURES:
            return ISMI_SIGMA
        return SITES_SIGMA if self.kind == "share_in_sites" else SHARE_SIGMA


def figure_format(share: bool, decimals: int = 3) -> Callable[[float], str]:
    """How the reports write an observed or modelled figure: a share with ``decimals``
    decimals, a count (people, movements) with thousands separators."""
    return (lambda v: f"{v:.{decimals}f}") if share else (lambda v: f"{v:,.0f}")


def load_targets(scenario: Scenario, uses: Sequence[str] = ("fit",)) -> list[Target]:
    """The observed figures of the scenario's reported period (series and destination shares)."""
    if scenario.observed is None:
        raise InputError(
            [
                Problem(
                    scenario.path,
                    "scenario.observed",
                    "the scenario names no observed data",
                    'add observed = "data/observed/displacement_2019.csv"',
                )
            ]
        )
    first, last = scenario.report_from, scenario.end
    obs = in_period(load_observed(scenario.observed), first, last)
    out = [
        Target(r.measure, r.period_start, r.as_of, float(r.value), r.use, r.source)
        for r in obs.itertuples()
        if r.use in uses
    ]
    parent = scenario.observed.parent
    out += _share_targets(parent / "destinations_2019.csv", uses, first, last)
    out += _share_targets(parent / "ismi_shares_2019.csv", uses, first, last, whole=True)
    return out


def _share_targets(
    path: Path, uses: Sequence[str], first: date, last: date, whole: bool = False
) -> list[Target]:
    """The rows of a file of shares observed within ``first``-``last`` (none if there is no
    file); ``whole``: the target names the whole the share is of (REACH ISMI's rows)."""
    if not path.exists():
        return []
    out = []
    for r in pd.read_csv(path, dtype=str, keep_default_na=False).itertuples():
        a, b = date.fromisoformat(r.period_start), date.fromisoformat(r.as_of)
        if r.use in uses and first <= a and b <= last:
            of = r.whole if whole else ""
            out.append(Target(r.measure, a, b, float(r.value), r.use, r.source, r.places, of))
    return out


def select_places(sub: pd.DataFrame, spec: str) -> pd.Series:
    """Rows of a locations table matching ``key=value`` (``region=NW``: both ISMI regions)."""
    key, val = spec.split("=", 1)
    if key not in sub:
        return pd.Series(False, index=sub.index)
    if key == "region" and val == "NW":
        return sub["region"].isin(["IDL+", "NAL"])
    return sub[key] == val


def model_values(
    daily: pd.DataFrame, locations: pd.DataFrame, targets: Sequence[Target]
) -> np.ndarray:
    """The model's value for each target (the observation model).

    * ``movements``: people setting off in the period, a person fleeing twice counts twice;
    * ``people``: people displaced for the first time (since the first reported day) in the period;
    * ``share_to_aleppo``: arrivals in places of the named governorate / all arrivals in the period;
    * ``share_in_sites``: growth of the population of camps and informal sites / growth of
      the displaced population over the period;
    * ``arrival_share`` / ``departure_share`` (REACH ISMI): arrivals in (departures from) the
      places of a sub-district pcode or region / all arrivals (departures) in the region
      named by ``whole``, over the period. Arrivals count households reaching their
      destination (flights and onward moves; passing through does not count), departures
      count flights and onward moves, as ISMI counts IDP movements.
    """
    dates = pd.to_datetime(daily["date"]).dt.date.to_numpy()
    loc_dates = (
        pd.to_datetime(locations["date"]).dt.date.to_numpy() if len(locations) else np.array([])
    )
    out = []
    for t in targets:
        window = (dates >= t.period_start) & (dates <= t.as_of)
        if t.kind in MEASURES:
            out.append(float(daily.loc[window, MEASURES[t.kind]].sum()))
        elif t.kind == "share_to_aleppo":
            lw = (loc_dates >= t.period_start) & (loc_dates <= t.as_of)
            sub = locations[lw]
            key, val = t.places.split("=")
            inside = sub[sub[key] == val]["arrivals"].sum() if key in sub else np.nan
            total = sub["arrivals"].sum()
            out.append(float(inside / total) if total > 0 else float("nan"))
        elif t.kind in ISMI_MEASURES:
            lw = (loc_dates >= t.period_start) & (loc_dates <= t.as_of)
            sub = locations[lw]
            col = "arrivals" if t.kind == "arrival_share" else "departures"
            inside = sub.loc[select_places(sub, t.places) & select_places(sub, t.whole), col].sum()
            total = sub.loc[select_places(sub, t.whole), col].sum()
            out.append(float(inside / total) if total > 0 else float("nan"))
        elif t.kind == "share_in_sites":
            d = daily.set_index(pd.to_datetime(daily["date"]).dt.date)
            start = max(t.period_start, d.index[0])
            sites = (d["in_camps"] + d["in_informal_sites"]).loc[t.as_of] - (
                d["in_camps"] + d["in_informal_sites"]
            ).loc[start]
            grown = d["displaced_now"].loc[t.as_of] - d["displaced_now"].loc[start]
            out.append(float(sites / grown) if grown > 0 else float("nan"))
        else:  # pragma: no cover - guarded by the observed files
            raise ValueError(t.kind)
    return np.array(out)


def residuals(model: np.ndarray, targets: Sequence[Target]) -> np.ndarray:
    """Standardised errors: log ratio / 0.10 for counts, relative difference
    ``(m / o - 1) / 0.25`` for REACH ISMI shares (Flee's ARD term), difference / 0.03 (0.10
    for shares in sites) for other shares."""
    obs = np.array([t.value for t in targets])
    sig = np.array([t.sigma for t in targets])
    is_count = np.array([t.kind in MEASURES for t in targets])
    is_ratio = np.array([t.kind in ISMI_MEASURES for t in targets])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (
            np.where(
                is_count,
                np.log(np.maximum(model, 1.0) / obs),
                np.where(is_ratio, model / obs - 1.0, model - obs),
            )
            / sig
        )
    return np.nan_to_num(r, nan=10.0)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


#: Columns of locations.csv that count displaced people staying at a place.
STAYING = ("in_host_community", "in_camp", "in_informal_site")


def place_regions(locations_file: Path) -> pd.DataFrame:
    """Each place's sub-district pcode and ISMI region, read from the locations file.

    Region ``NAL`` (REACH's "northern Aleppo region"): places under Turkish-backed control;
    ``abroad``: places abroad; ``IDL+`` ("Idleb and surrounding areas"): the rest.
    """
    df = pd.read_csv(locations_file, dtype=str, keep_default_na=False)
    pcode = df["pcode"] if "pcode" in df else pd.Series("", index=df.index)
    region = np.where(
        df["kind"] == "abroad",
        "abroad",
        np.where(df["control"] == "turkish_backed", "NAL", "IDL+"),
    )
    return pd.DataFrame({"location": df["name"], "pcode": pcode, "region": region})


def locations_with_governorate(res) -> pd.DataFrame:
    """A run's locations table with each place's governorate (for the ISMI targets)."""
    w = geography.load(res.scenario.locations_file, res.scenario.routes_file)
    gov = dict(zip(w.names, w.governorate, strict=True))
    keep = ["date", "location", "arrivals", "departures"]
    # (returns_home: the report's check of ISMI's returns to one place, flow_checks)
    keep += [c for c in (*STAYING, "returns_home") if c in res.locations]
    loc = res.locations[keep].copy()
    loc["governorate"] = loc["location"].map(gov)
    reg = place_regions(res.scenario.locations_file).set_index("location")
    loc["pcode"] = loc["location"].map(reg["pcode"])
    loc["region"] = loc["location"].map(reg["region"])
    return loc


def target_values(task: Any, targets: Sequence[Target]) -> np.ndarray:
    """Run one :class:`sim.analysis.ensemble.RunTask` and return its value of each target.

    This is what a Dask worker computes for one seed of one calibration evaluation.
    """
    res = simulate(task.load(), seed=task.seed, population_scale=task.population_scale)
    return model_values(res.daily, locations_with_governorate(res), targets)


def evaluate(
    scenario: Scenario,
    params: dict[str, float],
    targets: Sequence[Target],
    seeds: Sequence[int],
    scale: float,
    client: Any = None,
) -> np.ndarray:
    """Mean model value of each target over the seeds, for behaviour ``params``.

    With a Dask ``client`` (:func:`sim.analysis.ensemble.dask_client`) the seeds run on its
    workers; the values, gathered in seed order, are identical to a run in this process.
    """
    sc = scenario.with_behaviour(**params)
    if client is None:
        vals = []
        for seed in seeds:
            res = simulate(sc, seed=seed, population_scale=scale)
            vals.append(model_values(res.daily, locations_with_governorate(res), targets))
    else:
        tasks = [RunTask.from_scenario(sc, seed, scale) for seed in seeds]
        futures = client.map(target_values, tasks, targets=list(targets), pure=False)
        vals = client.gather(futures)
    return np.mean(vals, axis=0)


@dataclass
class Fit:
    scenario: Scenario
    names: list[str]
    values: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    objective: float
    evaluations: int
    targets: list[Target]
    model: np.ndarray
    seeds: list[int]
    scale: float
    wall_seconds: float
    hessian_ok: bool
    history: list[tuple[dict[str, float], float]] = field(default_factory=list)
    fixed: dict[str, float] = field(default_factory=dict)
    hessian: list[list[float]] = field(default_factory=list)

    def estimated(self, name: str) -> bool:
        """Whether the 95 % interval of ``name`` was estimated (both bounds finite; not
        where the Hessian is not positive definite along it)."""
        lo, hi = self.ci95[name]
        return math.isfinite(lo) and math.isfinite(hi)

    def interval_text(self, name: str, fmt: Callable[[float], str], not_estimated: str) -> str:
        """The 95 % interval of ``name`` as ``"<lo> to <hi>"``, each bound written by
        ``fmt``; ``not_estimated`` where it was not estimated."""
        lo, hi = self.ci95[name]
        return f"{fmt(lo)} to {fmt(hi)}" if self.estimated(name) else not_estimated


def fit(
    scenario: Scenario,
    names: Sequence[str] = tuple(p.name for p in FIT_PARAMETERS),
    seeds: int = 3,
    scale: float = 0.1,
    max_evaluations: int = 400,
    start: dict[str, float] | None = None,
    log: Callable[[str], None] | None = None,
    client: Any = None,
    fixed: dict[str, float] | None = None,
) -> Fit:
    """Fit behaviour parameters ``names`` to the scenario's observed ``fit`` figures.

    ``fixed``: other behaviour values to hold during the fit (e.g. :data:`FIXED_IN_FIT`);
    they are written into the parameter file with the fitted ones.

    ``client``: a Dask client (:func:`sim.analysis.ensemble.dask_client`) to run each evaluation's
    seeds on its workers; the fit is identical with or without it.
    """
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    targets = load_targets(scenario)
    if not targets:
        raise InputError(
            [
                Problem(
                    scenario.path,
                    "scenario.observed",
                    "no observed figure with use = fit in the scenario's period",
                    "mark the figures to fit with use = fit",
                )
            ]
        )
    unknown = [n for n in names if n not in FIT_BY_NAME]
    if unknown:
        raise ValueError(f"cannot fit {unknown}; fittable: {list(FIT_BY_NAME)}")
    specs = [FIT_BY_NAME[n] for n in names]
    seed_list = replicate_seeds(CALIBRATION_BASE_SEED, seeds)
    x0 = np.array([p.to_x((start or {}).get(p.name, p.start)) for p in specs])
    history: list[tuple[dict[str, float], float]] = []

    fixed = {k: v for k, v in (fixed or {}).items() if k not in names}

    def params_of(x: np.ndarray) -> dict[str, float]:
        return {p.name: float(p.from_x(v)) for p, v in zip(specs, x, strict=True)}

    def objective(x: np.ndarray) -> float:
        pars = params_of(x)
        m = evaluate(scenario, {**fixed, **pars}, targets, seed_list, scale, client)
        j = float(np.sum(residuals(m, targets) ** 2))
        history.append((pars, j))
        if log and len(history) % 10 == 0:
            log(
                f"  evaluation {len(history)}: objective {j:.3f} at "
                + ", ".join(f"{k}={v:.4g}" for k, v in pars.items())
            )
        return j

    # initial simplex (log/logit units): the starts are the optimum of the previous search
    # on the same data, so a short rerun refines it and computes the intervals
    step = 0.25
    simplex = np.vstack([x0] + [x0 + step * np.eye(len(x0))[i] for i in range(len(x0))])
    opt = minimize(
        objective,
        x0,
        method="Nelder-Mead",
        options={
            "maxfev": max_evaluations,
            "initial_simplex": simplex,
            "xatol": 0.01,
            "fatol": 0.01,
        },
    )
    best = params_of(opt.x)
    if log:
        log(f"  optimum after {len(history)} evaluations: objective {opt.fun:.3f}")
    # Laplace approximation: covariance = 2 H^-1 of the objective (= -2 log-likelihood).
    hess = _hessian(objective, opt.x, h=0.1)
    ci, ok = {}, True
    try:
        cov = 2.0 * np.linalg.inv(hess)
        if np.any(np.diag(cov) <= 0) or not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError
        sd = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        # Not positive definite (a ridge, or a search stopped before the optimum): report
        # conditional intervals, each parameter alone with the others at their fitted
        # values (sd = sqrt(2 / H_ii)), flagged as such (hessian_ok = False).
        ok = False
        d = np.diag(hess)
        sd = np.where(d > 0, np.sqrt(2.0 / np.where(d > 0, d, 1.0)), np.nan)
    for p, x, s in zip(specs, opt.x, sd, strict=True):
        ci[p.name] = (
            (p.from_x(x - 1.96 * s), p.from_x(x + 1.96 * s))
            if np.isfinite(s)
            else (float("nan"), float("nan"))
        )
    model = evaluate(scenario, {**fixed, **best}, targets, seed_list, scale, client)
    return Fit(
        scenario,
        list(names),
        best,
        ci,
        float(opt.fun),
        len(history),
        targets,
        model,
        seed_list,
        scale,
        time.perf_counter() - t0,
        ok,
        history,
        fixed,
        hess.tolist(),
    )


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    """Forward finite-difference Hessian of ``f`` at ``x`` (step ``h`` in every coordinate).

    ``H_ij = (f(x + h e_i + h e_j) - f(x + h e_i) - f(x + h e_j) + f(x)) / h^2`` (for
    ``i = j`` this is ``(f(x + 2h e_i) - 2 f(x + h e_i) + f(x)) / h^2``): ``1 + n + n(n+1)/2``
    evaluations instead of the ``2n^2 + 1`` of central differences, accurate to O(h), which
    is enough for Laplace intervals on a smooth (common-random-number) objective.
    """
    n = len(x)
    e = np.eye(n) * h
    fx = f(x)
    fi = [f(x + e[i]) for i in range(n)]
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (f(x + e[i] + e[j]) - fi[i] - fi[j] + fx) / h**2
    return H


# --------------------------------------------------------------------------------------
# Parameter files
# --------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) >= 1e-3 else f"{v:.3e}"


def write_parameters(
    result: Fit, path: Path, report_dir: Path | None = None, quick: bool = False
) -> None:
    """Write the fitted values (and how they were obtained) as a behaviour parameter file."""
    lines = [
        "# Behaviour parameters fitted by `idlibsim calibrate` (sim/analysis/calibration.py) to the 2019",
        "# UN/OCHA/CCCM figures marked use = fit in scenarios/data/observed/. Scenarios use this",
        "# file by default ([behaviour] parameters). Do not edit by hand: rerun the calibration.",
        "",
        "[behaviour]",
    ]
    for name in result.names:
        unit = unit_of(Behaviour.model_fields[name])
        interval = "95% interval " + result.interval_text(
            name, _fmt, "not estimated (the Hessian is not positive definite)"
        )
        lines.append(f"{name} = {_fmt(result.values[name])}  # {unit}; {interval}")
    for name, value in result.fixed.items():
        why = FIXED_IN_FIT[name][1] if name in FIXED_IN_FIT else "held fixed in the fit"
        lines.append(f"{name} = {_fmt(value)}  # fixed, not fitted: {why}")
    lines += [
        "",
        "[fit]",
        'status = "quick test fit (not for use)"' if quick else 'status = "fitted"',
        f'scenario = "{display_path(result.scenario.path)}"',
        f'method = "Nelder-Mead on log/logit parameters; objective = sum of squared standardised errors (counts: log ratio / {COUNT_SIGMA}, REACH ISMI shares by sub-district: relative difference / {ISMI_SIGMA}, OCHA shares of arrivals: difference / {SHARE_SIGMA}, shares in sites: difference / {SITES_SIGMA}); 95% intervals from the Laplace approximation (inverse Hessian)"',
        f"population_scale = {result.scale}",
        f"seeds = {result.seeds}",
        f"objective = {result.objective:.4f}",
        f"evaluations = {result.evaluations}",
        f"hessian_positive_definite = {'true' if result.hessian_ok else 'false'}",
        f'date = "{datetime.now(UTC).date().isoformat()}"',
        f"targets = {json.dumps([t.label for t in result.targets])}",
    ]
    if report_dir is not None:
        lines.append(f'report = "{display_path(report_dir)}"')
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


def score_run(run_dir: Path, observed: Path | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Compare a run folder's daily series with the observed figures of its period."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    man_path = folder.manifest_path
    if not man_path.exists() or not (run_dir / "daily.csv").exists():
        raise InputError(
            [
                Problem(
                    run_dir,
                    "",
                    "is not a run folder (no manifest.json and daily.csv)",
                    "give a folder written by `idlibsim run`",
                )
            ]
        )
    head = folder.scenario_head(folder.read_manifest())
    if head is None:
        raise InputError(
            [
                Problem(
                    man_path,
                    "scenario",
                    "the manifest holds no resolved scenario",
                    "give a folder written by `idlibsim run`",
                )
            ]
        )
    if observed is None:
        rel = head.get("observed", "")
        if not isinstance(rel, str):
            raise InputError(
                [Problem(man_path, "scenario.observed", "is not a file path", "pass --observed")]
            )
        if not rel:
            raise InputError(
                [
                    Problem(
                        man_path,
                        "scenario.observed",
                        "the run's scenario names no observed data",
                        "pass --observed FILE",
                    )
                ]
            )
        observed = Path(rel) if Path(rel).is_absolute() else PROJECT_ROOT / rel
    daily = _read_daily(run_dir / "daily.csv")
    first = pd.Timestamp(daily["date"].iloc[0]).date()
    last = pd.Timestamp(daily["date"].iloc[-1]).date()
    obs = in_period(load_observed(observed), first, last)
    obs = obs[obs["use"].isin(["fit", "check"])]
    if obs.empty:
        raise InputError(
            [
                Problem(
                    observed,
                    "",
                    f"no observed figure falls within the run's period {first} to {last}",
                    "score runs of a period with observed data",
                )
            ]
        )
    cmp = compare(daily, obs)
    metrics = {"ard_all": ard(cmp), "ard_fit": ard(cmp[cmp["use"] == "fit"])}
    for m in MEASURES:
        metrics[f"ard_{m}"] = ard(cmp[(cmp["measure"] == m) & (cmp["use"] == "fit")])
    return cmp, metrics


def _read_daily(path: Path) -> pd.DataFrame:
    """A run's daily.csv, checked: the columns scoring needs, dates, finite counts."""
    data = read_bytes(path, "daily table", limit=200_000_000)
    problem = None
    try:
        daily = pd.read_csv(io.BytesIO(data))
        missing = [c for c in DAILY_COLUMNS if c not in daily.columns]
        if missing:
            problem = f"lacks the column(s) {', '.join(missing[:5])}"
        elif daily.empty:
            problem = "has no rows"
        else:
            pd.to_datetime(daily["date"], format="%Y-%m-%d")
            nums = daily[[c for c in DAILY_COLUMNS if c not in ("date", "day")]]
            if not np.isfinite(nums.to_numpy(dtype=float)).all():
                problem = "holds numbers that are missing, NaN or infinite"
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        problem = f"cannot be read as a daily table ({str(exc)[:120]})"
    if problem:
        raise InputError(
            [Problem(path, "", problem, "give a run folder written by `idlibsim run`, unedited")]
        )
    return daily


def format_score(cmp: pd.DataFrame, metrics: dict[str, float]) -> str:
    lines = [
        f"{'as of':<11} {'measure':<10} {'use':<6} {'observed':>10} {'model':>10} {'error':>8}"
    ]
    for r in cmp.sort_values(["measure", "as_of"]).itertuples():
        lines.append(
            f"{r.as_of.isoformat():<11} {r.measure:<10} {r.use:<6} {r.value:>10,.0f} {r.model:>10,.0f} {100 * r.relative_error:>+7.1f}%"
        )
    lines.append("")
    lines.append(
        "averaged relative difference (ARD, Flee's measure; mean |model - observed| / observed):"
    )
    for k, v in metrics.items():
        if not math.isnan(v):
            lines.append(f"  {k:<14} {v:.3f}")
    return "\n".join(lines)


def cli_score(args: Any, argv: list[str]) -> int:
    cmp, metrics = score_run(args.run, args.observed)
    print(format_score(cmp, metrics))
    return 0


def _finite_or_none(x: float) -> float | None:
    """``float(x)``, or None (JSON null) where it is NaN or infinite."""
    x = float(x)
    return x if math.isfinite(x) else None


def fit_summary(result: Fit) -> dict[str, Any]:
    rows = []
    for t, m in zip(result.targets, result.model, strict=True):
        rows.append(
            {
                "target": t.label,
                "kind": t.kind,
                "observed": t.value,
                "model": _finite_or_none(m),
                "relative_error": _finite_or_none(m / t.value - 1),
            }
        )
    return {
        "parameters": result.values,
        # null where not estimated (JSON has no NaN; the report folder must read back)
        "ci95": {k: [_finite_or_none(x) for x in v] for k, v in result.ci95.items()},
        "objective": result.objective,
        "evaluations": result.evaluations,
        "fixed": result.fixed,
        "hessian_log_space": [[_finite_or_none(x) for x in row] for row in result.hessian],
        "hessian_positive_definite": result.hessian_ok,
        "seeds": result.seeds,
        "population_scale": result.scale,
        "wall_seconds": round(result.wall_seconds, 1),
        "targets": rows,
        "versions": versions(),
        "source": source_info(),
    }
