"""Why reduced population scales give more movements than full population (issue 11's note).

Runs a scenario at several population scales and seeds and splits the movements (flights
and onward moves, daily.csv's ``new_displacements``) from the first reported day by kind:

* ``first``: a first flight from home;
* ``reflight``: a flight from home after having returned;
* ``secondary_host`` / ``secondary_camp`` / ``secondary_informal``: a flight from a
  refuge (host community, camp, informal site) under threat;
* ``onward``: a move on from an informal site to a place with room;
* ``camp_resident``: a flight of people in a camp since before the scenario (their home);

and prints, per scale (mean over seeds, with the standard error), the movements of each
kind, the people displaced, and the movements by month. ``--by-place KIND`` also prints
the origins of that kind's movements (people, scale against scale).

A diagnostic, not a test. Usage::

    python scripts/diagnose_scale.py [--scenario scenarios/idlib_2019.toml]
        [--scales 0.05 1] [--seeds 1 2 3] [--by-place onward] [name=value ...]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import date, timedelta

import numpy as np

from sim.model.model import DisplacementModel
from sim.model.movement import Movement
from sim.model.population import AT_HOME, IN_CAMP, IN_HOST, IN_INFORMAL, RETURNED
from sim.model.rng import replicate_seeds
from sim.scenario.loading import load_scenario

FROM = date(2019, 5, 1)
KINDS = (
    "first",
    "reflight",
    "secondary_host",
    "secondary_camp",
    "secondary_informal",
    "onward",
)


def run(scenario, seed: int, scale: float):
    """Movements (people) by kind, by month and by kind and origin, and people displaced."""
    m = DisplacementModel(scenario, seed=seed, population_scale=scale, check=False)
    weight = m.population.weight
    hh = m.population.households
    offset = (FROM - scenario.start).days
    by_kind = defaultdict(float)
    by_month = defaultdict(lambda: defaultdict(float))
    by_place = defaultdict(lambda: np.zeros(m.world.n))
    original = Movement.destinations

    def destinations(self, day, cond, fleeing, counts, onward=None):
        onward = np.empty(0, np.intp) if onward is None else onward
        rows = np.concatenate((fleeing, onward)).astype(np.intp)
        before = hh.times_displaced[rows].copy()
        status = hh.status[rows].copy()
        at_home = hh.location[rows] == hh.home[rows]
        origin = hh.location[rows].copy()
        is_onward = np.r_[np.zeros(len(fleeing), bool), np.ones(len(onward), bool)]
        original(self, day, cond, fleeing, counts, onward)
        if day < offset:
            return
        moved = hh.times_displaced[rows] > before
        kind = np.full(len(rows), -1)
        kind[(status == AT_HOME) & at_home & ~is_onward] = 0
        kind[(status == RETURNED) & ~is_onward] = 1
        kind[(status == IN_HOST) & ~is_onward] = 2
        kind[(status == IN_CAMP) & ~at_home & ~is_onward] = 3
        kind[(status == IN_INFORMAL) & ~is_onward] = 4
        kind[is_onward] = 5
        month = (scenario.start + timedelta(days=day)).strftime("%Y-%m")
        size = hh.size[rows].astype(float) * weight
        for k, name in enumerate(KINDS):
            sel = moved & (kind == k)
            by_kind[name] += size[sel].sum()
            by_month[month][name] += size[sel].sum()
            by_place[name] += np.bincount(origin[sel], weights=size[sel], minlength=m.world.n)
        other = moved & (kind < 0)  # people in camps since before the scenario
        by_kind["camp_resident"] += size[other].sum()

    Movement.destinations = destinations
    try:
        while m.running:
            m.step()
    finally:
        Movement.destinations = original
    people = m.counted["new_people"] * weight if "new_people" in m.counted else None
    return dict(by_kind), {k: dict(v) for k, v in by_month.items()}, dict(by_place), people, m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/idlib_2019.toml")
    ap.add_argument("--scales", type=float, nargs="+", default=[0.05, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="(default: --replicates)")
    ap.add_argument(
        "--replicates",
        type=int,
        default=6,
        help="seeds spawned from 11, as the calibration report's scale check draws them",
    )
    ap.add_argument("--from", dest="start", default="2019-05-01", help="count from this day")
    ap.add_argument("--by-place", default=None, choices=KINDS)
    ap.add_argument("overrides", nargs="*", help="behaviour name=value")
    a = ap.parse_args()
    global FROM
    FROM = date.fromisoformat(a.start)
    seeds = a.seeds or replicate_seeds(11, a.replicates)
    sc = load_scenario(a.scenario)
    if a.overrides:
        sc = sc.with_behaviour(**{k: float(v) for k, v in (o.split("=") for o in a.overrides)})
    results = {}
    names = None
    for scale in a.scales:
        per_seed = []
        for seed in seeds:
            kinds, months, places, _, m = run(sc, seed, scale)
            names = list(m.world.names)
            daily = m.daily_frame() if hasattr(m, "daily_frame") else None
            h = m.history
            off = (FROM - sc.start).days
            people = int(h.new_people_displaced[off:].sum()) * m.population.weight
            moves = int(h.new_displacements[off:].sum()) * m.population.weight
            per_seed.append((kinds, months, places, people, moves))
            del daily
            print(
                f"scale {scale:g} seed {seed % 1000}: movements {moves:,} people {people:,} "
                + " ".join(f"{k}={kinds.get(k, 0):,.0f}" for k in (*KINDS, "camp_resident")),
                flush=True,
            )
        results[scale] = per_seed
    print()
    print(f"{'':22}" + "".join(f"{'scale ' + format(s, 'g'):>24}" for s in a.scales))
    rows = [("movements", lambda r: r[4]), ("people", lambda r: r[3])]
    rows += [(k, lambda r, k=k: r[0].get(k, 0.0)) for k in (*KINDS, "camp_resident")]
    months = sorted({mo for s in results.values() for r in s for mo in r[1]})
    rows += [
        (f"  {mo} {k}", lambda r, mo=mo, k=k: r[1].get(mo, {}).get(k, 0.0))
        for mo in months
        for k in KINDS
    ]
    for label, f in rows:
        cells = []
        for s in a.scales:
            v = np.array([f(r) for r in results[s]], float)
            se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
            cells.append(f"{v.mean():>14,.0f} ±{se:>7,.0f}")
        print(f"{label:22}" + "".join(f"{c:>24}" for c in cells))
    if a.by_place:
        print(f"\norigins of {a.by_place} movements (mean over seeds)")
        tab = np.array([np.mean([r[2][a.by_place] for r in results[s]], axis=0) for s in a.scales])
        for i in np.argsort(-tab.max(axis=0))[:25]:
            print(f"{names[i]:28}" + "".join(f"{v:>14,.0f}" for v in tab[:, i]))


if __name__ == "__main__":
    main()
