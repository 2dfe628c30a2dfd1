"""Weighted posterior draws of the behaviour parameters: the file beside a parameter file.

``scenarios/params/idlib_2019_fit.toml`` (the point estimate, ``idlibsim calibrate``) has
its posterior in ``scenarios/params/idlib_2019_fit.posterior.csv`` (one row per draw:
``weight`` then one column per fitted parameter, in the parameter's unit) and how it was
made in ``idlib_2019_fit.posterior.json`` (method, targets, prior, run time, the SHA-256
of the parameter file it was fitted beside). ``idlibsim posterior`` writes both
(:mod:`sim.analysis.posterior_fit`); ensembles read them (:mod:`sim.analysis.uncertainty`).

The file is input like any other: it is read only if it is a regular file of reasonable
size, every column must be a behaviour parameter, every value finite and inside the
parameter's valid range, weights non-negative with a positive sum; anything else is a
clear :class:`~sim.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, Problem, read_bytes

__all__ = ["Posterior", "posterior_path", "load_posterior", "save_posterior"]

SUFFIX = ".posterior.csv"
META_SUFFIX = ".posterior.json"
MAX_BYTES = 20_000_000
MAX_DRAWS = 1_000_000
_FIX = "rerun `idlibsim posterior` to write it again, or pass another file with --posterior"


def posterior_path(parameters_file: Path | str | None) -> Path | None:
    """Where the posterior of a parameter file lives (``<stem>.posterior.csv`` beside it)."""
    if not parameters_file:
        return None
    p = Path(parameters_file)
    return p.with_name(p.stem + SUFFIX)


def meta_path(posterior_file: Path | str) -> Path:
    p = Path(posterior_file)
    name = p.name[: -len(SUFFIX)] if p.name.endswith(SUFFIX) else p.stem
    return p.with_name(name + META_SUFFIX)


@dataclass(frozen=True)
class Posterior:
    """Weighted draws: ``values[k, j]`` of parameter ``names[j]`` in draw ``k``."""

    names: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.weights)

    @property
    def probabilities(self) -> np.ndarray:
        return self.weights / self.weights.sum()

    def pick(self, u: float) -> int:
        """The draw whose cumulative weight first exceeds ``u`` in [0, 1) (inverse CDF)."""
        cdf = np.cumsum(self.probabilities)
        return int(min(np.searchsorted(cdf, float(u), side="right"), len(cdf) - 1))

    def row(self, k: int) -> dict[str, float]:
        return {n: float(self.values[k, j]) for j, n in enumerate(self.names)}

    def quantiles(self, qs=(0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Weighted quantiles of each parameter (rows: parameters, columns: quantiles)."""
        p = self.probabilities
        out = {}
        for j, n in enumerate(self.names):
            order = np.argsort(self.values[:, j], kind="stable")
            c = np.cumsum(p[order]) - 0.5 * p[order]
            out[n] = np.interp(qs, c, self.values[order, j])
        return pd.DataFrame(out, index=[f"q{round(q * 100):02d}" for q in qs]).T

    def effective_size(self) -> float:
        p = self.probabilities
        return float(1.0 / np.sum(p**2))


def _problem(path: Path, what: str, fix: str = _FIX) -> InputError:
    return InputError([Problem(path, "", what, fix)])


def load_posterior(path: Path | str) -> Posterior:
    """Read and check a posterior file (hostile input: see the module's docstring)."""
    path = Path(path)
    data = read_bytes(path, "posterior draws", limit=MAX_BYTES)
    try:
        df = pd.read_csv(io.BytesIO(data), comment="#")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _problem(path, f"cannot be read as a CSV table ({str(exc)[:100]})") from None
    from .fields import behaviour_params

    spec = behaviour_params()
    cols = [str(c) for c in df.columns]
    if not cols or cols[0] != "weight":
        raise _problem(path, "the first column must be 'weight'")
    names = cols[1:]
    unknown = [c for c in names if c not in spec]
    if not names or unknown:
        raise _problem(
            path,
            f"columns after 'weight' must be behaviour parameters; unknown: {unknown[:5]}"
            if unknown
            else "holds no parameter column",
        )
    if len(set(names)) != len(names):
        raise _problem(path, "a parameter column appears twice")
    if df.empty or len(df) > MAX_DRAWS:
        raise _problem(path, f"must hold between 1 and {MAX_DRAWS:,} draws, holds {len(df):,}")
    try:
        arr = df[cols].to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise _problem(path, "holds a value that is not a number") from None
    if not np.isfinite(arr).all():
        raise _problem(path, "holds a missing, NaN or infinite value")
    w, vals = arr[:, 0], arr[:, 1:]
    if (w < 0).any() or w.sum() <= 0:
        raise _problem(path, "weights must be >= 0 with a positive sum")
    for j, n in enumerate(names):
        lo, hi = spec[n].bounds()
        bad = (vals[:, j] < lo) | (vals[:, j] > hi)
        if bad.any():
            raise _problem(
                path,
                f"{n} = {vals[bad, j][0]:g} is outside its valid range {lo:g} to {hi:g}",
            )
    meta: dict[str, Any] = {}
    mp = meta_path(path)
    if mp.is_file():
        from ..safety import read_json

        try:
            m = read_json(mp, what="posterior description")
            meta = m if isinstance(m, dict) else {}
        except InputError:
            meta = {}
    sha = hashlib.sha256(data).hexdigest()
    return Posterior(tuple(names), vals, w, path, meta, sha)


def save_posterior(
    path: Path | str, names: list[str], values: np.ndarray, weights: np.ndarray, meta: dict
) -> None:
    """Write the draws (CSV, 6 significant digits) and their description (JSON)."""
    path = Path(path)
    df = pd.DataFrame(np.asarray(values, dtype=float), columns=list(names))
    df.insert(0, "weight", np.asarray(weights, dtype=float) / float(np.sum(weights)))
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    tmp.replace(path)
    mp = meta_path(path)
    tmp = mp.with_name(mp.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(mp)
