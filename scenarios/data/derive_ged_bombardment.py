"""Build ged_bombardment_2019.csv: weekly bombardment intensity per place from UCDP GED.

Run from the repository root:  python scenarios/data/derive_ged_bombardment.py [OUT.csv]
(default output: ged_bombardment_2019.csv next to this script).

Input: ged_nw_syria_2019_events.csv (UCDP GED Global 20.1 events in north-west Syria, 2019;
CC BY 4.0, see SOURCES.md) and locations.csv. The rule is sim.model.conflict.ged_weekly_counts and
sim.model.conflict.ged_intensity (constants GED_* there): events of type 1 (state-based) or 3
(one-sided), located to at least a second-order administrative unit (where_prec <= 3),
dated by date_start, counted within GED_RADIUS_KM of each place, per Monday-Sunday week.
Only places where civilians live (sub-districts, towns, camp clusters not held by the
government) get rows, and only weeks with at least one event.
"""

from __future__ import annotations

import csv
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sim.model.conflict import (
    GED_MAX_WHERE_PREC,
    GED_RADIUS_KM,
    GED_TYPES,
    ged_intensity,
    ged_weekly_counts,
)

HERE = Path(__file__).resolve().parent
FIRST_MONDAY = date(2018, 12, 31)  # the week holding 1 January 2019
N_WEEKS = 53  # to the week of 30-31 December 2019


def main(out: Path) -> None:
    events = [
        e
        for e in csv.DictReader(open(HERE / "ged_nw_syria_2019_events.csv", encoding="utf-8"))
        if int(e["type_of_violence"]) in GED_TYPES and int(e["where_prec"]) <= GED_MAX_WHERE_PREC
    ]
    places = [
        p
        for p in csv.DictReader(open(HERE / "locations.csv", encoding="utf-8"))
        if p["kind"] in ("sub_district", "town", "camp_cluster") and p["control"] != "government"
    ]
    week = np.array(
        [(date.fromisoformat(e["date_start"]) - FIRST_MONDAY).days // 7 for e in events]
    )
    n_ev, civ = ged_weekly_counts(
        np.array([float(e["latitude"]) for e in events]),
        np.array([float(e["longitude"]) for e in events]),
        week,
        np.array([float(e["deaths_civilians"]) for e in events]),
        np.array([float(p["lat"]) for p in places]),
        np.array([float(p["lon"]) for p in places]),
        N_WEEKS,
        GED_RADIUS_KM,
    )
    x = ged_intensity(n_ev, civ)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["place", "pcode", "week_start", "week_end", "events", "civilian_deaths", "intensity"]
        )
        for j, p in enumerate(places):
            for k in range(N_WEEKS):
                if n_ev[k, j] > 0:
                    a = FIRST_MONDAY + timedelta(days=7 * k)
                    w.writerow(
                        [
                            p["name"],
                            p["pcode"],
                            a.isoformat(),
                            (a + timedelta(days=6)).isoformat(),
                            int(n_ev[k, j]),
                            int(civ[k, j]),
                            f"{x[k, j]:.3f}",
                        ]
                    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "ged_bombardment_2019.csv")
