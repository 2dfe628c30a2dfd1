"""The shipped world: pcodes, totals, camps, roads, and the GED bombardment rule."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import BASE_SCENARIO, World

from sim import geography
from sim.conflict import (
    compile_timeline,
    ged_intensity,
    ged_weekly_counts,
    haversine_km,
)
from sim.place_tables import BombardmentRow
from sim.scenario.loading import load_scenario

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "scenarios" / "data"


@pytest.fixture(scope="module")
def world() -> geography.World:
    return geography.load(DATA / "locations.csv", DATA / "routes.csv")


# -- the GED rule on a tiny example -------------------------------------------------------


def test_ged_weekly_counts_counts_events_within_the_radius_by_week():
    # Two places 0.2 deg of latitude apart (~22 km); radius 10 km.
    place_lat, place_lon = np.array([35.0, 35.2]), np.array([36.0, 36.0])
    ev_lat = np.array([35.0, 35.05, 35.2, 35.1, 35.0])  # 0, ~5.6, 0, ~11.1 (nowhere), 0 km
    ev_lon = np.array([36.0, 36.0, 36.0, 36.0, 36.0])
    week = np.array([0, 0, 1, 0, 5])  # week 5 is outside n_weeks=2: ignored
    civ = np.array([5.0, 0.0, 10.0, 7.0, 3.0])
    events, deaths = ged_weekly_counts(ev_lat, ev_lon, week, civ, place_lat, place_lon, 2, 10.0)
    assert events.tolist() == [[2.0, 0.0], [0.0, 1.0]]
    assert deaths.tolist() == [[5.0, 0.0], [0.0, 10.0]]


def test_ged_intensity_maps_the_score_to_0_1():
    # score = events + civilian deaths / 5; intensity = 1 - 0.5 ** (score / 10)
    x = ged_intensity(np.array([0.0, 10.0, 5.0, 1.0]), np.array([0.0, 0.0, 25.0, 5.0]))
    assert x[0] == 0.0
    assert x[1] == pytest.approx(0.5)  # the "heavy" tier
    assert x[2] == pytest.approx(0.5)  # 5 events + 25 deaths: same score
    assert x[3] == pytest.approx(1 - 0.5**0.2)  # 1 event + 5 deaths: score 2
    assert np.all(np.diff(ged_intensity(np.arange(50.0), np.zeros(50))) > 0)
    assert ged_intensity(np.array([100.0]), np.array([0.0]))[0] < 1.0
    assert ged_intensity(np.array([1e6]), np.array([0.0]))[0] <= 1.0


def test_haversine_one_degree_of_latitude():
    assert haversine_km(35.0, 36.0, 36.0, 36.0) == pytest.approx(111.19, abs=0.05)


def test_the_bombardment_table_acts_for_its_week_only(tmp_path):
    tiny = World(tmp_path)
    (tmp_path / "data" / "b.csv").write_text(
        "place,week_start,week_end,intensity,events\nBombed Town,2019-05-06,2019-05-12,0.4,7\n"
    )
    sc = load_scenario(tiny.scenario('\n[conflict]\nbombardment_table = "data/b.csv"\n'))
    assert sc.bombardment_table == (
        BombardmentRow("Bombed Town", date(2019, 5, 6), date(2019, 5, 12), 0.4),
    )
    w = geography.load(sc.locations_file, sc.routes_file)
    t = compile_timeline(sc, w)
    i = w.index["Bombed Town"]
    assert t.intensity[:, w.index["Safe Town"]].max() == 0.0
    on = [sc.day_index(date(2019, 5, d)) for d in range(6, 13)]
    assert np.allclose(t.intensity[on, i], 0.4)
    assert t.intensity[:, i].sum() == pytest.approx(0.4 * 7)
    assert any(f.name == "b.csv" for f in sc.files)  # hashed in the manifest


# -- the shipped data ----------------------------------------------------------------------


def test_every_pcode_is_an_ocha_sub_district(world):
    ocha = {r["pcode"]: r for r in csv.DictReader(open(DATA / "subdistricts_nw.csv"))}
    rows = list(csv.DictReader(open(DATA / "locations.csv", encoding="utf-8")))
    for r in rows:
        if r["kind"] in ("sub_district", "camp_cluster", "host_area", "town", "government"):
            assert r["pcode"] in ocha, r["name"]
            # the district column names the pcode's district
            assert ocha[r["pcode"]]["district_pcode"] in r["district"], r["name"]
    assert world.pcode == [r["pcode"] for r in rows]


def test_the_copied_polygons_cover_every_pcode():
    import json

    g = json.loads((DATA / "geo" / "subdistricts.geojson").read_text(encoding="utf-8"))
    have = {f["properties"]["pcode"] for f in g["features"]}
    used = {p for p in geography.load(DATA / "locations.csv", DATA / "routes.csv").pcode if p}
    assert used <= have
    assert "CC BY 3.0 IGO" in (DATA / "geo" / "README.md").read_text(encoding="utf-8")


def test_border_km_is_the_distance_to_the_border_line(world):
    """Every place's border_km is what scripts/derive_border_km.py computes from the OCHA
    border line (so the column cannot drift from the geometry), and the western Harim
    border areas are border areas although far by road from Bab al-Hawa."""
    import importlib.util

    from sim.geo import load_boundaries

    spec = importlib.util.spec_from_file_location(
        "derive_border_km", REPO / "scripts" / "derive_border_km.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    border = load_boundaries().border
    for name, lat, lon, km in zip(world.names, world.lat, world.lon, world.border_km, strict=True):
        assert km == pytest.approx(mod.distance_to_lines_km(lat, lon, border), abs=0.051), name
    b = dict(zip(world.names, world.border_km, strict=True))
    for name in ("Salqin", "Harim", "Darkush", "Atmeh camps", "Azaz"):
        assert b[name] < 8.0, name
    for name in ("Idlib", "Maarrat al-Nu'man", "Khan Shaykhun"):
        assert b[name] > 20.0, name


def test_north_west_syria_sums_to_the_default_total_without_scaling(world):
    sc = load_scenario(REPO / "scenarios" / "idlib_2019.toml")
    populated = world.is_kind(*geography.POPULATED_KINDS)
    assert world.population[populated].sum() == sc.population_total == 4_000_000
    zone = populated & (world.control == geography.OPPOSITION)
    north = populated & (world.control == geography.TURKISH_BACKED)
    assert world.population[zone].sum() == 3_000_000  # OCHA: ~3 million in the zone
    assert world.population[north].sum() == 1_000_000
    # at least one populated place in each opposition-held northern Aleppo district
    districts = {world.district[i] for i in np.flatnonzero(north)}
    for d in ("SY0203", "SY0204", "SY0202", "SY0208"):
        assert any(d in x for x in districts), d
    assert not world.is_kind("host_area").any()


def test_camps_are_not_full_on_day_0(world):
    occupied = world.camp_population > 0
    assert occupied.sum() >= 20
    assert (world.camp_capacity[occupied] > world.camp_population[occupied]).all()
    # CCCM ISIMM February 2019: 471,855 people in registered sites
    assert world.camp_population.sum() == 471_855


def test_places_the_2020_offensive_needed_exist(world):
    for name in ("Zarbah", "Khan al-Asal", "Atarib", "Haritan", "Saraqib"):
        assert world.kind[world.index[name]] == "sub_district"


def test_maarrat_al_numan_to_idlib_by_road_is_not_a_long_detour(world):
    d = world.road_distance_km()
    i, j = world.index["Maarrat al-Nu'man"], world.index["Idlib"]
    straight = geography.great_circle_km(world.lat[i], world.lon[i], world.lat[j], world.lon[j])
    assert d[i, j] < 1.35 * straight


def test_every_road_names_its_source():
    for r in csv.DictReader(open(DATA / "routes.csv", encoding="utf-8")):
        assert r["source"].startswith(("ESTIMATE", "PUBLISHED")), (r["from"], r["to"])


def test_the_shipped_bombardment_table_matches_the_rule(tmp_path):
    """Rebuilding the table from the copied GED events gives the committed file."""
    import subprocess
    import sys

    out = tmp_path / "rebuilt.csv"
    script = DATA / "derive_ged_bombardment.py"
    res = subprocess.run(
        [sys.executable, str(script), str(out)], cwd=REPO, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == (DATA / "ged_bombardment_2019.csv").read_bytes()


def test_the_camp_table_uses_no_figure_from_december_2019_on_and_never_shrinks(world):
    from sim.place_tables import load_camp_table

    rows = load_camp_table(DATA / "camps_sites_2019.csv", world.names)
    assert rows and all(r.date < date(2019, 12, 1) for r in rows)
    last: dict[str, int] = {}
    for r in rows:  # sorted by date
        assert r.capacity >= last.get(r.place, 0), r
        last[r.place] = r.capacity
        if r.date == date(2019, 2, 28):  # the start: the locations file's capacity
            assert r.capacity == world.camp_capacity[world.index[r.place]], r.place


def test_the_camp_table_sets_capacity_from_its_date_on(tmp_path):
    tiny = World(tmp_path)
    (tmp_path / "data" / "c.csv").write_text(
        "place,date,capacity,source\nBorder Camp,2019-05-10,9000,test\nSafe Town,2019-04-01,100,t\n"
    )
    with_table = BASE_SCENARIO.replace(
        'routes = "data/routes.csv"\n', 'routes = "data/routes.csv"\ncamp_table = "data/c.csv"\n'
    )
    sc = load_scenario(tiny.scenario(base=with_table))
    w = geography.load(sc.locations_file, sc.routes_file)
    t = compile_timeline(sc, w)
    camp = t.camp_capacity[:, w.index["Border Camp"]]
    d = sc.day_index(date(2019, 5, 10))
    assert (camp[:d] == 5000).all() and (camp[d:] == 9000).all()
    assert (t.camp_capacity[:, w.index["Safe Town"]] == 100).all()  # before the start: day 0
