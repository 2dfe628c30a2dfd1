"""The simulation's fast paths (issue 16) decide what the plain rules decide.

* ``rng.below`` finds exactly the uniforms below a bound (scalar or per id);
* the household index (``RowSet``) is what a scan of every household finds;
* flight from the households indexed by home place equals the plain scan of every household,
  day by day, in a real scenario;
* settling without the households that cannot get a place gives the same run.
No timing is asserted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model import behaviour as rules
from sim.model import movement as movement_module
from sim.model import rng
from sim.model.model import DisplacementModel
from sim.model.population import ABROAD, IN_INFORMAL, ON_THE_MOVE
from sim.model.rowsets import RowSet, sorted_unique, unique_inverse
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_2019 = ROOT / "scenarios" / "idlib_2019.toml"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # 0 * inf bounds
def test_below_finds_exactly_the_uniforms_under_the_bound(seed):
    gen = np.random.default_rng(seed)
    for _ in range(40):
        n = int(gen.integers(0, 70_000))  # across chunk boundaries
        start = int(gen.integers(0, 2**31 - n - 1))
        day = int(gen.integers(0, 400))
        ids = np.arange(start, start + n)
        u = rng.uniforms(seed, "flee", day, ids)
        factor = gen.gamma(0.3, 1 / 0.3, n).astype(np.float32)
        factor[: n // 10] = 0.0
        bounds = [0.0, 1e-9, 1e-3, 0.3, 1 - 2**-53, 1.0, 3.0, np.inf, np.nan, gen.random()]
        if n:  # bounds equal to a uniform, and just above it
            k = int(gen.integers(0, n))
            bounds += [u[k], np.nextafter(u[k], 2.0), u[k] / max(float(factor[k]), 1e-30)]
        for b in map(np.float64, bounds):
            got = rng.below(seed, "flee", day, b, start=start, stop=start + n)
            assert np.array_equal(got, np.flatnonzero(u < b))
            got = rng.below(seed, "flee", day, b, start=start, stop=start + n, factor=factor)
            assert np.array_equal(got, np.flatnonzero(u < factor * b))
            some = gen.permutation(ids)[: n // 3].astype(np.int32)
            v = rng.uniforms(seed, "flee", day, some)
            assert np.array_equal(rng.below(seed, "flee", day, b, ids=some), np.flatnonzero(v < b))


def test_the_household_index_is_what_a_scan_finds():
    gen = np.random.default_rng(5)
    status = gen.integers(0, 7, 5000).astype(np.int8)
    in_set = RowSet("on the move", lambda r: status[r] == ON_THE_MOVE, len(status))
    for _ in range(60):
        rows = gen.integers(0, len(status), int(gen.integers(0, 300)))  # repeats too
        status[rows] = gen.integers(0, 7, len(rows))
        in_set.note(rows)
        if gen.random() < 0.5:
            assert np.array_equal(in_set.rows(), np.flatnonzero(status == ON_THE_MOVE))
    assert in_set.check(len(status)) is None
    status[7] = ON_THE_MOVE if status[7] != ON_THE_MOVE else IN_INFORMAL  # not noted
    assert in_set.check(len(status)) is not None
    a = gen.integers(0, 50, 300)
    assert np.array_equal(sorted_unique(a), np.unique(a))


def _plain_flight(m: DisplacementModel, day: int) -> np.ndarray:
    """Flight as a scan of every household (the rule as docs/model.md states it)."""
    mv, cond, hh = m.movement, m.conditions, m.population.households
    hazard = mv.flight_hazard(cond)
    rows = np.flatnonzero(
        ((hazard > 0) | cond.government)[hh.location]
        & (hh.status != ON_THE_MOVE)
        & (hh.status != ABROAD)
    )
    loc = hh.location[rows]
    e = -np.log1p(-rng.uniforms(mv.seed, "flee", day, hh.id[rows]))
    return rows[(e < hh.propensity[rows] * hazard[loc]) | cond.government[loc]]


@pytest.mark.parametrize("reorder", [False, True])
def test_flight_by_home_place_is_the_plain_scan(monkeypatch, reorder):
    m = DisplacementModel(load_scenario(SCENARIO_2019), seed=3, population_scale=0.05)
    if reorder:  # rows no longer grouped by home, ids no longer the rows
        m.reorder_population(np.random.default_rng(2))
    fast = movement_module.Movement.flight
    days = []

    def both(self, day, cond):
        got = fast(self, day, cond)
        assert np.array_equal(got, np.sort(_plain_flight(m, day))), day
        days.append(len(got))
        return got

    monkeypatch.setattr(movement_module.Movement, "flight", both)
    for _ in range(70):
        m.step()
    assert sum(days) > 1000  # people fled: the comparison had something to compare


def test_settling_without_those_who_cannot_get_a_place_is_the_same_run(monkeypatch):
    sc = load_scenario(SCENARIO_2019)
    pruned = DisplacementModel(sc, seed=4, population_scale=0.05).run()
    left_out = []
    original = movement_module.Movement._may_settle

    def count(self, day, waiting, host_free, camp_free):
        kept = original(self, day, waiting, host_free, camp_free)
        left_out.append(len(waiting) - len(kept))
        return waiting  # everyone: the plain rule

    monkeypatch.setattr(movement_module.Movement, "_may_settle", count)
    plain = DisplacementModel(sc, seed=4, population_scale=0.05).run()
    assert sum(left_out) > 0  # the shortcut did leave households out
    assert plain.daily().equals(pruned.daily())
    assert plain.locations().equals(pruned.locations())
    hp, hq = plain.population.households, pruned.population.households
    for name in ("status", "location", "displaced_on", "times_displaced"):
        assert np.array_equal(getattr(hp, name), getattr(hq, name)), name
    assert (hq.status == IN_INFORMAL).any()


@pytest.mark.parametrize("shape", [0.3031, 1.0, 4.0])
def test_propensities_computed_for_some_households_are_the_column(shape):
    from sim.model.population import Population

    pop = Population.create(np.array([3000, 2000]), np.array([0, 500]), 5.0, shape, seed=6)
    gen = np.random.default_rng(1)
    rows = gen.integers(0, pop.n_households, 400)
    some = pop.propensity_of(rows)  # computed for these rows only
    assert "propensity" not in pop.households.columns
    again = pop.propensity_of(rows[::-1])
    column = pop.households.propensity  # the whole column, made when read
    assert np.array_equal(some, column[rows]) and np.array_equal(again, column[rows[::-1]])
    fresh = Population.create(np.array([3000, 2000]), np.array([0, 500]), 5.0, shape, seed=6)
    bound = fresh.propensity_bound(slice(None))
    assert (bound >= column).all()  # a bound, never below
    assert np.median(bound / np.maximum(column, 1e-300)) < 1.01  # and a close one
    # a reordered population and a new shape keep following the households
    shuffled = fresh.permuted(np.random.default_rng(3))
    shuffled.set_propensity_shape(6, 0.5)
    fresh.set_propensity_shape(6, 0.5)
    order = np.argsort(shuffled.households.id)
    assert np.array_equal(
        shuffled.propensity_of(order), fresh.propensity_of(np.arange(fresh.n_households))
    )
    assert np.array_equal(shuffled.households.propensity[order], fresh.households.propensity)


def test_a_population_and_its_index_pickle():
    """Derived columns and the index's tests are module functions and methods (no lambdas)."""
    import pickle

    m = DisplacementModel(load_scenario(SCENARIO_2019), seed=1, population_scale=0.01)
    m.step()
    pop = pickle.loads(pickle.dumps(m.population))
    assert np.array_equal(pop.households.propensity, m.population.households.propensity)
    movement = pickle.loads(pickle.dumps(m.movement))
    assert np.array_equal(movement.moving.rows(), m.movement.moving.rows())


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # 0 * inf bounds
def test_below_for_several_runs_of_ids_is_below_for_each(seed):
    gen = np.random.default_rng(seed)
    for _ in range(150):
        k = int(gen.integers(0, 9))
        lens = gen.integers(0, 45_000 if gen.random() < 0.2 else 3_000, k)  # some > a chunk
        starts = np.cumsum(lens + gen.integers(0, 500, k)) - lens + int(gen.integers(0, 2**31))
        stops = starts + lens
        bounds = gen.choice([0.0, 1e-4, 0.01, 0.3, 1.0, 2.0, np.inf, np.nan, gen.random()], k)
        factors = [gen.gamma(0.3, 1 / 0.3, n) if gen.random() < 0.5 else None for n in lens]
        day = int(gen.integers(0, 300))
        want = [
            rng.below(seed, "flee", day, b, start=int(a), stop=int(e), factor=f) + a
            for a, e, b, f in zip(starts, stops, bounds, factors, strict=True)
        ]
        got = rng.below_ranges(seed, "flee", day, starts, stops, bounds, factors)
        assert np.array_equal(got, np.concatenate(want) if want else np.empty(0, np.int64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attractiveness_of_some_origins_is_their_rows_bit_for_bit(seed):
    gen = np.random.default_rng(seed)
    for n in (2, 9, 65, 130):
        cost = gen.uniform(1, 400, (n, n))
        cost[gen.random((n, n)) < 0.1] = np.inf
        expected, border = gen.random(n), gen.uniform(0, 300, n)
        room = gen.uniform(0, 1e4, n) * (gen.random(n) < 0.8)
        scale = gen.uniform(5, 200, n)
        for cand in (gen.random(n) < 0.7, gen.random((n, n)) < 0.5):
            full = rules.attractiveness(cost, expected, border, room, cand, scale, 3.0, 40.0)
            for m in sorted({1, min(3, n), n, 2 * n}):
                some = gen.choice(n, m, replace=m > n)  # repeats: several reach classes
                per_row = cand[some] if cand.ndim == 2 else cand
                part = rules.attractiveness(
                    cost, expected, border, room, per_row, scale[some], 3.0, 40.0, origins=some
                )
                assert np.array_equal(part, full[some])


def test_remembered_routes_are_the_routes_of_the_same_inputs():
    gen = np.random.default_rng(4)
    n = 12
    edge = np.where(gen.random((n, n)) < 0.3, gen.uniform(5, 60, (n, n)), np.inf)
    edge = np.minimum(edge, edge.T)
    for _ in range(5):
        blocked = gen.random((n, n)) < 0.1
        government = gen.random(n) < 0.2
        for penalty in (0.0, 500.0):
            got = rules.routes_remembered(edge, blocked, government, penalty)
            want = rules.routes(edge, blocked, government, penalty)
            for a, b in zip(got, want, strict=True):
                assert np.array_equal(a, b) and not a.flags.writeable
            again = rules.routes_remembered(edge, blocked.copy(), government.copy(), penalty)
            assert all(a is b for a, b in zip(again, got, strict=True))


def test_day_keys_made_together_are_numpys_seed_sequence():
    seeds = [0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**64 + 5, 2**100 + 3]
    seeds += [int(s) for s in np.random.default_rng(2).integers(0, 2**63, 5)]
    for seed in seeds:
        for stream in rng.STREAMS:
            rng._DAY_KEYS.clear()
            for day in (0, 1, 17, 255, 256, 1000):
                seq = np.random.SeedSequence(entropy=seed, spawn_key=(rng._key(stream), day))
                assert rng._day_key(seed, stream, day) == seq.generate_state(1, np.uint64)[0]


def test_unique_inverse_is_numpys_unique():
    gen = np.random.default_rng(11)
    for n in (0, 1, 2, 7, 300):
        keys = gen.integers(0, 40, n) * 65 + gen.integers(0, 65, n)
        got = unique_inverse(keys)
        want = np.unique(keys, return_inverse=True)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_attractiveness_of_places_without_room_is_zero_and_silent():
    n = 4
    cost = np.array([[0, 10, 20, np.inf], [10, 0, 5, 30], [20, 5, 0, 8], [np.inf, 30, 8, 0.0]])
    room = np.array([3.0, 0.0, 2.0, 1.0])
    with np.errstate(all="raise"):  # a log(0) warning would raise here
        prob = rules.attractiveness(
            cost, np.zeros(n), np.ones(n), room, np.ones(n, bool), 50.0, 8.0, 100.0
        )
    assert (prob[:, 1] == 0).all()
    assert np.allclose(prob.sum(axis=1), 1.0)
    w = np.exp(-cost[0] / 50.0 - 1 / 100.0) * room  # by hand, from place 0
    w[0] = 0.0
    assert np.allclose(prob[0], w / w.sum())
