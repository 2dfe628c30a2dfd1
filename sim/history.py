"""Daily records: preallocated arrays filled by the model, turned into tidy tables.

Counts are stored in person-rows and multiplied by the population weight (people per
row) only when tables are made, so they stay exact integers.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from .geography import World
from .population import (
    ABROAD,
    AT_HOME,
    IN_CAMP,
    IN_HOST,
    IN_INFORMAL,
    N_STATUS,
    ON_THE_MOVE,
    RETURNED,
)

#: Columns of daily.csv, with their meaning (also in the README).
DAILY_COLUMNS = {
    "date": "day (ISO date); each row is the state at the end of that day",
    "day": "days since the first reported day (0 = first row)",
    "population": "all simulated civilians (people); constant",
    "at_home": "people who have not left home since the scenario start",
    "on_the_move": "people travelling (fleeing, returning, or waiting at a border crossing)",
    "in_host_community": "displaced people hosted in homes, rented rooms, unfinished buildings",
    "in_camps": "displaced people in formal camps (including those there before the scenario)",
    "in_informal_sites": "displaced people in informal sites (overflow of full camps and towns)",
    "displaced_now": "internally displaced now: on_the_move + in_host_community + in_camps + in_informal_sites",
    "returned": "people back home after having been displaced",
    "abroad": "people who crossed into Turkey",
    "new_displacements": "people who set off fleeing that day (movements; a person fleeing twice counts twice)",
    "displacements_cumulative": "movements since the first reported day (OCHA/CCCM 'displacements')",
    "new_people_displaced": "people fleeing for the first time since the first reported day",
    "displaced_people_cumulative": "unique people displaced at least once since the first reported day",
    "returns_started": "people who set off home that day",
    "returns_cumulative": "people who set off home since the first reported day",
    "crossed_to_turkey": "people admitted at a border crossing that day",
    "camp_capacity": "formal camp places in the zone (people)",
    "camp_overflow": "people in informal sites at places that have formal camps",
}

LOCATION_COLUMNS = (
    "date",
    "day",
    "location",
    "kind",
    "district",
    "lat",
    "lon",
    "government_held",
    "intensity",
    "fear",
    "residents",
    "at_home",
    "returned",
    "in_host_community",
    "in_camp",
    "in_informal_site",
    "on_the_move",
    "abroad",
    "arrivals",
    "departures",
    "returns_home",
    "displaced_from_here",
    "host_capacity",
    "camp_capacity",
    "camp_occupancy_pct",
)


class History:
    """Everything recorded each day, indexed ``[day, place]`` or ``[day, road]``."""

    def __init__(self, n_days: int, n_places: int, n_routes: int):
        z = np.zeros
        self.status = z((n_days, n_places, N_STATUS), np.int64)
        self.arrivals = z((n_days, n_places), np.int64)
        self.departures = z((n_days, n_places), np.int64)
        self.returns_home = z((n_days, n_places), np.int64)
        self.displaced_from = z((n_days, n_places), np.int64)
        self.route_flow = z((n_days, n_routes), np.int64)
        self.route_forward = z((n_days, n_routes), np.int64)  # from -> to only
        self.new_displacements = z(n_days, np.int64)
        self.new_people_displaced = z(n_days, np.int64)
        self.returns_started = z(n_days, np.int64)
        self.crossed = z(n_days, np.int64)
        self.intensity = z((n_days, n_places), np.float32)
        self.fear = z((n_days, n_places), np.float32)
        self.government = z((n_days, n_places), bool)
        self.camp_capacity = z((n_days, n_places), np.float64)  # people
        self.host_capacity = z(n_places, np.float64)  # people
        self.days_recorded = 0

    @property
    def n_days(self) -> int:
        return self.status.shape[0]


def dates(start: date, n: int) -> list[str]:
    return [(start + timedelta(days=k)).isoformat() for k in range(n)]


def locations_table(
    h: History, start: date, offset: int, weight: int, world: World
) -> pd.DataFrame:
    """One row per reported day and place."""
    s = slice(offset, h.days_recorded)
    st = h.status[s] * weight
    nd, n = st.shape[0], st.shape[1]
    day_dates = np.repeat(np.array(dates(start + timedelta(days=offset), nd), dtype=object), n)
    camp_cap = np.rint(h.camp_capacity[s]).astype(np.int64)
    in_camp = st[:, :, IN_CAMP]
    with np.errstate(divide="ignore", invalid="ignore"):
        # people in the camps and in the informal sites around them, as % of camp places
        pct = np.where(
            camp_cap > 0,
            100.0 * (in_camp + st[:, :, IN_INFORMAL]) / np.maximum(camp_cap, 1),
            np.nan,
        )
    resident = st[:, :, [AT_HOME, RETURNED, IN_HOST, IN_CAMP, IN_INFORMAL]].sum(axis=2)
    df = pd.DataFrame(
        {
            "date": day_dates,
            "day": np.repeat(np.arange(nd), n),
            "location": np.tile(np.array(world.names, dtype=object), nd),
            "kind": np.tile(np.asarray(world.kind, dtype=object), nd),
            "district": np.tile(np.array(world.district, dtype=object), nd),
            "lat": np.tile(world.lat, nd),
            "lon": np.tile(world.lon, nd),
            "government_held": h.government[s].reshape(-1).astype(np.int8),
            "intensity": np.round(h.intensity[s].reshape(-1).astype(np.float64), 4),
            "fear": np.round(h.fear[s].reshape(-1).astype(np.float64), 4),
            "residents": resident.reshape(-1),
            "at_home": st[:, :, AT_HOME].reshape(-1),
            "returned": st[:, :, RETURNED].reshape(-1),
            "in_host_community": st[:, :, IN_HOST].reshape(-1),
            "in_camp": in_camp.reshape(-1),
            "in_informal_site": st[:, :, IN_INFORMAL].reshape(-1),
            "on_the_move": st[:, :, ON_THE_MOVE].reshape(-1),
            "abroad": st[:, :, ABROAD].reshape(-1),
            "arrivals": (h.arrivals[s] * weight).reshape(-1),
            "departures": (h.departures[s] * weight).reshape(-1),
            "returns_home": (h.returns_home[s] * weight).reshape(-1),
            "displaced_from_here": (h.displaced_from[s] * weight).reshape(-1),
            "host_capacity": np.tile(np.rint(h.host_capacity).astype(np.int64), nd),
            "camp_capacity": camp_cap.reshape(-1),
            "camp_occupancy_pct": np.round(pct.reshape(-1), 1),
        }
    )
    assert tuple(df.columns) == LOCATION_COLUMNS
    return df


def routes_table(h: History, start: date, offset: int, weight: int, world) -> pd.DataFrame:
    """People travelling each road per day, reported days only.

    ``people`` counts both directions; ``people_from_to`` and ``people_to_from`` split it by
    direction (``from`` -> ``to`` and back), so they sum to ``people``.
    """
    s = slice(offset, h.days_recorded)
    flow = h.route_flow[s] * weight
    nd, nr = flow.shape
    names = world.names
    return pd.DataFrame(
        {
            "date": np.repeat(
                np.array(dates(start + timedelta(days=offset), nd), dtype=object), nr
            ),
            "day": np.repeat(np.arange(nd), nr),
            "from": np.tile(np.array([names[i] for i in world.route_from], dtype=object), nd),
            "to": np.tile(np.array([names[i] for i in world.route_to], dtype=object), nd),
            "road": np.tile(np.array(world.route_road, dtype=object), nd),
            "km": np.tile(world.route_km, nd),
            "people": flow.reshape(-1),
            "people_from_to": (h.route_forward[s] * weight).reshape(-1),
            "people_to_from": (flow - h.route_forward[s] * weight).reshape(-1),
        }
    )
