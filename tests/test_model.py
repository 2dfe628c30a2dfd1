"""The model on tiny worlds whose outcome can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_SCENARIO, BOMB, captured_and_cut_off

from sim.model import DisplacementModel, population_weight
from sim.runner import simulate
from sim.scenario.loading import load_scenario

# A household flees with p = 1 - exp(-rate * propensity * fear). With a very large gamma
# shape every propensity is ~1; with no memory and a tiny fear distance, fear at the
# bombed town equals its intensity and nothing reaches the safe town 70 km away. The
# rules of issue 11 (sustained bombardment, the front, onward movement) are switched off:
# tests/test_behaviour_rules.py tests them.
CLEAN = """
[behaviour]
bombardment_rate = 0.0
front_distance_km = 0.0
onward_rate = 0.0
flee_rate = 0.1
propensity_shape = 100.0
fear_memory_days = 0.0
fear_tolerance = 0.0
fear_distance_km = 2.0
return_rate = 0.0
"""


def run(path, seed=1, scale=1.0, check=True):
    return simulate(load_scenario(path), seed=seed, population_scale=scale, check=check)


def at(locations: pd.DataFrame, place: str) -> pd.DataFrame:
    return locations[locations["location"] == place].reset_index(drop=True)


def test_population_is_conserved_every_day(world):
    res = run(world.scenario(CLEAN + BOMB))  # check=True asserts it after every day too
    d = res.daily
    assert (d["population"] == 102000).all()
    stocks = d[
        [
            "at_home",
            "on_the_move",
            "in_host_community",
            "in_camps",
            "in_informal_sites",
            "returned",
            "abroad",
        ]
    ]
    assert (stocks.sum(axis=1) == d["population"]).all()
    per_day = res.locations.groupby("day")[["residents", "on_the_move", "abroad"]].sum().sum(axis=1)
    assert (per_day == 102000).all()


def test_bombed_town_departures_match_the_rule(world):
    res = run(world.scenario(CLEAN + BOMB))
    bombed = at(res.locations, "Bombed Town")
    # 10 days of bombardment, 2-11 May: a household is still home with probability
    # E[exp(-rate*I*t*X)] = (1 + rate*I*t/k)^-k for X ~ Gamma(k, 1/k).
    rate, intensity, days, k = 0.1, 0.5, 10, 100.0
    q = 1 - (1 + rate * intensity * days / k) ** -k
    households = 50000 / 5.0
    mean_size, var_size = 5.0, 4.0  # 1 + Poisson(4)
    expected = 50000 * q
    sd = math.sqrt(households * (q * (var_size + mean_size**2) - (q * mean_size) ** 2))
    departed = int(bombed.loc[bombed["date"] <= "2019-05-11", "departures"].sum())
    assert abs(departed - expected) < 5 * sd, (departed, expected, sd)
    # and none before the bombardment, none from the safe town
    assert bombed.loc[bombed["date"] == "2019-05-01", "departures"].item() == 0
    assert at(res.locations, "Safe Town")["departures"].sum() == 0


def test_no_conflict_no_displacement(world):
    res = run(world.scenario(CLEAN))
    assert res.daily["displacements_cumulative"].iloc[-1] == 0
    assert (res.daily["at_home"] == 100000).all()


def test_same_seed_same_numbers_and_different_seed_different(world):
    path = world.scenario(BOMB)
    a, b, c = run(path, seed=7), run(path, seed=7), run(path, seed=8)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.locations, b.locations)
    pd.testing.assert_frame_equal(a.routes, b.routes)
    assert not a.daily.equals(c.daily)


def test_results_do_not_depend_on_the_order_of_the_population_arrays(world):
    sc = load_scenario(world.scenario(BOMB))
    plain = DisplacementModel(sc, seed=3, check=True).run()
    shuffled = DisplacementModel(sc, seed=3, check=True)
    shuffled.reorder_population(np.random.default_rng(99))
    shuffled.run()
    pd.testing.assert_frame_equal(plain.daily(), shuffled.daily())
    pd.testing.assert_frame_equal(plain.locations(), shuffled.locations())


def test_capture_empties_the_place_and_nobody_returns_while_held(world):
    returns = """
[behaviour]
return_rate = 1.0
return_min_days = 0
return_fear_threshold = 0.9
"""
    capture = """
[events.capture]
kind = "capture"
locations = ["Bombed Town"]
date = 2019-05-10
source = "test"
"""
    held = run(world.scenario(BOMB + returns + capture))
    bombed = at(held.locations, "Bombed Town")
    before = bombed[bombed["date"] == "2019-05-09"].iloc[0]
    day = bombed[bombed["date"] == "2019-05-10"].iloc[0]
    assert before["residents"] > 0
    assert day["government_held"] == 1
    assert day["departures"] == before["residents"]  # everyone left that day
    after = bombed[bombed["date"] >= "2019-05-10"]
    assert (after["residents"] == 0).all()
    assert after["returns_home"].sum() == 0
    # Without the capture the same people do go back once the bombing stops.
    free = at(run(world.scenario(BOMB + returns)).locations, "Bombed Town")
    assert free["returns_home"].sum() > 0


def test_closed_border_holds_people_at_the_camps(world):
    closed = run(world.scenario(BOMB))
    assert (closed.daily["abroad"] == 0).all()
    assert closed.daily["crossed_to_turkey"].sum() == 0
    camp = at(closed.locations, "Border Camp").iloc[-1]
    assert camp["in_camp"] + camp["in_informal_site"] > 2000  # more than its pre-war residents


def test_open_border_admits_at_most_its_daily_capacity(world):
    opened = """
[crossings."Crossing"]
open = true
daily_capacity = 300
"""
    res = run(world.scenario(BOMB + opened))
    crossed = res.daily["crossed_to_turkey"]
    assert crossed.max() <= 300
    assert crossed.sum() > 1000
    assert res.daily["abroad"].iloc[-1] == crossed.sum()


def test_border_closing_mid_scenario_stops_crossings(world):
    policy = """
[crossings."Crossing"]
open = true
daily_capacity = 500

[events.close]
kind = "border"
crossing = "Crossing"
start = 2019-05-15
open = false
source = "test"
"""
    res = run(world.scenario(BOMB + policy))
    d = res.daily.set_index("date")
    assert d.loc["2019-05-02":"2019-05-14", "crossed_to_turkey"].sum() > 0
    assert d.loc["2019-05-15":, "crossed_to_turkey"].sum() == 0


def test_full_camps_spill_into_informal_sites(world):
    res = run(world.scenario(BOMB))
    camp = at(res.locations, "Border Camp")
    assert (camp["in_camp"] <= camp["camp_capacity"]).all()
    assert camp["in_informal_site"].iloc[-1] > 0


def test_host_seekers_and_camp_seekers(world):
    """host_preference splits arrivals in a town with ample host room and no camp:
    host seekers take host places; camp seekers find no camp and end in informal sites.
    (At the camp cluster, which has no host places, everyone takes the camp.)"""
    roomy = "\n[behaviour]\nhost_capacity_share = 5.0\nhost_preference = {}\n"
    stay = {}
    for pref in (0.0, 0.5, 1.0):
        res = run(world.scenario(BOMB + roomy.format(pref), name=f"pref{pref}.toml"))
        town = at(res.locations, "Safe Town").iloc[-1]
        stay[pref] = (town["in_host_community"], town["in_informal_site"] + town["in_camp"])
        camp = at(res.locations, "Border Camp").iloc[-1]
        assert camp["in_host_community"] == 0
    assert stay[1.0][1] == 0 and stay[1.0][0] > 1000
    assert stay[0.0][0] == 0 and stay[0.0][1] > 1000
    host, sites = stay[0.5]
    assert 0.35 < host / (host + sites) < 0.65  # about half and half


def test_new_camp_places_take_people_out_of_informal_sites(world):
    more = """
[events.new_camp]
kind = "camp_capacity"
locations = ["Border Camp"]
date = 2019-05-25
capacity = 40000
source = "test"
"""
    res = run(world.scenario(BOMB + more))
    camp = at(res.locations, "Border Camp").set_index("date")
    assert camp.loc["2019-05-24", "in_informal_site"] > 0
    assert camp.loc["2019-05-25", "in_informal_site"] == 0
    assert camp.loc["2019-05-25", "in_camp"] > camp.loc["2019-05-24", "in_camp"]


def test_ceasefire_reduces_flight(world):
    cease = """
[events.ceasefire]
kind = "ceasefire"
start = 2019-05-02
end = 2019-05-20
factor = 0.0
source = "test"
"""
    with_war = run(world.scenario(BOMB))
    with_peace = run(world.scenario(BOMB + cease))
    assert with_war.daily["displacements_cumulative"].iloc[-1] > 1000
    assert with_peace.daily["displacements_cumulative"].iloc[-1] == 0


def test_movements_count_repeat_displacement_people_count_once(world):
    # People flee the bombed town, then the safe town is bombed too: they flee again.
    second = """
[events.second]
kind = "bombardment"
locations = ["Safe Town"]
start = 2019-05-12
end = 2019-05-30
intensity = 1.0
source = "test"
"""
    res = run(world.scenario(BOMB + second))
    last = res.daily.iloc[-1]
    assert last["displacements_cumulative"] > last["displaced_people_cumulative"] > 0


def test_population_scale_gives_the_same_curves_within_noise(world):
    path = world.scenario(
        BOMB.replace("[events.bomb]", "[population]\ntotal = 1000000\n\n[events.bomb]"),
        name="big.toml",
    )
    text = path.read_text().replace("[population]\ntotal = 102000\n", "", 1)
    path.write_text(text)
    full = run(path, scale=1.0, check=False).daily
    tenth = run(path, scale=0.1, check=False).daily
    for col in (
        "displacements_cumulative",
        "displaced_people_cumulative",
        "in_camps",
        "in_informal_sites",
    ):
        a, b = full[col].iloc[-1], tenth[col].iloc[-1]
        assert abs(a - b) <= 0.05 * max(a, 1), (col, a, b)
    assert tenth["population"].iloc[0] == full["population"].iloc[0]


@pytest.mark.parametrize("scale,weight", [(1, 1), (0.5, 2), (0.1, 10), (0.01, 100)])
def test_population_weight(scale, weight):
    assert population_weight(scale) == weight


@pytest.mark.parametrize("scale", [0, -1, 1.5, 0.3, 0.15])
def test_population_weight_refuses_scales_that_are_not_one_over_k(scale):
    with pytest.raises(ValueError):
        population_weight(scale)


def test_people_follow_their_households(world):
    sc = load_scenario(world.scenario(BOMB))
    m = DisplacementModel(sc, seed=2).run()
    pop = m.population
    hh, pp = pop.households, pop.people
    assert np.array_equal(pp.location, hh.location[pp.household])
    assert np.array_equal(pp.status, hh.status[pp.household])
    assert np.array_equal(pp.times_displaced, hh.times_displaced[pp.household])
    assert (pp.first_displaced_on[pp.times_displaced > 0] >= 1).all()


def test_mesa_shape(world):
    sc = load_scenario(world.scenario(BOMB))
    m = DisplacementModel(sc, seed=2)
    assert len(m.places) == 5 and len(m.agents) == 5
    assert {p.name for p in m.places} == {
        "Bombed Town",
        "Safe Town",
        "Border Camp",
        "Crossing",
        "Turkey",
    }
    m.step()  # 1 May: nothing happens yet
    camp = next(p for p in m.places if p.name == "Border Camp")
    assert camp.in_camp == 2000 and camp.camp_capacity == 5000 and camp.residents == 2000
    m.step()
    df = m.datacollector.get_model_vars_dataframe()
    assert len(df) == 2 and "displacements_cumulative" in df.columns
    assert df["displacements_cumulative"].iloc[-1] > 0


# --- No way out: a captured place whose only road is closed (issue 17, issue 9) ----------
def _cut_off(capture_day: int, close_day: int, reopen_day: int | None = None) -> str:
    """Bombed Town captured and its only road closed (:func:`conftest.captured_and_cut_off`).

    Onward moves from Safe Town's overflow are switched off: the tests count flights.
    """
    return "\n[behaviour]\nonward_rate = 0.0\n" + captured_and_cut_off(
        capture_day, close_day, reopen_day
    )


def _road(routes: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    return routes[(routes["from"] == a) & (routes["to"] == b)].reset_index(drop=True)


@pytest.mark.parametrize(
    "capture_day, close_day",
    [(1, 1), (5, 5), (5, 2), (1, 4)],
    ids=["same-first-day", "same-later-day", "closed-then-captured", "captured-then-closed"],
)
def test_people_of_a_captured_place_with_no_open_road_wait_on_the_move(
    world, capture_day, close_day
):
    """Nobody stays 'at home' in a captured place, nobody uses a closed road, nobody is lost."""
    res = run(world.scenario(_cut_off(capture_day, close_day)), scale=0.1)
    bombed = at(res.locations, "Bombed Town")
    held = bombed["government_held"] == 1
    taken = bombed[held].iloc[0]
    assert taken["date"] == f"2019-05-{capture_day:02d}"
    assert (bombed.loc[held, "residents"] == 0).all()  # everyone left home that day
    assert (bombed.loc[~held, "residents"] == 50000).all()  # no fighting: nobody left before
    assert taken["departures"] == 50000
    assert res.daily.loc[held, "new_people_displaced"].iloc[0] == 50000
    road = _road(res.routes, "Bombed Town", "Safe Town")
    closed = (road["date"] >= f"2019-05-{close_day:02d}").to_numpy()
    assert (road.loc[closed, "people"] == 0).all()  # the closed road stays closed
    if close_day <= capture_day:  # no way out: they wait at the place, on the move
        assert (bombed.loc[held, "on_the_move"] == 50000).all()
        assert (res.daily.loc[held, "on_the_move"] == 50000).all()
    else:  # they left by the road before it closed
        assert road.loc[~closed, "people"].sum() == 50000
        assert bombed.loc[held, "on_the_move"].iloc[-1] == 0
    assert (res.daily["population"] == 102000).all()


def test_people_waiting_for_a_road_leave_when_it_opens(world):
    res = run(world.scenario(_cut_off(2, 2, reopen_day=6)), scale=0.1)
    bombed = at(res.locations, "Bombed Town")
    road = _road(res.routes, "Bombed Town", "Safe Town")
    waiting = bombed["date"].between("2019-05-02", "2019-05-05")
    assert (bombed.loc[waiting, "on_the_move"] == 50000).all()
    assert (road.loc[waiting, "people"] == 0).all()
    assert road.loc[road["date"] == "2019-05-06", "people"].iloc[0] == 50000  # set off at once
    assert bombed["on_the_move"].iloc[-1] == 0
    assert res.daily["new_displacements"].sum() == 50000  # one flight, not one per day waited


def test_travellers_whose_goal_is_captured_with_no_way_on_do_not_settle_there(world):
    """Fleeing to Safe Town, which falls with its only other road closed: they wait."""
    extra = """
[events.assault]
kind = "ground_assault"
locations = ["Bombed Town"]
start = 2019-05-01
source = "test"

[events.taken]
kind = "capture"
locations = ["Safe Town"]
date = 2019-05-02
source = "test"

[events.cut]
kind = "route_closure"
between = ["Safe Town", "Border Camp"]
start = 2019-05-02
source = "test"
"""
    res = run(world.scenario(CLEAN + extra), scale=0.1)  # check=True: none settle in Safe Town
    safe = at(res.locations, "Safe Town")
    assert (safe.loc[safe["government_held"] == 1, "residents"] == 0).all()
    assert res.daily["on_the_move"].iloc[-1] > 0  # some are still waiting at the end


def test_camps_at_a_place_with_host_places_never_overfill(world):
    """Regression (property test, seed 4): a host seeker who does not fit in the host places
    left never takes more camp places than the camp has room for."""
    extra = """
[population]
total = 4160
household_size = 1.0

[events.e0]
kind = "bombardment"
source = "generated"
locations = ["Bombed Town"]
start = 2019-05-01

[events.e1]
kind = "camp_capacity"
source = "generated"
locations = ["Bombed Town", "Safe Town", "Border Camp"]
date = 2019-05-01
capacity = 268
"""
    base = "\n".join(line for line in BASE_SCENARIO.splitlines() if "total" not in line)
    base = base.replace("[population]\n", "")
    res = run(world.scenario(extra, base=base), seed=0, scale=0.1)  # check=True
    assert (res.locations["in_camp"] <= res.locations["camp_capacity"]).all()
