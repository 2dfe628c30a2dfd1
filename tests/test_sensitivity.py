"""Global sensitivity (Morris) on a tiny world: a parameter with no effect scores zero."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BOMB, SCENARIOS

from sim.analysis.sensitivity import (
    OUTPUTS,
    border_places,
    influence,
    parameter_class,
    ranges,
    run_sensitivity,
    write_outputs,
)
from sim.cli import main
from sim.scenario.loading import load_scenario


def test_a_parameter_without_effect_has_indices_near_zero(world, tmp_path):
    # Bombardment only: no ground assault, so the front's parameters change nothing.
    sc = load_scenario(world.scenario(BOMB))
    names = ["flee_rate", "front_max_speed_km_per_day", "front_lookahead_days"]
    res = run_sensitivity(sc, trajectories=4, scale=0.1, names=names, log=lambda m: None)
    t = res.table.set_index(["parameter", "output"])
    assert res.runs == 4 * (len(names) + 1) + 1
    for out in OUTPUTS:
        for p in ("front_max_speed_km_per_day", "front_lookahead_days"):
            assert t.loc[(p, out), "mu_star"] == pytest.approx(0.0, abs=1e-9)
            assert t.loc[(p, out), "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert t.loc[("flee_rate", "people_displaced"), "relative_mu_star"] > 0.01
    assert influence(res.table).index[0] == "flee_rate"
    write_outputs(res, sc, tmp_path / "out")
    for f in ("morris.csv", "ranges.csv", "sensitivity.png", "report.md"):
        assert (tmp_path / "out" / f).is_file()
    back = pd.read_csv(tmp_path / "out" / "morris.csv")
    assert set(back["output"]) == set(OUTPUTS) and len(back) == len(names) * len(OUTPUTS)


def test_the_same_seed_gives_the_same_indices(world):
    sc = load_scenario(world.scenario(BOMB))
    a = run_sensitivity(sc, 2, 0.1, seed=3, names=["flee_rate", "onward_rate"], log=lambda m: None)
    b = run_sensitivity(sc, 2, 0.1, seed=3, names=["flee_rate", "onward_rate"], log=lambda m: None)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_every_estimated_behaviour_parameter_is_varied_within_its_valid_range():
    sc = load_scenario(SCENARIOS / "idlib_2019.toml")
    rg = ranges(sc).set_index("parameter")
    assert "front_line_penalty_km" not in rg.index  # a modelling choice, not an estimate
    assert {"fear_distance_km", "safety_weight", "travel_km_per_day"} <= set(rg.index)
    assert (rg["low"] < rg["value"]).all() and (rg["value"] < rg["high"]).all()
    assert rg.loc["flee_rate", "class"] == "fitted"
    # its source text says "fitted", but the calibration does not fit it: an estimate
    assert parameter_class("fear_distance_km", "Fitted to the 2019 series") == "estimate"
    assert rg.loc["host_preference", "class"] == "sourced"
    # the border areas: camp clusters, crossings, Dana, northern Aleppo
    border = border_places(sc.locations_file)
    assert {"Atmeh camps", "Bab al-Hawa crossing", "Azaz", "Afrin"} <= border
    assert "Idlib" not in border


def test_the_command_writes_its_outputs(world, tmp_path):
    path = world.scenario(BOMB)
    out = tmp_path / "s"
    argv = ["sensitivity", str(path), "--trajectories", "1", "--population-scale", "0.1"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert (out / "report.md").read_text().startswith("# Global sensitivity")
    assert main(["sensitivity", str(tmp_path / "missing.toml")]) == 2
