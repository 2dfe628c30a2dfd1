"""The books balance: recorded flows against the population's own status changes.

On the committed tiny world (``tests/scenarios/tiny``: people flee, settle in host
communities and camps, overflow into informal sites, queue at and cross the border, flee
a captured town, flee again and return home), the model is stepped day by day while the
households are photographed at the start of the day, before travel, before settling and
at the end of the day. From those photographs alone the test works out who departed
from where, who set off home, which roads they travelled, who arrived where and who came
home; the model's records (``History``, then ``daily.csv`` and ``locations.csv``) must
say exactly the same, day by day and place by place. People coming home are returns,
never arrivals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model.model import DisplacementModel
from sim.model.movement import Movement
from sim.model.population import (
    ABROAD,
    AT_HOME,
    IN_CAMP,
    IN_HOST,
    IN_INFORMAL,
    N_STATUS,
    ON_THE_MOVE,
    RETURNED,
    SETTLED_DISPLACED,
)
from sim.outputs.runner import simulate
from sim.scenario.loading import load_scenario

TINY = Path(__file__).resolve().parent / "scenarios" / "tiny" / "tiny.toml"
COLUMNS = (
    "status",
    "location",
    "home",
    "returning",
    "destination",
    "next_node",
    "times_displaced",
    "displaced_on",
    "fled_in_report",
    "pre_displaced",
    "size",
)


def _photo(model: DisplacementModel) -> dict[str, np.ndarray]:
    hh = model.population.households
    return {k: hh.columns[k].copy() for k in COLUMNS}


class Photographed:
    """A model stepped one day at a time, with the households photographed within each day."""

    def __init__(self, monkeypatch, scale: float = 1.0, seed: int = 7):
        self.model = DisplacementModel(
            load_scenario(TINY), seed=seed, population_scale=scale, check=True
        )
        self.photos: dict[str, dict[str, np.ndarray]] = {}
        real_travel, real_settle = Movement.travel, Movement.settle
        outer = self

        def travel(self, day, cond):
            outer.photos["travel"] = _photo(outer.model)
            outer.next_hop = self.next_hop.copy()
            outer.fear, outer.government = cond.fear.copy(), cond.government.copy()
            outer.camp_capacity = cond.camp_capacity.copy()
            real_travel(self, day, cond)

        def settle(self, day, cond):
            outer.photos["settle"] = _photo(outer.model)
            real_settle(self, day, cond)

        monkeypatch.setattr(Movement, "travel", travel)
        monkeypatch.setattr(Movement, "settle", settle)

    def days(self):
        m = self.model
        while m.day < m.config.n_days:
            d = m.day
            start = _photo(m)
            m.step()
            yield d, start, self.photos["travel"], self.photos["settle"], _photo(m)


def _by_place(where: np.ndarray, size: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(where[mask], weights=size[mask], minlength=n).astype(np.int64)


def _travelled_roads(model, before, after, next_hop) -> np.ndarray:
    """Person-rows on each road from the travellers' places before and after travel."""
    w = model.world
    route_id = model.movement.route_id
    flow = np.zeros(w.n_routes, np.int64)
    moved = before["location"] != after["location"]
    assert (before["status"][moved] == ON_THE_MOVE).all(), "only travellers move in travel"
    moving = np.flatnonzero(moved)
    for r in moving:
        cur, goal, end = before["location"][r], before["destination"][r], after["location"][r]
        hop = before["next_node"][r]  # the road it is on (set when its course was set)
        while cur != end:
            assert hop >= 0, "a traveller moved without a road"
            flow[route_id[cur, hop]] += before["size"][r]
            cur = hop
            hop = next_hop[cur, goal]
    return flow


def test_flows_add_up_to_the_households_own_changes_day_by_day(monkeypatch):
    run = Photographed(monkeypatch)
    m, h = run.model, run.model.history
    n, settled = m.world.n, np.isin(np.arange(N_STATUS), SETTLED_DISPLACED)
    offset = m.config.report_offset
    seen = dict.fromkeys(("fled", "returned", "arrived", "came_home", "crossed", "informal"), 0)
    seen["on_the_first_day_allowed"] = seen["evicted"] = 0
    first_fled = np.full(m.population.n_households, -1)
    ever_fled = np.zeros(m.population.n_households, bool)
    for d, a, t, s, e in run.days():
        size = e["size"]
        # departures: households whose own count of displacements went up, from where they were
        fled = e["times_displaced"] > a["times_displaced"]
        assert (e["times_displaced"][fled] == a["times_displaced"][fled] + 1).all()
        # the day of the last flight from danger: set by a flight, left by an onward move out
        # of an informal site (which does not restart the window for moving on)
        from_site = fled & (a["status"] == IN_INFORMAL)
        assert (e["displaced_on"][fled & ~from_site] == d).all()
        kept_or_set = (e["displaced_on"] == d) | (e["displaced_on"] == a["displaced_on"])
        assert kept_or_set[from_site].all()
        assert np.array_equal(h.departures[d], _by_place(a["location"], size, fled, n))
        assert h.new_displacements[d] == size[fled].sum()
        # people displaced for the first time since the first reported day (kept here,
        # independently of the model's own flag)
        first = fled & ~ever_fled if d >= offset else np.zeros_like(fled)
        assert h.new_people_displaced[d] == size[first].sum()
        ever_fled |= first
        # returns started: settled away from home at dawn, on the way home before travel
        started = settled[a["status"]] & (t["status"] == ON_THE_MOVE) & t["returning"]
        assert (a["location"][started] != a["home"][started]).all()
        # ... and only when the rule allows it: displaced long enough, home safe and free
        beh = m.config.behaviour
        assert (d - a["displaced_on"][started] >= beh.return_min_days).all()
        home_of = a["home"][started]
        assert (run.fear[home_of] < beh.return_fear_threshold).all()
        assert not run.government[home_of].any()
        just_in_time = d - a["displaced_on"][started] == beh.return_min_days
        seen["on_the_first_day_allowed"] += int(just_in_time.sum())
        assert h.returns_started[d] == size[started].sum()
        # journeys ended while settling: home again (returns) or somewhere else (arrivals)
        ended = (s["status"] == ON_THE_MOVE) & (e["status"] != ON_THE_MOVE)
        home = ended & s["returning"]
        arrived = ended & ~s["returning"]
        assert (e["location"][home] == e["home"][home]).all()
        assert (e["status"][home & ~e["pre_displaced"]] == RETURNED).all()
        assert np.array_equal(h.returns_home[d], _by_place(e["location"], size, home, n))
        assert np.array_equal(h.arrivals[d], _by_place(e["location"], size, arrived, n))
        abroad = ended & (e["status"] == ABROAD)
        assert h.crossed[d] == size[abroad].sum()
        assert np.isin(e["status"][arrived], [IN_HOST, IN_CAMP, IN_INFORMAL, ABROAD]).all()
        # roads: what travel covered, then the border crossings of the day
        flow = _travelled_roads(m, t, s, run.next_hop)
        flow += np.bincount(
            m.movement.route_id[s["location"][abroad], e["location"][abroad]],
            weights=size[abroad],
            minlength=m.world.n_routes,
        ).astype(np.int64)
        assert np.array_equal(h.route_flow[d], flow)
        # nobody else moves: people not travelling stay where they are
        still = (a["status"] != ON_THE_MOVE) & (e["status"] != ON_THE_MOVE) & ~fled & ~started
        assert np.array_equal(a["location"][still], e["location"][still])
        # a camp cut below its occupancy sends its latest arrivals, and only the excess, to
        # informal sites
        evicted = still & (a["status"] == IN_CAMP) & (e["status"] == IN_INFORMAL)
        for place in np.unique(e["location"][evicted]):
            out = evicted & (e["location"] == place)
            kept = (a["status"] == IN_CAMP) & (a["location"] == place) & ~out & ~fled & ~started
            assert e["displaced_on"][out].min() >= e["displaced_on"][kept].max()
            cap = run.camp_capacity[place] / m.population.weight
            assert size[kept].sum() <= cap < size[kept].sum() + size[out].max()
            seen["evicted"] += int(size[out].sum())
        first_fled[fled & (first_fled < 0)] = d
        # stocks: the day's counts are the households' own, and move only by the flows
        key = e["location"] * N_STATUS + e["status"]
        counts = np.bincount(key, weights=size, minlength=n * N_STATUS).reshape(n, N_STATUS)
        assert np.array_equal(h.status[d], counts.astype(np.int64))
        before = _stock(a, n)
        if d:
            assert np.array_equal(before, h.status[d - 1])
        resting = np.ones(N_STATUS, bool)
        resting[ON_THE_MOVE] = False
        change = h.status[d][:, resting].sum(axis=1) - before[:, resting].sum(axis=1)
        set_off_home = _by_place(a["location"], size, started, n)
        assert np.array_equal(
            change, h.arrivals[d] + h.returns_home[d] - h.departures[d] - set_off_home
        )
        away = (e["location"] != e["home"]) | (e["status"] == ON_THE_MOVE)
        assert np.array_equal(h.displaced_from[d], _by_place(e["home"], size, away, n))
        seen["fled"] += int(size[fled].sum())
        seen["returned"] += int(size[started].sum())
        seen["arrived"] += int(size[arrived & (e["status"] != ABROAD)].sum())
        seen["came_home"] += int(size[home].sum())
        seen["crossed"] += int(size[abroad].sum())
        seen["informal"] += int(size[arrived & (e["status"] == IN_INFORMAL)].sum())
    # the tiny world exercises every flow (or this test would prove little)
    assert min(v for k, v in seen.items() if k != "on_the_first_day_allowed") > 100, seen
    assert seen["on_the_first_day_allowed"] > 0, seen
    assert h.government[-1].any()
    # each person's record: the day their household first fled, and how often it fled
    pp = m.population.people
    assert np.array_equal(pp.first_displaced_on, first_fled[pp.household])
    assert np.array_equal(pp.times_displaced, e["times_displaced"][pp.household])


def _stock(photo, n):
    key = photo["location"] * N_STATUS + photo["status"]
    return (
        np.bincount(key, weights=photo["size"], minlength=n * N_STATUS)
        .reshape(n, N_STATUS)
        .astype(np.int64)
    )


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_tables_balance_and_returns_are_not_arrivals(scale):
    """daily.csv and locations.csv tell the same story, at any population weight."""
    res = simulate(load_scenario(TINY), seed=7, population_scale=scale, check=True)
    d, loc = res.daily, res.locations
    by_day = loc.groupby("day")[["arrivals", "departures", "returns_home"]].sum()
    assert (by_day["departures"].to_numpy() == d["new_displacements"].to_numpy()).all()
    abroad = loc[loc["kind"] == "abroad"].groupby("day")["arrivals"].sum()
    assert (abroad.to_numpy() == d["crossed_to_turkey"].to_numpy()).all()
    # the crossing admits up to its daily capacity (40 people) while open, then nobody
    open_days = d["date"] < "2019-05-28"
    assert d.loc[open_days, "crossed_to_turkey"].max() == 40
    assert (d.loc[open_days, "crossed_to_turkey"] >= 40 - 10 / scale).sum() > 10
    assert d.loc[~open_days, "crossed_to_turkey"].sum() == 0
    # people on the move change only by departures, returns started, arrivals, homecomings
    flow = (
        d["new_displacements"]
        + d["returns_started"]
        - by_day["arrivals"].to_numpy()
        - by_day["returns_home"].to_numpy()
    )
    assert (d["on_the_move"].diff().iloc[1:] == flow.iloc[1:]).all()
    # every person who set off home arrived home or is still on the way
    total_home = by_day["returns_home"].sum()
    assert 0 < total_home <= d["returns_cumulative"].iloc[-1]
    # stocks: everyone somewhere, every day
    stocks = ["at_home", "on_the_move", "in_host_community", "in_camps", "in_informal_sites"]
    stocks += ["returned", "abroad"]
    assert (d[stocks].sum(axis=1) == d["population"]).all()
    assert (d["population"] == 7800).all()
    # people displaced at least once: at most the movements, at least the displaced now
    assert (d["displaced_people_cumulative"] <= d["displacements_cumulative"]).all()
    # the summary's totals are the tables'
    s = res.summary
    assert s["displacements"] == d["new_displacements"].sum()
    # where people stay (net of the first reported day), recomputed from the places table
    staying = loc["in_host_community"] + loc["in_camp"] + loc["in_informal_site"]
    wide = loc.assign(staying=staying).pivot(index="date", columns="location", values="staying")
    net_end = (wide.iloc[-1] - wide.iloc[0]).sort_values(ascending=False, kind="stable")
    assert s["staying_at_end"] == {k: int(v) for k, v in net_end.head(8).items() if v > 0}
    assert s["staying_counted_from"] == str(wide.index[0])


def test_the_datacollector_reports_the_places_state_and_counts_from_the_first_reported_day():
    """daily.csv comes from the DataCollector, whose reporters read the Location agents and
    the model's running totals; recomputed here from the History arrays instead: status
    totals of the day's row, cumulative columns summed from the first reported day only."""
    sc = load_scenario(TINY)
    m = DisplacementModel(sc, seed=3, population_scale=1.0)
    offset = sc.report_offset
    assert offset > 0  # the tiny scenario simulates days before it reports
    m.run()
    daily, h, w = m.daily(), m.history, m.population.weight
    assert len(daily) == sc.n_days - offset
    camp_places = h.camp_capacity.max(axis=0) > 0
    for row in daily.itertuples():
        d = offset + row.day
        tot = h.status[d].sum(axis=0) * w
        since = slice(offset, d + 1)
        assert row.population == tot.sum()
        assert (row.at_home, row.on_the_move, row.in_host_community) == tuple(
            tot[[AT_HOME, ON_THE_MOVE, IN_HOST]]
        )
        assert (row.in_camps, row.in_informal_sites, row.returned, row.abroad) == tuple(
            tot[[IN_CAMP, IN_INFORMAL, RETURNED, ABROAD]]
        )
        assert row.displaced_now == tot[[ON_THE_MOVE, IN_HOST, IN_CAMP, IN_INFORMAL]].sum()
        assert row.new_displacements == h.new_displacements[d] * w
        assert row.displacements_cumulative == h.new_displacements[since].sum() * w
        assert row.displaced_people_cumulative == h.new_people_displaced[since].sum() * w
        assert row.returns_cumulative == h.returns_started[since].sum() * w
        assert row.crossed_to_turkey == h.crossed[d] * w
        assert row.camp_capacity == round(h.camp_capacity[d].sum())
        assert row.camp_overflow == (h.status[d][camp_places, IN_INFORMAL] * w).sum()
    # people fled before the first reported day; they are not in the cumulative columns
    assert h.new_displacements[:offset].sum() > 0
    assert daily["displacements_cumulative"].iloc[-1] == h.new_displacements[offset:].sum() * w
    # the Location agents hold the last day's state of their place
    last = m.locations().query("day == day.max()").set_index("location")
    for place in m.places:
        r = last.loc[place.name]
        assert (place.residents, place.in_camp, place.camp_capacity) == (
            r.residents,
            r.in_camp,
            r.camp_capacity,
        )
        assert place.displaced_staying == r.in_host_community + r.in_camp + r.in_informal_site
        assert place.fear == pytest.approx(r.fear, abs=1e-4)
        assert place.government_held == bool(r.government_held)
