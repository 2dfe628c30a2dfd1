"""Why the 2019 run misses REACH ISMI's July departures: a per-place look (issue 11).

Runs ``scenarios/idlib_2019.toml`` day by day (shipped parameters, or ``key=value``
overrides) and prints, for the places ISMI names in June-July 2019 (departures: Kafr Nabl,
Maarrat al-Nu'man, Jisr al-Shughur; arrivals: Dana, Maarrat Misrin (Maaret Tamsrin),
Salqin, Darkush):

* by week: bombardment intensity at the place, expected danger ``E``, sustained
  bombardment ``B``, the daily flight hazard per unit propensity ``h`` and departures;
* on 1 May, 1 June and 1 July: people still at home and the mean propensity of the
  households still at home (propensity is fixed per household; mean 1 over everyone);
* June and July: model departures by origin and arrivals by destination (shares of the
  ISMI region "Idleb and surrounding areas"), next to ISMI's figures.

A diagnostic, not a test. Usage::

    python scripts/diagnose_ismi_2019.py [--scale 0.1] [--seed 7] [name=value ...]
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sim.analysis.calibration import place_regions
from sim.model.model import DisplacementModel
from sim.model.population import AT_HOME
from sim.scenario.loading import load_scenario

PLACES = [
    "Kafr Nabl",
    "Maarrat al-Nu'man",
    "Jisr al-Shughur",
    "Khan Shaykhun",
    "Dana (ad-Dana)",
    "Maarrat Misrin",
    "Salqin",
    "Darkush",
]
SNAPSHOTS = (date(2019, 5, 1), date(2019, 6, 1), date(2019, 7, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("overrides", nargs="*", help="behaviour name=value")
    a = ap.parse_args()
    sc = load_scenario("scenarios/idlib_2019.toml")
    if a.overrides:
        sc = sc.with_behaviour(**{k: float(v) for k, v in (o.split("=") for o in a.overrides)})
    m = DisplacementModel(sc, seed=a.seed, population_scale=a.scale, check=False)
    names = list(m.movement.world.names) if hasattr(m.movement, "world") else None
    names = names or list(pd.read_csv(sc.locations_file)["name"])
    idx = {n: names.index(n) for n in PLACES}
    rows, snaps = [], []
    while m.running and m.day < sc.n_days:
        d = m.day
        today = sc.start + timedelta(days=d)
        m.step()
        c = m.conditions
        h = m.movement.flight_hazard(c)
        dep = m.movement.history.departures[d]
        for n, i in idx.items():
            rows.append(
                (
                    today,
                    n,
                    c.intensity[i],
                    c.expected[i],
                    c.sustained[i],
                    h[i],
                    dep[i] * m.movement.weight,
                )
            )
        if today + timedelta(days=1) in SNAPSHOTS:
            hh = m.population.households
            home = hh.status == AT_HOME
            for n, i in idx.items():
                sel = home & (hh.location == i)
                w = hh.size[sel]
                snaps.append(
                    (
                        today + timedelta(days=1),
                        n,
                        int(w.sum() * m.movement.weight),
                        float(np.average(hh.propensity[sel], weights=w)) if w.sum() else np.nan,
                    )
                )
    df = pd.DataFrame(rows, columns=["date", "place", "I", "E", "B", "h", "departures"])
    df["week"] = pd.to_datetime(df["date"]).dt.to_period("W").dt.start_time.dt.date
    agg = {"I": "mean", "E": "mean", "B": "mean", "h": "mean", "departures": "sum"}
    for n in PLACES[:4]:
        w = df[df.place == n].groupby("week").agg(agg)
        print(f"\n== {n} (weekly means; departures summed, people)")
        print(w.round({"I": 2, "E": 2, "B": 2, "h": 4}).to_string())
    print("\n== at home, and the mean propensity of those at home")
    print(
        pd.DataFrame(snaps, columns=["date", "place", "at_home", "mean_propensity"])
        .pivot(index="place", columns="date")
        .round(3)
        .to_string()
    )
    loc = m.locations()
    reg = place_regions(sc.locations_file).set_index("location")
    loc["region"] = loc["location"].map(reg["region"])
    loc["month"] = pd.to_datetime(loc["date"]).dt.month
    idl = loc[loc.region == "IDL+"]
    for mo in (6, 7):
        s = idl[idl.month == mo].groupby("location")[["departures", "arrivals"]].sum()
        print(
            f"\n== month {mo}: IDL+ departures {s.departures.sum():,}, arrivals {s.arrivals.sum():,}"
        )
        print("top origins:", (s.departures / s.departures.sum()).nlargest(8).round(3).to_dict())
        print("top destinations:", (s.arrivals / s.arrivals.sum()).nlargest(8).round(3).to_dict())
    m.close()


if __name__ == "__main__":
    main()
