"""A Gaussian-process emulator: what the simulator would give at untried parameters.

One GP per output (a calibration target), on inputs scaled to the unit cube: a linear
mean (least squares) plus a zero-mean GP on its residuals with a squared-exponential
kernel with one length scale per input (ARD) and a nugget. The nugget is the simulator's
own noise (one run, one seed, at a point: the seed-to-seed spread), which the likelihood
of a calibration needs as much as the emulator's uncertainty. Hyperparameters maximise the
log marginal likelihood (analytic gradient, SciPy L-BFGS-B, fixed starting values, so the
fit is deterministic). NumPy and SciPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize

__all__ = ["GP", "fit_gp", "Emulator"]


def _sqdist(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    a, b = a / ls, b / ls
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


@dataclass
class GP:
    """One output's fitted GP (inputs in the unit cube, output standardised)."""

    x: np.ndarray
    beta: np.ndarray  # linear mean coefficients on [1, x]
    y_mean: float
    y_std: float
    lengths: np.ndarray
    signal: float  # kernel variance (standardised units)
    noise: float  # nugget variance (standardised units)
    alpha: np.ndarray
    chol: np.ndarray  # lower Cholesky factor of K + noise I

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean, latent variance (the emulator's uncertainty) and the nugget variance (the
        simulator's noise), in the output's units."""
        xs = np.atleast_2d(xs)
        ks = self.signal * np.exp(-0.5 * _sqdist(xs, self.x, self.lengths))
        mean = np.column_stack([np.ones(len(xs)), xs]) @ self.beta + ks @ self.alpha
        v = solve_triangular(self.chol, ks.T, lower=True, check_finite=False)
        var = np.maximum(self.signal - (v * v).sum(0), 1e-12)
        s2 = self.y_std**2
        return self.y_mean + self.y_std * mean, var * s2, self.noise * s2


def _nll(theta: np.ndarray, x: np.ndarray, r: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood and its gradient in log hyperparameters."""
    d = x.shape[1]
    ls, sig, noi = np.exp(theta[:d]), np.exp(theta[d]), np.exp(theta[d + 1])
    n = len(x)
    sq = _sqdist(x, x, ls)
    kern = sig * np.exp(-0.5 * sq)
    k = kern + (noi + 1e-8) * np.eye(n)
    try:
        c = cho_factor(k, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = cho_solve(c, r, check_finite=False)
    logdet = 2.0 * np.log(np.diag(c[0])).sum()
    nll = 0.5 * r @ alpha + 0.5 * logdet + 0.5 * n * np.log(2 * np.pi)
    kinv = cho_solve(c, np.eye(n), check_finite=False)
    w = np.outer(alpha, alpha) - kinv  # dL/dK = 0.5 w
    grad = np.empty_like(theta)
    for j in range(d):
        diff = (x[:, j][:, None] - x[:, j][None, :]) ** 2 / ls[j] ** 2
        grad[j] = -0.5 * np.sum(w * kern * diff)
    grad[d] = -0.5 * np.sum(w * kern)
    grad[d + 1] = -0.5 * np.trace(w) * noi
    return float(nll), grad


def fit_gp(x: np.ndarray, y: np.ndarray, max_points: int = 200) -> GP:
    """Fit one output ``y`` (n values) at inputs ``x`` (n x d, unit cube).

    The hyperparameters are fitted on at most ``max_points`` of the points (a fixed
    subset: the cost grows as n^3), then the GP is conditioned on all of them.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
    z = (y - y_mean) / y_std
    design = np.column_stack([np.ones(len(x)), x])
    beta, *_ = np.linalg.lstsq(design, z, rcond=None)
    r = z - design @ beta
    d = x.shape[1]
    sub = np.arange(len(x))
    if len(x) > max_points:  # a fixed, evenly spread subset (deterministic)
        sub = np.random.default_rng(0).choice(len(x), max_points, replace=False)
    theta0 = np.concatenate([np.full(d, np.log(0.5)), [np.log(max(r.var(), 1e-3))], [np.log(0.1)]])
    bounds = [(np.log(0.03), np.log(30.0))] * d + [
        (np.log(1e-4), np.log(10.0)),
        (np.log(1e-4), np.log(2.0)),
    ]
    best = minimize(
        _nll, theta0, args=(x[sub], r[sub]), jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 150},
    )  # fmt: skip
    theta = best.x
    ls, sig, noi = np.exp(theta[:d]), float(np.exp(theta[d])), float(np.exp(theta[d + 1]))
    k = sig * np.exp(-0.5 * _sqdist(x, x, ls)) + (noi + 1e-8) * np.eye(len(x))
    chol = np.linalg.cholesky(k)
    alpha = cho_solve((chol, True), r, check_finite=False)
    return GP(x, beta, y_mean, y_std, ls, sig, noi, alpha, chol)


@dataclass
class Emulator:
    """One GP per output: ``predict(xs)`` gives (mean, latent var, nugget var) arrays of
    shape (points, outputs)."""

    gps: list[GP]

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Emulator:
        return cls([fit_gp(x, y[:, k]) for k in range(y.shape[1])])

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [g.predict(xs) for g in self.gps]
        mean = np.column_stack([p[0] for p in parts])
        var = np.column_stack([p[1] for p in parts])
        noise = np.array([p[2] for p in parts])
        return mean, var, np.broadcast_to(noise, mean.shape)
