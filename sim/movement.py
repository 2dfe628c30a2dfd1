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

The formulas are in :mod:`sim.behaviour`; here they are applied to the households. All
random draws are one uniform per household per stream per day (common random numbers),
indexed by household id.
"""

from __future__ import annotations

import numpy as np

from . import behaviour as rules
from .config import Behaviour
from .conflict import Conditions
from .geography import DESTINATION_KINDS, World
from .history import History
from .population import (
    ABROAD,
    IN_CAMP,
    IN_HOST,
    IN_INFORMAL,
    N_STATUS,
    ON_THE_MOVE,
    RETURNED,
    SETTLED_DISPLACED,
    Population,
)
from .rng import daily_uniforms

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
        self.is_crossing = world.is_kind("crossing")
        self.is_abroad = world.is_kind("abroad")
        self.border_km = road_km[:, self.is_crossing].min(axis=1)
        self.border_km[self.is_abroad] = 0.0
        self.candidate_kind = world.is_kind(*DESTINATION_KINDS)
        self.host_capacity = host_capacity_people / self.weight  # person-rows
        self.border_edge = (
            self.is_crossing[:, None] & self.is_abroad[None, :] & np.isfinite(self.edge_km)
        )
        self.route_id = np.full((n, n), -1, dtype=np.int64)
        self.route_id[world.route_from, world.route_to] = np.arange(world.n_routes)
        self.route_id[world.route_to, world.route_from] = np.arange(world.n_routes)
        self.touched: list[np.ndarray] = []
        self.next_hop = self.cost = self.km = None

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
        self.next_hop, self.cost, self.km = rules.routes(
            self.edge_km, blocked, cond.government, self.beh.front_line_penalty_km
        )

    def _uniforms(self, stream: str, day: int) -> np.ndarray:
        """Today's uniforms for ``stream``, one per household row (drawn by household id)."""
        hh = self.pop.households
        return daily_uniforms(self.seed, stream, day, hh.n)[hh.id]

    def _set_course(self, rows: np.ndarray) -> None:
        hh = self.pop.households
        loc = hh.location[rows].astype(np.int64)
        nxt = self.next_hop[loc, hh.destination[rows]]
        hh.next_node[rows] = nxt
        hh.km_left[rows] = np.where(nxt >= 0, self.edge_km[loc, np.maximum(nxt, 0)], 0.0)
        hh.km_left[rows[nxt == loc]] = 0.0

    # ----------------------------------------------------------------------------------
    # 2. flight
    def flight(self, day: int, cond: Conditions) -> np.ndarray:
        """Rows of households that flee today: ``u < 1 - exp(-rate * propensity * fear)``, or captured."""
        hh = self.pop.households
        u = self._uniforms("flee", day)
        loc = hh.location
        fear = cond.fear[loc]
        p = rules.flee_probability(fear, hh.propensity, self.beh.flee_rate)
        flee = _STATIONARY[hh.status] & ((u < p) | cond.government[loc])
        return np.flatnonzero(flee)

    # 3. destinations
    def room(self, cond: Conditions, counts: np.ndarray) -> np.ndarray:
        """Share of host and camp places still free at each place (floored), for the choice."""
        hh = self.pop.households
        moving = (hh.status == ON_THE_MOVE) & ~hh.returning
        pending = np.bincount(
            hh.destination[moving].astype(np.int64), weights=hh.size[moving], minlength=self.n
        )
        cap = self.host_capacity + cond.camp_capacity / self.weight
        occ = counts[:, IN_HOST] + counts[:, IN_CAMP] + counts[:, IN_INFORMAL] + pending
        with np.errstate(divide="ignore", invalid="ignore"):
            free = np.where(cap > 0, (cap - occ) / cap, 0.0)
        room = np.clip(free, self.beh.crowding_floor, 1.0)
        room[self.is_abroad] = 1.0
        return np.maximum(room, 1e-12)

    def destinations(
        self, day: int, cond: Conditions, fleeing: np.ndarray, counts: np.ndarray
    ) -> None:
        """Choose destinations for new flights and for travellers whose goal is lost; start the flights."""
        hh = self.pop.households
        moving = np.flatnonzero(hh.status == ON_THE_MOVE)
        dest = hh.destination[moving].astype(np.int64)
        loc = hh.location[moving].astype(np.int64)
        ret = hh.returning[moving]
        lost = np.where(
            ret, cond.government[hh.home[moving]], cond.government[dest]
        ) | ~np.isfinite(self.cost[loc, dest])
        reroute = moving[lost]
        if len(fleeing) == 0 and len(reroute) == 0:
            return
        b = self.beh
        candidate = self.candidate_kind & ~cond.government
        prob = rules.attractiveness(
            self.cost,
            cond.fear,
            self.border_km,
            self.room(cond, counts),
            candidate,
            b.destination_distance_km,
            b.safety_weight,
            b.border_pull_km,
        )
        u = self._uniforms("destination", day)
        rows = np.r_[fleeing, reroute].astype(np.int64)
        choice = rules.choose(prob, hh.location[rows].astype(np.int64), u[rows])
        ok = choice >= 0
        rows, choice = rows[ok], choice[ok]
        new = rows[: int(ok[: len(fleeing)].sum())]
        hh.destination[rows] = choice
        hh.returning[rows] = False
        hh.queued_on[rows] = -1
        self._set_course(rows)
        # start the new flights
        if len(new):
            h = self.history
            size = hh.size[new]
            hh.status[new] = ON_THE_MOVE
            hh.times_displaced[new] += 1
            hh.displaced_on[new] = day
            h.departures[day] += np.bincount(
                hh.location[new].astype(np.int64), weights=size, minlength=self.n
            ).astype(np.int64)
            h.new_displacements[day] += int(size.sum())
            if day >= self.report_offset:
                first = new[~hh.fled_in_report[new]]
                hh.fled_in_report[first] = True
                h.new_people_displaced[day] += int(hh.size[first].sum())
        self.touched.append(rows)

    # 4. returns
    def returns(self, day: int, cond: Conditions) -> None:
        """Displaced households go home with daily probability ``return_rate`` once home is safe."""
        hh = self.pop.households
        b = self.beh
        home = hh.home
        eligible = (
            _SETTLED[hh.status]
            & (hh.location != home)
            & ~cond.government[home]
            & (cond.fear[home] < b.return_fear_threshold)
            & (day - hh.displaced_on >= b.return_min_days)
        )
        if not eligible.any():
            return
        u = self._uniforms("return", day)
        go = np.flatnonzero(eligible & (u < b.return_rate))
        if len(go) == 0:
            return
        hh.status[go] = ON_THE_MOVE
        hh.returning[go] = True
        hh.destination[go] = home[go]
        self._set_course(go)
        self.history.returns_started[day] += int(hh.size[go].sum())
        self.touched.append(go)

    # 5. travel
    def travel(self, day: int, cond: Conditions) -> None:
        """Advance everyone on the move by up to ``travel_km_per_day`` km along their route."""
        hh = self.pop.households
        rows = np.flatnonzero(hh.status == ON_THE_MOVE)
        if len(rows) == 0:
            return
        loc = hh.location[rows].astype(np.int64)
        dest = hh.destination[rows].astype(np.int64)
        nxt = hh.next_node[rows].astype(np.int64)
        left = hh.km_left[rows].astype(np.float64)
        size = hh.size[rows]
        budget = np.full(len(rows), self.beh.travel_km_per_day)
        flow = np.zeros(self.world.n_routes)
        for _ in range(self.n + 1):
            active = (budget > 0) & (loc != dest) & (nxt >= 0)
            # queue at a border crossing: the crossing admits people in phase 6
            at_border = active & self.border_edge[loc, np.maximum(nxt, 0)]
            budget[at_border] = 0.0
            active &= ~at_border
            if not active.any():
                break
            # nobody stops inside a government-held place: it is crossed in one go
            through = active & cond.government[loc]
            budget[through] = np.maximum(budget[through], left[through])
            reach = active & (budget >= left)
            budget[reach] -= left[reach]
            part = active & ~reach
            left[part] -= budget[part]
            budget[part] = 0.0
            r = np.flatnonzero(reach)
            if len(r):
                flow += np.bincount(
                    self.route_id[loc[r], nxt[r]], weights=size[r], minlength=len(flow)
                )
                loc[r] = nxt[r]
                go_on = r[loc[r] != dest[r]]
                nxt[go_on] = self.next_hop[loc[go_on], dest[go_on]]
                ok = nxt[go_on] >= 0
                left[go_on] = np.where(ok, self.edge_km[loc[go_on], np.maximum(nxt[go_on], 0)], 0.0)
        hh.location[rows] = loc
        hh.next_node[rows] = nxt
        hh.km_left[rows] = left
        waiting = rows[(hh.queued_on[rows] < 0) & self.is_crossing[loc] & self.is_abroad[dest]]
        hh.queued_on[waiting] = day
        self.history.route_flow[day] += flow.astype(np.int64)
        self.touched.append(rows)

    # 6. settling
    def settle(self, day: int, cond: Conditions) -> None:
        """Arrivals and people in informal sites take free host, then camp places; crossings admit."""
        hh = self.pop.households
        h = self.history
        counts = self.pop.counts(self.n)
        camp_cap = cond.camp_capacity / self.weight
        u = self._uniforms("settle", day)

        # camps whose capacity is now below their occupancy send the latest arrivals to informal sites
        over = counts[:, IN_CAMP] > camp_cap + 1e-9
        if over.any():
            rows = np.flatnonzero((hh.status == IN_CAMP) & over[hh.location])
            keep = rules.fill_in_order(
                hh.location[rows],
                hh.size[rows],
                hh.displaced_on[rows] + u[rows],
                hh.id[rows],
                [camp_cap],
            )
            out = rows[keep > 0]
            hh.status[out] = IN_INFORMAL
            self.touched.append(out)
            counts = self.pop.counts(self.n)

        at_goal = (hh.status == ON_THE_MOVE) & (hh.location == hh.destination)
        home_again = np.flatnonzero(at_goal & hh.returning & ~hh.pre_displaced)
        if len(home_again):
            hh.status[home_again] = RETURNED
            hh.returning[home_again] = False
            h.returns_home[day] += np.bincount(
                hh.location[home_again].astype(np.int64),
                weights=hh.size[home_again],
                minlength=self.n,
            ).astype(np.int64)
        arrivals = np.flatnonzero(
            at_goal & ~(hh.returning & ~hh.pre_displaced) & ~self.is_abroad[hh.location]
        )
        if len(arrivals):
            back = hh.returning[arrivals]
            h.returns_home[day] += np.bincount(
                hh.location[arrivals[back]].astype(np.int64),
                weights=hh.size[arrivals[back]],
                minlength=self.n,
            ).astype(np.int64)
            h.arrivals[day] += np.bincount(
                hh.location[arrivals[~back]].astype(np.int64),
                weights=hh.size[arrivals[~back]],
                minlength=self.n,
            ).astype(np.int64)
            hh.returning[arrivals] = False
        host_free = self.host_capacity - counts[:, IN_HOST]
        camp_free = camp_cap - counts[:, IN_CAMP]
        has_room = (host_free > 0) | (camp_free > 0)
        waiting = np.flatnonzero((hh.status == IN_INFORMAL) & has_room[hh.location])
        rows = np.r_[waiting, arrivals].astype(np.int64)
        if len(rows):
            tier = rules.fill_in_order(
                hh.location[rows],
                hh.size[rows],
                hh.displaced_on[rows] + u[rows],
                hh.id[rows],
                [host_free, camp_free],
            )
            hh.status[rows] = np.array([IN_HOST, IN_CAMP, IN_INFORMAL], dtype=np.int8)[tier]
            hh.destination[rows] = -1
            hh.next_node[rows] = -1
            hh.km_left[rows] = 0.0
            self.touched.append(rows)
        if len(home_again):
            hh.destination[home_again] = -1
            hh.next_node[home_again] = -1
            hh.km_left[home_again] = 0.0

        # border crossings admit the queue, first come first served, up to their daily capacity
        queue = np.flatnonzero(
            (hh.status == ON_THE_MOVE)
            & self.is_crossing[hh.location]
            & self.is_abroad[hh.destination]
            & (hh.queued_on >= 0)
        )
        if len(queue):
            cap = cond.crossing_capacity * cond.crossing_open / self.weight
            vu = self._uniforms("border", day)
            tier = rules.fill_in_order(
                hh.location[queue],
                hh.size[queue],
                hh.queued_on[queue] + vu[queue],
                hh.id[queue],
                [cap],
            )
            inn = queue[tier == 0]
            if len(inn):
                src = hh.location[inn].astype(np.int64)
                dst = hh.destination[inn].astype(np.int64)
                h.route_flow[day] += np.bincount(
                    self.route_id[src, dst], weights=hh.size[inn], minlength=self.world.n_routes
                ).astype(np.int64)
                h.crossed[day] += int(hh.size[inn].sum())
                h.arrivals[day] += np.bincount(dst, weights=hh.size[inn], minlength=self.n).astype(
                    np.int64
                )
                hh.location[inn] = dst
                hh.status[inn] = ABROAD
                hh.next_node[inn] = -1
                hh.km_left[inn] = 0.0
                self.touched.append(inn)

    def take_touched(self) -> np.ndarray:
        """Rows changed since the last call (to update their people)."""
        if not self.touched:
            return np.empty(0, np.int64)
        rows = np.unique(np.concatenate(self.touched))
        self.touched = []
        return rows
