"""`idlibsim posterior`: weighted posterior draws of the fitted behaviour parameters.

Method: a Gaussian-process emulator of the calibration targets, refined in waves, and
adaptive importance sampling on it (population Monte Carlo). Why this and not ABC-SMC or
neural posterior estimation: one run of the 2019 scenario costs about a second at
population scale 0.05, so the budget of 30 minutes on 2 cores is some 1,000-2,000 runs.
ABC-SMC needs several thousand runs for 7 parameters and 19 targets at a useful tolerance,
and throws most of them away; neural estimators need more still, and a heavy dependency.
The targets are smooth functions of the parameters plus seed noise, which a GP models
well from a few hundred runs, with the seed noise as its nugget. Everything is NumPy and
SciPy (:mod:`sim.analysis.emulator`); the runs go through Dask like the calibration's.

1. **Prior**: uniform over a box in the calibration's transformed space (log for rates and
   distances, logit for shares) centred on the shipped point estimate (the parameter file
   of ``idlibsim calibrate``), a factor :data:`BOX_FACTOR` either way, inside each
   parameter's valid range.
2. **Waves** (the generations, each checkpointed): wave 0 is a Latin hypercube over the
   box; each later wave draws its points from the current posterior (half) and from the
   posterior with the likelihood tempered by 1/4 (half, to keep exploring). Every point is
   one run with its own seed at population scale ``scale``; the model's value of each
   target is recorded.
3. **Emulator**: one GP per target on the transformed value (log of a count, the share
   itself), fitted to every run so far.
4. **Likelihood** of the observed values, target by target: Gaussian with variance
   ``(c * s_obs)^2 + tau^2 + v(theta)``: ``s_obs`` the calibration's observation error
   (counts 10 % in log, REACH ISMI shares 25 % relative, other shares 0.03/0.10 absolute),
   ``tau^2`` the seed noise of one run (the GP's nugget: reality is one run, not an
   average), ``v`` the emulator's own uncertainty, and ``c >= 1`` a common inflation of
   the observation errors for model discrepancy, set so that the best point's chi-square
   equals its degrees of freedom (targets minus parameters; the Birge ratio, as
   ``scipy.optimize.curve_fit`` scales its errors by default). Without it a model that
   misses some targets by several standard errors would claim to know its parameters
   far better than it fits the data.
5. **Posterior**: adaptive importance sampling from a multivariate t proposal (5 degrees of
   freedom) refitted to the weighted sample four times; the last sample with its weights
   is the posterior (weights = prior x likelihood / proposal).

Only 2019 targets are fitted (the calibration's: OCHA counts and shares, REACH ISMI
destination shares, ``use = fit``); nothing of December 2019 - March 2020.

Outputs: the draws and their description beside the parameter file
(:mod:`sim.analysis.posterior`), and a report folder (``report.md``, the posterior, the
posterior predictive band against the 2019 figures, the winter 2019-20 prediction band
with the public figures of its period marked, display only).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.calibration import (
    FIT_PARAMETERS,
    FitParameter,
    Target,
    figure_format,
    load_targets,
    target_values,
)
from sim.outputs.results import PROJECT_ROOT, display_path, scenario_digest, versions

from ..observed import MEASURES
from ..scenario.loading import Scenario, load_scenario
from .emulator import Emulator
from .posterior import posterior_path, save_posterior

__all__ = ["PosteriorFit", "fit_posterior", "posterior_predictive", "cli_posterior"]

#: The prior box: the shipped value divided and multiplied by this (in log or logit units).
BOX_FACTOR = 4.0
POSTERIOR_SEED = 201912
SCALE = 0.05
FIRST_WAVE = 150
WAVE_SIZE = 100
WAVES = 4
CANDIDATES = 4000
ADAPT_ITERATIONS = 4
T_DF = 5.0
PREDICTIVE_DRAWS = 40
CHECKPOINT_VERSION = 1


# --------------------------------------------------------------------------------------
# Prior
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prior:
    """Uniform over a box in transformed units; ``u`` in [0, 1]^d maps onto it."""

    specs: tuple[FitParameter, ...]
    lo: np.ndarray
    hi: np.ndarray

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.specs]

    def params(self, u: np.ndarray) -> list[dict[str, float]]:
        x = self.lo + np.atleast_2d(u) * (self.hi - self.lo)
        return [
            {p.name: float(p.from_x(v)) for p, v in zip(self.specs, row, strict=True)} for row in x
        ]

    def values(self, u: np.ndarray) -> np.ndarray:
        return np.array([[r[n] for n in self.names] for r in self.params(u)])

    def describe(self) -> dict[str, Any]:
        return {
            p.name: {
                "space": p.space,
                "low": float(p.from_x(lo)),
                "high": float(p.from_x(hi)),
            }
            for p, lo, hi in zip(self.specs, self.lo, self.hi, strict=True)
        }


def prior_for(scenario: Scenario, specs: Sequence[FitParameter] = FIT_PARAMETERS) -> Prior:
    """The box around the scenario's values (its parameter file), within valid ranges."""
    from .fields import behaviour_params

    field = behaviour_params()
    beh = scenario.behaviour.as_dict()
    lo, hi = [], []
    w = math.log(BOX_FACTOR)
    for p in specs:
        centre = p.to_x(float(beh[p.name]))
        a, b = centre - w, centre + w
        f = field[p.name]
        if p.space == "log":
            if f.lo is not None and f.lo > 0:
                a = max(a, math.log(f.lo))
            if f.hi is not None:
                b = min(b, math.log(f.hi))
        lo.append(a)
        hi.append(b)
    return Prior(tuple(specs), np.array(lo), np.array(hi))


# --------------------------------------------------------------------------------------
# Targets in the emulator's units
# --------------------------------------------------------------------------------------


def transform(values: np.ndarray, targets: Sequence[Target]) -> np.ndarray:
    """Log of counts, shares as they are; a share the model cannot form (NaN) counts 0."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    out = np.nan_to_num(values, nan=0.0)
    for k, t in enumerate(targets):
        if t.kind in MEASURES:
            out[:, k] = np.log(np.maximum(values[:, k], 1.0))
    return out


def observed(targets: Sequence[Target]) -> tuple[np.ndarray, np.ndarray]:
    """Observed values and their errors in the emulator's units (as the calibration)."""
    o = np.array([math.log(t.value) if t.kind in MEASURES else t.value for t in targets])
    s = np.array(
        [t.sigma * (t.value if (t.relative and t.kind not in MEASURES) else 1.0) for t in targets]
    )
    return o, s


def log_likelihood(
    mean: np.ndarray, var: np.ndarray, noise: np.ndarray, o: np.ndarray, s: np.ndarray, c: float
) -> np.ndarray:
    """Gaussian log likelihood of each point (rows), summed over targets (columns)."""
    v = (c * s) ** 2 + noise + var
    return -0.5 * np.sum((o - mean) ** 2 / v + np.log(2 * np.pi * v), axis=1)


def chi2(mean, var, noise, o, s, c) -> np.ndarray:
    return np.sum((o - mean) ** 2 / ((c * s) ** 2 + noise + var), axis=1)


def inflation(mean, var, noise, o, s, dof: int) -> float:
    """``c >= 1`` such that the chi-square of the point equals ``dof`` (1 if already below)."""
    if chi2(mean, var, noise, o, s, 1.0)[0] <= dof:
        return 1.0
    lo, hi = 1.0, 2.0
    while chi2(mean, var, noise, o, s, hi)[0] > dof and hi < 1e3:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if chi2(mean, var, noise, o, s, mid)[0] > dof:
            lo = mid
        else:
            hi = mid
    return hi


# --------------------------------------------------------------------------------------
# Adaptive importance sampling on the emulator
# --------------------------------------------------------------------------------------


def _t_sample(rng, mean, cov, n, df=T_DF):
    d = len(mean)
    z = rng.multivariate_normal(np.zeros(d), cov, size=n, method="cholesky")
    g = rng.chisquare(df, size=n) / df
    return mean + z / np.sqrt(g)[:, None]


def _t_logpdf(x, mean, cov, df=T_DF):
    d = len(mean)
    lchol = np.linalg.cholesky(cov)
    z = np.linalg.solve(lchol, (x - mean).T)
    maha = (z * z).sum(0)
    from scipy.special import gammaln

    return (
        gammaln((df + d) / 2)
        - gammaln(df / 2)
        - 0.5 * d * math.log(df * math.pi)
        - np.log(np.diag(lchol)).sum()
        - 0.5 * (df + d) * np.log1p(maha / df)
    )


def _weighted_moments(x, w):
    w = w / w.sum()
    m = w @ x
    d = x - m
    cov = (d * w[:, None]).T @ d
    return m, cov + 1e-6 * np.eye(x.shape[1])


def importance_sample(
    emulator: Emulator,
    o: np.ndarray,
    s: np.ndarray,
    c: float,
    start: np.ndarray,
    start_weights: np.ndarray,
    rng: np.random.Generator,
    n: int = CANDIDATES,
    iterations: int = ADAPT_ITERATIONS,
    temper: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points in the unit cube, their normalised weights and log likelihoods.

    The proposal starts from the weighted moments of ``start`` (widened) and is refitted
    to the weighted sample ``iterations`` times; the likelihood is raised to ``temper``.
    """
    mean, cov = _weighted_moments(start, start_weights)
    cov = cov * 2.0
    for it in range(iterations):
        x = _t_sample(rng, mean, cov, n)
        inside = np.all((x >= 0) & (x <= 1), axis=1)
        ll = np.full(n, -np.inf)
        if inside.any():
            m, v, nv = emulator.predict(x[inside])
            ll[inside] = log_likelihood(m, v, nv, o, s, c)
        logw = temper * ll - _t_logpdf(x, mean, cov)
        logw[~inside] = -np.inf
        w = np.exp(logw - logw.max())
        w /= w.sum()
        if it < iterations - 1:
            mean, cov = _weighted_moments(x, w)
            cov = cov * 1.5  # keep the proposal wider than the target
    return x, w, ll


def _resample(rng, x, w, n):
    """``n`` points drawn by weight (systematic resampling), for the next wave's design."""
    cdf = np.cumsum(w)
    u = (rng.uniform() + np.arange(n)) / n
    return x[np.minimum(np.searchsorted(cdf, u), len(x) - 1)]


# --------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------


def design_seed(wave: int, j: int) -> int:
    seq = np.random.SeedSequence(POSTERIOR_SEED, spawn_key=(int(wave), int(j)))
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def run_points(
    scenario: Scenario,
    params: Sequence[dict[str, float]],
    seeds: Sequence[int],
    targets: Sequence[Target],
    scale: float,
    client: Any = None,
) -> np.ndarray:
    """The model's value of every target at each parameter point (one run, one seed each)."""
    from sim.analysis.ensemble import RunTask, check_workers

    tasks = [
        RunTask.from_scenario(scenario.with_behaviour(**p), s, scale)
        for p, s in zip(params, seeds, strict=True)
    ]
    if client is None:
        return np.array([target_values(t, targets) for t in tasks])
    check_workers(client)
    futures = client.map(target_values, tasks, targets=list(targets), pure=False)
    return np.array(client.gather(futures))


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


def _key(scenario: Scenario, prior: Prior, targets, scale: float, sizes) -> str:
    data = {
        "version": CHECKPOINT_VERSION,
        "scenario": scenario_digest(scenario),
        "prior": prior.describe(),
        "targets": [t.label for t in targets],
        "scale": scale,
        "sizes": list(sizes),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _load_wave(folder: Path, wave: int, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A finished wave's points and values, if its checkpoint belongs to this fit."""
    path = folder / f"wave-{wave:02d}.npz"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            u, y = np.array(z["u"], dtype=float), np.array(z["y"], dtype=float)
    except (OSError, ValueError, KeyError):
        return None
    if u.ndim != 2 or y.ndim != 2 or len(u) != len(y) or not np.isfinite(u).all():
        return None
    return u, y


def _save_wave(folder: Path, wave: int, key: str, u, y, seeds) -> None:
    path = folder / f"wave-{wave:02d}.npz"
    tmp = folder / f".tmp-wave-{wave:02d}.npz"
    with open(tmp, "wb") as fh:
        np.savez(fh, key=np.array(key), u=u, y=y, seeds=np.array(seeds, dtype=np.uint64))
    tmp.replace(path)


# --------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------


@dataclass
class PosteriorFit:
    scenario: Scenario
    prior: Prior
    targets: list[Target]
    u: np.ndarray  # every design point (unit cube)
    y: np.ndarray  # model values at them (raw)
    waves: list[int]  # wave of each design point
    draws: np.ndarray  # posterior draws, parameter units
    weights: np.ndarray
    inflation: float
    wall_seconds: float
    runs_this_call: int
    emulator_check: dict[str, float]
    scale: float

    def meta(self) -> dict[str, Any]:
        from .posterior import Posterior

        post = Posterior(tuple(self.prior.names), self.draws, self.weights)
        q = post.quantiles()
        pf = self.scenario.parameters_file
        return {
            "method": "Gaussian-process emulator of the 19 calibration targets refined in "
            f"{max(self.waves) + 1} waves of simulator runs, adaptive importance sampling "
            "(multivariate t proposal) on it; likelihood Gaussian with observation error "
            "x inflation + seed noise (GP nugget) + emulator variance (sim/analysis/posterior_fit.py)",
            "scenario": display_path(self.scenario.path),
            "parameters_file": display_path(pf) if pf else "",
            "parameters_sha256": hashlib.sha256(Path(pf).read_bytes()).hexdigest() if pf else "",
            "fitted_to": "2019 targets only (use = fit): OCHA counts and shares, REACH ISMI "
            "destination shares; nothing of December 2019 - March 2020",
            "targets": [t.label for t in self.targets],
            "prior": {"kind": f"uniform on a box (shipped value / x {BOX_FACTOR:g} in log or logit units)", **self.prior.describe()},
            "population_scale": self.scale,
            "simulator_runs": int(len(self.u)),
            "waves": int(max(self.waves) + 1),
            "error_inflation": round(self.inflation, 4),
            "effective_sample_size": round(post.effective_size(), 1),
            "draws": int(len(self.weights)),
            "emulator_check": self.emulator_check,
            "summary": {
                n: {"median": float(q.loc[n, "q50"]), "q05": float(q.loc[n, "q05"]), "q95": float(q.loc[n, "q95"])}
                for n in self.prior.names
            },
            "wall_seconds": round(self.wall_seconds, 1),
            "date": datetime.now(UTC).date().isoformat(),
            "versions": versions(),
        }  # fmt: skip


def fit_posterior(
    scenario: Scenario,
    checkpoints: Path,
    scale: float = SCALE,
    waves: int = WAVES,
    first_wave: int = FIRST_WAVE,
    wave_size: int = WAVE_SIZE,
    client: Any = None,
    log: Callable[[str], None] = print,
    specs: Sequence[FitParameter] = FIT_PARAMETERS,
) -> PosteriorFit:
    """Fit the posterior (module docstring), resuming from the finished waves found in
    ``checkpoints`` (a wave saved by another fit, scenario or data is not used)."""
    from scipy.stats import qmc

    t0 = time.perf_counter()
    targets = load_targets(scenario)
    prior = prior_for(scenario, specs)
    sizes = [first_wave] + [wave_size] * (waves - 1)
    checkpoints.mkdir(parents=True, exist_ok=True)
    o, s = observed(targets)
    dof = max(1, len(targets) - len(specs))
    rng = np.random.default_rng(POSTERIOR_SEED)
    us: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    wave_of: list[int] = []
    ran = 0
    c = 1.0
    emulator = None
    check: dict[str, float] = {}
    for w, n in enumerate(sizes):
        # a wave depends on the waves before it only: a fit with more waves resumes a shorter one
        key = _key(scenario, prior, targets, scale, sizes[: w + 1])
        done = _load_wave(checkpoints, w, key)
        if w == 0:
            u = qmc.LatinHypercube(d=len(specs), seed=POSTERIOR_SEED).random(n)
        else:
            # half from the posterior, half from the tempered posterior (exploration)
            start = np.vstack(us)
            m, v, nv = emulator.predict(start)
            ll = log_likelihood(m, v, nv, o, s, c)
            sw = np.exp(ll - ll.max())
            x1, w1, _ = importance_sample(emulator, o, s, c, start, sw, rng)
            x2, w2, _ = importance_sample(emulator, o, s, c, start, sw**0.25, rng, temper=0.25)
            u = np.vstack([_resample(rng, x1, w1, n - n // 2), _resample(rng, x2, w2, n // 2)])
            u = np.clip(u, 0.0, 1.0)
        if done is not None and len(done[0]) == n:
            u, y = done
            log(f"  wave {w}: {n} runs found in {display_path(checkpoints)} (resumed)")
        else:
            seeds = [design_seed(w, j) for j in range(n)]
            tw = time.perf_counter()
            y = run_points(scenario, prior.params(u), seeds, targets, scale, client)
            ran += n
            _save_wave(checkpoints, w, key, u, y, seeds)
            log(f"  wave {w}: {n} runs in {time.perf_counter() - tw:.0f} s (checkpointed)")
        if emulator is not None:  # how well the previous emulator predicted this wave
            m, v, nv = emulator.predict(u)
            z = (transform(y, targets) - m) / np.sqrt(v + nv)
            check = {
                "wave": w,
                "share_within_2sd": round(float(np.mean(np.abs(z) < 2)), 3),
                "rms_standardised_error": round(float(np.sqrt(np.mean(z**2))), 3),
            }
            log(
                f"    emulator check on wave {w}: {100 * check['share_within_2sd']:.0f} % of "
                f"targets within 2 sd (rms standardised error {check['rms_standardised_error']:.2f})"
            )
        us.append(u)
        ys.append(y)
        wave_of += [w] * n
        te = time.perf_counter()
        emulator = Emulator.fit(np.vstack(us), transform(np.vstack(ys), targets))
        m, v, nv = emulator.predict(np.vstack(us))
        best = int(np.argmax(log_likelihood(m, v, nv, o, s, 1.0)))
        c = inflation(m[[best]], v[[best]], nv[[best]], o, s, dof)
        log(f"    emulator fitted in {time.perf_counter() - te:.0f} s; error inflation c = {c:.2f}")
    start = np.vstack(us)
    m, v, nv = emulator.predict(start)
    ll = log_likelihood(m, v, nv, o, s, c)
    x, wts, _ = importance_sample(
        emulator, o, s, c, start, np.exp(ll - ll.max()), rng, iterations=ADAPT_ITERATIONS + 1
    )
    keep = wts > 1e-6 / len(wts)
    draws = prior.values(x[keep])
    return PosteriorFit(
        scenario, prior, list(targets), np.vstack(us), np.vstack(ys), wave_of, draws,
        wts[keep] / wts[keep].sum(), c, time.perf_counter() - t0, ran, check, scale,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Posterior predictive (in-sample 2019) and the winter prediction (not fitted)
# --------------------------------------------------------------------------------------


def _predictive_task(args: tuple) -> tuple[pd.DataFrame, np.ndarray]:
    """One posterior predictive run: its daily table and target values (Dask task)."""
    from sim.analysis.calibration import locations_with_governorate, model_values
    from sim.outputs.runner import simulate

    task, targets = args
    res = simulate(task.load(), seed=task.seed, population_scale=task.population_scale)
    vals = (
        model_values(res.daily, locations_with_governorate(res), targets)
        if targets
        else np.array([])
    )
    return res.daily, vals


def posterior_predictive(
    scenario: Scenario,
    draws: np.ndarray,
    weights: np.ndarray,
    names: Sequence[str],
    targets: Sequence[Target],
    n: int = PREDICTIVE_DRAWS,
    scale: float = SCALE,
    client: Any = None,
) -> tuple[list[pd.DataFrame], np.ndarray]:
    """Runs of ``scenario`` at ``n`` posterior draws (picked by weight, one seed each)."""
    from sim.analysis.ensemble import RunTask

    rng = np.random.default_rng(POSTERIOR_SEED + 1)
    cdf = np.cumsum(weights / weights.sum())
    picks = np.minimum(np.searchsorted(cdf, (rng.uniform() + np.arange(n)) / n), len(cdf) - 1)
    seeds = [design_seed(1000, j) for j in range(n)]
    tasks = []
    for k, sd in zip(picks, seeds, strict=True):
        p = {nm: float(draws[k, j]) for j, nm in enumerate(names)}
        tasks.append(
            (RunTask.from_scenario(scenario.with_behaviour(**p), sd, scale), list(targets))
        )
    if client is None:
        out = [_predictive_task(t) for t in tasks]
    else:
        out = client.gather(client.map(_predictive_task, tasks, pure=False))
    return [d for d, _ in out], np.array([v for _, v in out])


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

WINTER_FIGURES = (
    PROJECT_ROOT / "scenarios" / "data" / "observed" / "displacement_2019_2020_winter.csv"
)


def _band(frames: list[pd.DataFrame], col: str) -> pd.DataFrame:
    """Median and 5-95 % of a count column over the runs, by date (people or movements)."""
    stack = np.stack([f[col].to_numpy(dtype=float) for f in frames])
    return pd.DataFrame(
        {
            "date": frames[0]["date"].astype(str),
            "median": np.median(stack, 0),
            "p05": np.quantile(stack, 0.05, 0),
            "p95": np.quantile(stack, 0.95, 0),
        }
    )


def _whole_people(band: pd.DataFrame) -> pd.DataFrame:
    """A band of counts with whole numbers, for the CSV: ``%.6g`` wrote 1,160,100 people as
    ``1.1601e+06``, which a spreadsheet reads rounded to five digits."""
    cols = ["median", "p05", "p95"]
    return band.assign(**{c: np.rint(band[c]).astype(np.int64) for c in cols})


def _series_figure(frames, points: pd.DataFrame, title: str, note: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for col, label, colour in (
        (
            "displacements_cumulative",
            "movements (a person displaced twice counts twice)",
            "#0072B2",
        ),
        ("displaced_people_cumulative", "people displaced at least once", "#D55E00"),
    ):
        b = _band(frames, col)
        x = pd.to_datetime(b["date"])
        ax.fill_between(x, b["p05"], b["p95"], color=colour, alpha=0.25, linewidth=0)
        ax.plot(x, b["median"], color=colour, label=f"model, {label}: median and 5-95 %")
    for measure, marker, text in (("movements", "D", "movements"), ("people", "o", "people")):
        if points.empty:
            break
        p = points[points["measure"] == measure]
        for use, face in (("fit", "black"), ("check", "white"), ("display", "white")):
            q = p[p["use"] == use]
            if q.empty:
                continue
            ax.scatter(
                pd.to_datetime(q["as_of"]), q["value"].astype(float), marker=marker, s=42,
                facecolors=face, edgecolors="black", zorder=5,
                label=f"observed {text} ({'fitted' if use == 'fit' else 'not fitted: shown only'})"
                if use != "display"
                else "OCHA: people displaced since 1 Dec 2019 (shown only, never fitted)",
            )  # fmt: skip
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_ylabel("cumulative since the first reported day")
    ax.yaxis.set_major_formatter(
        __import__("matplotlib.ticker", fromlist=["FuncFormatter"]).FuncFormatter(
            lambda v, _: f"{v / 1000:,.0f}k"
        )
    )
    ax.grid(True, alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7.5, loc="upper left", frameon=False)
    import textwrap

    fig.supxlabel("\n".join(textwrap.wrap(note, 170)), fontsize=7, x=0.01, ha="left", color="0.35")
    return fig


def _posterior_figure(fit: PosteriorFit):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = fit.prior.names
    fig = Figure(figsize=(11, 2.4 * math.ceil(len(names) / 4)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(math.ceil(len(names) / 4), 4).ravel()
    beh = fit.scenario.behaviour.as_dict()
    desc = fit.prior.describe()
    for ax, (j, n) in zip(axes, enumerate(names), strict=False):
        log = fit.prior.specs[j].space == "log"
        vals = np.log10(fit.draws[:, j]) if log else fit.draws[:, j]
        ax.hist(vals, bins=40, weights=fit.weights, color="#0072B2", alpha=0.7)
        lo, hi = desc[n]["low"], desc[n]["high"]
        for v, st in ((lo, ":"), (hi, ":")):
            ax.axvline(np.log10(v) if log else v, color="0.5", ls=st)
        ax.axvline(np.log10(beh[n]) if log else beh[n], color="black", lw=1.2)
        ax.set_title(n + (" (log10)" if log else ""), fontsize=9)
        ax.set_yticks([])
    for ax in axes[len(names) :]:
        ax.axis("off")
    fig.suptitle(
        "Posterior of the fitted parameters (weighted draws); black: the shipped point estimate; "
        "dotted: the prior box",
        fontsize=10,
        x=0.01,
        ha="left",
    )
    return fig


def write_report(
    fit: PosteriorFit,
    folder: Path,
    pred2019: tuple[list[pd.DataFrame], np.ndarray] | None,
    winter: tuple[Scenario, list[pd.DataFrame]] | None,
    predictive_seconds: float,
) -> None:
    """report.md with the figures and tables beside it."""
    from ..observed import load_observed
    from .posterior import Posterior

    folder.mkdir(parents=True, exist_ok=True)
    post = Posterior(tuple(fit.prior.names), fit.draws, fit.weights)
    q = post.quantiles((0.05, 0.25, 0.5, 0.75, 0.95))
    beh = fit.scenario.behaviour.as_dict()
    _posterior_figure(fit).savefig(folder / "posterior.png", dpi=120, metadata={"Software": None})
    q.to_csv(folder / "posterior_quantiles.csv", float_format="%.6g")
    L = [
        f"# Posterior of the behaviour parameters: {fit.scenario.title}",
        "",
        "Written by `idlibsim posterior` (`sim/analysis/posterior_fit.py`; method in its "
        "docstring and in `docs/uncertainty.md`). Fitted on the 2019 targets only (the "
        "calibration's: OCHA counts and shares, REACH ISMI destination shares); nothing of "
        "December 2019 - March 2020 was used.",
        "",
        f"* simulator runs: {len(fit.u)} in {max(fit.waves) + 1} waves at population scale "
        f"{fit.scale:g} ({fit.runs_this_call} run by this call); wall time "
        f"{fit.wall_seconds / 60:.1f} min for the fit, {predictive_seconds / 60:.1f} min for "
        "the predictive runs",
        f"* error inflation for model discrepancy c = {fit.inflation:.2f} (the observation "
        "errors are multiplied by c so that the best point's chi-square equals targets minus "
        "parameters)",
        f"* {len(fit.weights)} weighted draws, effective sample size {post.effective_size():.0f}",
    ]
    if fit.emulator_check:
        ec = fit.emulator_check
        L.append(
            f"* emulator check (wave {ec['wave']} predicted before it was run): "
            f"{100 * ec['share_within_2sd']:.0f} % of target values within 2 sd, rms "
            f"standardised error {ec['rms_standardised_error']:.2f} (1 is ideal)"
        )
    L += [
        "",
        "![posterior](posterior.png)",
        "",
        "| parameter | shipped point estimate | median | 90 % interval | prior box |",
        "|---|---|---|---|---|",
    ]
    desc = fit.prior.describe()
    for n in fit.prior.names:
        L.append(
            f"| `{n}` | {beh[n]:.4g} | {q.loc[n, 'q50']:.4g} | {q.loc[n, 'q05']:.4g} to "
            f"{q.loc[n, 'q95']:.4g} | {desc[n]['low']:.4g} to {desc[n]['high']:.4g} |"
        )
    if pred2019 is not None:
        frames, vals = pred2019
        rows = []
        for k, t in enumerate(fit.targets):
            col = vals[:, k]
            rows.append(
                {
                    "target": t.label,
                    "observed": t.value,
                    "median": float(np.nanmedian(col)),
                    "p05": float(np.nanquantile(col, 0.05)),
                    "p95": float(np.nanquantile(col, 0.95)),
                    "inside_90": bool(np.nanquantile(col, 0.05) <= t.value <= np.nanquantile(col, 0.95)),
                }
            )  # fmt: skip
        tab = pd.DataFrame(rows)
        tab.to_csv(folder / "predictive_2019_targets.csv", index=False, float_format="%.6g")
        obs = load_observed(fit.scenario.observed)
        obs = obs[obs["use"].isin(["fit", "check"]) & obs["measure"].isin(["movements", "people"])]
        obs = obs.assign(
            as_of=obs["as_of"].astype(str), period_start=obs["period_start"].astype(str)
        )
        first = str(frames[0]["date"].iloc[0])
        last = str(frames[0]["date"].iloc[-1])
        obs = obs[
            (obs["period_start"] <= str(pd.Timestamp(first).date() + pd.Timedelta(days=7)))
            & (obs["as_of"] <= last)
        ]
        fig = _series_figure(
            frames,
            obs,
            f"Posterior predictive, in sample: {fit.scenario.title}",
            f"{len(frames)} runs, each with a posterior draw of the parameters and its own seed, "
            f"population scale {fit.scale:g}: the band covers seed noise + behaviour parameters "
            "(not the population). Observed: OCHA/CCCM figures counted from about the first "
            "day (filled: fitted).",
        )
        from sim.outputs.plots import format_date_axis

        # "1 May", "15 May", ... and the year below: ISO dates nearly touched at this width
        format_date_axis(fig.axes[0], pd.Timestamp(first), pd.Timestamp(last), pad=0.02)
        fig.savefig(folder / "predictive_2019.png", dpi=120, metadata={"Software": None})
        pd.concat(
            [_band(frames, c).assign(metric=c) for c in ("displacements_cumulative", "displaced_people_cumulative")]
        ).pipe(_whole_people).to_csv(folder / "predictive_2019.csv", index=False)  # fmt: skip
        inside = int(tab["inside_90"].sum())
        L += [
            "",
            "## Posterior predictive against the 2019 figures (in sample)",
            "",
            f"{len(frames)} runs of the 2019 scenario, each with a posterior draw and its own "
            "seed. The band covers seed noise and the behaviour parameters. "
            f"{inside} of {len(tab)} fitted figures lie inside the 90 % predictive band.",
            "",
            "![2019](predictive_2019.png)",
            "",
            "| target | observed | predictive median | 90 % band |",
            "|---|---|---|---|",
        ]
        for r in tab.itertuples():
            f = figure_format(r.observed < 2)
            L.append(
                f"| {r.target} | {f(r.observed)} | {f(r.median)} | {f(r.p05)} to {f(r.p95)}"
                + ("" if r.inside_90 else " (outside)")
                + " |"
            )
    if winter is not None:
        wsc, wframes = winter
        pts = load_observed(WINTER_FIGURES) if WINTER_FIGURES.is_file() else pd.DataFrame()
        if not pts.empty:
            pts = pts.assign(as_of=pts["as_of"].astype(str), use="display")
        fig = _series_figure(
            wframes,
            pts,
            f"Prediction, not fitted: {wsc.title}",
            f"{len(wframes)} runs with posterior draws and their own seeds, population scale "
            f"{fit.scale:g}; the band covers seed noise + behaviour parameters. Hollow "
            "diamonds: OCHA's figures of people displaced since 1 December 2019 (CCCM/HNAP "
            "tracking; shown only, never fitted).",
        )
        fig.savefig(folder / "winter_prediction_band.png", dpi=120, metadata={"Software": None})
        band = _band(wframes, "displacements_cumulative")
        _whole_people(band).to_csv(folder / "winter_prediction_band.csv", index=False)
        last = band.iloc[-1]
        L += [
            "",
            "## Winter 2019-20: the prediction band (not fitted)",
            "",
            "The December 2019 - March 2020 scenario, built from its public timeline only, run "
            "with posterior draws of the 2019 parameters. OCHA's figures of the period are "
            "marked for comparison; nothing was fitted to them.",
            "",
            "![winter](winter_prediction_band.png)",
            "",
            f"By {last['date']}: {last['median']:,.0f} movements since 1 December 2019 "
            f"(90 % band {last['p05']:,.0f} to {last['p95']:,.0f}).",
        ]
        if not pts.empty:
            L += ["", "| as of | OCHA figure | source |", "|---|---|---|"]
            for r in pts.itertuples():
                L.append(f"| {r.as_of} | {float(r.value):,.0f} | {r.source} |")
    (folder / "report.md").write_text("\n".join(L) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def cli_posterior(args: Any, argv: list[str]) -> int:
    """``idlibsim posterior SCENARIO [--waves N] [--workers K] [--update-shipped] ...``."""
    from sim.outputs.runner import check_population_scale

    from ..errors import UsageError

    scenario = load_scenario(args.scenario)
    scale = args.population_scale
    check_population_scale(scenario, scale)
    if scenario.parameters_file is None:
        raise UsageError(
            f"{args.scenario} names no parameter file ([behaviour] parameters): the posterior "
            "is written beside the point estimate of `idlibsim calibrate`"
        )
    out = Path(args.out) if args.out else PROJECT_ROOT / "results" / "posterior" / scenario.name
    ckpt = out / "checkpoints"
    workers = int(args.workers or 1)
    ctx: Any = nullcontext(None)
    if workers > 1 or args.scheduler:
        from sim.analysis.ensemble import dask_client

        ctx = dask_client(workers, args.scheduler)
    t0 = time.perf_counter()
    log = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    log(f"posterior of {scenario.name}: {args.waves} waves at population scale {scale:g}")
    with ctx as client:
        fit = fit_posterior(
            scenario, ckpt, scale, args.waves, args.first_wave, args.wave_size, client, log
        )
        tp = time.perf_counter()
        pred = winter = None
        if args.predictive > 0:
            log(f"  posterior predictive: {args.predictive} runs of 2019 and of the winter")
            pred = posterior_predictive(
                scenario, fit.draws, fit.weights, fit.prior.names, fit.targets,
                args.predictive, scale, client,
            )  # fmt: skip
            wpath = scenario.path.parent / "idlib_2019_2020_winter.toml"
            if wpath.is_file():
                wsc = load_scenario(wpath)
                wf, _ = posterior_predictive(
                    wsc, fit.draws, fit.weights, fit.prior.names, [], args.predictive,
                    scale, client,
                )  # fmt: skip
                winter = (wsc, wf)
        pred_seconds = time.perf_counter() - tp
    meta = fit.meta()
    meta["predictive_seconds"] = round(pred_seconds, 1)
    report = out / "report"
    if args.update_shipped:
        target = posterior_path(scenario.parameters_file)
        report = PROJECT_ROOT / "results" / "calibration" / f"{scenario.name}_posterior"
        meta["report"] = display_path(report)
    else:
        target = out / Path(posterior_path(scenario.parameters_file)).name
        meta["report"] = display_path(report)
    save_posterior(target, fit.prior.names, fit.draws, fit.weights, meta)
    write_report(fit, report, pred, winter, pred_seconds)
    log(
        f"wrote {display_path(target)} ({len(fit.weights)} weighted draws) and {display_path(report)}/report.md"
    )
    for n, v in meta["summary"].items():
        log(f"  {n}: median {v['median']:.4g}, 90 % {v['q05']:.4g} to {v['q95']:.4g}")
    log(f"  total {time.perf_counter() - t0:.0f} s")
    return 0
