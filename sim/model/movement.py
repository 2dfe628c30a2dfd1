"""Movement: phases 2-6 of the day, applied to the population arrays.

2. **flight** -- stationary households decide to flee from the fear at their place;
   everyone in a place the government captured today leaves;
3. **destinations** -- those who flee (and travellers whose goal became impossible)
   choose where to go by safety, distance, the pull of the border and the room left;
4. **returns** -- displaced households whose home is safe again and not captured set off
   home;
5. **travel** -- everyone on the move advances along the roads, ``travel_km_per_day``
   per day, queuing at border crossings;
6. **settling** -- arrivals take host places, then camp places, then informal sites;
   people in informal sites move into places that free up; crossings admit up to their
   daily capacity.

The formulas are in :mod:`sim.model.behaviour`; here they are applied to the households. All
random draws are one uniform per household per stream per day (common random numbers),
indexed by household id.

Speed (issue 16): the phases read only the households that can change, through an index
kept by :meth:`Movement._change` (households by home place, and :class:`RowSet` s of
those on the move, in informal sites and staying away from home). **Every change of a
household's status or location must go through** :meth:`Movement._change`; check mode
compares the index with a scan every day and names it if it is stale. At a tenth of the
population a day is a few thousand NumPy calls on arrays of a few hundred: their count, not
their size, is the cost, so the rules use ``mask.nonzero()[0]`` rather than
``np.flatnonzero`` (a Python wrapper: a microsecond a call) and skip what no one needs.
"""

from __future__ import annotations

import numpy as np

from sim.forking import can_fork
from sim.model import behaviour as rules
from sim.model.conflict import Conditions
from sim.model.geography import DESTINATION_KINDS, World
from sim.model.history import History
from sim.model.lookahead import FlightLookahead
from sim.model.population import (
    ABROAD,
    IN_CAMP,
    IN_HOST,
    IN_INFORMAL,
    N_STATUS,
    ON_THE_MOVE,
    REACH_QUANTILES,
    RETURNED,
    SETTLED_DISPLACED,
    Population,
)
from sim.model.rng import below, below_ranges, uniforms
from sim.model.rowsets import RowSet, unique_inverse
from sim.scenario.schema import Behaviour

#: Flight from a place whose bound ``max(propensity) * hazard`` is above this compares each
#: household's uniform with a bound of its own ``propensity * hazard`` (else with the place's).
_PLACE_BOUND = 0.05

_SETTLED = np.zeros(N_STATUS, bool)
_SETTLED[list(SETTLED_DISPLACED)] = True
_STATIONARY = np.ones(N_STATUS, bool)
_STATIONARY[[ON_THE_MOVE, ABROAD]] = False


class Movement:
    """Moves households between places; owns the road routing of the day."""

    def __init__(
        self,
        world: World,
        population: Population,
        behaviour: Behaviour,
        seed: int,
        host_capacity_people: np.ndarray,
        report_offset: int,
        history: History,
        min_room_people: float = 5.0,
    ):
        self.world = world
        self.pop = population
        self.beh = behaviour
        self.seed = int(seed)
        self.weight = population.weight
        self.report_offset = report_offset
        self.history = history
        n = world.n
        self.n = n
        self.edge_km = world.edge_km()
        road_km = world.road_distance_km()
        self.road_km = road_km  # static, ignoring control and closures (see _no_way_out)
        self.is_crossing = world.is_kind("crossing")
        self.is_abroad = world.is_kind("abroad")
        self.border_km = border_distance_km(world, road_km, self.is_crossing)
        self.border_km[self.is_abroad] = 0.0
        self.candidate_kind = world.is_kind(*DESTINATION_KINDS)
        self.host_capacity = host_capacity_people / self.weight  # person-rows
        self.border_edge = (
            self.is_crossing[:, None] & self.is_abroad[None, :] & np.isfinite(self.edge_km)
        )
        self.route_id = np.full((n, n), -1, dtype=np.int64)
        self.route_id[world.route_from, world.route_to] = np.arange(world.n_routes)
        self.route_id[world.route_to, world.route_from] = np.arange(world.n_routes)
        # "An average household's worth of free places" in PEOPLE (the scenario's
        # household_size), as person-rows: the same number of people at every population
        # scale (a household row of s rows stands for s * weight people)
        self.min_room = min_room_people / self.weight
        self.reach_km = rules.reach_distances(
            behaviour.destination_distance_km,
            behaviour.destination_distance_spread,
            REACH_QUANTILES,
        )
        self.next_hop = self.cost = self.km = self.next_km = None
        #: flight candidates drawn ahead while a run is under way (:meth:`draw_ahead`)
        self.lookahead: FlightLookahead | None = None
        # Live tallies, kept up to date by every change (checked against a recount in check mode):
        self.counts = population.counts(n)  # person-rows by place and status
        self._index(population)
        hh = population.households
        self.away_from = np.bincount(
            hh.home[self.away], weights=hh.size[self.away], minlength=n
        ).astype(np.int64)

    def rebind(self, population: Population) -> None:
        """Use another (e.g. reordered) copy of the same population."""
        self.pop = population
        self._index(population)

    def _index(self, population: Population) -> None:
        """Index the households so that the daily rules read only those that matter.

        * ``away``: away from home or on the move (not staying at its home place);
        * the households of each home place: rows ``_home_start[p]`` to
          ``_home_start[p + 1]`` of ``_by_home`` (None: the rows themselves, as
          :meth:`Population.create` stores them), for flight from the places under threat;
        * :class:`~sim.model.rowsets.RowSet` s of the households on the move, in informal
          sites, and staying away from home (settled displaced), updated by :meth:`_change`.
        """
        hh = population.households
        self.away = (hh.location != hh.home) | (hh.status == ON_THE_MOVE)
        if len(hh.home) < 2 or (hh.home[1:] >= hh.home[:-1]).all():
            self._by_home, home = None, hh.home
        else:
            self._by_home = np.argsort(hh.home, kind="stable")
            home = hh.home[self._by_home]
        self._home_start = np.searchsorted(home, np.arange(self.n + 1))
        self._has_homes = self._home_start[1:] > self._home_start[:-1]  # places with households
        self._ids_are_rows = self._by_home is None and np.array_equal(
            hh.id, np.arange(hh.n, dtype=hh.id.dtype)
        )
        # (column read, shape, propensity bound by home place, bounds of its households)
        self._top_propensity = None
        self.moving = RowSet("on the move", self._on_the_move, hh.n)
        self.informal = RowSet("in informal sites", self._in_informal_sites, hh.n)
        self.staying_away = RowSet("staying away from home", self._stays_away, hh.n)

    def _on_the_move(self, rows: np.ndarray) -> np.ndarray:
        return self.pop.households.status[rows] == ON_THE_MOVE

    def _in_informal_sites(self, rows: np.ndarray) -> np.ndarray:
        return self.pop.households.status[rows] == IN_INFORMAL

    def _stays_away(self, rows: np.ndarray) -> np.ndarray:
        hh = self.pop.households
        return _STATIONARY[hh.status[rows]] & (hh.location[rows] != hh.home[rows])

    def check_index(self) -> list[str]:
        """Problems of the household index (check mode): it must be what a scan finds."""
        hh = self.pop.households
        problems = [
            p for p in (s.check(hh.n) for s in (self.moving, self.informal, self.staying_away)) if p
        ]
        if not np.array_equal(self.away, (hh.location != hh.home) | (hh.status == ON_THE_MOVE)):
            problems.append("the households' away-from-home flags disagree with a scan")
        return problems

    # ----------------------------------------------------------------------------------
    def update_routes(self, cond: Conditions) -> None:
        """Recompute the civilians' routes for today's roads, border and front line."""
        w = self.world
        blocked = np.zeros((self.n, self.n), bool)
        closed = ~cond.route_open
        blocked[w.route_from[closed], w.route_to[closed]] = True
        blocked[w.route_to[closed], w.route_from[closed]] = True
        # No way back from abroad; into Turkey only through an open crossing.
        blocked[self.is_abroad, :] = True
        blocked |= self.border_edge & ~cond.crossing_open[:, None]
        self.next_hop, self.cost, self.km = rules.routes_remembered(
            self.edge_km, blocked, cond.government, self.beh.front_line_penalty_km
        )
        # km of the first road from i toward j (0 where there is none): one look-up a step
        first = np.maximum(self.next_hop, 0)
        origin = np.arange(self.n)[:, None]
        self.next_km = np.where(self.next_hop >= 0, self.edge_km[origin, first], 0.0)

    def _uniforms(self, stream: str, day: int, rows: np.ndarray) -> np.ndarray:
        """Today's uniforms for ``stream`` for the household rows ``rows`` (keyed by household id)."""
        return uniforms(self.seed, stream, day, self._ids(rows))

    def _ids(self, rows: np.ndarray) -> np.ndarray:
        """The household ids of rows ``rows`` (the rows themselves, unless reordered)."""
        return rows if self._ids_are_rows else self.pop.households.id[rows]

    def _change(
        self,
        rows: np.ndarray,
        status: np.ndarray | int | None = None,
        location: np.ndarray | None = None,
    ) -> None:
        """Set the status and/or location of households, keeping the live tallies exact."""
        if len(rows) == 0:
            return
        hh = self.pop.households
        n, size = self.n, hh.size[rows]
        home = hh.home[rows]
        loc, st = hh.location[rows], hh.status[rows]
        before = loc * N_STATUS + st
        was_away = self.away[rows]  # (location != home) | on the move, kept up to date here
        if status is not None:
            hh.status[rows] = status
            st = hh.status[rows] if np.ndim(status) else status  # (as stored: int8)
        if location is not None:
            hh.location[rows] = location
            loc = hh.location[rows] if np.ndim(location) else location
        after = loc * N_STATUS + st
        is_away = (loc != home) | (st == ON_THE_MOVE)
        delta = np.bincount(
            np.concatenate((after, before)),
            weights=np.concatenate((size, -size)),
            minlength=n * N_STATUS,
        )
        self.counts += delta.astype(np.int64).reshape(n, N_STATUS)
        flip = was_away != is_away
        if flip.any():
            sign = np.where(is_away[flip], 1, -1) * size[flip]
            self.away_from += np.bincount(home[flip], weights=sign, minlength=n).astype(np.int64)
            self.away[rows] = is_away
        self.moving.note(rows)
        self.informal.note(rows)
        self.staying_away.note(rows)

    def _set_course(self, rows: np.ndarray) -> None:
        hh = self.pop.households
        loc = hh.location[rows]
        nxt = self.next_hop[loc, hh.destination[rows]]
        hh.next_node[rows] = nxt
        hh.km_left[rows] = np.where(nxt >= 0, self.edge_km[loc, np.maximum(nxt, 0)], 0.0)
        hh.km_left[rows[nxt == loc]] = 0.0

    # ----------------------------------------------------------------------------------
    # 2. flight
    def flight_hazard(self, cond: Conditions) -> np.ndarray:
        """Today's flight hazard per unit propensity at each place (1/day), with this run's
        behaviour parameters (:func:`sim.model.behaviour.flight_hazard`)."""
        b = self.beh
        return rules.flight_hazard(
            cond.expected,
            cond.sustained,
            b.flee_rate,
            b.fear_tolerance,
            b.fear_exponent,
            b.bombardment_rate,
        )

    def flight(self, day: int, cond: Conditions) -> np.ndarray:
        """Rows of households that flee today.

        A stationary household (at home, returned, or displaced and settled: secondary
        displacement) flees when its Exponential(1) draw is below ``propensity * hazard``
        at its place (:func:`sim.model.behaviour.flight_hazard`: the danger expected there,
        including the approaching front, and sustained bombardment); everyone in a place
        held by the government leaves.
        """
        hh = self.pop.households
        hazard = self.flight_hazard(cond)
        threat = (hazard > 0) | cond.government
        gov = cond.government
        # Households staying at their own home place, place by place (those in a
        # government-held place all leave; elsewhere only those whose uniform is below a
        # bound can flee); then those staying away from home (settled displaced).
        leave, maybe = [], []
        places = (threat & self._has_homes).nonzero()[0]
        staying = self.counts[:, _STATIONARY].any(axis=1)  # places where anyone stays
        if self._by_home is None and self._ids_are_rows:  # all places in one call (issue 16)
            # (a captured place where nobody stays has nobody at home: most days, all of them)
            held = places[gov[places] & staying[places]]
            leave += [self._flight_at_home(day, p, 0.0, 0.0, True) for p in held.tolist()]
            # drawn ahead on another core (sim.model.lookahead), or now
            found = None if self.lookahead is None else self.lookahead.take(day)
            maybe.append(self.candidates_at_home(day, cond, hazard) if found is None else found)
        else:
            place_bound = self._home_top_propensity() * hazard
            for p in places.tolist():
                found = self._flight_at_home(day, p, hazard[p], place_bound[p], gov[p])
                (leave if gov[p] else maybe).append(found)
        rows = np.concatenate(maybe) if maybe else np.empty(0, np.intp)
        rows = rows[~self.away[rows]]  # (of those whose home is there, the ones at home)
        away = self.staying_away.rows()
        if (staying & ~threat).any():  # (else all are under threat: most days)
            away = away[threat[hh.location[away]]]
        if len(away):  # those in government-held places all leave; of the others, those
            loc = hh.location[away]  # whose uniform is below a bound of their x h
            bound = self.pop.propensity_bound(away) * hazard[loc]
            bound[gov[loc]] = 1.0
            pos = below(self.seed, "flee", day, 1.0, ids=self._ids(away), factor=bound)
            rows = np.concatenate((rows, away[pos]))
        if len(rows):
            loc = hh.location[rows]
            u = self._uniforms("flee", day, rows)
            # everyone in a government-held place leaves; the others flee by the rule, which
            # needs their propensities only where u is below their bound (a table look-up)
            go = gov[loc]
            go[self._flee_by_bounds(rows, u, hazard[loc], go)] = True
            leave.append(rows[go])
        rows = np.concatenate(leave) if leave else np.empty(0, np.intp)
        rows.sort()
        return rows

    def _flee_by_bounds(
        self, rows: np.ndarray, u: np.ndarray, hazard: np.ndarray, decided: np.ndarray
    ) -> np.ndarray:
        """Positions (in ``rows``) of the households not ``decided`` that flee by the rule.

        The rule of :meth:`flight`: the household's Exponential(1) draw ``-log(1 - u)`` below
        ``x h`` (checked only where ``u < x h``, since ``1 - exp(-y) <= y``), with ``x`` its
        propensity. Since ``x`` lies between a lower and an upper bound
        (:meth:`Population.propensity_bound`), the exact ``x`` (an inverse gamma CDF) is
        computed only where the bounds do not decide: a few households a run.
        """
        pop = self.pop
        maybe = (~decided & (u < pop.propensity_bound(rows) * hazard)).nonzero()[0]
        if len(maybe) == 0:
            return maybe
        u, h, rows = u[maybe], hazard[maybe], rows[maybe]
        e = -np.log1p(-u)  # the Exponential(1) draw
        low, high = pop.propensity_bound(rows, lower=True) * h, pop.propensity_bound(rows) * h
        flee = (u < low) & (e < low)  # below x h whatever x is
        unsure = (~flee & (e < high)).nonzero()[0]
        if len(unsure):
            xh = pop.propensity_of(rows[unsure]) * h[unsure]
            flee[unsure] = (u[unsure] < xh) & (e[unsure] < xh)
        return maybe[flee]

    def _flight_at_home(
        self, day: int, place: int, hazard: float, bound: float, government: bool
    ) -> np.ndarray:
        """Rows of households staying at their home ``place`` that may flee today.

        In a government-held place, everyone there (they all leave). Elsewhere only those
        whose uniform (:meth:`flight`'s rule) is below a bound of their ``x h``: their own
        (:meth:`Population.propensity_bound`), or where the hazard is low ``bound``, one
        for the whole place (``u < x h`` needs ``u < max(x) h``), computed as ``x h`` is,
        so that no household is missed. The uniforms are compared in cache-sized chunks as
        they are made (:func:`sim.model.rng.below`), and only the few below are looked at
        further.
        """
        hh = self.pop.households
        start, stop = int(self._home_start[place]), int(self._home_start[place + 1])
        block = None if self._by_home is None else self._by_home[start:stop]
        if government:  # everyone still there leaves
            here = self.away[start:stop] if block is None else self.away[block]
            pos = (~here).nonzero()[0]
            return pos + start if block is None else block[pos]
        factor = None
        if bound > _PLACE_BOUND:  # too many below the bound: each household's own bound
            factor = self.pop.propensity_bound(slice(start, stop) if block is None else block)
            bound = hazard
        if self._ids_are_rows:
            pos = below(self.seed, "flee", day, bound, start=start, stop=stop, factor=factor)
        else:
            ids = hh.id[start:stop] if block is None else hh.id[block]
            pos = below(self.seed, "flee", day, bound, ids=ids, factor=factor)
        return pos + start if block is None else block[pos]

    def candidates_at_home(
        self, day: int, cond: Conditions, hazard: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows of the households whose home is in a threatened place not held by the
        government that may flee on ``day`` if they are at home: those whose uniform is
        below a bound of their ``propensity * hazard`` (:meth:`_flight_at_home`).
        ``hazard``: :meth:`flight_hazard` of ``cond``, if the caller has it.

        Depends only on the seed, ``day`` and ``cond`` (the day's conditions, which come
        from the scenario's timeline), not on where anyone is: so it can be drawn ahead
        (:class:`sim.model.lookahead.FlightLookahead`). Rows stored by home, ids = rows.
        """
        if hazard is None:
            hazard = self.flight_hazard(cond)
        places = ((hazard > 0) & ~cond.government & self._has_homes).nonzero()[0]
        place_bound = self._home_top_propensity() * hazard
        return self._flight_at_homes(day, places, hazard, place_bound)

    def draw_ahead(self, days: range, conditions: Conditions) -> FlightLookahead | None:
        """Start drawing :meth:`candidates_at_home` for ``days`` in a forked helper process
        (:class:`sim.model.lookahead.FlightLookahead`), from ``conditions`` as they stand
        before the first of them; None where it cannot fork (:func:`sim.forking.can_fork`)
        or the households are not stored by home with ids = rows. Use the result as a
        context manager, set as :attr:`lookahead` while the days run."""
        if not (self._by_home is None and self._ids_are_rows) or len(days) == 0:
            return None
        if not can_fork():
            return None
        self._home_top_propensity()  # cached before the fork: computed once, for both
        return FlightLookahead(self.candidates_at_home, conditions, days)

    def _flight_at_homes(
        self, day: int, places: np.ndarray, hazard: np.ndarray, bound: np.ndarray
    ) -> np.ndarray:
        """:meth:`_flight_at_home` of several places not held by the government, in one
        call of :func:`sim.model.rng.below_ranges` (rows stored by home, ids = rows). The
        propensity bounds of a place's households are made the first day it needs them
        and kept (float64: at most 8 B per household, 0.6 MB at population scale 0.1)."""
        starts, stops = self._home_start[places], self._home_start[places + 1]
        own = bound[places] > _PLACE_BOUND  # each household's own bound (see _flight_at_home)
        self._home_top_propensity()  # (checks that the bounds kept are of today's column)
        kept = self._top_propensity[3]  # place -> its households' bounds, made once a run
        factors = [None] * len(places)
        for i in own.nonzero()[0].tolist():
            p = int(places[i])
            if p not in kept:
                kept[p] = self.pop.propensity_bound(slice(int(starts[i]), int(stops[i])))
            factors[i] = kept[p]
        bounds = np.where(own, hazard[places], bound[places])
        return below_ranges(self.seed, "flee", day, starts, stops, bounds, factors)

    def _home_top_propensity(self) -> np.ndarray:
        """A bound of the propensities of the households of each home place (0 where none)."""
        pop = self.pop
        hh = pop.households
        known = hh.columns.get("propensity")  # the propensities themselves, if ever read
        column = hh.propensity_bucket if known is None else known
        cached = self._top_propensity
        if cached is None or cached[0] is not column or cached[1] != pop.propensity_shape:
            by_home = column if self._by_home is None else column[self._by_home]
            starts = self._home_start[:-1]
            filled = starts < self._home_start[1:]
            top = np.zeros(self.n)
            if filled.any():
                most = np.maximum.reduceat(by_home, starts[filled])
                # (the bound of the highest bucket: the bound grows with the bucket)
                top[filled] = most if known is not None else pop.bound_of_buckets(most)
            self._top_propensity = (column, pop.propensity_shape, top, {})
        return self._top_propensity[2]

    def onward(self, day: int, cond: Conditions, fleeing: np.ndarray) -> np.ndarray:
        """Rows of households in informal sites that move on today (not already fleeing).

        A household that has been in an informal site (a reception centre, an overflow
        site, a full place) for at most ``onward_days`` since it last fled from danger (an
        onward move does not restart the count) moves on with daily probability
        ``onward_rate``, if some other place has free host or camp places
        (:meth:`destinations` sends it to one). After that it has settled in an informal
        settlement and stays until danger or a lull moves it.
        """
        hh = self.pop.households
        if self.beh.onward_rate <= 0:
            return np.empty(0, np.intp)
        rows = self.informal.rows()
        rows = rows[day - hh.displaced_on[rows] <= self.beh.onward_days]
        if len(rows) == 0:
            return rows
        # (each household's uniform is its own: drawing before leaving out those already
        # fleeing changes nobody's, and leaves a few rows to compare instead of thousands)
        rows = rows[self._uniforms("onward", day, rows) < self.beh.onward_rate]
        if len(fleeing) and len(rows):
            rows = rows[~_among(rows, fleeing)]
        return rows

    # 3. destinations
    def shelter(self, cond: Conditions, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shelter each place offers newcomers (person-rows, floored), and its free places.

        Free places: host and camp places not taken or promised to people on their way
        there (:func:`sim.model.behaviour.shelter`), plus the pull of the place's camps,
        which grows with their places, full or not (:func:`sim.model.behaviour.camp_pull`).
        Places abroad offer as much as the largest place at home (the scenario gives them
        no capacity).
        """
        hh = self.pop.households
        moving = self.moving.rows()
        moving = moving[~hh.returning[moving]]
        pending = np.bincount(hh.destination[moving], weights=hh.size[moving], minlength=self.n)
        cap = self.host_capacity + cond.camp_capacity / self.weight
        occ = counts[:, IN_HOST] + counts[:, IN_CAMP] + counts[:, IN_INFORMAL] + pending
        room = rules.camp_pull(
            rules.shelter(cap, occ, self.beh.crowding_floor),
            cond.camp_capacity / self.weight,
            self.beh.camp_weight,
        )
        free = cap - occ
        top = room[~self.is_abroad].max() if (~self.is_abroad).any() else 1.0
        room[self.is_abroad] = max(top, 1.0)
        free[self.is_abroad] = max(top, 1.0)
        return room, free

    def destinations(
        self,
        day: int,
        cond: Conditions,
        fleeing: np.ndarray,
        counts: np.ndarray,
        onward: np.ndarray | None = None,
    ) -> None:
        """Choose destinations for new flights, onward moves and travellers whose goal is lost.

        Households moving on from informal sites choose only among places with free host
        or camp places (at least an average household's worth: ``household_size`` people,
        whatever the population scale), no more dangerous than where they are; turned away
        by a place whose free places others took first, they choose again among the places
        still with room (:meth:`_places_for_movers`), and stay if there is none.
        """
        hh = self.pop.households
        onward = np.empty(0, np.intp) if onward is None else onward
        moving = self.moving.rows()
        dest = hh.destination[moving]
        loc = hh.location[moving]
        ret = hh.returning[moving]
        lost = np.where(
            ret, cond.government[hh.home[moving]], cond.government[dest]
        ) | ~np.isfinite(self.cost[loc, dest])
        lost |= (hh.next_node[moving] < 0) & (loc != dest)  # waiting for a road: try again
        reroute = moving[lost]
        if len(fleeing) == 0 and len(reroute) == 0 and len(onward) == 0:
            return
        b = self.beh
        candidate = self.candidate_kind & ~cond.government
        room, free = self.shelter(cond, counts)
        with_room = candidate & (free >= self.min_room)
        rows = np.concatenate((fleeing, onward, reroute)).astype(np.intp, copy=False)
        kind = np.repeat(np.arange(3, dtype=np.int8), (len(fleeing), len(onward), len(reroute)))
        u = self._uniforms("destination", day, rows)
        origin = hh.location[rows]
        reach = hh.reach_class[rows]
        # Who moves on looks only at places with room that are no more dangerous than
        # where it is (never toward the front): one candidate set per origin.
        onward_cand = None
        if (kind == 1).any():
            e = cond.expected
            safe = e[None, :] <= np.maximum(e, b.fear_tolerance)[:, None]
            onward_cand = with_room[None, :] & safe
        # Every move looks as far as the danger at the place left takes it (rules.reach_factor,
        # by origin): the long way from the front, nearby from scattered strikes or from an
        # overflow site in a quiet place.
        by_danger = rules.reach_factor(cond.expected, b.fear_tolerance, b.reach_danger_exponent)
        n = self.n

        n_keys = len(self.reach_km) * n  # (reach class, place left) pairs

        def choose(
            members: np.ndarray, draws: np.ndarray, onward: np.ndarray | None = None
        ) -> np.ndarray:
            """Destinations of the households at positions ``members``, with uniforms
            ``draws``: among ``candidate``, or for those moving on among ``onward`` (by
            origin and destination ``(n, n)``). One row of attractiveness per (moving on,
            reach class, place left) that one of them needs, all in one call (issue 16; each
            row equals that row of the whole matrix, :func:`sim.model.behaviour.attractiveness`)."""
            if len(members) == 0:
                return np.empty(0, dtype=np.intp)
            key = reach[members].astype(np.intp) * n + origin[members]
            if onward is not None:
                key += (kind[members] == 1) * n_keys
            keys, row = unique_inverse(key)
            moving_on, k = np.divmod(keys, n_keys)
            k, place = np.divmod(k, n)
            cand = candidate[None, :]
            if onward is not None and moving_on.any():
                cand = np.where(moving_on[:, None] == 1, onward[place], cand)
            prob = rules.attractiveness(
                self.cost,
                cond.expected,
                self.border_km,
                room,
                cand,
                self.reach_km[k] * by_danger[place],
                b.safety_weight,
                b.border_pull_km,
                origins=place,
            )
            return rules.choose(prob, row, draws)

        choice = choose(np.arange(len(rows)), u, onward_cand)
        ok = choice >= 0
        # Onward moves only up to the free places of each destination (served by draw); a
        # place that turns movers away is full for the day, and those it turned away choose
        # again among the places still with room, until all have a place or none is left:
        # then they wait for a later day rather than move into another informal site.
        mover = (ok & (kind == 1)).nonzero()[0]
        if len(mover):
            ok[mover] = self._places_for_movers(
                day, rows[mover], choice, mover, u[mover], free, onward_cand, choose
            )
        # No way out (new flights and travellers; a household that cannot move on stays put)
        sub = (kind != 1).nonzero()[0]
        if not ok[sub].all():
            ch = choice[sub]
            ok[sub] = self._no_way_out(rows[sub], ch, len(fleeing), cond)
            choice[sub] = ch
        rows, choice, kind = rows[ok], choice[ok], kind[ok]
        new = rows[kind < 2]
        hh.destination[rows] = choice
        hh.returning[rows] = False
        hh.queued_on[rows] = -1
        self._set_course(rows)
        # start the new flights and onward moves
        if len(new):
            h = self.history
            size = hh.size[new]
            self._change(new, status=ON_THE_MOVE)
            hh.times_displaced[new] += 1
            # the day of the last flight from danger: an onward move does not restart the
            # window in which a household may move on (no moving on from site to site forever)
            fled = rows[kind == 0]
            hh.displaced_on[fled] = day
            hh.first_displaced_on[fled[hh.first_displaced_on[fled] < 0]] = day  # (the first)
            h.departures[day] += np.bincount(
                hh.location[new], weights=size, minlength=self.n
            ).astype(np.int64)
            h.new_displacements[day] += int(size.sum())
            if day >= self.report_offset:
                first = new[~hh.fled_in_report[new]]
                hh.fled_in_report[first] = True
                h.new_people_displaced[day] += int(hh.size[first].sum())

    def _places_for_movers(
        self,
        day: int,
        rows: np.ndarray,
        choice: np.ndarray,
        mover: np.ndarray,
        u: np.ndarray,
        free: np.ndarray,
        cand: np.ndarray,
        choose,
    ) -> np.ndarray:
        """Which households moving on (``rows``, positions ``mover`` of ``choice``) get a place.

        Each destination takes those who chose it up to its free places ``free``
        (person-rows), in the order of their draws ``u``
        (:func:`sim.model.behaviour.fill_in_order`). A place that turned anyone away is full
        for the day: those turned away choose again (``choose``, a fresh draw for each
        round) among the candidates ``cand`` (by origin) that have not turned anyone away,
        until every household has a place or no candidate is left. Updates ``choice`` at
        ``mover``; returns, for each, whether it moves on today.

        This is what makes moving on mean the same at every population scale: how many move
        on depends on the room among the places within reach, not on whether one place's
        last free places come to a whole household row (5 rows stand for 5 people at full
        population, 100 at scale 0.05).
        """
        hh = self.pop.households
        size, ids = hh.size[rows], hh.id[rows]
        left = np.maximum(free, 0.0)
        full = np.zeros(self.n, bool)
        placed = np.zeros(len(rows), bool)
        todo = np.arange(len(rows))
        draws = u
        for attempt in range(self.n + 1):
            dest = choice[mover[todo]]
            tier = rules.fill_in_order(dest, size[todo], draws, ids[todo], [left])
            inn = tier == 0
            placed[todo[inn]] = True
            left = left - np.bincount(dest[inn], weights=size[todo[inn]], minlength=self.n)
            turned = todo[~inn]
            if len(turned) == 0:
                break
            full[choice[mover[turned]]] = True
            draws = uniforms(self.seed, "move_on_again", day * (self.n + 1) + attempt, ids[turned])
            again = choose(mover[turned], draws, cand & ~full[None, :])
            choice[mover[turned]] = again
            todo = turned[again >= 0]
            draws = draws[again >= 0]
            if len(todo) == 0:
                break
        return placed

    def _no_way_out(
        self, rows: np.ndarray, choice: np.ndarray, n_new: int, cond: Conditions
    ) -> np.ndarray:
        """Households with no reachable destination today (``choice`` is -1): who waits.

        ``rows`` are today's new flights (the first ``n_new``) then the travellers
        choosing again; ``choice`` their destinations, updated in place. Returns which rows
        take their ``choice``. The rule (docs/model.md, "No way out"):

        * people who must leave a captured place but cannot reach any destination (every
          road out closed) leave their homes anyway and **wait on the move** at the place:
          their flight starts today, they go nowhere while no road is open, and they choose
          again every day (phase 3) until a road opens. Their recorded destination is a
          placeholder until then: the nearest place they could settle in by road, ignoring
          closures;
        * travellers whose goal (destination, or home for returners) was captured and who
          have no other destination stop and wait where they are, so nobody arrives to
          settle in a captured place;
        * anyone else keeps what they had: a household fleeing from fear alone stays home,
          a traveller whose route closed keeps its course to the end of the open road.
        """
        hh = self.pop.households
        ok = choice >= 0
        forced = np.zeros(len(rows), bool)
        forced[:n_new] = cond.government[hh.location[rows[:n_new]]]
        forced &= ~ok
        if forced.any():
            choice[forced] = self._placeholder(cond)[hh.location[rows[forced]]]
            ok |= forced
        stop = ~ok & cond.government[hh.destination[rows]]
        stop[:n_new] = False
        if stop.any():
            halted = rows[stop]
            hh.next_node[halted] = -1
            hh.km_left[halted] = 0.0
        return ok

    def _placeholder(self, cond: Conditions) -> np.ndarray:
        """For each place, the nearest other place by road (ignoring closures and control)
        that people could settle in: not held by the government if possible, else any
        destination kind, else any place (the destination of people waiting for a road)."""
        n = self.n
        tier = np.where(self.candidate_kind, np.where(cond.government, 1, 0), 2)
        tier = np.broadcast_to(tier, (n, n)).copy()
        np.fill_diagonal(tier, 3)
        index = np.broadcast_to(np.arange(n), (n, n))
        return np.lexsort((index, self.road_km, tier), axis=-1)[:, 0]

    # 4. returns
    def returns(self, day: int, cond: Conditions) -> None:
        """Displaced households go home in lulls (:func:`sim.model.behaviour.return_probability`).

        Eligible: settled away from home (host community, camp or informal site), home not
        held by the government, displaced for at least ``return_min_days``; the daily
        probability falls from ``return_rate`` in a quiet home to 0 when the danger expected
        there (remembered danger and the front's threat) reaches ``return_fear_threshold``.
        """
        hh = self.pop.households
        b = self.beh
        p_home = rules.return_probability(cond.expected, b.return_fear_threshold, b.return_rate)
        p_home[cond.government] = 0.0
        if not (p_home > 0).any():
            return
        # settled displaced away from home: IN_HOST, IN_CAMP or IN_INFORMAL (consecutive codes)
        rows = self.staying_away.rows()
        p = p_home[hh.home[rows]]
        quiet = p > 0  # (first: most days most homes are not quiet, and fewer rows follow)
        rows, p = rows[quiet], p[quiet]
        st = hh.status[rows]
        ok = (st >= IN_HOST) & (st <= IN_INFORMAL)
        ok &= day - hh.displaced_on[rows] >= b.return_min_days
        rows, p = rows[ok], p[ok]
        if len(rows) == 0:
            return
        go = rows[self._uniforms("return", day, rows) < p]
        if len(go) == 0:
            return
        self._change(go, status=ON_THE_MOVE)
        hh.returning[go] = True
        hh.destination[go] = hh.home[go]
        self._set_course(go)
        self.history.returns_started[day] += int(hh.size[go].sum())

    # 5. travel
    def travel(self, day: int, cond: Conditions) -> None:
        """Advance everyone on the move by up to ``travel_km_per_day`` km along their route."""
        hh = self.pop.households
        rows = self.moving.rows()
        if len(rows) == 0:
            return
        loc0 = hh.location[rows]
        loc = loc0.copy()
        dest = hh.destination[rows]
        nxt = hh.next_node[rows].copy()
        left = hh.km_left[rows].astype(np.float64)
        size = hh.size[rows]
        budget = np.full(len(rows), self.beh.travel_km_per_day)
        steps = []  # (place left, place reached, positions) of each step: counted once, after
        government = cond.government
        # a: positions still travelling today (budget left, not there, a road ahead); only
        # those that reached a place in a step can go on in the next one
        a = ((budget > 0) & (loc != dest) & (nxt >= 0)).nonzero()[0]
        for _ in range(self.n + 1):
            if len(a) == 0:
                break
            la, na = loc[a], nxt[a]  # (a road ahead: na >= 0)
            # queue at a border crossing: the crossing admits people in phase 6
            at_border = self.border_edge[la, na]
            if at_border.any():
                budget[a[at_border]] = 0.0
                keep = ~at_border
                a, la, na = a[keep], la[keep], na[keep]
                if len(a) == 0:
                    break
            ba, lefta = budget[a], left[a]
            # nobody stops inside a government-held place: it is crossed in one go
            through = government[la]
            if through.any():
                ba = np.where(through, np.maximum(ba, lefta), ba)
            reach = ba >= lefta
            budget[a] = np.where(reach, ba - lefta, 0.0)
            left[a] = np.where(reach, lefta, lefta - ba)  # (the km left on this road)
            r = a[reach]
            if len(r) == 0:
                break
            lr, nr = la[reach], na[reach]
            steps.append((lr, nr, r))
            loc[r] = nr
            on = nr != dest[r]
            go_on, lg = r[on], nr[on]
            dg = dest[go_on]
            ng = self.next_hop[lg, dg]
            nxt[go_on] = ng
            left[go_on] = self.next_km[lg, dg]
            a = go_on[(ng >= 0) & (budget[go_on] > 0)]
        moved = loc != loc0
        self._change(rows[moved], location=loc[moved])
        hh.next_node[rows] = nxt
        hh.km_left[rows] = left
        waiting = rows[(hh.queued_on[rows] < 0) & self.is_crossing[loc] & self.is_abroad[dest]]
        hh.queued_on[waiting] = day
        if steps:  # people along each road, and of them those travelling it from -> to
            left_from, to, r = (np.concatenate(x) for x in zip(*steps, strict=True))
            rid = self.route_id[left_from, to]
            n_routes = self.world.n_routes
            flow = np.bincount(rid, weights=size[r], minlength=n_routes)
            fwd = self.world.route_from[rid] == left_from
            flow_fwd = np.bincount(rid[fwd], weights=size[r[fwd]], minlength=n_routes)
            self.history.route_flow[day] += flow.astype(np.int64)
            self.history.route_forward[day] += flow_fwd.astype(np.int64)

    # 6. settling
    def settle(self, day: int, cond: Conditions) -> None:
        """Arrivals, then people waiting in informal sites, take free host and camp places.

        A share ``host_preference`` of households (fixed per household) look for a host
        place first and take a camp place only when no host place is free; the others go
        to a camp, or to an informal site when the camps are full. Camp seekers are served
        before host seekers fall back on the camps.
        Order of service at each place: earliest displaced first (ties by a random draw).
        A place serves its informal sites only when at least an average household's worth
        of places is free. Camps whose capacity fell below their occupancy send their latest
        arrivals to informal sites. Border crossings admit their queue, first come first
        served, up to their daily capacity.
        """
        hh = self.pop.households
        h = self.history
        n = self.n
        counts = self.counts
        camp_cap = cond.camp_capacity / self.weight

        over = counts[:, IN_CAMP] > camp_cap + 1e-9
        if over.any():
            rows = (hh.status == IN_CAMP).nonzero()[0]
            rows = rows[over[hh.location[rows]]]
            key = hh.displaced_on[rows] + self._uniforms("settle", day, rows)
            keep = rules.fill_in_order(
                hh.location[rows], hh.size[rows], key, hh.id[rows], [camp_cap]
            )
            self._change(rows[keep > 0], status=IN_INFORMAL)

        moving = self.moving.rows()
        at_goal = moving[hh.location[moving] == hh.destination[moving]]
        at_goal = at_goal[~self.is_abroad[hh.location[at_goal]]]
        back = hh.returning[at_goal]
        home = back & ~hh.pre_displaced[at_goal]
        home_again, arrivals = at_goal[home], at_goal[~home]
        if len(at_goal):
            ret = at_goal[back]
            h.returns_home[day] += _people_by_place(hh, ret, n)
            h.arrivals[day] += _people_by_place(hh, at_goal[~back], n)
        if len(home_again):
            self._change(home_again, status=RETURNED)
            self._arrive(home_again)

        host_free = self.host_capacity - counts[:, IN_HOST]
        camp_free = camp_cap - counts[:, IN_CAMP]
        room = (host_free >= self.min_room) | (camp_free >= self.min_room)
        waiting = self.informal.rows() if room.any() else np.empty(0, np.intp)
        waiting = waiting[room[hh.location[waiting]]]
        waiting = self._may_settle(day, waiting, host_free, camp_free)
        rows = np.concatenate((waiting, arrivals)).astype(np.intp, copy=False)
        if len(rows):
            key = hh.displaced_on[rows] + self._uniforms("settle", day, rows)
            loc, size, ids = hh.location[rows], hh.size[rows], hh.id[rows]
            # A household's preference is fixed for the whole run (drawn once, a column).
            host = hh.host_draw[rows] < self.beh.host_preference
            camp = ~host
            status = np.empty(len(rows), dtype=np.int8)
            # Camp seekers first: formal camp places, else an informal site.
            tier = rules.fill_in_order(loc[camp], size[camp], key[camp], ids[camp], [camp_free])
            status[camp] = np.where(tier == 0, IN_CAMP, IN_INFORMAL)
            taken = np.bincount(loc[camp][tier == 0], weights=size[camp][tier == 0], minlength=n)
            # Host seekers: a host place, else a camp place left over, else an informal site.
            tier = rules.fill_in_order(
                loc[host], size[host], key[host], ids[host], [host_free, camp_free - taken]
            )
            status[host] = _TIER_STATUS[tier]
            # only households whose status changes: those who stay in their informal site
            # are already in order (arrived earlier), so their people need no update
            changes = status != hh.status[rows]
            rows, status = rows[changes], status[changes]
            self._change(rows, status=status)
            self._arrive(rows)

        queue = moving[self.is_crossing[hh.location[moving]]]
        queue = queue[(hh.queued_on[queue] >= 0) & self.is_abroad[hh.destination[queue]]]
        if len(queue):
            cap = np.where(cond.crossing_open, cond.crossing_capacity, 0.0) / self.weight
            key = hh.queued_on[queue] + self._uniforms("border", day, queue)
            tier = rules.fill_in_order(hh.location[queue], hh.size[queue], key, hh.id[queue], [cap])
            inn = queue[tier == 0]
            if len(inn):
                src, dst = hh.location[inn], hh.destination[inn]
                h.route_flow[day] += np.bincount(
                    self.route_id[src, dst], weights=hh.size[inn], minlength=self.world.n_routes
                ).astype(np.int64)
                rid = self.route_id[src, dst]
                fwd = self.world.route_from[rid] == src
                h.route_forward[day] += np.bincount(
                    rid[fwd], weights=hh.size[inn][fwd], minlength=self.world.n_routes
                ).astype(np.int64)
                h.crossed[day] += int(hh.size[inn].sum())
                h.arrivals[day] += _people_by_place(hh, inn, n, dst)
                self._change(inn, status=ABROAD, location=dst)
                self._arrive(inn)

    def _may_settle(
        self, day: int, waiting: np.ndarray, host_free: np.ndarray, camp_free: np.ndarray
    ) -> np.ndarray:
        """Of the households waiting in informal sites, those that may get a place today.

        Places go earliest displaced first (:meth:`settle`), so a household with at least
        as many people displaced on earlier days ahead of it, at its place and looking for
        the same kind of place, as that place has free (host and camp places for host
        seekers, camp places for camp seekers) cannot get one: every place it could take
        goes to them first. Those are left out before the draw; the others are served as
        before, so the result is the same, for ~500 households a day instead of ~20,000.
        """
        if len(waiting) == 0:
            return waiting
        hh = self.pop.households
        n = self.n
        days = day + 2  # displaced_on + 1: 0 (before the scenario) to day + 1
        host = hh.host_draw[waiting] < self.beh.host_preference
        group = host * n + hh.location[waiting]
        on = hh.displaced_on[waiting].astype(np.intp) + 1
        people = np.bincount(
            group * days + on, weights=hh.size[waiting], minlength=2 * n * days
        ).reshape(2 * n, days)
        people = people.astype(np.int64)  # (whole numbers: a cumsum of int64 is 4x faster)
        ahead = people.cumsum(axis=1) - people  # people displaced on earlier days
        camp = np.maximum(camp_free, 0.0)
        free = np.concatenate((camp, np.maximum(host_free, 0.0) + camp))
        # a household can be placed only with fewer than `free` people ahead of it (sizes
        # are at least 1; the + 1 also absorbs the rounding of the sum above)
        return waiting[ahead[group, on] < free[group] + 1.0]

    def _arrive(self, rows: np.ndarray) -> None:
        hh = self.pop.households
        hh.returning[rows] = False
        hh.destination[rows] = -1
        hh.next_node[rows] = -1
        hh.km_left[rows] = 0.0
        hh.queued_on[rows] = -1


def _among(rows: np.ndarray, sorted_rows: np.ndarray) -> np.ndarray:
    """Whether each of ``rows`` is in ``sorted_rows`` (ascending)."""
    at = np.minimum(np.searchsorted(sorted_rows, rows), len(sorted_rows) - 1)
    return sorted_rows[at] == rows


def border_distance_km(world: World, road_km: np.ndarray, is_crossing: np.ndarray) -> np.ndarray:
    """Distance (km) from each place to the Turkish border, for the pull of the border areas.

    The straight-line km to the border line given in the locations file (``border_km``):
    the border strip was where bombing was rare and the camps, aid hubs and kin were,
    whether or not a crossing is near (Salqin, Darkush, Harim lie on the border, far by
    road from Bab al-Hawa). Where a place has no ``border_km``, the road km to the
    nearest border crossing stands in for it.
    """
    by_road = road_km[:, is_crossing].min(axis=1) if is_crossing.any() else np.full(world.n, np.inf)
    given = np.asarray(world.border_km, dtype=float)
    return np.where(np.isfinite(given), given, by_road)


_TIER_STATUS = np.array([IN_HOST, IN_CAMP, IN_INFORMAL], dtype=np.int8)


def _people_by_place(hh, rows: np.ndarray, n: int, where: np.ndarray | None = None) -> np.ndarray:
    """People (person-rows) of households ``rows`` counted by their location (or ``where``)."""
    places = hh.location[rows] if where is None else where
    return np.bincount(places, weights=hh.size[rows], minlength=n).astype(np.int64)
