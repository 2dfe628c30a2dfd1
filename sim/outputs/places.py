"""Where the displaced come from and where they stay, per place and per sub-district.

Definitions (people, from the run's ``locations`` table):

``displaced_from``  people currently away from home whose home is the place
                    (``displaced_from_here``);
``staying``         displaced people staying at the place: hosted + in camps + in informal
                    sites (``in_host_community + in_camp + in_informal_site``); people passing
                    through are not staying;
``staying_net``     ``staying`` minus its value on the first reported day: the displaced the
                    run brought (or took away, if negative). "Where people went" is this,
                    not ``arrivals``, which counts every arrival, including people who later
                    moved on.

Sub-district figures sum the places that share a pcode (e.g. the four camp clusters of
Dana); places without a pcode, or whose pcode has no polygon, are kept as places only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.outputs.geo import Boundaries
from sim.outputs.needs import NEED_MEASURES

SERIES = ("displaced_from", "staying", "on_the_move")


def daily_series(locations: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{series: DataFrame indexed by date, one column per place}`` (people)."""
    loc = locations
    staying = loc["in_host_community"] + loc["in_camp"] + loc["in_informal_site"]
    values = {
        "displaced_from": loc["displaced_from_here"],
        "staying": staying,
        "on_the_move": loc["on_the_move"],
    }
    order = list(dict.fromkeys(loc["location"]))
    out = _day_by_place(loc, values, len(order))
    if out is None:
        frame = pd.DataFrame({"date": loc["date"], "location": loc["location"], **values})
        out = {}
        for s in SERIES:
            wide = frame.pivot(index="date", columns="location", values=s)
            out[s] = wide[order].sort_index()
    out["staying_net"] = out["staying"] - out["staying"].iloc[0]
    return out


def _day_by_place(
    loc: pd.DataFrame, values: dict[str, pd.Series], n_places: int
) -> dict[str, pd.DataFrame] | None:
    """The series of :func:`daily_series` reshaped, when ``loc`` is a run's table as written
    (every place every day, days in order, places in the same order each day): the same
    frames as pivoting, in a fraction of the time. None for any other table."""
    n = len(loc)
    if n_places == 0 or n % n_places:
        return None
    names = loc["location"].to_numpy().reshape(-1, n_places)
    dates = loc["date"].to_numpy().reshape(-1, n_places)
    if not ((names == names[:1]).all() and (dates == dates[:, :1]).all()):
        return None
    index = pd.Index(loc["date"].iloc[::n_places], name="date")
    if not (index.is_unique and index.is_monotonic_increasing):
        return None
    columns = pd.Index(loc["location"].iloc[:n_places], name="location")
    return {
        s: pd.DataFrame(v.to_numpy().reshape(-1, n_places), index=index, columns=columns)
        for s, v in values.items()
    }


def by_sub_district(wide: pd.DataFrame, pcodes: dict[str, str], known: set[str]) -> pd.DataFrame:
    """Sum the columns (places) of ``wide`` by pcode; places without a known pcode dropped."""
    cols = {c: pcodes.get(c, "") for c in wide.columns}
    keep = [c for c, p in cols.items() if p in known]
    if not keep:
        return pd.DataFrame(index=wide.index)
    return wide[keep].T.groupby([cols[c] for c in keep], sort=True).sum().T


def end_and_peak(wide: pd.DataFrame) -> pd.DataFrame:
    """Per column: value on the last day, the highest value and the first day it was reached."""
    arr = wide.to_numpy()
    if arr.size == 0:
        return pd.DataFrame(columns=["end", "peak", "peak_date"])
    i = arr.argmax(axis=0)
    return pd.DataFrame(
        {
            "end": arr[-1],
            "peak": arr[i, np.arange(arr.shape[1])],
            "peak_date": np.asarray(wide.index)[i],
        },
        index=wide.columns,
    )


def _at_peak(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """``{place: {"people", "date"}}`` of the rows of :func:`end_and_peak` with a positive peak."""
    return {
        k: {"people": int(r.peak), "date": str(r.peak_date)}
        for k, r in rows.iterrows()
        if r.peak > 0
    }


def staying_summary(locations: pd.DataFrame, top: int = 8) -> dict[str, Any]:
    """Summary entries: where the displaced of this run are staying (net), at the end and at peak."""
    series = daily_series(locations)
    net = end_and_peak(series["staying_net"])
    end = net.sort_values("end", ascending=False, kind="stable")
    peak = net.sort_values("peak", ascending=False, kind="stable")
    first = str(series["staying"].index[0])
    return {
        "staying_counted_from": first,
        "staying_at_end": {k: int(v) for k, v in end["end"].head(top).items() if v > 0},
        "staying_at_peak": _at_peak(peak.head(top)),
    }


def fled_from_summary(locations: pd.DataFrame, top: int = 8) -> dict[str, Any]:
    """Summary entries: where the people this run displaced had their homes, at each place's peak.

    ``displaced_from`` net of the first reported day (people away from home whose home is the
    place, less those already away then), at its highest: the people driven from their homes
    there, not ``departures``, which also counts onward moves out of informal sites and
    people passing through a place (a camp area with overflow sites would otherwise rank
    among the places fled).
    """
    series = daily_series(locations)
    net = end_and_peak(series["displaced_from"] - series["displaced_from"].iloc[0])
    peak = net.sort_values("peak", ascending=False, kind="stable")
    return {
        "fled_counted_from": str(series["displaced_from"].index[0]),
        "fled_from_at_peak": _at_peak(peak.head(top)),
    }


def place_table(
    locations: pd.DataFrame,
    pcodes: dict[str, str],
    needs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per place: pcode, kind, position, displaced from / staying at end and peak."""
    series = daily_series(locations)
    last = locations.drop_duplicates("location", keep="last").set_index("location")
    rows = pd.DataFrame(index=series["staying"].columns)
    rows["pcode"] = [pcodes.get(n, "") for n in rows.index]
    rows["kind"] = last.loc[rows.index, "kind"]
    rows["lat"] = last.loc[rows.index, "lat"].astype(float)
    rows["lon"] = last.loc[rows.index, "lon"].astype(float)
    rows["camp_capacity"] = last.loc[rows.index, "camp_capacity"].astype(int)
    for s in ("displaced_from", "staying", "staying_net"):
        ep = end_and_peak(series[s])
        rows[f"{s}_end"] = ep["end"].astype(int)
        rows[f"{s}_peak"] = ep["peak"].astype(int)
        rows[f"{s}_peak_date"] = ep["peak_date"].astype(str)
    if needs is not None:
        _add_needs_at_peak(rows, needs.rename(columns={"location": "key"}))
    return rows


def _add_needs_at_peak(rows: pd.DataFrame, needs: pd.DataFrame) -> None:
    peak = needs.loc[needs.groupby("key")["displaced_people"].idxmax()].set_index("key")
    for m in ("displaced_people", *NEED_MEASURES):
        rows[f"peak_{m}"] = peak[m].reindex(rows.index).fillna(0).to_numpy()
    rows["peak_needs_date"] = peak["date"].reindex(rows.index).fillna("").to_numpy()


def sub_district_table(
    locations: pd.DataFrame,
    pcodes: dict[str, str],
    bounds: Boundaries,
    needs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per sub-district that holds a modelled place (indexed by pcode)."""
    known = set(bounds.sub_districts)
    series = daily_series(locations)
    rows: pd.DataFrame | None = None
    for s in ("displaced_from", "staying", "staying_net"):
        ep = end_and_peak(by_sub_district(series[s], pcodes, known))
        if rows is None:
            rows = pd.DataFrame(index=ep.index)
        rows[f"{s}_end"] = ep["end"].astype(int)
        rows[f"{s}_peak"] = ep["peak"].astype(int)
        rows[f"{s}_peak_date"] = ep["peak_date"].astype(str)
    assert rows is not None
    rows["name"] = [bounds.sub_districts[p].name for p in rows.index]
    rows["places"] = [
        "; ".join(sorted(n for n, p in pcodes.items() if p == pc)) for pc in rows.index
    ]
    if needs is not None and len(rows):
        sub = needs[needs["pcode"].isin(known)]
        agg = sub.groupby(["date", "pcode"], sort=True).sum(numeric_only=True).reset_index()
        _add_needs_at_peak(rows, agg.rename(columns={"pcode": "key"}))
    return rows


def _ring_list(rings: tuple[np.ndarray, ...]) -> list:
    """GeoJSON MultiPolygon coordinates: each counter-clockwise ring starts a polygon."""
    polys: list = []
    for r in rings:
        x, y = r[:, 0], r[:, 1]
        area = float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())
        coords = np.round(r, 5).tolist()
        if area > 0 or not polys:
            polys.append([coords])
        else:
            polys[-1].append(coords)
    return polys


def places_geojson(
    subs: pd.DataFrame, places: pd.DataFrame, bounds: Boundaries, path: Path
) -> None:
    """places.geojson: a polygon per sub-district with a modelled place, a point per camp.

    Camp points are places with formal camp places or of kind ``camp_cluster``. Every
    property is a plain number or string (QGIS and ArcGIS read it as an attribute table).
    """

    def props(row: pd.Series) -> dict[str, Any]:
        out = {}
        for k, v in row.items():
            if isinstance(v, (np.integer, int)):
                out[k] = int(v)
            elif isinstance(v, (np.floating, float)):
                f = float(v)
                out[k] = int(f) if f.is_integer() else round(f, 1)
            else:
                out[k] = str(v)
        return out

    feats = []
    for pcode, row in subs.iterrows():
        feats.append(
            {
                "type": "Feature",
                "properties": {"feature": "sub_district", "pcode": pcode, **props(row)},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": _ring_list(bounds.sub_districts[pcode].rings),
                },
            }
        )
    camps = places[(places["kind"] == "camp_cluster") | (places["camp_capacity"] > 0)]
    for name, row in camps.iterrows():
        p = props(row.drop(["lat", "lon"]))
        feats.append(
            {
                "type": "Feature",
                "properties": {"feature": "camp", "name": name, **p},
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(float(row["lon"]), 5), round(float(row["lat"]), 5)],
                },
            }
        )
    doc = {
        "type": "FeatureCollection",
        "name": "idlibsim_places",
        "crs_note": "WGS 84 longitude/latitude (RFC 7946)",
        "attribution": "Sub-district boundaries: UN OCHA / UNCS, COD-AB Syria 2020-12-17, "
        "CC BY 3.0 IGO. The boundaries and names shown do not imply official endorsement "
        "or acceptance by the United Nations.",
        "features": feats,
    }
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


def weekly_table(daily: pd.DataFrame, needs_daily: pd.DataFrame | None = None) -> pd.DataFrame:
    """weekly.csv: one row per 7 days from the first reported day (the last may be shorter).

    Flows (movements, people newly displaced, returns, crossings) are summed over the
    week; stocks (displaced now, by setting) are the values on the week's last day;
    cumulative counts run from the first reported day.
    """
    d = daily.reset_index(drop=True)
    week = np.arange(len(d)) // 7
    g = d.groupby(week, sort=True)
    out = pd.DataFrame(
        {
            "week": np.arange(1, week.max() + 2),
            "week_start": g["date"].first().to_numpy(),
            "week_end": g["date"].last().to_numpy(),
            "days": g.size().to_numpy(),
            "movements_in_week": g["new_displacements"].sum().to_numpy(),
            "people_newly_displaced_in_week": g["new_people_displaced"].sum().to_numpy(),
            "movements_cumulative": g["displacements_cumulative"].last().to_numpy(),
            "people_displaced_cumulative": g["displaced_people_cumulative"].last().to_numpy(),
            "displaced_now": g["displaced_now"].last().to_numpy(),
            "in_camps": g["in_camps"].last().to_numpy(),
            "in_informal_sites": g["in_informal_sites"].last().to_numpy(),
            "in_host_communities": g["in_host_community"].last().to_numpy(),
            "on_the_move": g["on_the_move"].last().to_numpy(),
            "returns_started_in_week": g["returns_started"].sum().to_numpy(),
            "crossed_to_turkey_in_week": g["crossed_to_turkey"].sum().to_numpy(),
        }
    )
    if needs_daily is not None and len(needs_daily):
        nd = needs_daily.set_index("date")
        for c in nd.columns:
            if c == "displaced_people":
                continue
            out[f"{c}_at_week_end"] = nd[c].reindex(out["week_end"]).fillna(0).to_numpy()
    return out
