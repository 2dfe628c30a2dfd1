"""What the displaced need, by place and day: people times the Sphere minimum standards.

The standards are the scenario's ``[needs]`` table (:class:`sim.scenario.schema.NeedsSection`, each
figure with its source; defaults from the Sphere Handbook 2018). For each day and place:

=========================  ==============================================================
``displaced_people``       in camps + informal sites + host communities + on the move
``covered_space_m2``       (informal sites + on the move) x covered space per person
``water_litres_per_day``   displaced people x water per person per day
``latrines``               ceil((camps + informal sites) / people per latrine)
``food_kcal_per_day``      displaced people x kcal per person per day
``nfi_kits``               (camps + informal sites + on the move) / household size x kits
``winterisation_kits``     as ``nfi_kits`` with the winter kits per household, in winter months
=========================  ==============================================================

People in camps live in tents and hosted people under a roof: covered space is needed by
those in informal sites and on the move. Hosted households use their hosts' toilets and
household items. Every figure is a need for the day (a stock), not a delivery schedule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .scenario.schema import NeedsSection

#: Columns of needs.csv: what each holds (units).
NEEDS_COLUMNS = {
    "date": "day (ISO date)",
    "location": "place name",
    "pcode": "OCHA sub-district pcode of the place (empty if none)",
    "kind": "kind of place (sub_district, camp_cluster, host_area, ...)",
    "in_camp": "displaced people in formal camps (people)",
    "in_informal_site": "displaced people in informal sites (people)",
    "in_host_community": "displaced people hosted (people)",
    "on_the_move": "people on the move at the place (people)",
    "displaced_people": "sum of the four (people)",
    "households_in_camps_sites_or_moving": "(in_camp + in_informal_site + on_the_move) / household size",
    "covered_space_m2": "covered living space for people without shelter (m2)",
    "water_litres_per_day": "water for drinking and domestic hygiene (litres/day)",
    "latrines": "communal toilets for people in camps and informal sites",
    "food_kcal_per_day": "food energy (kcal/day)",
    "nfi_kits": "household non-food-item kits",
    "winterisation_kits": "household winterisation kits (0 outside the winter months)",
}

PEOPLE_COLUMNS = ("in_camp", "in_informal_site", "in_host_community", "on_the_move")


def standards(values: dict[str, Any] | None) -> dict[str, Any]:
    """The [needs] table with every default filled in."""
    values = values or {}
    return {k: values.get(k, f.default) for k, f in NeedsSection.model_fields.items()}


def in_winter(months: np.ndarray, start: int, end: int) -> np.ndarray:
    """Whether each month (1-12) is in the winter ``start``..``end`` (may span the new year)."""
    if start <= end:
        return (months >= start) & (months <= end)
    return (months >= start) | (months <= end)


def needs_table(
    locations: pd.DataFrame,
    std: dict[str, Any] | None,
    household_size: float,
    pcodes: dict[str, str] | None = None,
) -> pd.DataFrame:
    """needs.csv: one row per day and place with anyone displaced there (see module doc).

    ``locations`` is the run's locations table; ``std`` the [needs] standards;
    ``household_size`` people per household; ``pcodes`` ``{place: pcode}``.
    """
    s = standards(std)
    pcodes = pcodes or {}
    df = locations[["date", "location", "kind", *PEOPLE_COLUMNS]].copy()
    ppl = df[list(PEOPLE_COLUMNS)].to_numpy(np.int64)
    total = ppl.sum(axis=1)
    keep = total > 0
    df, ppl, total = df[keep].reset_index(drop=True), ppl[keep], total[keep]
    camp, site, _host, moving = (ppl[:, k].astype(float) for k in range(4))
    households = (camp + site + moving) / float(household_size)
    months = pd.to_datetime(df["date"]).dt.month.to_numpy()
    winter = in_winter(months, int(s["winter_start_month"]), int(s["winter_end_month"]))
    out = pd.DataFrame(
        {
            "date": df["date"],
            "location": df["location"],
            "pcode": [pcodes.get(n, "") for n in df["location"]],
            "kind": df["kind"],
            "in_camp": ppl[:, 0],
            "in_informal_site": ppl[:, 1],
            "in_host_community": ppl[:, 2],
            "on_the_move": ppl[:, 3],
            "displaced_people": total,
            "households_in_camps_sites_or_moving": np.round(households, 1),
            "covered_space_m2": np.round((site + moving) * s["covered_space_m2_per_person"], 1),
            "water_litres_per_day": np.round(total * s["water_litres_per_person_day"], 1),
            "latrines": np.ceil((camp + site) / s["people_per_latrine"]).astype(np.int64),
            "food_kcal_per_day": np.round(total * s["kcal_per_person_day"], 1),
            "nfi_kits": np.ceil(households * s["nfi_kits_per_household"]).astype(np.int64),
            "winterisation_kits": np.where(
                winter, np.ceil(households * s["winterisation_kits_per_household"]), 0
            ).astype(np.int64),
        }
    )
    assert tuple(out.columns) == tuple(NEEDS_COLUMNS)
    return out


NEED_MEASURES = (
    "covered_space_m2",
    "water_litres_per_day",
    "latrines",
    "food_kcal_per_day",
    "nfi_kits",
    "winterisation_kits",
)


def peak_needs(needs: pd.DataFrame, kinds: tuple[str, ...] = ("camp_cluster",)) -> list[dict]:
    """Per camp cluster (places of ``kinds``): the day with most displaced people and its needs."""
    rows = []
    sel = needs[needs["kind"].isin(kinds)]
    for name, g in sel.groupby("location", sort=True):
        r = g.loc[g["displaced_people"].idxmax()]
        rows.append(
            {
                "location": name,
                "pcode": r["pcode"],
                "peak_date": r["date"],
                "displaced_people": int(r["displaced_people"]),
                **{m: _num(r[m]) for m in NEED_MEASURES},
            }
        )
    rows.sort(key=lambda d: -d["displaced_people"])
    return rows


def _num(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else round(f, 1)


def daily_totals(needs: pd.DataFrame) -> pd.DataFrame:
    """Zone totals of each need per day (for the needs plot and the weekly table)."""
    cols = ["displaced_people", *NEED_MEASURES]
    return needs.groupby("date", sort=True)[cols].sum().reset_index()
