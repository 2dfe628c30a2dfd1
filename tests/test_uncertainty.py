"""Ensembles with parameter and population uncertainty, on tiny worlds.

Draws reproduce with the same seed; a parameter the user fixed is not drawn; replicate i of
every scenario gets the same draw, so paired differences of identical scenarios are zero;
every band says which sources of uncertainty it covers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_SCENARIO, BOMB, SCENARIOS

from sim.analysis.compare import comparison_table, load_curves
from sim.analysis.ensemble import load_ensemble, run_ensemble
from sim.analysis.posterior import load_posterior, posterior_path, save_posterior
from sim.analysis.uncertainty import (
    TOTAL_RANGE,
    covers,
    draw,
    population_ranges,
    stated_range,
)
from sim.cli import main
from sim.errors import InputError
from sim.scenario.loading import load_scenario

#: Two towns whose rows state ranges the way scenarios/data/locations.csv does.
LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population,population_source
Bombed Town,sub_district,opposition,35.50,36.60,50000,0,0,,"ESTIMATE: uncertainty roughly +/-40%"
Safe Town,sub_district,opposition,36.10,36.70,50000,0,0,,"ESTIMATE: anchor 20,000 (range 10,000-50,000) x 2.5; plausible range -40%/+60%"
Border Camp,camp_cluster,opposition,36.30,36.68,2000,2000,5000,,counted
Crossing,crossing,opposition,36.23,36.69,0,0,0,0,
Turkey,abroad,turkey,36.27,36.57,0,0,0,0,
"""

PARAMS = """\
[behaviour]
flee_rate = 0.5
propensity_shape = 1.0
"""


def uncertain_world(world, n_draws: int = 50) -> Path:
    """A tiny world with a parameter file, its posterior, and ranges on its populations."""
    world.locations(LOCATIONS)
    params = world.folder / "params.toml"
    params.write_text(PARAMS)
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.uniform(0.2, 2.0, n_draws), rng.uniform(0.5, 3.0, n_draws)])
    weights = rng.uniform(0.5, 1.0, n_draws)
    save_posterior(
        posterior_path(params), ["flee_rate", "propensity_shape"], values, weights, {"test": 1}
    )
    return world.scenario(BOMB + '\n[behaviour]\nparameters = "params.toml"\n', name="u.toml")


def twin(world, extra: str = "", name: str = "tiny_twin") -> Path:
    """The same scenario under another name (and optional extra behaviour lines)."""
    base = BASE_SCENARIO.replace('name = "tiny"', f'name = "{name}"')
    return world.scenario(
        BOMB + '\n[behaviour]\nparameters = "params.toml"\n' + extra, name=f"{name}.toml", base=base
    )


# --------------------------------------------------------------------------------------
# The draws
# --------------------------------------------------------------------------------------


def test_stated_ranges_are_read_as_the_locations_file_states_them():
    assert stated_range("uncertainty roughly +/-40%") == pytest.approx((0.6, 1.4))
    assert stated_range("plausible range -40%/+60%") == pytest.approx((0.6, 1.6))
    # an explicit range is relative to the row's own estimate, and wins over the percentages
    text = "project estimate above (30,000, people in sites included); range 10,000-60,000"
    assert stated_range("no published figure; " + text) == pytest.approx((1 / 3, 2.0))
    assert stated_range("DERIVED from a survey") is None


def test_every_estimated_sub_district_of_the_shipped_data_has_a_range():
    path = SCENARIOS / "data" / "locations.csv"
    ranges = population_ranges(path)
    df = pd.read_csv(path)
    populated = df[(df["kind"] == "sub_district") & (df["population"] > 0)]
    est = populated[populated["population_source"].str.startswith("ESTIMATE")]
    assert set(est["name"]) <= set(ranges)
    assert "Azaz" not in ranges  # DERIVED from a survey, no range stated: not drawn
    assert ranges["Idlib"] == pytest.approx((250_000 / 350_000, 600_000 / 350_000))
    assert ranges["Afrin"] == pytest.approx((0.6, 1.6))
    assert all(lo < 1 < hi for lo, hi in ranges.values())


def test_draws_are_a_function_of_the_base_seed_and_replicate_only(world):
    uncertain_world(world)
    post = load_posterior(world.folder / "params.posterior.csv")
    ranges = population_ranges(world.folder / "data" / "locations.csv")
    a = [draw(7, i, "all", post, ranges) for i in range(20)]
    b = [draw(7, i, "all", post, ranges) for i in range(20)]
    assert a == b
    c = [draw(8, i, "all", post, ranges) for i in range(20)]
    assert [d.posterior_index for d in a] != [d.posterior_index for d in c]
    # A place's factor depends on its name, not on which other places are drawn.
    alone = draw(7, 3, "all", post, {"Safe Town": ranges["Safe Town"]})
    assert alone.place_factors["Safe Town"] == a[3].place_factors["Safe Town"]
    # Within the stated ranges, and the total within TOTAL_RANGE.
    for d in a:
        assert TOTAL_RANGE[0] <= d.total_factor <= TOTAL_RANGE[1]
        assert 0.6 <= d.place_factors["Bombed Town"] <= 1.4
        assert 0.5 <= d.place_factors["Safe Town"] <= 2.5
    # "parameters" draws the same posterior rows as "all", and no population.
    p = draw(7, 3, "parameters", post, ranges)
    assert p.posterior_index == a[3].posterior_index and p.place_factors == {}
    assert draw(7, 3, "seed", post, ranges).behaviour == {}


def test_posterior_draws_follow_the_weights():
    from sim.analysis.posterior import Posterior

    post = Posterior(("flee_rate",), np.array([[0.1], [0.2], [0.3]]), np.array([0.0, 3.0, 1.0]))
    picks = [draw(1, i, "parameters", post).posterior_index for i in range(2000)]
    counts = np.bincount(picks, minlength=3) / 2000
    assert counts[0] == 0 and counts[1] == pytest.approx(0.75, abs=0.04)


def test_covers_names_what_was_drawn():
    assert covers("seed", True, True) == ["seed"]
    assert covers("parameters", True, True) == ["seed", "parameters"]
    assert covers("all", True, True) == ["seed", "parameters", "population"]
    assert covers("all", False, True) == ["seed", "population"]


# --------------------------------------------------------------------------------------
# Ensembles
# --------------------------------------------------------------------------------------


def test_an_ensemble_with_full_uncertainty_reproduces_and_records_its_draws(world, tmp_path):
    path = uncertain_world(world)
    one = run_ensemble([path], replicates=4, base_seed=5, uncertainty="all", out=tmp_path / "a")
    two = run_ensemble([path], replicates=4, base_seed=5, uncertainty="all", out=tmp_path / "b")
    for rel in ("u_tiny/draws.csv", "u_tiny/replicates/rep-0003.csv", "bands.csv"):
        rel = rel.replace("u_tiny", "tiny")
        assert (one.folder / rel).read_bytes() == (two.folder / rel).read_bytes()
    draws = pd.read_csv(one.folder / "tiny" / "draws.csv")
    assert draws["flee_rate"].nunique() > 1 and draws["propensity_shape"].nunique() > 1
    assert draws["population_total"].nunique() > 1
    # the drawn total is what was simulated, exactly
    for i, total in enumerate(draws["population_total"]):
        rep = pd.read_csv(one.folder / "tiny" / "replicates" / f"rep-{i:04d}.csv")
        assert (rep["population"] == total).all()
    man = json.loads((one.folder / "manifest.json").read_text())
    assert man["uncertainty"] == "all"
    u = man["scenarios"][0]["uncertainty"]
    assert u["covers"] == ["seed", "parameters", "population"]
    assert u["posterior"]["draws"] == 50 and u["population"]["places_drawn"] == 2
    bands = pd.read_csv(one.folder / "bands.csv")
    assert set(bands["uncertainty"]) == {u["covers_text"]}
    assert "behaviour parameters" in u["covers_text"] and "population" in u["covers_text"]
    # the seed-only ensemble differs, and says so
    seed = run_ensemble([path], replicates=4, base_seed=5, uncertainty="seed", out=tmp_path / "s")
    assert set(seed.bands["uncertainty"]) == {"seed noise"}
    assert not (seed.folder / "tiny" / "draws.csv").exists()
    assert load_ensemble(one.folder).bands.equals(one.bands)


def test_a_parameter_fixed_by_the_user_is_not_drawn(world, tmp_path):
    path = uncertain_world(world)
    fixed = twin(world, "flee_rate = 0.9\n", name="fixed")
    res = run_ensemble([path, fixed], replicates=5, uncertainty="parameters", out=tmp_path / "e")
    free = pd.read_csv(res.folder / "tiny" / "draws.csv")
    held = pd.read_csv(res.folder / "fixed" / "draws.csv")
    assert (held["flee_rate"] == 0.9).all() and free["flee_rate"].nunique() > 2
    # the other parameter is still drawn, the same draw for both scenarios
    assert (held["propensity_shape"] == free["propensity_shape"]).all()
    man = json.loads((res.folder / "manifest.json").read_text())
    assert man["scenarios"][1]["uncertainty"]["fixed_by_user"] == ["flee_rate"]
    # and on the command line: --fix NAME=VALUE and --fix NAME
    out = tmp_path / "cli"
    argv = ["ensemble", str(path), "--replicates", "3", "--uncertainty", "all", "--quiet"]
    assert main([*argv, "--fix", "flee_rate=0.7", "--fix", "population", "--out", str(out)]) == 0
    d = pd.read_csv(out / "tiny" / "draws.csv")
    assert (d["flee_rate"] == 0.7).all() and d["propensity_shape"].nunique() > 1
    assert (d["population_total"] == 102000).all()
    assert main([*argv, "--fix", "flee_rat", "--out", str(tmp_path / "bad")]) == 2


def test_paired_differences_of_identical_scenarios_are_zero(world, tmp_path):
    path = uncertain_world(world)
    same = twin(world)
    res = run_ensemble([path, same], replicates=6, uncertainty="all", out=tmp_path / "e")
    a = pd.read_csv(res.folder / "tiny" / "draws.csv").drop(columns=[])
    b = pd.read_csv(res.folder / "tiny_twin" / "draws.csv")
    pd.testing.assert_frame_equal(a, b)
    curves = load_curves([res.folder], "displacements_cumulative")
    t = comparison_table(curves)
    dif = t[t["panel"] == "difference"]
    assert len(dif) and (dif[["median", "p05", "p95"]].to_numpy(dtype=float) == 0).all()
    # while the bands themselves are wide: parameters and population vary
    lev = t[(t["panel"] == "scenario") & (t["scenario"] == "tiny")]
    assert (lev["p95"] - lev["p05"]).iloc[-1] > 0
    assert set(t.loc[t["panel"] != "observed", "uncertainty"]) == {
        "seed noise + behaviour parameters (posterior draws) + population (total and "
        "sub-district shares)"
    }


def test_without_a_posterior_the_bands_say_parameters_are_not_covered(world, tmp_path):
    path = world.scenario(BOMB)
    res = run_ensemble([path], replicates=2, uncertainty="all", out=tmp_path / "e")
    u = res.manifest["scenarios"][0]["uncertainty"]
    assert u["covers"] == ["seed", "population"] and "no posterior" in u["note"]
    with pytest.raises(InputError, match="needs posterior draws"):
        run_ensemble([path], replicates=2, uncertainty="parameters", out=tmp_path / "f")


def test_a_different_uncertainty_is_not_mixed_into_an_ensemble_folder(world, tmp_path):
    from sim.errors import ResultsExistError

    path = uncertain_world(world)
    run_ensemble([path], replicates=2, uncertainty="seed", out=tmp_path / "e")
    with pytest.raises(ResultsExistError, match="uncertainty"):
        run_ensemble([path], replicates=2, uncertainty="all", out=tmp_path / "e")
    # the default folders differ
    a = run_ensemble([path], replicates=1, uncertainty="seed", results_root=tmp_path / "r")
    b = run_ensemble([path], replicates=1, uncertainty="all", results_root=tmp_path / "r")
    assert a.folder != b.folder


@pytest.mark.parametrize(
    "text, why",
    [
        ("flee_rate\n0.5\n", "first column must be 'weight'"),
        ("weight,flee_rat\n1,0.5\n", "unknown"),
        ("weight,flee_rate\n1,nan\n", "NaN"),
        ("weight,flee_rate\n-1,0.5\n", "weights"),
        ("weight,flee_rate\n1,500\n", "outside its valid range"),
        ("weight,flee_rate\n", "between 1 and"),
    ],
)
def test_a_bad_posterior_file_is_refused_clearly(tmp_path, text, why):
    p = tmp_path / "x.posterior.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=why):
        load_posterior(p)


def test_the_shipped_scenarios_have_a_posterior_beside_their_parameters():
    sc = load_scenario(SCENARIOS / "idlib_2019.toml")
    post = load_posterior(posterior_path(sc.parameters_file))
    assert len(post) >= 100 and post.effective_size() >= 50
    assert set(post.names) <= set(sc.behaviour.as_dict())
