"""The rules of issue 11 (the front, sustained bombardment, shelter-seeking destinations,
onward movement, returns in lulls): each pure function against its docstring formula, entry
by entry, and each rule on a tiny world whose outcome is clear by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis.calibration import Target, model_values, place_regions, residuals
from sim.model import behaviour as rules
from sim.model import geography
from sim.model.conflict import compile_timeline
from sim.model.model import DisplacementModel
from sim.model.population import IN_HOST, IN_INFORMAL
from sim.outputs.runner import simulate
from sim.scenario.loading import load_scenario

# --------------------------------------------------------------------------------------
# Pure functions, entry by entry
# --------------------------------------------------------------------------------------


def test_front_distance_is_the_nearest_front_place_by_road():
    road = np.array([[0.0, 10, 30], [10, 0, 20], [30, 20, 0]])
    front = np.array([False, False, True])
    got = rules.front_distance(road, front)
    for j in range(3):
        assert got[j] == min(road[j, k] for k in range(3) if front[k])
    two = rules.front_distance(road, np.array([True, False, True]))
    assert list(two) == [0.0, 10.0, 0.0]
    assert np.isinf(rules.front_distance(road, np.zeros(3, bool))).all()


def test_front_speed_is_the_approach_per_day_and_never_negative():
    now = np.array([10.0, 40.0, np.inf, 5.0, 20.0])
    before = np.array([24.0, 30.0, 50.0, np.inf, 20.0])
    got = rules.front_speed(now, before, 7.0)
    for j in range(len(now)):
        if math.isfinite(now[j]) and math.isfinite(before[j]):
            want = max(0.0, (before[j] - now[j]) / 7.0)
        else:
            want = 0.0
        assert got[j] == pytest.approx(want)
    assert got[0] == pytest.approx(2.0) and got[1] == 0.0  # receding front: 0
    capped = rules.front_speed(now, before, 7.0, 1.5)
    for j in range(len(now)):
        assert capped[j] == pytest.approx(min(1.5, got[j]))
    assert capped[0] == 1.5  # a jump of the nearest front place is not a rout


def test_front_threat_projects_the_front_ahead():
    d = np.array([0.0, 10.0, 30.0, 30.0, np.inf, 5.0])
    v = np.array([0.0, 0.0, 0.0, 2.0, 3.0, 10.0])
    got = rules.front_threat(d, v, 7.0, 15.0)
    for j in range(len(d)):
        want = 0.0 if not math.isfinite(d[j]) else math.exp(-max(0.0, d[j] - 7 * v[j]) / 15.0)
        assert got[j] == pytest.approx(want)
    assert got[0] == 1.0 and got[5] == 1.0  # at the front, or reached within the look-ahead
    assert got[3] > got[2]  # an approaching front threatens more than a still one
    assert (rules.front_threat(d, v, 7.0, 0.0) == 0).all()  # L = 0 turns the front off


def test_sustained_bombardment_is_an_exponential_moving_average():
    prev = np.array([0.0, 0.5, 0.2])
    today = np.array([0.5, 0.0, 0.2])
    got = rules.sustained_bombardment(prev, today, 14.0)
    k = math.exp(-1 / 14)
    for j in range(3):
        assert got[j] == pytest.approx(prev[j] * k + (1 - k) * today[j])
    assert got[2] == pytest.approx(0.2)  # steady strikes: B stays at their intensity
    b = np.zeros(1)
    for _ in range(200):
        b = rules.sustained_bombardment(b, np.array([0.5]), 14.0)
    assert b[0] == pytest.approx(0.5, rel=1e-4)  # weeks of strikes bring B to I_b
    assert list(rules.sustained_bombardment(prev, today, 0.0)) == list(today)


def test_expected_danger_combines_fear_and_threat_as_independent_hazards():
    f = np.array([0.0, 0.5, 0.2, 1.0])
    a = np.array([0.0, 0.0, 0.5, 0.3])
    got = rules.expected_danger(f, a)
    for j in range(4):
        assert got[j] == pytest.approx(1 - (1 - f[j]) * (1 - a[j]))


def test_flight_hazard_adds_the_response_to_sustained_bombardment():
    e = np.array([0.0, 0.05, 0.5, 1.0])
    b = np.array([0.5, 0.0, 0.2, 0.0])
    got = rules.flight_hazard(e, b, 0.8, 0.05, 3.0, 0.02)
    for j in range(4):
        excess = max(0.0, e[j] - 0.05) / 0.95
        assert got[j] == pytest.approx(0.8 * excess**3 + 0.02 * b[j])
    assert got[0] == pytest.approx(0.01)  # bombardment alone moves people, slowly
    assert got[1] == 0.0  # below the tolerance and no strikes: nobody leaves


def test_shelter_is_the_free_room_never_below_the_floor():
    cap = np.array([1000.0, 1000.0, 0.0, 500.0])
    occ = np.array([200.0, 5000.0, 10.0, 500.0])
    got = rules.shelter(cap, occ, 0.05)
    for j in range(4):
        assert got[j] == max(cap[j] - occ[j], 0.05 * cap[j], 0.0)
    assert got[2] == 0.0  # no places at all: no pull


def test_camp_pull_grows_with_camp_places_full_or_not():
    room = np.array([100.0, 5.0, 5.0, 0.0])  # shelter: free room (floored)
    camps = np.array([0.0, 100.0, 1000.0, 0.0])  # camp places, full or not
    got = rules.camp_pull(room, camps, 4.0)
    for j in range(4):
        assert got[j] == pytest.approx(room[j] + 3.0 * camps[j])
    # a full camp area of 1000 places outdraws a town with 100 free host places
    assert got[2] > got[1] > got[0]
    assert got[3] == 0.0  # no places at all: no pull
    assert (rules.camp_pull(room, camps, 1.0) == room).all()  # weight 1: no preference
    assert (rules.camp_pull(room, camps, 0.0) >= 0.0).all()  # never negative


def test_return_probability_falls_to_zero_at_the_threshold():
    e = np.array([0.0, 0.025, 0.05, 0.3])
    got = rules.return_probability(e, 0.05, 0.02)
    for j in range(4):
        assert got[j] == pytest.approx(0.02 * min(max(1 - e[j] / 0.05, 0.0), 1.0))
    assert got[0] == 0.02 and got[2] == 0.0 and got[3] == 0.0
    assert (rules.return_probability(e, 0.0, 0.02) == 0).all()


def test_attractiveness_weights_shelter_and_expected_danger_entry_by_entry():
    cost = np.array([[0.0, 20, 20, 50], [20, 0, 30, 40], [20, 30, 0, 60], [50, 40, 60, 0]])
    expected = np.array([0.9, 0.6, 0.0, 0.1])
    border = np.array([40.0, 30.0, 10.0, 0.0])
    room = np.array([100.0, 3000.0, 1000.0, 0.0])
    cand = np.array([True, True, True, True])
    p = rules.attractiveness(cost, expected, border, room, cand, 25.0, 4.0, 20.0)
    for i in range(4):
        w = np.array(
            [
                0.0
                if (j == i or room[j] == 0)
                else math.exp(-cost[i, j] / 25)
                * (1 - expected[j]) ** 4
                * math.exp(-border[j] / 20)
                * room[j]
                for j in range(4)
            ]
        )
        assert p[i] == pytest.approx(w / w.sum())
    assert (p[:, 3] == 0).all()  # no shelter at all: never chosen
    # candidates by origin and destination: row i sees only its own candidates
    cand2 = np.ones((4, 4), bool)
    cand2[0, 1] = False
    p2 = rules.attractiveness(cost, expected, border, room, cand2, 25.0, 4.0, 20.0)
    assert p2[0, 1] == 0 and p2[0].sum() == pytest.approx(1.0)
    assert p2[0, 2] == pytest.approx(1.0)  # place 3 has no shelter, place 1 is masked
    assert np.allclose(p2[1:], p[1:])


# --------------------------------------------------------------------------------------
# Tiny worlds
# --------------------------------------------------------------------------------------

# A road north from the front: Front Town - Near Town (10 km) - Far Town (40 km more) -
# Safe Town / Host Town; a hill (no residents) beside Danger Town; a full reception centre.
LINE_LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population
Front Town,sub_district,opposition,35.40,36.60,20000,0,0,
Near Town,sub_district,opposition,35.50,36.60,20000,0,0,
Far Town,sub_district,opposition,35.90,36.60,20000,0,0,
Danger Town,sub_district,opposition,35.45,36.90,20000,0,0,
Hill,town,opposition,35.46,36.95,0,0,0,
Safe Town,sub_district,opposition,36.10,36.60,20000,0,0,
Reception,camp_cluster,opposition,35.30,36.60,100,100,400,
Crossing,crossing,opposition,36.23,36.69,0,0,0,0
Turkey,abroad,turkey,36.27,36.57,0,0,0,0
"""
LINE_ROUTES = """\
from,to,km
Front Town,Near Town,10
Near Town,Far Town,40
Far Town,Safe Town,30
Front Town,Danger Town,30
Danger Town,Hill,5
Front Town,Safe Town,30
Front Town,Reception,5
Safe Town,Crossing,20
Crossing,Turkey,8
"""

QUIET = """
[behaviour]
propensity_shape = 100.0
fear_tolerance = 0.0
fear_exponent = 1.0
fear_distance_km = 1.0
fear_memory_days = 0.0
bombardment_rate = 0.0
front_distance_km = 0.0
onward_rate = 0.0
return_rate = 0.0
destination_distance_spread = 0.0
"""


def _world(world):
    world.locations(LINE_LOCATIONS)
    world.routes(LINE_ROUTES)
    return world


def _assault(place: str, start: str = "2019-05-02", end: str = "2019-05-30", name="a") -> str:
    return f"""
[events.{name}]
kind = "ground_assault"
locations = ["{place}"]
start = {start}
end = {end}
intensity = 1.0
source = "test"
"""


def _bomb(place: str, start: str, end: str, name="b", intensity=0.5) -> str:
    return f"""
[events.{name}]
kind = "bombardment"
locations = ["{place}"]
start = {start}
end = {end}
intensity = {intensity}
source = "test"
"""


def _behaviour(base: str, **values) -> str:
    lines = base.strip().splitlines()
    keep = [ln for ln in lines if ln.split(" = ")[0] not in values]
    return "\n" + "\n".join(keep + [f"{k} = {v}" for k, v in values.items()]) + "\n"


def _departures(res, place: str, until: str | None = None) -> int:
    loc = res.locations
    sel = loc["location"] == place
    if until:
        sel &= pd.to_datetime(loc["date"]) <= pd.Timestamp(until)
    return int(loc.loc[sel, "departures"].sum())


def test_flight_starts_ahead_of_the_front(world):
    """Near Town (10 km from the assault) empties with the front's threat, not without it."""
    _world(world)
    beh = _behaviour(QUIET, flee_rate=1.0)
    without = simulate(load_scenario(world.scenario(beh + _assault("Front Town"))), 1, 0.1)
    with_front = simulate(
        load_scenario(
            world.scenario(_behaviour(beh, front_distance_km=8.0) + _assault("Front Town"))
        ),
        1,
        0.1,
    )
    # fear reaches Near Town only as exp(-10 km / 1 km): almost nobody leaves without the front
    assert _departures(without, "Near Town") < 200
    # with it, the threat there is exp(-10/8) = 0.29 a day: most of its 20,000 leave
    assert _departures(with_front, "Near Town") > 10_000
    # ... while Far Town, 50 km from a front that does not move, mostly stays
    assert _departures(with_front, "Far Town") < 0.2 * _departures(with_front, "Near Town")


def test_an_approaching_front_threatens_before_it_arrives(world):
    """The front moves from Front Town to Near Town: Far Town feels it earlier with a look-ahead."""
    _world(world)
    events = (
        _assault("Front Town", "2019-05-02", "2019-05-06", name="a1")
        + '\n[events.take]\nkind = "capture"\nlocations = ["Front Town"]\ndate = 2019-05-07\n'
        'by = "government"\nsource = "test"\n'
        + _assault("Near Town", "2019-05-08", "2019-05-30", name="a2")
    )
    threat = {}
    for look in (0.0, 7.0):
        sc = load_scenario(
            world.scenario(
                _behaviour(QUIET, flee_rate=1.0, front_distance_km=10.0, front_lookahead_days=look)
                + events,
                name=f"look{look}.toml",
            )
        )
        m = DisplacementModel(sc, seed=1, population_scale=0.1)
        far = m.world.index["Far Town"]
        series = []
        for _ in range(12):
            m.step()
            series.append(float(m.conditions.threat[far]))
        threat[look] = series
        m.close()
    # day 7 (8 May): the front jumped 10 km closer to Far Town (50 -> 40 km); with a 7-day look-ahead
    # it is projected to be 30 km away: exp(-30/10) against exp(-40/10).
    # (day 8: the speed is measured over days 1-8, when the front was already there)
    assert threat[7.0][8] == pytest.approx(math.exp(-30 / 10), rel=1e-6)
    assert threat[0.0][8] == pytest.approx(math.exp(-40 / 10), rel=1e-6)
    assert threat[7.0][1] == pytest.approx(threat[0.0][1])  # before it moves: the same


def test_sustained_bombardment_moves_people_gradually(world):
    """Strikes with no response to fear: people leave only through the sustained term."""
    _world(world)
    bomb = _bomb("Far Town", "2019-05-02", "2019-05-30")
    off = simulate(load_scenario(world.scenario(_behaviour(QUIET, flee_rate=0.0) + bomb)), 1, 0.1)
    on = simulate(
        load_scenario(
            world.scenario(
                _behaviour(QUIET, flee_rate=0.0, bombardment_rate=0.1, bombardment_memory_days=7.0)
                + bomb
            )
        ),
        1,
        0.1,
    )
    assert _departures(off, "Far Town") == 0
    first_week = _departures(on, "Far Town", "2019-05-08")
    total = _departures(on, "Far Town")
    # B builds up over days (hazard 0.1 * B, B -> 0.5): a few percent leave in the first
    # week, many more once strikes are sustained, and not everyone within the month.
    assert 0 < first_week < 0.2 * 20_000
    assert total > 3 * first_week
    assert total < 0.9 * 20_000


def test_a_household_never_chooses_a_place_the_front_is_about_to_reach(world):
    """Danger Town is 5 km from an assault; Safe Town is as far from Front Town and quiet."""
    _world(world)
    beh = _behaviour(
        QUIET,
        flee_rate=1.0,
        front_distance_km=10.0,
        safety_weight=50.0,
        destination_distance_km=30.0,
    )
    res = simulate(
        load_scenario(world.scenario(beh + _assault("Front Town") + _assault("Hill", name="h"))),
        1,
        0.1,
    )
    arr = res.locations.groupby("location")["arrivals"].sum()
    assert arr["Safe Town"] > 1000
    assert arr["Danger Town"] == 0


def test_people_in_a_full_reception_centre_move_on(world):
    """Everyone flees to the nearby reception centre (400 places); the overflow moves on."""
    _world(world)
    beh = _behaviour(QUIET, flee_rate=1.0, destination_distance_km=2.0, host_preference=1.0)
    event = _bomb("Front Town", "2019-05-02", "2019-05-04", intensity=1.0)
    stay = simulate(load_scenario(world.scenario(beh + event, name="stay.toml")), 1, 0.1)
    move = simulate(
        load_scenario(world.scenario(_behaviour(beh, onward_rate=0.1) + event, name="move.toml")),
        1,
        0.1,
    )

    def informal(res, place):
        loc = res.locations
        last = loc[(loc["date"] == loc["date"].max()) & (loc["location"] == place)]
        return int(last["in_informal_site"].iloc[0])

    late = simulate(
        load_scenario(
            world.scenario(
                _behaviour(beh, onward_rate=0.1, onward_days=0) + event, name="late.toml"
            )
        ),
        1,
        0.1,
    )
    assert informal(stay, "Reception") > 5000  # without onward movement they stay
    # ... and when the window is over (0 days after their flight), they have settled there
    assert informal(late, "Reception") == informal(stay, "Reception")
    # at 0.1 a day for four weeks most move on, as far as the host places elsewhere allow
    assert informal(move, "Reception") < 0.3 * informal(stay, "Reception")
    moved_to = move.locations.groupby("location")["arrivals"].sum()
    stayed = stay.locations.groupby("location")["arrivals"].sum()
    assert moved_to["Safe Town"] + moved_to["Near Town"] > stayed["Safe Town"] + stayed["Near Town"]
    # an onward move is a movement, not a new person displaced (same dice for the flights)
    last = {k: r.daily.iloc[-1] for k, r in (("stay", stay), ("move", move))}
    assert (
        last["move"]["displaced_people_cumulative"] == last["stay"]["displaced_people_cumulative"]
    )
    assert last["move"]["displacements_cumulative"] > last["stay"]["displacements_cumulative"]


def test_people_never_move_on_toward_the_front(world):
    """The only places with room beside the reception centre are quieter, or by the front."""
    _world(world)
    beh = _behaviour(
        QUIET,
        flee_rate=1.0,
        destination_distance_km=2.0,
        host_preference=1.0,
        onward_rate=0.2,
        safety_weight=0.0,
        front_distance_km=10.0,
    )
    events = _bomb("Front Town", "2019-05-02", "2019-05-04", intensity=1.0) + _assault(
        "Hill", name="h"
    )
    res = simulate(load_scenario(world.scenario(beh + events)), 1, 0.1)
    loc = res.locations
    later = pd.to_datetime(loc["date"]) >= pd.Timestamp("2019-05-06")
    dep = loc[later].groupby("location")["departures"].sum()
    arr = loc[later].groupby("location")["arrivals"].sum()
    # Once Front Town is quiet (from 5 May), every informal site is quieter than Danger
    # Town (expected danger 0.6 from the front 5 km away): with no safety weight at all,
    # the onward rule alone keeps people away from it.
    assert dep["Reception"] > 1000  # people do move on ...
    assert arr["Danger Town"] == 0  # ... but not to the town 5 km from the fighting


def test_a_refuge_that_falls_near_the_front_is_left_again(world):
    """People who fled to Near Town flee again when the front reaches it (secondary)."""
    _world(world)
    beh = _behaviour(QUIET, flee_rate=1.0, front_distance_km=5.0, destination_distance_km=5.0)
    events = _bomb("Front Town", "2019-05-02", "2019-05-04", intensity=1.0) + _assault(
        "Near Town", "2019-05-15", "2019-05-30", name="late"
    )
    sc = load_scenario(world.scenario(beh + events))
    m = DisplacementModel(sc, seed=1, population_scale=0.1)
    near = m.world.index["Near Town"]
    for _ in range(13):
        m.step()
    hh = m.population.households
    hosted = (hh.location == near) & np.isin(hh.status, [IN_HOST, IN_INFORMAL]) & (hh.home != near)
    assert hosted.sum() > 0
    ids = hh.id[hosted]
    m.run()
    again = np.isin(hh.id, ids) & (hh.times_displaced >= 2)
    assert again.sum() > 0.5 * len(ids)
    m.close()


def test_returns_happen_in_a_lull_and_not_under_fire(world):
    _world(world)
    beh = _behaviour(
        QUIET,
        flee_rate=1.0,
        fear_memory_days=3.0,
        return_rate=0.2,
        return_min_days=3,
        return_fear_threshold=0.05,
    )
    lull = simulate(
        load_scenario(world.scenario(beh + _bomb("Far Town", "2019-05-02", "2019-05-06"))),
        1,
        0.1,
    )
    fire = simulate(
        load_scenario(
            world.scenario(beh + _bomb("Far Town", "2019-05-02", "2019-05-30"), name="f.toml")
        ),
        1,
        0.1,
    )
    d = lull.daily.set_index(pd.to_datetime(lull.daily["date"]))
    assert d.loc[:"2019-05-06", "returns_started"].sum() == 0  # not while strikes go on
    assert d.loc["2019-05-07":, "returns_started"].sum() > 1000  # home is quiet: they go back
    assert fire.daily["returns_started"].sum() == 0


def test_the_front_is_assaults_and_recent_captures(world):
    _world(world)
    sc = load_scenario(
        world.scenario(
            _behaviour(QUIET, front_capture_days=3)
            + _assault("Hill", "2019-05-02", "2019-05-04")
            + '\n[events.take]\nkind = "capture"\nlocations = ["Front Town"]\ndate = 2019-05-10\n'
            'by = "government"\nsource = "test"\n' + _bomb("Far Town", "2019-05-02", "2019-05-30")
        )
    )
    tl = compile_timeline(sc, geography.load(sc.locations_file, sc.routes_file))
    idx = {n: i for i, n in enumerate(pd.read_csv(sc.locations_file)["name"])}
    day = sc.day_index
    from datetime import date

    hill, town, far = idx["Hill"], idx["Front Town"], idx["Far Town"]
    assert tl.front[day(date(2019, 5, 3)), hill] and not tl.front[day(date(2019, 5, 5)), hill]
    assert not tl.front[day(date(2019, 5, 9)), town]
    assert tl.front[day(date(2019, 5, 10)), town] and tl.front[day(date(2019, 5, 12)), town]
    assert not tl.front[day(date(2019, 5, 13)), town]  # 3 days after the capture
    assert not tl.front[:, far].any()  # bombardment is not the front
    assert tl.bombardment[day(date(2019, 5, 3)), far] == pytest.approx(0.5)
    assert tl.bombardment[day(date(2019, 5, 3)), hill] == 0.0


# --------------------------------------------------------------------------------------
# REACH ISMI shares: the observation model
# --------------------------------------------------------------------------------------


def test_ismi_shares_are_arrivals_of_a_pcode_over_a_region(tmp_path):
    from datetime import date

    locs = tmp_path / "l.csv"
    locs.write_text(
        "name,kind,control,pcode\nA,sub_district,opposition,P1\nB,camp_cluster,opposition,P1\n"
        "C,sub_district,opposition,P2\nD,host_area,turkish_backed,P3\nT,abroad,turkey,\n"
    )
    reg = place_regions(locs)
    assert list(reg["region"]) == ["IDL+", "IDL+", "IDL+", "NAL", "abroad"]
    days = ["2019-05-01", "2019-06-01"]
    rows = []
    arrivals = {"A": (10, 1), "B": (30, 0), "C": (40, 5), "D": (20, 0), "T": (100, 0)}
    departures = {"A": (5, 0), "B": (0, 0), "C": (15, 9), "D": (0, 0), "T": (0, 0)}
    for k, d in enumerate(days):
        for r in reg.itertuples():
            rows.append(
                {
                    "date": d,
                    "location": r.location,
                    "arrivals": arrivals[r.location][k],
                    "departures": departures[r.location][k],
                    "pcode": r.pcode,
                    "region": r.region,
                }
            )
    loc = pd.DataFrame(rows)
    may = (date(2019, 5, 1), date(2019, 5, 31))
    t = [
        Target("arrival_share", *may, 0.5, "fit", "s", "pcode=P1", "region=IDL+"),
        Target("arrival_share", *may, 0.2, "fit", "s", "region=NAL", "region=NW"),
        Target("departure_share", *may, 0.25, "fit", "s", "pcode=P2", "region=IDL+"),
    ]
    daily = pd.DataFrame({"date": days})
    got = model_values(daily, loc, t)
    assert got[0] == pytest.approx((10 + 30) / (10 + 30 + 40))  # abroad and NAL excluded
    assert got[1] == pytest.approx(20 / (10 + 30 + 40 + 20))  # NW = IDL+ and NAL
    assert got[2] == pytest.approx(15 / 20)
    r = residuals(got, t)
    assert r[0] == pytest.approx((got[0] / 0.5 - 1) / 0.25)  # Flee's ARD term, standardised
    assert r[2] == pytest.approx((got[2] / 0.25 - 1) / 0.25)


def test_ismi_ranks_put_the_named_sub_districts_beside_the_model_s_largest():
    """ISMI names only the largest sub-districts; the report shows the model's largest share
    among those it did not name, to compare with ISMI's smallest named share."""
    from datetime import date

    from sim.analysis.calibration_report import ismi_ranks

    rows = []
    arrivals = {"A": ("P1", "IDL+", 50), "B": ("P2", "IDL+", 30), "C": ("P3", "IDL+", 20)}
    arrivals["D"] = ("P4", "NAL", 500)  # another region: not in the shares
    for name, (pcode, region, n) in arrivals.items():
        rows.append(
            {
                "date": "2019-07-10",
                "location": name,
                "pcode": pcode,
                "region": region,
                "arrivals": n,
                "departures": 0,
            }
        )
    loc = pd.DataFrame(rows)
    july = (date(2019, 7, 1), date(2019, 7, 31))
    t = [
        Target("arrival_share", *july, 0.6, "fit", "s", "pcode=P1", "region=IDL+"),
        Target("arrival_share", *july, 0.1, "fit", "s", "pcode=P3", "region=IDL+"),
    ]
    r = ismi_ranks(t, [(None, loc)], {"P2": "Bee"}).iloc[0]
    assert r["month"] == "2019-07" and r["measure"] == "arrival_share"
    assert r["smallest_named"] == pytest.approx(0.1)
    # P2 (not named by ISMI) has 0.3 of the model's arrivals, more than ISMI's smallest named
    assert r["largest_unnamed"] == pytest.approx(0.3)
    assert r["largest_unnamed_pcode"] == "Bee (P2)"
    assert r["model_top"].startswith("P1 0.500; Bee (P2) 0.300; P3 0.200")


def test_forward_difference_hessian_of_a_quadratic_is_exact():
    from sim.analysis.calibration import _hessian

    a = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 4.0]])
    calls = []

    def f(x):
        calls.append(1)
        return float(x @ a @ x + x.sum())

    h = _hessian(f, np.array([0.3, -0.2, 1.0]), 0.1)
    assert np.allclose(h, 2 * a)  # second differences of a quadratic are exact
    assert len(calls) == 1 + 3 + 6  # f(x), f(x + h e_i), f(x + h e_i + h e_j) for i <= j


# --------------------------------------------------------------------------------------
# Issue 11, second round: the border, camp areas
# --------------------------------------------------------------------------------------


def _with_border_km(values: dict[str, str]) -> str:
    """LINE_LOCATIONS with a border_km column: ``values`` by place, blank elsewhere."""
    lines = LINE_LOCATIONS.splitlines()
    out = [lines[0] + ",border_km"]
    out += [ln + "," + values.get(ln.split(",")[0], "") for ln in lines[1:]]
    return "\n".join(out) + "\n"


def test_border_distance_is_the_given_km_else_the_road_to_a_crossing(world):
    from sim.model.movement import border_distance_km

    # Far Town lies on the border far from any crossing; the others give no border_km
    world.locations(_with_border_km({"Far Town": "2.5"}))
    world.routes(LINE_ROUTES)
    sc = load_scenario(world.scenario(QUIET))
    w = geography.load(sc.locations_file, sc.routes_file)
    road = w.road_distance_km()
    got = border_distance_km(w, road, w.is_kind("crossing"))
    for i, name in enumerate(w.names):
        want = 2.5 if name == "Far Town" else road[i, w.index["Crossing"]]
        assert got[i] == pytest.approx(want)


def test_a_bad_border_km_names_the_row_and_the_fix(world):
    from sim.errors import InputError

    world.locations(_with_border_km({"Near Town": "-3"}))
    world.routes(LINE_ROUTES)
    with pytest.raises(InputError) as err:
        load_scenario(world.scenario(QUIET))
    msg = str(err.value)
    assert "border_km" in msg and "Near Town" in msg and "negative" in msg


def test_people_head_for_a_full_camp_area_rather_than_a_town_with_a_little_room(world):
    """Reception (a camp of 400 places, full) and Safe Town (host room) at the same distance:
    with camp_weight > 1 the camp area draws most, and its overflow settles in informal sites."""
    _world(world)
    beh = _behaviour(
        QUIET,
        flee_rate=1.0,
        destination_distance_km=1000.0,
        safety_weight=0.0,
        host_capacity_share=0.01,
        crowding_floor=0.05,
    )
    event = _bomb("Front Town", "2019-05-02", "2019-05-04", intensity=1.0)
    got = {}
    for k in (1.0, 50.0):
        res = simulate(
            load_scenario(
                world.scenario(_behaviour(beh, camp_weight=k) + event, name=f"k{k}.toml")
            ),
            1,
            0.1,
        )
        arr = res.locations.groupby("location")["arrivals"].sum()
        got[k] = arr
    # no preference: a full camp of 400 places draws little against 200 free host places a town
    assert got[1.0]["Reception"] < got[1.0]["Safe Town"] + got[1.0]["Near Town"]
    # a strong camp pull: most go to the full camp area anyway (and settle beside it)
    total = got[50.0].sum()
    assert got[50.0]["Reception"] > 0.6 * total


def test_reach_factor_shrinks_the_reach_of_people_leaving_mild_danger():
    e = np.array([0.0, 0.02, 0.3, 1.0, 1.2])
    f = rules.reach_factor(e, 0.05, 2.0)
    assert f == pytest.approx([0.05**2, 0.05**2, 0.09, 1.0, 1.0])
    assert (rules.reach_factor(e, 0.05, 0.0) == 1.0).all()
    # a scale per origin is the same as each row computed with its own scale
    cost = np.array([[0.0, 10, 30], [10, 0, 20], [30, 20, 0]])
    expected = np.zeros(3)
    border = np.array([5.0, 5.0, 5.0])
    room = np.array([100.0, 100.0, 100.0])
    cand = np.ones(3, bool)
    scales = np.array([5.0, 20.0, 80.0])
    p = rules.attractiveness(cost, expected, border, room, cand, scales, 2.0, 50.0)
    for i, s in enumerate(scales):
        assert p[i] == pytest.approx(
            rules.attractiveness(cost, expected, border, room, cand, s, 2.0, 50.0)[i]
        )


def test_people_fleeing_an_assault_go_farther_than_people_leaving_light_strikes(world):
    """Near Town (10 km) and Safe Town (30 km) offer the same room. With the reach tied to
    the danger fled (reach_danger_exponent 2), households leaving light strikes on Front Town
    mostly stop in Near Town; under a ground assault many more go on to Safe Town. Without it
    (exponent 0) people leaving light strikes go on to Safe Town as well."""
    _world(world)
    beh = _behaviour(
        QUIET, flee_rate=2.0, destination_distance_km=20.0, safety_weight=0.0, border_pull_km=1000.0
    )
    light = _bomb("Front Town", "2019-05-02", "2019-05-20", intensity=0.3)
    heavy = _assault("Front Town", "2019-05-02", "2019-05-20")
    ratio = {}
    for b in (0.0, 2.0):
        for label, event in (("light", light), ("heavy", heavy)):
            sc = world.scenario(
                _behaviour(beh, reach_danger_exponent=b) + event, name=f"{label}{b}.toml"
            )
            arr = simulate(load_scenario(sc), 1, 0.1).locations.groupby("location")["arrivals"]
            arr = arr.sum()
            assert arr["Near Town"] > 0
            ratio[label, b] = arr["Safe Town"] / arr["Near Town"]
    assert ratio["heavy", 2.0] > 5 * ratio["light", 2.0]
    assert ratio["light", 2.0] < 0.05  # light strikes: hardly anyone goes the long way
    assert ratio["light", 0.0] > 0.3  # without the rule they do


def test_people_moving_on_from_a_quiet_reception_centre_look_nearby(world):
    """From the full reception centre (quiet once the strikes on Front Town stop), onward
    moves go to the nearest place with room (Front Town, 5 km) when the reach follows the
    danger left behind; with the same reach for every move, many go on to Near Town and Safe
    Town (15 and 35 km)."""
    _world(world)
    beh = _behaviour(
        QUIET,
        flee_rate=1.0,
        destination_distance_km=2.0,
        host_preference=1.0,
        onward_rate=0.1,
        safety_weight=0.0,
        fear_tolerance=0.05,
        host_capacity_share=0.5,
    )
    event = _bomb("Front Town", "2019-05-02", "2019-05-04", intensity=1.0)
    got = {}
    for b in (0.0, 2.0):
        sc = world.scenario(
            _behaviour(beh, reach_danger_exponent=b, destination_distance_km=30.0, camp_weight=50.0)
            + event,
            name=f"onward{b}.toml",
        )
        loc = simulate(load_scenario(sc), 1, 0.1).locations
        later = pd.to_datetime(loc["date"]) >= pd.Timestamp("2019-05-06")
        got[b] = loc[later].groupby("location")["arrivals"].sum()
        assert loc[later].groupby("location")["departures"].sum()["Reception"] > 1000
    far = ["Near Town", "Safe Town", "Far Town"]
    share_far = {b: g[far].sum() / g.sum() for b, g in got.items()}
    assert share_far[0.0] > 0.3
    assert share_far[2.0] < 0.05
    assert got[2.0]["Front Town"] > 0.9 * got[2.0].sum()


def test_moving_on_does_not_restart_the_window_for_moving_on(world):
    """Households may move on from informal sites for onward_days after they fled from
    danger; an onward move keeps that day (displaced_on), so a household that lands in
    another full place does not get a new window (no moving from site to site all summer)."""
    from sim.model.population import IN_INFORMAL

    _world(world)
    beh = _behaviour(
        QUIET, flee_rate=1.0, destination_distance_km=2.0, host_preference=1.0, onward_rate=1.0
    )
    event = _bomb("Front Town", "2019-05-02", "2019-05-04", intensity=1.0)
    m = DisplacementModel(load_scenario(world.scenario(beh + event)), seed=1, population_scale=0.1)
    hh = m.population.households
    while m.day < 4:  # the strikes end on 4 May: whoever leaves a site after is moving on
        m.step()
    fled_on, moves = hh.displaced_on.copy(), hh.times_displaced.copy()
    in_site = hh.status == IN_INFORMAL
    m.step()
    moved_on = in_site & (hh.times_displaced > moves)
    assert moved_on.sum() > 10
    assert (hh.displaced_on[moved_on] == fled_on[moved_on]).all()
    assert (hh.times_displaced[moved_on] >= 2).all()  # it is still counted as a movement
    m.close()
