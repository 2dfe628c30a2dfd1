"""Shortcuts of the daily rules (issue 16, session 9) decide what the plain rules decide.

* ranking households for places is ``np.lexsort`` at every size, ties included;
* conditions that keep yesterday's danger and front distances on days whose intensity and
  front are yesterday's are the conditions computed afresh every day;
* the DataCollector's place totals are the sums of the Location agents' attributes.
No timing is asserted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model import behaviour as rules
from sim.model.conflict import Conditions
from sim.model.model import PLACE_TOTALS, DisplacementModel, place_totals
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_2019 = ROOT / "scenarios" / "idlib_2019.toml"


@pytest.mark.parametrize("n", [0, 1, 2, 7, rules._LEXSORT_MAX, rules._LEXSORT_MAX + 1, 3000])
@pytest.mark.parametrize("ties", [False, True])
def test_ranking_is_lexsort_at_every_size(n, ties):
    gen = np.random.default_rng(n)
    group = gen.integers(0, 65, n).astype(np.intp)
    key = gen.integers(-1, 130, n) + (0.5 if ties else gen.random(n))  # ties: equal keys
    tiebreak = gen.permutation(n).astype(np.int32)
    want = np.lexsort((tiebreak, key, group))
    assert np.array_equal(rules._rank(group, key, tiebreak), want)


def test_conditions_kept_from_yesterday_are_the_conditions_of_today():
    m = DisplacementModel(load_scenario(SCENARIO_2019), seed=0, population_scale=0.01)
    cond, t = m.conditions, m.timeline
    assert not all(cond._same_intensity) and any(cond._same_intensity)  # both kinds of day
    assert any(cond._same_front)
    kept = 0
    for day in range(t.intensity.shape[0]):
        before = (cond.danger, cond.front_km if day else None)
        cond.update(day)
        kept += cond.danger is before[0]
        assert np.array_equal(cond.danger, rules.danger(t.intensity[day], cond.kernel))
        assert np.array_equal(cond.front_km, rules.front_distance(cond.road_km, t.front[day]))
    assert kept == sum(cond._same_intensity)  # (the shortcut was taken)
    # a day out of order is computed afresh
    fresh = Conditions(t, cond.road_km, 1.0, 1.0)
    fresh.update(5)
    assert np.array_equal(fresh.danger, rules.danger(t.intensity[5], fresh.kernel))


def test_place_totals_are_the_sums_of_the_agents_attributes():
    m = DisplacementModel(load_scenario(SCENARIO_2019), seed=2, population_scale=0.01)
    for _ in range(40):
        m.step()
        totals = place_totals(m)
        assert set(totals) == set(PLACE_TOTALS)
        for attribute in PLACE_TOTALS:
            assert totals[attribute] == sum(getattr(p, attribute) for p in m.places)
