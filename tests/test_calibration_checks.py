"""The calibration report's unfitted checks compare like with like (place with place)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from conftest import BOMB

from sim.analysis.calibration import locations_with_governorate
from sim.analysis.calibration_report import flow_checks, unfitted_checks
from sim.outputs.runner import simulate
from sim.scenario.loading import load_scenario

SOURCE = "test source"


def _scenario(tmp_path: Path) -> SimpleNamespace:
    observed = tmp_path / "observed"
    observed.mkdir()
    (observed / "flows_2019.csv").write_text(
        "period_start,period_end,direction,place,pcode,value,measure,source\n"
        f"2019-06-01,2019-06-30,return,all,,4509,spontaneous returns,{SOURCE}\n"
        f"2019-06-01,2019-06-30,return,Town A,SY1,2730,spontaneous returns,{SOURCE}\n"
        f"2019-06-01,2019-06-30,return,Nowhere,SY9,5,spontaneous returns,{SOURCE}\n"
        f"2019-06-01,2019-06-30,from,Town B,SY2,900,departures,{SOURCE}\n"
    )
    # no share_in_sites check targets: an empty targets file
    return SimpleNamespace(
        observed=observed / "displacement.csv",
        report_from=dt.date(2019, 5, 1),
        end=dt.date(2019, 8, 31),
        targets=(),
    )


def _run():
    days = pd.to_datetime(["2019-06-10", "2019-06-11"])
    daily = pd.DataFrame({"date": days, "returns_started": [100, 50]})
    places = pd.DataFrame(
        {
            "date": list(days) * 2,
            "location": ["Town A", "Town A", "Town B", "Town B"],
            "returns_home": [7, 3, 40, 60],
            "departures": [1, 2, 30, 4],
        }
    )
    return daily, places


def test_returns_to_one_place_count_only_that_place(tmp_path, monkeypatch):
    import sim.analysis.calibration_report as cr

    monkeypatch.setattr(cr, "load_targets", lambda scenario, uses: [])
    checks = unfitted_checks(_scenario(tmp_path), [_run()]).set_index("check")
    by_what = {k.split(",")[0]: v for k, v in checks["model"].items()}
    assert by_what["spontaneous returns to Town A (arrived home)"] == 10  # not all places' 150
    assert by_what["spontaneous returns (all; set off home)"] == 150
    assert by_what["departures from Town B"] == 34  # that place's departures only
    assert not any("Nowhere" in k for k in by_what)  # a place the model lacks is not compared


def test_autumn_returns_are_checked_on_a_run_of_september_and_october(tmp_path, monkeypatch):
    """OCHA's September-October 2019 returns are compared with a run of exactly that autumn.

    The 2019 scenario ends on 31 August; the check runs the winter scenario's replay of 2019
    and the autumn to 31 October, reporting from 1 September, and runs nothing of December
    2019 - March 2020 (a row of that period is not compared).
    """
    import sim.analysis.calibration_report as cr

    root = Path(__file__).resolve().parents[1]
    flows = tmp_path / "flows_2019.csv"
    flows.write_text(
        "period_start,period_end,direction,place,pcode,value,measure,source\n"
        f"2019-09-01,2019-09-30,return,all,,13000,spontaneous IDP returns,{SOURCE}\n"
        f"2019-10-01,2019-10-31,return,all,,47250,spontaneous IDP returns,{SOURCE}\n"
        f"2019-08-01,2019-08-31,return,all,,1,spontaneous returns,{SOURCE}\n"
        f"2019-12-01,2019-12-31,return,all,,1,spontaneous returns,{SOURCE}\n"
    )
    seen = []
    real = cr.flow_checks

    def spy(path, first, last, runs):
        seen.append((first, last, [(d["date"].iloc[0], d["date"].iloc[-1]) for d, _ in runs]))
        return real(path, first, last, runs)

    monkeypatch.setattr(cr, "flow_checks", spy)
    fit = SimpleNamespace(
        scenario=SimpleNamespace(path=root / "scenarios" / "idlib_2019.toml"),
        fixed={},
        values={},
        scale=0.02,
    )
    rows = cr.autumn_checks(fit, flows, seeds=1)
    first, last, spans = seen[0]
    assert (first, last) == (dt.date(2019, 9, 1), dt.date(2019, 10, 31))
    assert [(str(a)[:10], str(b)[:10]) for a, b in spans] == [("2019-09-01", "2019-10-31")]
    checks = {r["check"]: r for r in rows}
    assert set(checks) == {
        "spontaneous returns (all; set off home), 2019-09-01 to 2019-09-30",
        "spontaneous returns (all; set off home), 2019-10-01 to 2019-10-31",
    }
    assert all(r["model"] > 0 for r in rows)  # the lull after the ceasefire brings people home
    assert cr.autumn_checks(fit, tmp_path / "missing.csv", seeds=1) == []


def test_the_calibration_runs_keep_the_columns_the_checks_read(world, tmp_path):
    """The report's checks run on the calibration's own tables (locations_with_governorate),
    which must keep each place's returns home: a return to one place raised KeyError
    'returns_home' at the end of a whole calibration (found in session 7's refit)."""
    res = simulate(load_scenario(world.scenario(BOMB)), seed=1, population_scale=0.1)
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "period_start,period_end,direction,place,pcode,value,measure,source\n"
        f"2019-05-01,2019-05-30,return,Bombed Town,,10,spontaneous returns,{SOURCE}\n"
        f"2019-05-01,2019-05-30,from,Bombed Town,,10,departures,{SOURCE}\n"
    )
    loc = locations_with_governorate(res)
    rows = flow_checks(flows, dt.date(2019, 5, 1), dt.date(2019, 5, 30), [(res.daily, loc)])
    assert [r["check"].split(",")[0] for r in rows] == [
        "spontaneous returns to Bombed Town (arrived home)",
        "departures from Bombed Town",
    ]
    here = res.locations["location"] == "Bombed Town"
    assert rows[1]["model"] == res.locations.loc[here, "departures"].sum() > 0


def test_the_ismi_goal_is_on_destination_shares_and_departures_are_shown_beside_it():
    from sim.analysis.calibration_report import ismi_goal_lines

    metrics = {
        "ARD, REACH ISMI shares by sub-district (all fitted)": 0.446,
        "ARD, REACH ISMI arrival shares": 0.336,
        "ARD, REACH ISMI departure shares": 0.702,
    }
    text = "\n".join(ismi_goal_lines(metrics))
    assert "destination shares by sub-district, ARD <= 0.35: met (0.336)" in text
    assert "departure shares are fitted too but are not in the goal: ARD 0.702" in text
    metrics["ARD, REACH ISMI arrival shares"] = 0.41
    assert "ARD <= 0.35: NOT met (0.410)" in "\n".join(ismi_goal_lines(metrics))
    assert ismi_goal_lines({}) == []
