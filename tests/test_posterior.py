"""The posterior fit: emulator, importance sampling, checkpoints, on a tiny world."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BOMB

from sim.analysis.calibration import FIT_BY_NAME, Target, load_targets
from sim.analysis.emulator import Emulator
from sim.analysis.posterior import load_posterior, save_posterior
from sim.analysis.posterior_fit import (
    fit_posterior,
    importance_sample,
    inflation,
    observed,
    posterior_predictive,
    transform,
    write_report,
)
from sim.scenario.loading import load_scenario

OBSERVED = """\
as_of,period_start,value,measure,report_date,use,why,quote,source
2019-05-20,2019-05-01,20000,movements,2019-05-21,fit,test,test,test
2019-05-30,2019-05-01,25000,people,2019-05-31,fit,test,test,test
"""


def test_the_emulator_recovers_a_smooth_function_and_its_noise():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(120, 2))
    f = np.sin(3 * x[:, 0]) + x[:, 1] ** 2
    em = Emulator.fit(x, (f + rng.normal(0, 0.05, len(x)))[:, None])
    xs = rng.uniform(size=(50, 2))
    m, v, noise = em.predict(xs)
    err = m[:, 0] - (np.sin(3 * xs[:, 0]) + xs[:, 1] ** 2)
    assert np.sqrt(np.mean(err**2)) < 0.05
    assert np.sqrt(noise[0, 0]) == pytest.approx(0.05, rel=0.4)


def test_importance_sampling_finds_a_known_posterior():
    # A linear "simulator" y = 10 x, observed 5 with error 0.5: posterior x ~ N(0.5, 0.05).
    x = np.linspace(0, 1, 40)[:, None]
    em = Emulator.fit(x, 10 * x)
    rng = np.random.default_rng(0)
    pts, w, _ = importance_sample(
        em, np.array([5.0]), np.array([0.5]), 1.0, x, np.ones(len(x)), rng, n=4000
    )
    mean = float(w @ pts[:, 0])
    sd = float(np.sqrt(w @ (pts[:, 0] - mean) ** 2))
    assert mean == pytest.approx(0.5, abs=0.01)
    assert sd == pytest.approx(0.05, rel=0.15)


def test_inflation_brings_the_chi_square_to_its_degrees_of_freedom():
    o, s = np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])
    m = np.array([[3.0, 3.0, 3.0]])
    zero = np.zeros_like(m)
    c = inflation(m, zero, zero, o, s, dof=1)
    assert np.sum((o - m) ** 2 / (c * s) ** 2) == pytest.approx(1.0, rel=1e-6)
    assert inflation(m / 10, zero, zero, o, s, dof=1) == 1.0


def test_targets_in_the_emulator_units():
    t = [
        Target("movements", None, None, 1000.0, "fit", ""),
        Target("arrival_share", None, None, 0.5, "fit", "", "pcode=X", "region=Y"),
    ]
    o, s = observed(t)
    assert o[0] == pytest.approx(np.log(1000)) and s[0] == 0.10
    assert o[1] == 0.5 and s[1] == pytest.approx(0.5 * 0.25)
    assert transform(np.array([[0.0, np.nan]]), t).tolist() == [[0.0, 0.0]]


def test_a_fit_on_a_tiny_world_is_deterministic_and_resumes_from_its_checkpoints(world, tmp_path):
    (world.folder / "data" / "observed.csv").write_text(OBSERVED)
    path = world.scenario(BOMB + "\n[behaviour]\nflee_rate = 0.3\n")
    path.write_text(
        path.read_text().replace("[population]", 'observed = "data/observed.csv"\n\n[population]')
    )
    sc = load_scenario(path)
    assert len(load_targets(sc)) == 2
    specs = [FIT_BY_NAME["flee_rate"]]
    logs: list[str] = []
    a = fit_posterior(sc, tmp_path / "ck", 0.1, 2, 10, 6, log=logs.append, specs=specs)
    assert a.runs_this_call == 16 and len(a.u) == 16
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["wave-00.npz", "wave-01.npz"]
    lo, hi = a.prior.describe()["flee_rate"]["low"], a.prior.describe()["flee_rate"]["high"]
    assert lo == pytest.approx(0.3 / 4) and hi == pytest.approx(0.3 * 4)
    assert (a.draws >= lo).all() and (a.draws <= hi).all()
    assert a.weights.sum() == pytest.approx(1.0)
    b = fit_posterior(sc, tmp_path / "ck", 0.1, 2, 10, 6, log=logs.append, specs=specs)
    assert b.runs_this_call == 0 and any("resumed" in m for m in logs)
    np.testing.assert_array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.weights, b.weights)
    # posterior predictive runs: a daily table and the target values per draw
    frames, vals = posterior_predictive(
        sc, a.draws, a.weights, ["flee_rate"], a.targets, n=2, scale=0.1
    )
    assert len(frames) == 2 and vals.shape == (2, 2) and np.isfinite(vals).all()
    write_report(a, tmp_path / "report", (frames, vals), None, 0.0)
    report = (tmp_path / "report" / "report.md").read_text()
    assert "![2019](predictive_2019.png)" in report
    assert (tmp_path / "report" / "predictive_2019.png").stat().st_size > 10_000
    # one more wave resumes the first two and runs only the third
    c = fit_posterior(sc, tmp_path / "ck", 0.1, 3, 10, 6, log=logs.append, specs=specs)
    assert c.runs_this_call == 6 and len(c.u) == 22
    # the draws round-trip through the file an ensemble reads
    save_posterior(tmp_path / "p.posterior.csv", ["flee_rate"], a.draws, a.weights, a.meta())
    post = load_posterior(tmp_path / "p.posterior.csv")
    assert post.names == ("flee_rate",) and len(post) == len(a.weights)
    assert post.meta["fitted_to"].startswith("2019 targets only")


def test_band_csvs_hold_whole_people_not_rounded_exponents(tmp_path):
    """Counts over a million were written as 1.1601e+06 (%.6g): five digits in a spreadsheet."""
    import pandas as pd

    from sim.analysis.posterior_fit import _band, _whole_people

    frames = [
        pd.DataFrame({"date": ["2020-03-05"], "displacements_cumulative": [v]})
        for v in (1_160_123, 1_160_127, 1_179_221)
    ]
    path = tmp_path / "band.csv"
    _whole_people(_band(frames, "displacements_cumulative")).to_csv(path, index=False)
    text = path.read_text()
    assert "e+" not in text
    back = pd.read_csv(path)
    assert back.loc[0, "median"] == 1_160_127
    assert back["p05"].dtype.kind == "i" and back["p95"].dtype.kind == "i"
