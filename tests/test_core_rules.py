"""Every rule of the model against the formula in its docstring, entry by entry.

Each test recomputes a rule the slow, obvious way (plain Python loops over the formula
as written in the docstring) and compares, as LASER's tests recompute the gravity
matrix entry by entry; then the edge cases where a one-character bug hides: exact
capacity, tolerance above 0, zero-probability destinations, u = 0 and u close to 1,
a road finished with exactly the budget left.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from conftest import BOMB

from sim import behaviour as rules
from sim.model import DisplacementModel, InvariantError
from sim.population import (
    AT_HOME,
    IN_CAMP,
    ON_THE_MOVE,
    Population,
    propensity_from_uniforms,
)
from sim.scenario.loading import load_scenario

#: The largest double below 1: the largest uniform `sim.rng.uniforms` can return.
U_MAX = 1.0 - 2.0**-53


# --------------------------------------------------------------------------------------
# fear_kernel, danger, update_fear
# --------------------------------------------------------------------------------------
def test_fear_kernel_entry_by_entry():
    road_km = np.array([[0.0, 10.0, np.inf], [10.0, 0.0, 35.5], [np.inf, 35.5, 0.0]])
    k = rules.fear_kernel(road_km, 10.0)
    for j in range(3):
        for m in range(3):
            assert k[j, m] == pytest.approx(math.exp(-road_km[j, m] / 10.0), rel=1e-15, abs=0)
    assert k[0, 0] == 1.0 and k[0, 2] == 0.0  # here: full weight; unreachable: none


def test_danger_entry_by_entry():
    gen = np.random.default_rng(5)
    kernel = gen.random((6, 6))
    np.fill_diagonal(kernel, 1.0)
    intensity = gen.random(6)
    intensity[2] = 0.0
    d = rules.danger(intensity, kernel)
    for j in range(6):
        safe = 1.0
        for m in range(6):
            safe *= 1.0 - intensity[m] * kernel[j, m]
        assert d[j] == pytest.approx(1.0 - safe, rel=1e-12)


def test_danger_edge_cases():
    kernel = np.array([[1.0, 0.5], [0.5, 1.0]])
    # a place under full intensity is in total danger; nothing anywhere, no danger
    assert rules.danger(np.array([1.0, 0.0]), kernel).tolist() == [1.0, 0.5]
    assert rules.danger(np.zeros(2), kernel).tolist() == [0.0, 0.0]
    # two independent threats: 1 - (1 - 0.5)(1 - 0.5 * 0.5) = 0.625, not 0.5 + 0.25
    assert rules.danger(np.array([0.5, 0.5]), kernel)[0] == pytest.approx(0.625, rel=1e-15)


def test_update_fear_entry_by_entry():
    previous = np.array([0.0, 0.9, 0.5, 0.3, 1.0])
    today = np.array([0.2, 0.1, 0.5, 0.8, 0.0])
    memory = 7.0
    f = rules.update_fear(previous, today, memory)
    for j in range(5):
        expected = max(today[j], previous[j] * math.exp(-1.0 / memory))
        assert f[j] == pytest.approx(expected, rel=1e-15)
    # remembered fear decays by exactly exp(-1/7) a day, never faster, never slower
    assert f[1] == pytest.approx(0.9 * math.exp(-1 / 7), rel=1e-15)
    assert f[4] == pytest.approx(math.exp(-1 / 7), rel=1e-15)


@pytest.mark.parametrize("memory", [0.5, 1.0, 1.5])
def test_short_memories_still_remember(memory):
    f = rules.update_fear(np.array([0.8]), np.array([0.0]), memory)
    assert f[0] == pytest.approx(0.8 * math.exp(-1.0 / memory), rel=1e-15)


def test_update_fear_without_memory_is_todays_danger_and_a_copy():
    today = np.array([0.2, 0.0, 0.7])
    f = rules.update_fear(np.array([0.9, 0.9, 0.9]), today, 0.0)
    assert f.tolist() == today.tolist()
    f[0] = 5.0
    assert today[0] == 0.2  # the caller's array is not aliased


# --------------------------------------------------------------------------------------
# flee_hazard: only the tolerance normalisation here (the flight rules are being rewritten
# on another branch, whose tests cover the rest)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tolerance", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("exponent", [1.0, 2.5])
def test_flee_hazard_normalises_the_fear_above_tolerance(tolerance, exponent):
    fear = np.array([0.0, tolerance / 2, tolerance, 0.6, 0.95, 1.0])
    rate = 0.3
    h = rules.flee_hazard(fear, rate, tolerance, exponent)
    for j, f in enumerate(fear):
        expected = rate * (max(0.0, f - tolerance) / (1.0 - tolerance)) ** exponent
        assert h[j] == pytest.approx(expected, rel=1e-12, abs=0)
    assert h[-1] == pytest.approx(rate, rel=1e-12)  # at fear 1 the full rate, whatever tolerance
    assert (h[:3] == 0).all()  # no flight at or below the fear people live with


def test_flee_hazard_with_total_tolerance_is_zero_without_dividing_by_zero():
    with np.errstate(all="raise"):
        h = rules.flee_hazard(np.array([0.0, 0.5, 1.0]), 0.3, 1.0, 2.0)
    assert h.tolist() == [0.0, 0.0, 0.0]


# --------------------------------------------------------------------------------------
# routes
# --------------------------------------------------------------------------------------
def _shortest_paths(w: np.ndarray) -> np.ndarray:
    """Dijkstra from every place on the weights ``w`` (inf = no edge), in plain Python."""
    n = len(w)
    out = np.full((n, n), np.inf)
    for s in range(n):
        dist = [math.inf] * n
        dist[s] = 0.0
        heap = [(0.0, s)]
        while heap:
            d, i = heapq.heappop(heap)
            if d > dist[i]:
                continue
            for j in range(n):
                if math.isfinite(w[i, j]) and d + w[i, j] < dist[j]:
                    dist[j] = d + w[i, j]
                    heapq.heappush(heap, (dist[j], j))
        out[s] = dist
    return out


def _road_net():
    """Seven places: a line 0-1-2-3 with a government-held short cut 1-4-3, a side road
    5-2 (one way closed today) and an island 6."""
    n = 7
    edge = np.full((n, n), np.inf)
    for a, b, km in [
        (0, 1, 10.0),
        (1, 2, 20.0),
        (2, 3, 15.0),
        (1, 4, 5.0),
        (4, 3, 5.0),
        (5, 2, 7.0),
    ]:
        edge[a, b] = edge[b, a] = km
    blocked = np.zeros((n, n), bool)
    blocked[2, 5] = True  # closed from 2 toward 5 only
    government = np.zeros(n, bool)
    government[4] = True
    return edge, blocked, government


def test_routes_against_a_plain_dijkstra_entry_by_entry():
    edge, blocked, government = _road_net()
    penalty = 1000.0
    next_hop, cost, km = rules.routes(edge, blocked, government, penalty)
    w = np.where(blocked, np.inf, edge) + np.where(government, penalty, 0.0)[None, :]
    expected = _shortest_paths(w)
    n = len(edge)
    assert np.array_equal(np.isfinite(cost), np.isfinite(expected))
    assert np.allclose(cost[np.isfinite(cost)], expected[np.isfinite(expected)], rtol=0, atol=1e-9)
    for i in range(n):
        for j in range(n):
            if i == j:
                assert next_hop[i, j] == i and cost[i, j] == 0 and km[i, j] == 0
            elif not math.isfinite(expected[i, j]):
                assert next_hop[i, j] == -1 and km[i, j] == math.inf
            else:
                h = next_hop[i, j]
                # the next hop is on a shortest route: one open road, then the rest
                assert math.isfinite(w[i, h])
                assert cost[i, j] == pytest.approx(w[i, h] + cost[h, j], abs=1e-9)
                # real km: the road lengths along the hops, without the penalty
                path_km, cur = 0.0, i
                for _ in range(n):
                    if cur == j:
                        break
                    path_km += edge[cur, next_hop[cur, j]]
                    cur = next_hop[cur, j]
                assert cur == j
                assert km[i, j] == pytest.approx(path_km, abs=1e-9)


def test_routes_avoid_government_held_places_and_closed_roads():
    edge, blocked, government = _road_net()
    next_hop, cost, km = rules.routes(edge, blocked, government, 1000.0)
    # 0 -> 3: 10 + 20 + 15 = 45 km by the open road, not 20 km through the held place 4
    assert next_hop[0, 3] == 1 and next_hop[1, 3] == 2
    assert cost[0, 3] == pytest.approx(45.0) and km[0, 3] == pytest.approx(45.0)
    # without the penalty the short cut wins
    nh0, cost0, km0 = rules.routes(edge, blocked, government, 0.0)
    assert nh0[1, 3] == 4 and km0[0, 3] == pytest.approx(20.0)
    # into the held place itself: charged the penalty, real km unchanged
    assert cost[0, 4] == pytest.approx(1015.0) and km[0, 4] == pytest.approx(15.0)
    # the road closed from 2 toward 5 is still open from 5 toward 2
    assert next_hop[2, 5] == -1 and not np.isfinite(cost[0, 5])
    assert next_hop[5, 2] == 2 and cost[5, 0] == pytest.approx(37.0)
    # the island: no route either way
    assert (next_hop[6, :6] == -1).all() and (next_hop[:6, 6] == -1).all()


# --------------------------------------------------------------------------------------
# choose
# --------------------------------------------------------------------------------------
def _choose_by_hand(prob: np.ndarray, origin: int, u: float) -> int:
    """Inverse CDF as the docstring states it: the first j whose cumulative probability
    exceeds u * (row total); -1 when the row is empty."""
    row = prob[origin]
    total = float(np.cumsum(row)[-1])
    if total <= 0:
        return -1
    acc = 0.0
    for j, p in enumerate(row):
        acc += p
        if acc > u * total:
            return j
    raise AssertionError("u * total not below the total")


def test_choose_is_the_inverse_cdf_entry_by_entry():
    gen = np.random.default_rng(11)
    prob = gen.random((5, 6))
    prob[prob < 0.4] = 0.0
    prob[3] = 0.0  # an origin with no destination
    prob /= np.maximum(prob.sum(axis=1, keepdims=True), 1e-300)
    origin = np.repeat(np.arange(5), 200)
    u = gen.random(len(origin))
    got = rules.choose(prob, origin, u)
    for k in range(len(origin)):
        assert got[k] == _choose_by_hand(prob, origin[k], u[k])
    assert (got[origin == 3] == -1).all()
    ok = got >= 0
    assert (prob[origin[ok], got[ok]] > 0).all()


@pytest.mark.parametrize("u", [0.0, 1e-300, 0.25, 0.5, 0.75, 1 - 1e-12, U_MAX])
def test_choose_never_picks_a_destination_of_probability_zero(u):
    # zeros first, in the middle (at every boundary of the cdf) and last
    prob = np.array([[0.0, 0.0, 0.25, 0.0, 0.25, 0.0, 0.5, 0.0, 0.0]])
    j = int(rules.choose(prob, np.array([0]), np.array([u]))[0])
    assert prob[0, j] > 0, (u, j)
    assert j == _choose_by_hand(prob, 0, u)


def test_choose_at_the_ends_of_the_unit_interval():
    prob = np.array([[0.0, 0.3, 0.7, 0.0], [0.6, 0.4, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    origin = np.array([0, 1, 0, 1, 2, 2])
    u = np.array([0.0, 0.0, U_MAX, U_MAX, 0.0, U_MAX])
    assert rules.choose(prob, origin, u).tolist() == [1, 0, 2, 1, -1, -1]
    # exactly at a boundary of the cdf: the next destination
    assert rules.choose(prob, np.array([1]), np.array([0.6])).tolist() == [1]


def test_choose_takes_weights_that_do_not_sum_to_one():
    weights = np.array([[0.0, 2.0, 0.0, 6.0], [0.5, 0.0, 0.25, 0.0]])
    origin = np.array([0, 0, 0, 1, 1, 1])
    u = np.array([0.0, 0.2499, 0.25, 0.0, 0.66, 0.67])
    assert rules.choose(weights, origin, u).tolist() == [1, 1, 3, 0, 0, 2]
    for k in range(len(u)):
        assert rules.choose(weights, origin[k : k + 1], u[k : k + 1])[0] == _choose_by_hand(
            weights, origin[k], u[k]
        )


def test_choose_frequencies_follow_the_probabilities():
    prob = np.array([[0.1, 0.0, 0.6, 0.3]])
    u = (np.arange(100_000) + 0.5) / 100_000  # evenly spread uniforms
    got = rules.choose(prob, np.zeros(len(u), np.intp), u)
    share = np.bincount(got, minlength=4) / len(u)
    assert np.allclose(share, prob[0], atol=1e-4)


# --------------------------------------------------------------------------------------
# fill_in_order
# --------------------------------------------------------------------------------------
def _fill_by_hand(group, size, key, tiebreak, free) -> list[int]:
    """The docstring's rule, one place, one tier and one household at a time: tier by tier,
    the households still unplaced (in rank order) take the tier while the running total of
    the unplaced people up to and including them fits its free places."""
    tier = [len(free)] * len(group)
    for g in sorted(set(group.tolist())):
        mine = sorted(
            (i for i in range(len(group)) if group[i] == g), key=lambda i: (key[i], tiebreak[i])
        )
        for t, f in enumerate(free):
            running = 0.0
            for i in mine:
                if tier[i] != len(free):
                    continue  # placed in an earlier tier
                running += size[i]
                if running <= max(f[g], 0.0):
                    tier[i] = t
    return tier


def test_fill_in_order_against_the_rule_household_by_household():
    gen = np.random.default_rng(21)
    for _ in range(30):
        n, places = int(gen.integers(1, 40)), 4
        group = gen.integers(0, places, n)
        size = gen.integers(1, 9, n)
        key = gen.integers(0, 5, n).astype(float)  # many ties: the id decides
        tiebreak = gen.permutation(n)
        free = [gen.integers(-3, 25, places).astype(float) for _ in range(int(gen.integers(1, 4)))]
        got = rules.fill_in_order(group, size, key, tiebreak, free)
        assert got.tolist() == _fill_by_hand(group, size, key, tiebreak, free)
        for t, f in enumerate(free):  # no tier is ever filled beyond its free places
            taken = np.bincount(group[got == t], weights=size[got == t], minlength=places)
            assert (taken <= np.maximum(f, 0.0)).all()


def test_fill_in_order_exact_capacity_fills_the_last_place():
    group = np.zeros(3, np.intp)
    size = np.array([4, 6, 1])
    key = np.array([0.0, 1.0, 2.0])
    ids = np.arange(3)
    # 10 places: the first two households (4 + 6 = 10) exactly fill them; the third overflows
    assert rules.fill_in_order(group, size, key, ids, [np.array([10.0])]).tolist() == [0, 0, 1]
    # two tiers of 4 and 6: 4 fills the first exactly, 6 fills the second exactly
    two = [np.array([4.0]), np.array([6.0])]
    assert rules.fill_in_order(group, size, key, ids, two).tolist() == [0, 1, 2]
    # one place short: the household that does not fit goes to the next tier whole
    assert rules.fill_in_order(group, size, key, ids, [np.array([9.0])]).tolist() == [0, 1, 1]


def test_fill_in_order_places_are_separate_and_negative_room_is_none():
    group = np.array([0, 1, 0, 1])
    size = np.array([3, 3, 3, 3])
    key = np.zeros(4)
    ids = np.array([3, 2, 1, 0])
    # place 0 has 3 places (one household), place 1 is over-full (-5: none)
    tier = rules.fill_in_order(group, size, key, ids, [np.array([3.0, -5.0]), np.array([0.0, 6.0])])
    # at place 0 the lower id (row 2, id 1) goes first; at place 1 the -5 is not subtracted
    # from the next tier: both fit into its 6 places
    assert tier.tolist() == [2, 1, 0, 1]


def test_fill_in_order_does_not_depend_on_the_order_of_the_arrays():
    gen = np.random.default_rng(4)
    n = 60
    group, size = gen.integers(0, 3, n), gen.integers(1, 8, n)
    key, ids = gen.integers(0, 3, n).astype(float), np.arange(n)
    free = [np.array([30.0, 10.0, 0.0]), np.array([20.0, 5.0, 12.0])]
    base = rules.fill_in_order(group, size, key, ids, free)
    perm = gen.permutation(n)
    shuffled = rules.fill_in_order(group[perm], size[perm], key[perm], ids[perm], free)
    assert np.array_equal(shuffled, base[perm])
    assert rules.fill_in_order(group[:0], size[:0], key[:0], ids[:0], free).tolist() == []


# --------------------------------------------------------------------------------------
# travel (phase 5), on a line of roads
# --------------------------------------------------------------------------------------
LINE_LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population
A,sub_district,opposition,35.50,36.60,1000,0,0,
B,sub_district,opposition,35.60,36.60,1000,0,0,
C,sub_district,opposition,35.70,36.60,1000,0,0,
D,sub_district,opposition,35.80,36.60,1000,0,0,
Crossing,crossing,opposition,35.90,36.60,0,0,0,0
Turkey,abroad,turkey,36.00,36.60,0,0,0,0
"""
LINE_ROUTES = """\
from,to,km
A,B,10
B,C,10
C,D,10
D,Crossing,5
Crossing,Turkey,5
"""


def _line_model(world, speed: float, extra: str = "") -> DisplacementModel:
    world.locations(LINE_LOCATIONS)
    world.routes(LINE_ROUTES)
    sc = load_scenario(
        world.scenario(
            f"[behaviour]\ntravel_km_per_day = {speed}\nreturn_rate = 0.0\n{extra}",
            base=_line_base(),
        )
    )
    m = DisplacementModel(sc, seed=1, check=True)
    m.conditions.update(0)
    m.movement.update_routes(m.conditions)
    return m


def _line_base() -> str:
    from conftest import BASE_SCENARIO

    return BASE_SCENARIO.replace("total = 102000", "total = 4000")


def _send(m: DisplacementModel, row: int, dest: int) -> None:
    hh = m.population.households
    m.movement._change(np.array([row]), status=ON_THE_MOVE)
    hh.destination[row] = dest
    m.movement._set_course(np.array([row]))


def _traveller(m: DisplacementModel, home: int) -> int:
    hh = m.population.households
    return int(np.flatnonzero((hh.home == home) & (hh.status == AT_HOME))[0])


@pytest.mark.parametrize(
    "speed,days",
    [
        # A -> D is 30 km in three 10 km roads
        (25.0, [(2, 5.0), (3, None)]),  # day 1: two roads and 5 km of the third; day 2: D
        (30.0, [(3, None)]),  # exactly the budget: arrives the same day
        (29.999, [(2, 0.001), (3, None)]),  # a metre short: not one extra road
        (10.0, [(1, 10.0), (2, 10.0), (3, None)]),  # exactly one road a day
        (9.0, [(0, 1.0), (1, 2.0), (2, 3.0), (3, None)]),  # 9 km a day: 1 + 8, 2 + 7, 3
    ],
)
def test_travel_finishes_a_road_only_with_enough_budget(world, speed, days):
    m = _line_model(world, speed)
    row, hh = _traveller(m, 0), m.population.households
    _send(m, row, 3)
    assert hh.km_left[row] == 10.0 and hh.next_node[row] == 1
    for day, (where, left) in enumerate(days):
        m.movement.travel(day, m.conditions)
        assert hh.location[row] == where, (day, hh.location[row])
        if left is not None:  # km still to go to the next place on the way
            assert hh.km_left[row] == pytest.approx(left, abs=1e-3)
        assert hh.status[row] == ON_THE_MOVE  # settling is a later phase
    # the roads travelled are recorded once each
    flow = m.history.route_flow[: len(days)].sum(axis=0)
    assert flow[:3].tolist() == [hh.size[row]] * 3 and flow[3:].sum() == 0


def test_travel_stops_at_the_border_to_queue(world):
    m = _line_model(world, 1000.0, '[crossings."Crossing"]\nopen = true\ndaily_capacity = 10\n')
    row, hh = _traveller(m, 2), m.population.households
    _send(m, row, 5)  # C -> Turkey: 15 km to the crossing, then the border
    m.movement.travel(0, m.conditions)
    assert hh.location[row] == 4 and hh.queued_on[row] == 0 and hh.next_node[row] == 5


# --------------------------------------------------------------------------------------
# population creation: the scenario total, exactly
# --------------------------------------------------------------------------------------
SHARES_LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population
Big,sub_district,opposition,35.50,36.60,99990,0,0,
Hamlet,sub_district,opposition,35.55,36.60,1,0,0,
Tiny,sub_district,opposition,35.56,36.60,2,0,0,
Mid,sub_district,opposition,35.60,36.60,7,0,0,
Camp,camp_cluster,opposition,35.70,36.60,11,11,50,
Crossing,crossing,opposition,35.90,36.60,0,0,0,0
Turkey,abroad,turkey,36.00,36.60,0,0,0,0
"""
SHARES_ROUTES = """\
from,to,km
Big,Hamlet,5
Hamlet,Tiny,5
Tiny,Mid,5
Mid,Camp,5
Camp,Crossing,5
Crossing,Turkey,5
"""


def _shares_scenario(world, total: int):
    world.locations(SHARES_LOCATIONS)
    world.routes(SHARES_ROUTES)
    base = BOMB.replace("Bombed Town", "Big")
    from conftest import BASE_SCENARIO

    return load_scenario(
        world.scenario(base, base=BASE_SCENARIO.replace("total = 102000", f"total = {total}"))
    )


@pytest.mark.parametrize("total", [100011, 50011, 10011, 1011])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_population_is_the_scenario_total_and_no_place_is_dropped(world, total, scale):
    sc = _shares_scenario(world, total)
    m = DisplacementModel(sc, seed=3, population_scale=scale, check=True)
    hh = m.population.households
    rows_total = round(total * scale)
    assert int(hh.size.sum()) == rows_total
    per_place = np.bincount(hh.home, weights=hh.size, minlength=m.world.n)
    # the camp's 11 residents as given, the rest by largest remainders of the shares
    camp = round(11 * scale)
    rest = np.array([99990, 1, 2, 7], float)
    exact = rest / rest.sum() * (rows_total - camp)
    assert per_place[4] == camp
    assert (np.abs(per_place[:4] - exact) < 1).all()
    # a place whose share rounds to at least one person keeps it
    assert (per_place[:4][np.rint(exact) >= 1] >= 1).all()
    assert (hh.size >= 1).all()
    assert (hh.status[hh.home == 4] == IN_CAMP).all() and (hh.status[hh.home != 4] == AT_HOME).all()


def test_a_place_of_one_person_gets_a_household_of_one(world):
    sc = _shares_scenario(world, 100011)
    m = DisplacementModel(sc, seed=3, check=True)
    hh = m.population.households
    assert hh.size[hh.home == 1].tolist() == [1]  # Hamlet
    assert hh.size[hh.home == 2].sum() == 2  # Tiny
    m.run()
    assert m.daily()["population"].eq(100011).all()


def test_population_create_puts_exactly_the_people_asked_for():
    people = np.array([0, 1, 2, 5, 37, 1000])
    camp = np.array([0, 0, 1, 5, 3, 0])
    pop = Population.create(people, camp, 5.0, 1.0, seed=9)
    hh = pop.households
    for i in range(len(people)):
        mine = hh.home == i
        assert hh.size[mine].sum() == people[i]
        assert hh.size[mine & (hh.status == IN_CAMP)].sum() == camp[i]
    assert (hh.size >= 1).all()
    assert pop.n_people == people.sum()


def test_check_mode_compares_with_the_scenario_total_not_the_people_created(world, monkeypatch):
    """A person lost while the population is created is a conservation failure."""
    sc = _shares_scenario(world, 100011)
    real = Population.create

    def one_short(people_at, camp_people_at, *args, **kwargs):
        people_at = people_at.copy()
        people_at[1] -= 1  # the hamlet's one person is dropped
        return real(people_at, camp_people_at, *args, **kwargs)

    monkeypatch.setattr(Population, "create", staticmethod(one_short))
    with pytest.raises(InvariantError, match="100,010|100010|scenario total"):
        DisplacementModel(sc, seed=3, check=True).run()


def test_propensities_are_gamma_by_inverse_cdf_and_keep_their_rank():
    from scipy.stats import gamma

    pop = Population.create(np.array([400, 300]), np.array([0, 50]), 5.0, 1.0, seed=4)
    hh = pop.households
    u = (np.arange(1, 10) / 10.0).astype(float)
    for shape in (0.5, 1.0, 3.0):
        got = propensity_from_uniforms(u, shape)
        assert np.allclose(got, gamma.ppf(u, shape, scale=1 / shape), rtol=1e-5)
    first = hh.propensity.copy()
    pop.set_propensity_shape(4, 3.0)
    # the same households are the most and least ready to flee, whatever the shape
    assert np.array_equal(
        np.argsort(first, kind="stable"), np.argsort(hh.propensity, kind="stable")
    )
    again = Population.create(np.array([400, 300]), np.array([0, 50]), 5.0, 3.0, seed=4)
    assert np.array_equal(again.households.propensity, hh.propensity)
    # ... and it follows the household, not its row
    shuffled = pop.permuted(np.random.default_rng(1))
    shuffled.set_propensity_shape(4, 0.5)
    pop.set_propensity_shape(4, 0.5)
    order = np.argsort(shuffled.households.id)
    assert np.array_equal(shuffled.households.propensity[order], pop.households.propensity)


def test_a_permuted_population_is_the_same_people_in_another_order():
    pop = Population.create(np.array([40, 31, 7]), np.array([0, 5, 0]), 4.0, 1.0, seed=2)
    pop.households.status[:3] = ON_THE_MOVE
    shuffled = pop.permuted(np.random.default_rng(8))
    a, b = pop.households, shuffled.households
    order = np.argsort(b.id)
    assert not np.array_equal(b.id, a.id)  # really reordered
    for name, col in a.columns.items():
        assert np.array_equal(b.columns[name][order], col), name
    # every person still belongs to their household, and members() finds them all
    pa, pb = pop.people, shuffled.people
    assert np.array_equal(np.sort(b.id[pb.household]), np.sort(a.id[pa.household]))
    assert np.array_equal(pb.home, b.home[pb.household])
    for r in range(b.n):
        prow, hrow = shuffled.members(np.array([r]))
        assert len(prow) == b.size[r] and (pb.household[prow] == r).all() and (hrow == r).all()
    assert np.array_equal(shuffled.counts(3), pop.counts(3))
    assert shuffled.weight == pop.weight


def test_a_lone_household_under_threat_draws_like_any_other(world):
    """Flight is a draw even when a single household is under threat (no shortcut for one)."""
    world.locations(SHARES_LOCATIONS)
    world.routes(SHARES_ROUTES)
    from conftest import BASE_SCENARIO

    events = """
[behaviour]
flee_rate = 0.001
fear_distance_km = 0.5
fear_memory_days = 0.0

[events.shelling]
kind = "bombardment"
locations = ["Hamlet"]
start = 2019-05-02
end = 2019-05-08
intensity = 0.2
source = "test"
"""
    sc = load_scenario(
        world.scenario(events, base=BASE_SCENARIO.replace("total = 102000", "total = 100011"))
    )
    m = DisplacementModel(sc, seed=3, check=True)
    hh = m.population.households
    assert (hh.home == 1).sum() == 1  # the hamlet's one household
    for _ in range(8):
        m.step()
    assert m.history.departures[:8].sum() == 0  # p ~ 2e-4 a day: it stays (fixed seed)


# --------------------------------------------------------------------------------------
# flee_probability, flee_hazard's defaults, the exponential draws, fixed household traits
# --------------------------------------------------------------------------------------
def test_flee_probability_entry_by_entry():
    gen = np.random.default_rng(8)
    fear, propensity = gen.random(50), gen.gamma(2.0, 0.5, 50)
    fear[:3] = [0.0, 1.0, 0.5]
    p = rules.flee_probability(fear, propensity, 0.7)
    for k in range(50):
        assert p[k] == pytest.approx(1.0 - math.exp(-0.7 * propensity[k] * fear[k]), rel=1e-12)
    assert p[0] == 0.0


def test_flee_hazard_by_default_is_the_rate_times_fear():
    fear = np.array([0.0, 0.1, 0.5, 1.0])
    assert rules.flee_hazard(fear, 0.4).tolist() == pytest.approx([0.4 * f for f in fear])


def test_exponentials_are_minus_log_one_minus_the_uniforms():
    from sim import rng

    ids = np.array([7, 0, 123456, 3])
    u = rng.uniforms(5, "flee", 2, ids)
    e = rng.exponentials(5, "flee", 2, ids)
    for k in range(len(ids)):
        assert e[k] == pytest.approx(-math.log(1.0 - u[k]), rel=1e-12)
    # u < 1 - exp(-h) and E < h are the same event (the flight rule relies on it)
    for h in (0.01, 0.3, 2.0):
        assert np.array_equal(u < -math.expm1(-h), e < h)


def test_seeking_a_host_is_drawn_once_per_household_and_follows_it_when_reordered():
    from sim import rng

    pop = Population.create(
        np.array([300, 200]), np.array([0, 50]), 5.0, propensity_shape=2.0, seed=9
    )
    hh = pop.households
    # the uniform of the household's id, day 0 of the host_preference stream
    assert np.array_equal(hh.host_draw, rng.uniforms(9, "host_preference", 0, hh.id))
    shuffled = pop.permuted(np.random.default_rng(1))
    by_id = dict(zip(hh.id.tolist(), hh.host_draw.tolist(), strict=True))
    assert [by_id[i] for i in shuffled.households.id.tolist()] == (
        shuffled.households.host_draw.tolist()
    )
