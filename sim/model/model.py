"""The Mesa model: places on a road network, civilians as arrays, one day per step."""

from __future__ import annotations

import os

import mesa
import networkx as nx
import numpy as np
import pandas as pd
from mesa.discrete_space import FixedAgent, Network

from sim.forking import cpus_available
from sim.model import geography
from sim.model.conflict import Conditions, compile_timeline
from sim.model.geography import POPULATED_KINDS
from sim.model.history import DAILY_COLUMNS, History, dates, locations_table, routes_table
from sim.model.movement import Movement
from sim.model.population import (
    AT_HOME,
    IN_CAMP,
    IN_HOST,
    IN_INFORMAL,
    N_STATUS,
    ON_THE_MOVE,
    RETURNED,
    STATUS_NAMES,
    Population,
)
from sim.scenario.loading import Scenario


class InvariantError(AssertionError):
    """A model invariant failed (population not conserved, negative counts ...)."""


#: Set to 1 to check the invariants every day in every model built (the test suite does).
CHECK_ENV = "IDLIBSIM_CHECK"


def check_by_default() -> bool:
    """Whether models check their invariants when ``check`` is not given (``IDLIBSIM_CHECK``)."""
    return os.environ.get(CHECK_ENV, "") not in ("", "0")


def population_weight(scale: float) -> int:
    """People per person-row for a population scale; the scale must be 1/k for a whole k."""
    if not (0 < scale <= 1):
        raise ValueError(f"population scale must be in (0, 1], got {scale}")
    k = round(1.0 / scale)
    if abs(k * scale - 1.0) > 1e-9:
        raise ValueError(
            f"population scale {scale} is not 1/k for a whole k; use e.g. 1, 0.5, 0.2, 0.1, 0.05 or 0.01 "
            "so that every simulated person stands for a whole number of people"
        )
    return k


class _Today:
    """A :class:`Location` attribute: the place's entry of the model's arrays of today.

    The model computes the places' state as arrays once a day (:meth:`DisplacementModel.
    _update_places`); an agent reads its entry when asked (a Python int, float or bool),
    instead of 65 agents being given 15 attributes every day whether or not anyone looks.
    """

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, agent, owner=None):
        if agent is None:
            return self
        return agent.model._place_state[self.name].item(agent.index)


class Location(FixedAgent):
    """A place on the road network (sub-district, camp cluster, crossing, host area ...).

    The people are not Mesa agents (they are rows of :class:`~sim.model.population.Population`,
    800,000 of them); each location carries what is true of its place today, as the
    model computed it at the end of the day (:meth:`DisplacementModel.step`; read-only
    attributes that look up the model's arrays of the day), so that the dashboard and a
    user's own code read the places as Mesa agents, and the DataCollector's place totals
    are their sums. Counts are people (person-rows times the population weight).

    Attributes
    ----------
    at_home, returned, on_the_move, in_host_community, in_camp, in_informal_site, abroad
        People here by status (``on_the_move``: travellers whose latest place is here,
        ``abroad``: people who crossed into Turkey, counted at the crossing's far side).
    residents
        People living here now: at home, returned, hosted, in camps or informal sites.
    displaced_staying
        Displaced people staying here: hosted, in camps or in informal sites.
    camp_capacity
        Formal camp places here today (people).
    camp_overflow
        People in informal sites here if the place has formal camps at some point in the
        scenario (the overflow of full camps), else 0.
    intensity, fear, threat
        Today's conflict intensity here, the fear remembered here and the danger expected
        here (fear combined with the threat of the approaching front), each 0-1.
    government_held
        Held by the government today.
    """

    def __init__(self, model: DisplacementModel, cell, index: int):
        super().__init__(model)
        self.cell = cell
        self.index = index
        w = model.world
        self.name = w.names[index]
        self.kind = str(w.kind[index])
        self.lat, self.lon = float(w.lat[index]), float(w.lon[index])

    at_home, returned, on_the_move, abroad = _Today(), _Today(), _Today(), _Today()
    in_host_community, in_camp, in_informal_site = _Today(), _Today(), _Today()
    residents, displaced_staying = _Today(), _Today()
    camp_capacity, camp_overflow = _Today(), _Today()
    intensity, fear, threat, government_held = _Today(), _Today(), _Today(), _Today()


class DisplacementModel(mesa.Model):
    """Civilian displacement in north-west Syria under an offensive scenario.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`sim.scenario.loading.load_scenario`).
    seed
        Seed of every random stream (:mod:`sim.model.rng`).
    population_scale
        Person-rows per person: 1 simulates every civilian; 0.1 one row per 10 people.
    check
        Assert the invariants (conservation, non-negative counts, capacities, nobody
        settled in a captured place, people match households) after every day. ``None``
        (default): only when the environment variable ``IDLIBSIM_CHECK`` is 1.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        population_scale: float = 1.0,
        check: bool | None = None,
    ):
        super().__init__(
            rng=int(seed)
        )  # Mesa's own generator; the simulation's streams are in sim.model.rng
        # Not `self.scenario`: Mesa 3.5 reserves Model.scenario for its own experiment objects.
        self.config = scenario
        self.seed = int(seed)
        self.check = check_by_default() if check is None else bool(check)
        self.population_scale = float(population_scale)
        weight = population_weight(population_scale)
        beh = scenario.behaviour

        # Geography: places as Mesa agents on a network of roads.
        self.world = w = geography.load(scenario.locations_file, scenario.routes_file)
        graph = nx.Graph()
        graph.add_nodes_from(range(w.n))
        for a, b, km in zip(w.route_from, w.route_to, w.route_km, strict=True):
            graph.add_edge(int(a), int(b), km=float(km))
        self.space = Network(graph, random=self.random)
        self.places = [Location(self, self.space[i], i) for i in range(w.n)]

        # Conflict: the scenario's events as daily arrays, and today's conditions.
        self.timeline = compile_timeline(scenario, w)
        self.conditions = Conditions(
            self.timeline, w.road_distance_km(), beh.fear_distance_km, beh.fear_memory_days, beh
        )

        # Population: the scenario total shared out by the places' estimates.
        people, camp_people, hosting = self._population_targets(weight)
        self.population = Population.create(
            people, camp_people, scenario.household_size, beh.propensity_shape, self.seed
        )
        self.population.weight = weight
        host_capacity = beh.host_capacity_share * hosting
        host_capacity[~w.is_kind("sub_district", "host_area")] = 0.0

        # Records and movement.
        self.history = History(scenario.n_days, w.n, w.n_routes)
        self.history.host_capacity[:] = host_capacity
        self.movement = Movement(
            w,
            self.population,
            beh,
            self.seed,
            host_capacity,
            scenario.report_offset,
            self.history,
            scenario.household_size,  # an average household's worth of places: people
        )
        self.current_counts = self.movement.counts.copy()  # (the population's counts)
        # places with formal camps at some point: their informal sites are camp overflow
        self._camp_places = (self.timeline.camp_capacity.max(axis=0) > 0).astype(np.int64)
        #: person-rows fleeing, fleeing for the first time, setting off home and crossing,
        #: since the first reported day (the cumulative columns of daily.csv)
        self.counted = dict.fromkeys(FLOWS, 0)
        self._totals_day, self._totals = -1, {}
        # What conservation is checked against: the scenario total (person-rows), not the
        # people created, so that a person lost while creating the population is caught.
        self.n_people = int(round(scenario.population_total / weight))
        self.day = 0  # index of the next day to simulate (0 = scenario start)
        self.datacollector = mesa.DataCollector(model_reporters=MODEL_REPORTERS)
        self._update_places(
            self.timeline.government[0], self.timeline.camp_capacity[0], np.zeros(w.n)
        )
        self.running = True

    def reorder_population(self, gen: np.random.Generator) -> None:
        """Store households and people in a random order; results must not change (a test)."""
        if self.day:
            raise RuntimeError("reorder the population before the first step")
        self.population = self.population.permuted(gen)
        self.movement.rebind(self.population)

    def _population_targets(self, weight: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Person-rows (and of them in camps) per place, and hosting residents (people).

        Camp residents are counts of people in places of known size, so they are taken as
        given; the rest of the scenario total is shared out in proportion to the places'
        population estimates (largest remainders, so the total is exact).
        """
        w, sc = self.world, self.config
        populated = w.is_kind(*POPULATED_KINDS)
        camp = np.where(populated, np.rint(w.camp_population / weight), 0).astype(np.int64)
        rows_total = int(round(sc.population_total / weight))
        free = rows_total - int(camp.sum())
        if free < 0:
            raise ValueError(
                f"the scenario total ({sc.population_total:,} people) is smaller than the camp residents "
                f"of the locations file ({int(w.camp_population.sum()):,})"
            )
        rest = np.where(populated, w.population - w.camp_population, 0.0)
        if sc.population_factors:  # an ensemble's draw of the sub-district estimates
            rest = rest * np.array([sc.population_factors.get(n, 1.0) for n in w.names])
        exact = rest / rest.sum() * free
        rows = np.floor(exact).astype(np.int64)
        short = free - int(rows.sum())
        if short > 0:  # largest remainders, ties broken by place order
            order = np.lexsort((np.arange(w.n), -(exact - rows)))
            rows[order[:short]] += 1
        factor = (sc.population_total - camp.sum() * weight) / rest.sum()
        hosting = np.where(populated, rest * factor, w.hosting_population)
        return rows + camp, camp, hosting

    # ----------------------------------------------------------------------------------
    def step(self) -> None:
        """Simulate one day, in order:

        1. **conditions** -- today's intensity, front line, roads, border and camp policy;
           fear at every place;
        2. **flight** -- who flees: households under threat, everyone in a captured place;
           who moves on from informal sites;
        3. **destinations** -- where they go (and new goals for travellers whose goal fell);
        4. **returns** -- displaced households whose home is safe again set off home;
        5. **travel** -- everyone on the move advances along the roads;
        6. **settling** -- host places, then camps, then informal sites; border admissions;
        7. **record** -- daily counts (and invariant checks in check mode).
        """
        d = self.day
        if d >= self.config.n_days:
            self.running = False
            return
        cond = self.conditions
        cond.update(d)
        if self.timeline.routing_changed(d):
            self.movement.update_routes(cond)
        fleeing = self.movement.flight(d, cond)
        onward = self.movement.onward(d, cond, fleeing)
        self.movement.destinations(d, cond, fleeing, self.current_counts, onward)
        self.movement.returns(d, cond)
        self.movement.travel(d, cond)
        self.movement.settle(d, cond)
        self._record(d)
        self.day += 1
        self.running = self.day < self.config.n_days

    def close(self) -> None:
        """Let go of the model's memory once its tables are taken (the model cannot be
        used afterwards).

        Mesa 3.3 numbers agents with a class-level counter keyed by model
        (``mesa.Agent._ids``), which keeps every model, and its arrays, alive for the
        life of the process: about 18 MB per scale-0.1 run, 180 MB per full run, enough
        to exhaust a Dask worker over a calibration. (Mesa 3.4+ no longer does this.)
        """
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)
        # The model, its agents and the movement's household index form reference cycles,
        # which only a full collection frees (0.06 s in a process that imported pandas and
        # SciPy: a tenth of a replicate at population scale 0.1). Letting go of the
        # population, the index and the records here frees their arrays at once instead.
        movement = self.__dict__.get("movement")
        if movement is not None:
            movement.__dict__.clear()
        self.population = self.movement = self.history = None

    def run(self, progress: bool = False, draw_ahead: bool | None = None) -> DisplacementModel:
        """Simulate every day of the scenario.

        ``draw_ahead``: draw who may flee from home on the coming days in a forked helper
        process, on another core (:mod:`sim.model.lookahead`; the same numbers either
        way), where this process can fork. ``None`` (default): when this process may use
        more than one CPU.
        """
        days = range(self.day, self.config.n_days)
        if draw_ahead is None:
            draw_ahead = cpus_available() > 1
        # (the helper's conditions are its fork's copy of the model's, as they stand now)
        ahead = self.movement.draw_ahead(days, self.conditions) if draw_ahead else None
        if progress:
            from tqdm import tqdm

            days = tqdm(days, desc=self.config.name, unit="day", leave=False)
        self.movement.lookahead = ahead
        try:
            for _ in days:
                self.step()
        finally:
            self.movement.lookahead = None
            if ahead is not None:
                ahead.close()
        return self

    # ----------------------------------------------------------------------------------
    def _record(self, d: int) -> None:
        h, cond = self.history, self.conditions
        counts = self.movement.counts.copy()
        self.current_counts = counts
        h.status[d] = counts
        h.displaced_from[d] = self.movement.away_from
        h.intensity[d] = cond.intensity
        h.fear[d] = cond.fear
        h.government[d] = cond.government
        h.camp_capacity[d] = cond.camp_capacity
        h.days_recorded = d + 1
        if self.check:
            self.check_invariants(d)
        self._update_places(cond.government, cond.camp_capacity, cond.intensity, cond)
        if d >= self.config.report_offset:
            for name, record in FLOWS.items():
                self.counted[name] += int(getattr(h, record)[d])
            self.datacollector.collect(self)

    def _update_places(self, government, camp_capacity, intensity, cond=None) -> None:
        """Set every :class:`Location`'s state from today's counts and conditions
        (``cond`` None: before the first day, no fear or threat yet)."""
        none = np.zeros(len(self.places))
        # copies: what the agents read stays today's (the agents read them: Location);
        # the arrays are made when first read (:attr:`_place_state`), most days never
        self._place_today = (
            self.current_counts,  # (a new array every day, never changed)
            np.array(government, dtype=bool),
            np.array(camp_capacity, dtype=float),
            np.array(intensity, dtype=float),
            none if cond is None else cond.fear.copy(),
            none if cond is None else cond.expected.copy(),
        )
        self._place_state_made = None

    @property
    def _place_state(self) -> dict[str, np.ndarray]:
        """Today's state of every place, by :class:`Location` attribute (arrays by place)."""
        if self._place_state_made is None:
            counts, government, camp_capacity, intensity, fear, threat = self._place_today
            c = (counts * self.population.weight).T  # (status, place), people
            staying = c[IN_HOST] + c[IN_CAMP] + c[IN_INFORMAL]
            self._place_state_made = {
                **dict(zip(STATUS_NAMES, c, strict=True)),  # attributes named as statuses
                "residents": staying + c[AT_HOME] + c[RETURNED],
                "displaced_staying": staying,
                "camp_overflow": c[IN_INFORMAL] * self._camp_places,
                "camp_capacity": np.rint(camp_capacity).astype(np.int64),
                "intensity": intensity,
                "fear": fear,
                "threat": threat,
                "government_held": government,
            }
        return self._place_state_made

    def check_invariants(self, d: int) -> None:
        """Raise :class:`InvariantError` if any invariant fails at the end of day ``d``."""
        pop, cond, counts = self.population, self.conditions, self.current_counts
        problems = []
        if not np.array_equal(counts, pop.counts(self.world.n)):
            problems.append("running counts by place and status disagree with a recount")
        hh = pop.households
        away = (hh.location != hh.home) | (hh.status == ON_THE_MOVE)
        recount = np.bincount(hh.home[away], weights=hh.size[away], minlength=self.world.n)
        if not np.array_equal(self.movement.away_from, recount.astype(np.int64)):
            problems.append("running count of people away from home disagrees with a recount")
        if counts.sum() != self.n_people:
            problems.append(
                f"population not conserved: {counts.sum()} person-rows, expected {self.n_people} "
                "(the scenario total)"
            )
        if (counts < 0).any():
            problems.append("negative counts")
        people = pop.people_counts(self.world.n)
        if not np.array_equal(people, counts):
            problems.append("people and households disagree on who is where")
        if hh.status.min() < 0 or hh.status.max() >= N_STATUS:
            problems.append("invalid status code")
        settled_in_captured = (hh.status != ON_THE_MOVE) & cond.government[hh.location]
        if settled_in_captured.any():
            names = sorted({self.world.names[i] for i in hh.location[settled_in_captured]})
            problems.append(f"people settled in captured places: {names}")
        camp_cap = cond.camp_capacity / pop.weight
        if (counts[:, IN_CAMP] > camp_cap + 1e-6).any():
            problems.append("camp occupancy above capacity (overflow must go to informal sites)")
        host_cap = self.movement.host_capacity
        if (counts[:, IN_HOST] > host_cap + 1e-6).any():
            problems.append("host occupancy above capacity")
        moving = hh.status == ON_THE_MOVE
        if (hh.destination[moving] < 0).any():
            problems.append("travellers without a destination")
        problems += self.movement.check_index()
        if problems:
            date = self.config.start.toordinal() + d
            from datetime import date as _date

            raise InvariantError(f"day {d} ({_date.fromordinal(date)}): " + "; ".join(problems))

    # ----------------------------------------------------------------------------------
    def daily(self):
        """The daily series (pandas DataFrame, the DataCollector's model variables), one row per reported day."""
        df = self.datacollector.get_model_vars_dataframe()
        # one new frame of whole columns (pandas' insert and astype took 4 ms a replicate)
        columns = {
            "date": dates(self.config.report_from, len(df)),
            "day": np.arange(len(df), dtype=np.int64),
        }
        columns.update((c, df[c].to_numpy(dtype=np.int64)) for c in df.columns)
        return pd.DataFrame(columns)

    def locations(self):
        """Per reported day and place: residents, arrivals, departures, camps (DataFrame)."""
        return locations_table(
            self.history,
            self.config.start,
            self.config.report_offset,
            self.population.weight,
            self.world,
        )

    def route_flows(self):
        """People travelling each road per reported day (DataFrame)."""
        return routes_table(
            self.history,
            self.config.start,
            self.config.report_offset,
            self.population.weight,
            self.world,
        )

    def status_totals(self) -> dict[str, int]:
        """People by status now."""
        tot = self.current_counts.sum(axis=0) * self.population.weight
        return {name: int(tot[i]) for i, name in enumerate(STATUS_NAMES)}


# --------------------------------------------------------------------------------------
# The DataCollector's reporters: the columns of daily.csv, from the model's state
# --------------------------------------------------------------------------------------

#: Events counted each day, by daily.csv column: the History record (person-rows) it reads.
FLOWS = {
    "new_displacements": "new_displacements",
    "new_people_displaced": "new_people_displaced",
    "returns_started": "returns_started",
    "crossed_to_turkey": "crossed",
}
#: Cumulative daily.csv columns: the running total of :data:`FLOWS` each one reports.
CUMULATIVE = {
    "displacements_cumulative": "new_displacements",
    "displaced_people_cumulative": "new_people_displaced",
    "returns_cumulative": "returns_started",
}
DISPLACED = ("on_the_move", "in_host_community", "in_camp", "in_informal_site")


#: Attributes of the :class:`Location` agents summed over the places for daily.csv: the
#: people by status (the agents' attributes are named as the statuses) and camp overflow.
PLACE_TOTALS = (*STATUS_NAMES, "camp_overflow")


def place_totals(model: DisplacementModel) -> dict[str, int]:
    """People summed over the :class:`Location` agents, by attribute (once per day): the
    sums of the counts the agents' arrays are made from (whole numbers: the same as adding
    the agents')."""
    if model._totals_day != model.day:
        # (from the counts: the same whole numbers, without making the agents' arrays)
        counts = model._place_today[0]
        people = counts.sum(axis=0) * model.population.weight
        model._totals = dict(zip(STATUS_NAMES, people.tolist(), strict=True))
        overflow = counts[:, IN_INFORMAL] @ model._camp_places * model.population.weight
        model._totals["camp_overflow"] = int(overflow)
        model._totals_day = model.day
    return model._totals


def _places_total(*attributes: str):
    """Reporter: people summed over the :class:`Location` agents (one or more attributes)."""

    if len(attributes) == 1:  # (most columns: no generator to sum, 18 reporters a day)
        (attribute,) = attributes
        return lambda model: place_totals(model)[attribute]

    def report(model: DisplacementModel) -> int:
        totals = place_totals(model)
        return sum(totals[a] for a in attributes)

    return report


def _today(column: str):
    """Reporter: people counted today by one of the :data:`FLOWS`."""
    record = FLOWS[column]

    def report(model: DisplacementModel) -> int:
        return int(getattr(model.history, record)[model.day]) * model.population.weight

    return report


def _since_first_reported_day(column: str):
    """Reporter: people counted by a :data:`FLOWS` since the first reported day."""
    flow = CUMULATIVE[column]

    def report(model: DisplacementModel) -> int:
        return model.counted[flow] * model.population.weight

    return report


def _camp_capacity(model: DisplacementModel) -> int:
    return int(np.rint(model.conditions.camp_capacity.sum()))


#: The DataCollector's model reporters, one per daily.csv column (but date and day).
MODEL_REPORTERS = {
    "population": _places_total(*STATUS_NAMES),
    "at_home": _places_total("at_home"),
    "on_the_move": _places_total("on_the_move"),
    "in_host_community": _places_total("in_host_community"),
    "in_camps": _places_total("in_camp"),
    "in_informal_sites": _places_total("in_informal_site"),
    "displaced_now": _places_total(*DISPLACED),
    "returned": _places_total("returned"),
    "abroad": _places_total("abroad"),
    "new_displacements": _today("new_displacements"),
    "displacements_cumulative": _since_first_reported_day("displacements_cumulative"),
    "new_people_displaced": _today("new_people_displaced"),
    "displaced_people_cumulative": _since_first_reported_day("displaced_people_cumulative"),
    "returns_started": _today("returns_started"),
    "returns_cumulative": _since_first_reported_day("returns_cumulative"),
    "crossed_to_turkey": _today("crossed_to_turkey"),
    "camp_capacity": _camp_capacity,
    "camp_overflow": _places_total("camp_overflow"),
}
assert list(MODEL_REPORTERS) == [c for c in DAILY_COLUMNS if c not in ("date", "day")]
