"""Conflict timeline: a scenario's dated events compiled into arrays by day and place.

Every quantity the daily rules need from the scenario is precomputed here once, so the
model's step only indexes arrays:

``intensity[day, place]`` (0-1)
    Bombardment and ground fighting combined as independent hazards,
    ``1 - prod(1 - intensity_e)`` over the events active that day at that place, then
    multiplied by the ``factor`` of every active ceasefire covering the place.
``bombardment[day, place]`` (0-1)
    The same for bombardment events alone (air strikes and shelling).
``front[day, place]`` (bool)
    The front: places under ground assault that day (after ceasefires), or whose
    control changed within the last ``front_capture_days`` days.
``government[day, place]`` (bool)
    Held by the government: from the locations file, ``[geography] government_held`` and
    ``capture`` events (a later capture overrides an earlier one).
``route_open[day, route]`` (bool)
    False while a ``route_closure`` is in force.
``crossing_open[day, place]`` and ``crossing_capacity[day, place]`` (people/day)
    Border policy: ``[crossings]`` at the start, ``border`` events for their period.
``camp_capacity[day, place]`` (people)
    Formal camp places: the locations file, then the dated rows of ``[geography]
    camp_table`` (each from its date on), then ``camp_capacity`` events.

Bombardment can also come from **event data** instead of hand-set tiers: ``[conflict]
bombardment_table`` names a CSV of weekly intensities per place derived from UCDP GED by
the rule of :func:`ged_weekly_counts` and :func:`ged_intensity` (read by
:func:`sim.model.place_tables.load_bombardment_table`); each row acts as a ``bombardment`` event for its week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model import behaviour as rules
from sim.model.geography import GOVERNMENT, World
from sim.scenario.loading import Scenario

# --------------------------------------------------------------------------------------
# Bombardment from UCDP GED events: the rule (pure functions; the table is read by
# sim.model.place_tables)
# --------------------------------------------------------------------------------------

#: Events closer than this to a place's coordinate count for the place (km).
GED_RADIUS_KM = 10.0
#: Civilian deaths that count as much as one event in the weekly score.
GED_CIVILIAN_DEATHS_PER_EVENT = 5.0
#: Weekly score at which the intensity reaches 0.5 (the "heavy" tier of the hand coding).
GED_HALF_SCORE = 10.0
#: GED ``type_of_violence`` codes kept: 1 state-based (air strikes, shelling, fighting
#: with the government side) and 3 one-sided violence against civilians; 2 (fighting
#: between non-state groups, e.g. HTS against the NFL in January 2019) is not bombardment.
GED_TYPES = (1, 3)
#: Highest GED ``where_prec`` kept (1 exact place, 2 within 25 km, 3 second-order
#: administrative unit); 4 and above locate the event only to a governorate or country.
GED_MAX_WHERE_PREC = 3


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (km, Earth radius 6371 km); broadcasts over arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def ged_weekly_counts(
    event_lat: np.ndarray,
    event_lon: np.ndarray,
    event_week: np.ndarray,
    event_civilian_deaths: np.ndarray,
    place_lat: np.ndarray,
    place_lon: np.ndarray,
    n_weeks: int,
    radius_km: float = GED_RADIUS_KM,
) -> tuple[np.ndarray, np.ndarray]:
    """Events and civilian deaths within ``radius_km`` of each place, per week.

    ``event_week`` is the week index of each (already filtered) event, 0..n_weeks-1; events
    outside that range are ignored. Returns two ``(n_weeks, n_places)`` arrays: the number
    of events and the sum of their civilian deaths. An event counts for every place within
    the radius (places closer than twice the radius share events).
    """
    week = np.asarray(event_week, dtype=np.int64)
    keep = (week >= 0) & (week < n_weeks)
    d = haversine_km(
        np.asarray(event_lat)[keep, None],
        np.asarray(event_lon)[keep, None],
        np.asarray(place_lat)[None, :],
        np.asarray(place_lon)[None, :],
    )
    near = d <= radius_km  # (events, places)
    n_places = len(place_lat)
    events = np.zeros((n_weeks, n_places))
    deaths = np.zeros((n_weeks, n_places))
    np.add.at(events, week[keep], near.astype(float))
    civ = np.asarray(event_civilian_deaths, dtype=float)[keep]
    np.add.at(deaths, week[keep], near * civ[:, None])
    return events, deaths


def ged_intensity(
    events: np.ndarray,
    civilian_deaths: np.ndarray,
    deaths_per_event: float = GED_CIVILIAN_DEATHS_PER_EVENT,
    half_score: float = GED_HALF_SCORE,
) -> np.ndarray:
    """Weekly bombardment intensity (0-1) from event counts and civilian deaths.

    score = events + civilian_deaths / deaths_per_event; intensity = 1 - 0.5 ** (score /
    half_score): 0 without events, 0.5 at ``half_score`` (the "heavy" tier), approaching 1
    for the worst weeks. Two events in a week give about 0.13 (the "strikes" tier is 0.2).
    """
    score = np.asarray(events, dtype=float) + np.asarray(civilian_deaths, dtype=float) / float(
        deaths_per_event
    )
    return 1.0 - np.power(0.5, score / float(half_score))


@dataclass
class Timeline:
    """Conditions by day (index 0 = scenario start) and place or road."""

    intensity: np.ndarray
    bombardment: np.ndarray
    front: np.ndarray
    government: np.ndarray
    route_open: np.ndarray
    crossing_open: np.ndarray
    crossing_capacity: np.ndarray
    camp_capacity: np.ndarray

    @property
    def n_days(self) -> int:
        return self.intensity.shape[0]

    def routing_changed(self, day: int) -> bool:
        """Whether anything that shapes routes differs from the previous day."""
        if day == 0:
            return True
        return bool(
            (self.government[day] != self.government[day - 1]).any()
            or (self.route_open[day] != self.route_open[day - 1]).any()
            or (self.crossing_open[day] != self.crossing_open[day - 1]).any()
        )


def compile_timeline(scenario: Scenario, world: World) -> Timeline:
    """Turn the scenario's events into daily arrays."""
    n_days, n = scenario.n_days, world.n
    idx = world.index

    def span(ev) -> slice:
        a = scenario.day_index(ev.start)
        b = scenario.day_index(ev.end) + 1 if ev.end is not None else n_days
        return slice(max(a, 0), min(b, n_days))

    survive = np.ones((n_days, n))  # product of (1 - intensity)
    survive_bomb = np.ones((n_days, n))  # the same, bombardment only
    assault = np.zeros((n_days, n), dtype=bool)
    factor = np.ones((n_days, n))
    government = np.zeros((n_days, n), dtype=bool)
    government[:] = world.control == GOVERNMENT
    for name in scenario.government_held:
        government[:, idx[name]] = True
    route_open = np.ones((n_days, world.n_routes), dtype=bool)
    crossing_open = np.zeros((n_days, n), dtype=bool)
    crossing_capacity = np.zeros((n_days, n))
    for name, c in scenario.crossings.items():
        crossing_open[:, idx[name]] = c.open
        crossing_capacity[:, idx[name]] = c.daily_capacity if c.open else 0
    camp_capacity = np.tile(world.camp_capacity.astype(float), (n_days, 1))

    for row in scenario.camp_table:  # dated capacities (sorted by date); events come after
        camp_capacity[max(scenario.day_index(row.date), 0) :, idx[row.place]] = row.capacity

    for row in scenario.bombardment_table:  # event-derived weeks act as bombardment
        a = max(scenario.day_index(row.start), 0)
        b = min(scenario.day_index(row.end) + 1, n_days)
        if a < b:
            survive[a:b, idx[row.place]] *= 1.0 - row.intensity
            survive_bomb[a:b, idx[row.place]] *= 1.0 - row.intensity

    for ev in scenario.events:  # sorted by start date, then id
        cols = [idx[p] for p in getattr(ev, "locations", ())]
        if ev.kind in ("bombardment", "ground_assault"):
            survive[span(ev), cols] *= 1.0 - ev.intensity
            if ev.kind == "bombardment":
                survive_bomb[span(ev), cols] *= 1.0 - ev.intensity
            elif ev.intensity > 0:
                assault[span(ev), cols] = True
        elif ev.kind == "ceasefire":
            where = cols if cols else slice(None)
            factor[span(ev), where] *= ev.factor
        elif ev.kind == "capture":
            government[scenario.day_index(ev.start) :, cols] = ev.by == "government"
        elif ev.kind == "route_closure":
            r = world.route_index(*ev.between)
            route_open[span(ev), r] = False
        elif ev.kind == "border":
            c = idx[ev.crossing]
            crossing_open[span(ev), c] = ev.open
            crossing_capacity[span(ev), c] = ev.daily_capacity if ev.open else 0
        elif ev.kind == "camp_capacity":
            camp_capacity[scenario.day_index(ev.start) :, cols] = ev.capacity
        else:  # pragma: no cover - config rejects unknown kinds
            raise ValueError(ev.kind)

    intensity = (1.0 - survive) * factor
    # The front: ground fighting not halted by a ceasefire, and recent changes of control.
    front = assault & (factor > 0)
    changed = np.zeros((n_days, n), dtype=bool)
    changed[1:] = government[1:] != government[:-1]
    keep = int(round(scenario.behaviour.front_capture_days))
    for lag in range(min(keep, n_days)):
        front[lag:] |= changed[: n_days - lag]
    return Timeline(
        intensity=intensity.astype(np.float64),
        bombardment=((1.0 - survive_bomb) * factor).astype(np.float64),
        front=front,
        government=government,
        route_open=route_open,
        crossing_open=crossing_open,
        crossing_capacity=crossing_capacity,
        camp_capacity=camp_capacity,
    )


class Conditions:
    """Today's conditions at each place, updated once a day (phase 1 of the step).

    ``intensity`` (0-1), ``danger`` (0-1, the intensity spread to neighbours by
    :func:`sim.model.behaviour.danger`), ``fear`` (danger with memory,
    :func:`sim.model.behaviour.update_fear`), ``sustained`` (sustained bombardment,
    :func:`sim.model.behaviour.sustained_bombardment`), ``front_km`` (road km to the nearest
    front place), ``front_speed`` (km/day), ``threat`` (anticipated threat of the front,
    :func:`sim.model.behaviour.front_threat`), ``expected`` (expected danger,
    :func:`sim.model.behaviour.expected_danger`), ``government`` (bool), ``route_open``,
    ``crossing_open``, ``crossing_capacity`` (people/day) and ``camp_capacity`` (people).
    """

    def __init__(
        self,
        timeline: Timeline,
        road_km: np.ndarray,
        fear_distance_km: float,
        fear_memory_days: float,
        behaviour=None,
    ):
        self.timeline = timeline
        self.road_km = road_km
        self.kernel = rules.fear_kernel(road_km, fear_distance_km)
        self.memory_days = fear_memory_days
        b = behaviour
        self.front_distance_km = 0.0 if b is None else b.front_distance_km
        self.lookahead_days = 0.0 if b is None else b.front_lookahead_days
        self.max_speed = 0.0 if b is None else b.front_max_speed_km_per_day
        self.bombardment_memory_days = 0.0 if b is None else b.bombardment_memory_days
        n = road_km.shape[0]
        self.day = -1
        self.fear = np.zeros(n)
        self.danger = np.zeros(n)
        self.sustained = np.zeros(n)
        self.threat = np.zeros(n)
        self.expected = np.zeros(n)
        self.front_speed = np.zeros(n)
        self._front_km_by_day: list[np.ndarray] = []
        # days whose intensity (front) is yesterday's: their danger (front distance) is too
        same = timeline.intensity[1:] == timeline.intensity[:-1]
        self._same_intensity = np.r_[False, same.all(axis=1)].tolist()
        self._same_front = np.r_[
            False, (timeline.front[1:] == timeline.front[:-1]).all(axis=1)
        ].tolist()

    def update(self, day: int) -> None:
        t = self.timeline
        after_yesterday = day == self.day + 1 and day > 0
        self.day = day
        self.intensity = t.intensity[day]
        if not (after_yesterday and self._same_intensity[day]):  # (else yesterday's danger)
            self.danger = rules.danger(self.intensity, self.kernel)
        self.fear = rules.update_fear(self.fear, self.danger, self.memory_days)
        self.sustained = rules.sustained_bombardment(
            self.sustained, t.bombardment[day], self.bombardment_memory_days
        )
        if not (after_yesterday and self._same_front[day]):  # (else yesterday's distances)
            self.front_km = rules.front_distance(self.road_km, t.front[day])
        lag = max(int(round(self.lookahead_days)), 1)
        self._front_km_by_day.append(self.front_km)
        if len(self._front_km_by_day) > lag + 1:
            self._front_km_by_day.pop(0)
        before = self._front_km_by_day[0]
        days = len(self._front_km_by_day) - 1
        self.front_speed = (
            rules.front_speed(self.front_km, before, days, self.max_speed)
            if days > 0
            else np.zeros_like(self.front_km)
        )
        self.threat = rules.front_threat(
            self.front_km, self.front_speed, self.lookahead_days, self.front_distance_km
        )
        self.expected = rules.expected_danger(self.fear, self.threat)
        self.government = t.government[day]
        self.route_open = t.route_open[day]
        self.crossing_open = t.crossing_open[day]
        self.crossing_capacity = t.crossing_capacity[day]
        self.camp_capacity = t.camp_capacity[day]
