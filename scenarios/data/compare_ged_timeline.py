"""Compare the hand-coded bombardment tiers of a scenario with the GED-derived table.

Run from the repository root:  python scenarios/data/compare_ged_timeline.py SCENARIO.toml
Prints a Markdown table: for every bombardment event (and place) dated in 2019, its tier,
the mean GED intensity over its days, and the share of its weeks with any GED event.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from sim.scenario.loading import load_scenario

HERE = Path(__file__).resolve().parent
GED_END = date(2019, 12, 31)


def main(path: str) -> None:
    sc = load_scenario(path)
    daily: dict[tuple[str, date], float] = defaultdict(float)
    for r in csv.DictReader(open(HERE / "ged_bombardment_2019.csv", encoding="utf-8")):
        a = date.fromisoformat(r["week_start"])
        for k in range(7):
            daily[(r["place"], a + timedelta(days=k))] = float(r["intensity"])
    print("| event | place | period | tier | GED mean | weeks with events | verdict |")
    print("|---|---|---|---:|---:|---:|---|")
    for ev in sc.events:
        if ev.kind != "bombardment" or ev.start > GED_END:
            continue
        end = min(ev.end or sc.end, GED_END)
        days = [ev.start + timedelta(days=k) for k in range((end - ev.start).days + 1)]
        for p in ev.locations:
            xs = [daily.get((p, d), 0.0) for d in days]
            mean = sum(xs) / len(xs)
            weeks = {(d - date(2018, 12, 31)).days // 7 for d in days}
            hit = {
                (d - date(2018, 12, 31)).days // 7 for d, x in zip(days, xs, strict=True) if x > 0
            }
            share = len(hit) / len(weeks)
            tier = ev.intensity
            if tier >= 0.5:
                verdict = "agree" if mean >= 0.25 else ("partly" if share >= 0.5 else "DISAGREE")
            else:
                verdict = (
                    "agree"
                    if 0.05 <= mean < 0.4
                    else ("GED higher" if mean >= 0.4 else "GED lower")
                )
            print(
                f"| {ev.id} | {p} | {ev.start} - {end} | {tier:.1f} | {mean:.2f} | {share:.0%} | {verdict} |"
            )


def uncoded(path: str, threshold: float = 0.3) -> None:
    """Weeks from the scenario start to 31 Dec 2019 where GED gives >= threshold at a place
    that no bombardment or ground_assault event of the scenario covers."""
    sc = load_scenario(path)
    covered = set()
    for ev in sc.events:
        if ev.kind in ("bombardment", "ground_assault"):
            end = ev.end or sc.end
            for p in ev.locations:
                for k in range((end - ev.start).days + 1):
                    covered.add((p, ev.start + timedelta(days=k)))
    print("\n| place | week | GED intensity | events | civilian deaths |")
    print("|---|---|---:|---:|---:|")
    for r in csv.DictReader(open(HERE / "ged_bombardment_2019.csv", encoding="utf-8")):
        a = date.fromisoformat(r["week_start"])
        if a < sc.start - timedelta(days=6) or float(r["intensity"]) < threshold:
            continue
        if not any((r["place"], a + timedelta(days=k)) in covered for k in range(7)):
            print(
                f"| {r['place']} | {a} | {r['intensity']} | {r['events']} | {r['civilian_deaths']} |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
    uncoded(sys.argv[1])
