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
    Formal camp places: the locations file, then ``camp_capacity`` events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Scenario
from .geography import GOVERNMENT, World


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

    for ev in scenario.events:  # sorted by start date, then id
        cols = [idx[p] for p in ev.locations]
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
    :func:`sim.behaviour.danger`), ``fear`` (danger with memory,
    :func:`sim.behaviour.update_fear`), ``sustained`` (sustained bombardment,
    :func:`sim.behaviour.sustained_bombardment`), ``front_km`` (road km to the nearest
    front place), ``front_speed`` (km/day), ``threat`` (anticipated threat of the front,
    :func:`sim.behaviour.front_threat`), ``expected`` (expected danger,
    :func:`sim.behaviour.expected_danger`), ``government`` (bool), ``route_open``,
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
        from .behaviour import fear_kernel

        self.timeline = timeline
        self.road_km = road_km
        self.kernel = fear_kernel(road_km, fear_distance_km)
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

    def update(self, day: int) -> None:
        from .behaviour import (
            danger,
            expected_danger,
            front_distance,
            front_speed,
            front_threat,
            sustained_bombardment,
            update_fear,
        )

        t = self.timeline
        self.day = day
        self.intensity = t.intensity[day]
        self.danger = danger(self.intensity, self.kernel)
        self.fear = update_fear(self.fear, self.danger, self.memory_days)
        self.sustained = sustained_bombardment(
            self.sustained, t.bombardment[day], self.bombardment_memory_days
        )
        self.front_km = front_distance(self.road_km, t.front[day])
        lag = max(int(round(self.lookahead_days)), 1)
        self._front_km_by_day.append(self.front_km)
        if len(self._front_km_by_day) > lag + 1:
            self._front_km_by_day.pop(0)
        before = self._front_km_by_day[0]
        days = len(self._front_km_by_day) - 1
        self.front_speed = (
            front_speed(self.front_km, before, days, self.max_speed)
            if days > 0
            else np.zeros_like(self.front_km)
        )
        self.threat = front_threat(
            self.front_km, self.front_speed, self.lookahead_days, self.front_distance_km
        )
        self.expected = expected_danger(self.fear, self.threat)
        self.government = t.government[day]
        self.route_open = t.route_open[day]
        self.crossing_open = t.crossing_open[day]
        self.crossing_capacity = t.crossing_capacity[day]
        self.camp_capacity = t.camp_capacity[day]
