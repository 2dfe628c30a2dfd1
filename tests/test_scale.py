"""Rules that must mean the same at every population scale (issue 11's note on movements).

At population scale ``f`` a household row of ``s`` rows stands for ``s / f`` people, so a
rule that compares whole households with free places, or a threshold kept in person-rows,
changes meaning with the scale. Found in the 2019 run: households moving on from informal
sites picked the nearest place with a few free places, most were turned away and stayed,
and how often a place had "a few" free places depended on the size of a household row
(5 people at full population, 100 at scale 0.05): about 6 % more movements at scale 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.model import DisplacementModel
from sim.model.population import IN_INFORMAL, ON_THE_MOVE
from sim.scenario.loading import load_scenario

# Some of Far Town's people (put there by the test) wait in the informal sites of a full
# Reception camp. Village, 2 km away, has a large camp with 30 free places: with
# camp_weight 8 it draws nearly everyone moving on (a camp area's pull grows with its
# places, full or not); Far Town, 30 km away, has 3,000 host places.
LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population
Reception,camp_cluster,opposition,35.50,36.60,1000,1000,1000,0
Village,camp_cluster,opposition,35.52,36.60,9970,9970,10000,0
Far Town,sub_district,opposition,35.80,36.60,20000,0,0,
Crossing,crossing,opposition,36.23,36.69,0,0,0,0
Turkey,abroad,turkey,36.27,36.57,0,0,0,0
"""
ROUTES = """\
from,to,km
Reception,Village,2
Reception,Far Town,30
Far Town,Crossing,60
Crossing,Turkey,8
"""
BASE = """\
[scenario]
name = "moving_on"
title = "Moving on from a full reception camp"
start = 2019-05-01
end = 2019-05-10

[population]
total = 30970
household_size = 5.0

[geography]
locations = "data/locations.csv"
routes = "data/routes.csv"

[behaviour]
camp_weight = 8.0
"""


def _model(world, scale: float) -> DisplacementModel:
    world.locations(LOCATIONS)
    world.routes(ROUTES)
    sc = load_scenario(world.scenario(base=BASE))
    return DisplacementModel(sc, seed=1, population_scale=scale)


@pytest.mark.parametrize("scale", [1.0, 0.05])
def test_movers_turned_away_by_a_full_place_choose_again_the_same_day(world, scale):
    """Everyone moving on from Reception's informal sites finds a place the same day:
    Village (which draws nearly all of them) takes up to its 30 free places, and those it
    turns away go to Far Town, which has room, instead of staying put. (The rule before:
    those turned away stayed, so the number moving on depended on whether Village's last
    free places came to a whole household row, i.e. on the population scale.)"""
    m = _model(world, scale)
    mv, cond = m.movement, m.conditions
    cond.update(0)
    mv.update_routes(cond)
    hh = m.population.households
    idx = m.world.index
    rows = np.flatnonzero(hh.home == idx["Far Town"])
    people = np.cumsum(hh.size[rows]) * m.population.weight
    rows = rows[people <= 1000]  # about 1,000 people (fewer at scale 0.05: whole rows)
    mv._change(rows, status=IN_INFORMAL, location=np.full(len(rows), idx["Reception"]))
    hh.displaced_on[rows] = 0
    village_free = mv.shelter(cond, mv.counts)[1][idx["Village"]]  # person-rows
    assert 0 < village_free * m.population.weight <= 40  # (whole rows at scale 0.05)

    mv.destinations(0, cond, np.empty(0, np.intp), mv.counts, onward=rows)

    assert (hh.status[rows] == ON_THE_MOVE).all()  # nobody is left behind
    to_village = hh.destination[rows] == idx["Village"]
    assert hh.size[rows[to_village]].sum() <= village_free  # never beyond its free places
    assert (hh.destination[rows[~to_village]] == idx["Far Town"]).all()
    if scale == 1.0:  # (at 0.05 no household row of ~100 people fits into 40 places)
        assert to_village.any()
    assert hh.times_displaced[rows].min() == 1  # each an onward move, counted once
    m.close()


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.05])
def test_an_average_households_worth_of_places_is_the_same_number_of_people(world, scale):
    """'At least an average household's worth of free places' (a place serves its informal
    sites, or counts as having room for those moving on) is ``household_size`` people at
    every scale, not ``household_size`` person-rows (100 people at scale 0.05)."""
    m = _model(world, scale)
    assert m.movement.min_room * m.population.weight == pytest.approx(5.0)
    m.close()
