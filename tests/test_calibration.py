"""The observation model (movements vs people), scoring, and parameter recovery."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from sim.calibration import (
    Target,
    fit,
    load_targets,
    model_values,
    residuals,
    score_run,
    write_parameters,
)
from sim.cli import main
from sim.observed import ard, compare, load_observed
from sim.runner import run, simulate
from sim.scenario.loading import load_parameters, load_scenario

BOMB = """
[events.bomb]
kind = "bombardment"
locations = ["Bombed Town"]
start = 2019-05-02
end = 2019-05-25
intensity = 0.6
source = "test"
"""


def daily_frame(new_moves, new_people, start="2019-05-01"):
    n = len(new_moves)
    dates = pd.date_range(start, periods=n).strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "date": dates,
            "new_displacements": new_moves,
            "new_people_displaced": new_people,
            "displacements_cumulative": np.cumsum(new_moves),
            "displaced_people_cumulative": np.cumsum(new_people),
        }
    )


def test_movements_count_every_flight_people_count_first_flights():
    # day 0: 100 people flee; day 2: 40 of them flee again plus 10 new people
    daily = daily_frame([100, 0, 50, 0], [100, 0, 10, 0])
    t = [
        Target("movements", date(2019, 5, 1), date(2019, 5, 4), 0, "fit", ""),
        Target("people", date(2019, 5, 1), date(2019, 5, 4), 0, "fit", ""),
        Target("movements", date(2019, 5, 2), date(2019, 5, 3), 0, "fit", ""),
    ]
    assert list(model_values(daily, pd.DataFrame(), t)) == [150, 110, 50]


def test_share_of_arrivals_in_a_governorate():
    loc = pd.DataFrame(
        {
            "date": ["2019-05-01"] * 3 + ["2019-05-02"] * 3,
            "location": ["A", "B", "C"] * 2,
            "governorate": ["Idleb", "Aleppo", "Aleppo"] * 2,
            "arrivals": [60, 10, 10, 15, 5, 0],
        }
    )
    t = [
        Target(
            "share_to_aleppo",
            date(2019, 5, 1),
            date(2019, 5, 2),
            0.1,
            "fit",
            "",
            "governorate=Aleppo",
        )
    ]
    assert model_values(daily_frame([0, 0], [0, 0]), loc, t)[0] == pytest.approx(25 / 100)


def test_residuals_are_log_ratios_for_counts_and_differences_for_shares():
    t = [
        Target("movements", date(2019, 5, 1), date(2019, 5, 2), 100.0, "fit", ""),
        Target(
            "share_to_aleppo",
            date(2019, 5, 1),
            date(2019, 5, 2),
            0.10,
            "fit",
            "",
            "governorate=Aleppo",
        ),
    ]
    r = residuals(np.array([110.0, 0.13]), t)
    assert r[0] == pytest.approx(np.log(1.1) / 0.10)
    assert r[1] == pytest.approx(0.03 / 0.03)


def test_ard_is_the_mean_absolute_relative_difference():
    cmp = pd.DataFrame({"value": [100.0, 200.0, 400.0], "model": [110.0, 180.0, np.nan]})
    assert ard(cmp) == pytest.approx((0.1 + 0.1) / 2)


OBSERVED_HEADER = "as_of,period_start,value,measure,report_date,use,why,quote,source\n"


def _observed_from(res, path, points):
    """Write 'observed' figures taken from a model run (a synthetic truth)."""
    d = res.daily.set_index("date")
    lines = [OBSERVED_HEADER]
    for as_of, start, measure in points:
        col = "new_displacements" if measure == "movements" else "new_people_displaced"
        v = d.loc[start:as_of, col].sum()
        lines.append(f"{as_of},{start},{v},{measure},{as_of},fit,test,test,synthetic\n")
    path.write_text("".join(lines))


def test_calibration_recovers_a_known_flight_rate(world):
    truth = load_scenario(
        world.scenario(BOMB + "\n[behaviour]\nflee_rate = 0.08\n", name="truth.toml")
    )
    res = simulate(truth, seed=5)
    (world.folder / "data" / "observed").mkdir()
    obs = world.folder / "data" / "observed" / "synthetic.csv"
    _observed_from(
        res,
        obs,
        [
            ("2019-05-08", "2019-05-01", "movements"),
            ("2019-05-20", "2019-05-01", "movements"),
            ("2019-05-30", "2019-05-01", "people"),
        ],
    )
    text = (
        world.scenario(BOMB)
        .read_text()
        .replace(
            "end = 2019-05-30\n", 'end = 2019-05-30\nobserved = "data/observed/synthetic.csv"\n', 1
        )
    )
    path = world.folder / "fit.toml"
    path.write_text(text)
    sc = load_scenario(path)
    assert len(load_targets(sc)) == 3
    result = fit(
        sc, names=["flee_rate"], seeds=2, scale=0.5, max_evaluations=40, start={"flee_rate": 0.3}
    )
    assert result.values["flee_rate"] == pytest.approx(0.08, rel=0.10)
    lo, hi = result.ci95["flee_rate"]
    assert lo < result.values["flee_rate"] < hi
    # the parameter file round-trips through the scenario loader
    out = world.folder / "fitted.toml"
    write_parameters(result, out)
    assert load_parameters(out)["flee_rate"] == pytest.approx(
        float(f"{result.values['flee_rate']:.4g}")
    )


def test_score_prints_errors_and_ard_for_a_run(world, capsys, tmp_path):
    sc = load_scenario(world.scenario(BOMB))
    res = run(sc, seed=2, out=tmp_path / "run", plots=False)
    obs = tmp_path / "obs.csv"
    d = res.daily.set_index("date")
    true_moves = d.loc["2019-05-01":"2019-05-20", "new_displacements"].sum()
    obs.write_text(
        OBSERVED_HEADER
        + f"2019-05-20,2019-05-01,{true_moves * 1.25},movements,2019-05-20,fit,t,t,test\n"
    )
    cmp, metrics = score_run(tmp_path / "run", obs)
    assert cmp["relative_error"].iloc[0] == pytest.approx(1 / 1.25 - 1, rel=1e-6)
    assert metrics["ard_fit"] == pytest.approx(0.2, rel=1e-6)
    assert main(["score", str(tmp_path / "run"), "--observed", str(obs)]) == 0
    assert "ARD" in capsys.readouterr().out


def test_score_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["score", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_observed_file_of_the_2019_scenario_is_consistent():
    from conftest import SCENARIOS

    obs = load_observed(SCENARIOS / "data" / "observed" / "displacement_2019.csv")
    fit_rows = obs[obs["use"] == "fit"]
    assert set(fit_rows["measure"]) == {"movements", "people"}
    assert (
        fit_rows.groupby("measure")["as_of"].nunique() == fit_rows.groupby("measure").size()
    ).all()
    sc = load_scenario(SCENARIOS / "idlib_2019.toml")
    kinds = {t.kind for t in load_targets(sc)}
    assert kinds == {"movements", "people", "share_to_aleppo", "arrival_share", "departure_share"}
    # compare() pairs every figure with the same measure of the model
    daily = daily_frame([1000] * 130, [500] * 130, start="2019-04-26")
    cmp = compare(daily, fit_rows)
    assert (cmp["model"] > 0).all()
    assert json.dumps(list(cmp.columns))


def test_evaluations_on_a_dask_cluster_equal_those_in_this_process(world):
    """Calibration runs execute on Dask workers with identical values."""
    pytest.importorskip("distributed")
    from sim.calibration import Target, evaluate
    from sim.ensemble import dask_client

    sc = load_scenario(world.scenario(BOMB))
    targets = [
        Target("movements", date(2019, 5, 1), date(2019, 5, 20), 1000.0, "fit", "test", ""),
        Target("people", date(2019, 5, 1), date(2019, 5, 30), 1000.0, "fit", "test", ""),
    ]
    params = {"flee_rate": 0.2}
    here = evaluate(sc, params, targets, [3, 4, 5], 0.5)
    with dask_client(workers=2) as client:
        there = evaluate(sc, params, targets, [3, 4, 5], 0.5, client)
    assert here[0] > 0
    np.testing.assert_array_equal(here, there)
