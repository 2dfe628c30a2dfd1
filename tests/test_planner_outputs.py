"""Outputs for planners: needs, where people stay (net), the GIS layer, the weekly table, the report."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BOMB, SCENARIOS

from sim.cli import main
from sim.errors import InputError
from sim.outputs.geo import GEO_DIR, load_boundaries, place_pcodes
from sim.outputs.needs import needs_table, standards
from sim.outputs.places import fled_from_summary, staying_summary, weekly_table
from sim.outputs.report import FIGURES
from sim.scenario.loading import load_scenario
from sim.scenario.schema import NeedsSection
from sim.scenario.types import extra_of

#: The tiny world with pcodes: two towns in real Idleb sub-districts, the camp in Dana
#: (shared with a second place), a crossing with no pcode, a pcode with no polygon.
LOCATIONS_WITH_PCODES = """\
name,kind,control,pcode,lat,lon,population,camp_population,camp_capacity,hosting_population
Bombed Town,sub_district,opposition,SY070201,35.50,36.60,50000,0,0,
Safe Town,sub_district,opposition,SY070000,36.10,36.70,50000,0,0,
Border Camp,camp_cluster,opposition,SY070301,36.30,36.68,2000,2000,5000,
Dana Town,town,opposition,SY070301,36.20,36.75,0,0,0,
Crossing,crossing,opposition,,36.23,36.69,0,0,0,0
Nowhere,town,opposition,SY999999,36.00,36.90,0,0,0,
Turkey,abroad,turkey,,36.27,36.57,0,0,0,0
"""
ROUTES = """\
from,to,km
Bombed Town,Safe Town,70
Safe Town,Border Camp,25
Safe Town,Dana Town,20
Dana Town,Border Camp,10
Safe Town,Nowhere,15
Border Camp,Crossing,5
Crossing,Turkey,8
"""


@pytest.fixture
def run_dir(world, tmp_path) -> Path:
    world.locations(LOCATIONS_WITH_PCODES)
    world.routes(ROUTES)
    out = tmp_path / "run"
    extra = (
        BOMB
        + "\n[needs]\nwater_litres_per_person_day = 20.0\nwinter_start_month = 5\nwinter_end_month = 5\n"
    )
    assert main(["run", str(world.scenario(extra)), "--out", str(out), "--seed", "1"]) == 0
    return out


def test_needs_are_people_times_the_standards(run_dir):
    needs = pd.read_csv(run_dir / "needs.csv")
    loc = pd.read_csv(run_dir / "locations.csv")
    assert len(needs) > 0
    people = (
        needs["in_camp"]
        + needs["in_informal_site"]
        + needs["in_host_community"]
        + needs["on_the_move"]
    )
    assert (needs["displaced_people"] == people).all()
    assert (needs["water_litres_per_day"] == 20.0 * people).all()  # overridden in [needs]
    assert np.allclose(needs["food_kcal_per_day"], 2100.0 * people)
    no_shelter = needs["in_informal_site"] + needs["on_the_move"]
    assert np.allclose(needs["covered_space_m2"], 3.5 * no_shelter)
    settled = needs["in_camp"] + needs["in_informal_site"]
    assert (needs["latrines"] == np.ceil(settled / 20.0)).all()
    households = (settled + needs["on_the_move"]) / 5.0
    assert (needs["nfi_kits"] == np.ceil(households)).all()
    assert (needs["winterisation_kits"] == np.ceil(households)).all()  # May counts as winter here
    # every day and place with anyone displaced is there, and nothing else
    staying = (
        loc["in_camp"] + loc["in_informal_site"] + loc["in_host_community"] + loc["on_the_move"]
    )
    assert len(needs) == int((staying > 0).sum())
    assert set(needs.loc[needs["location"] == "Border Camp", "pcode"]) == {"SY070301"}
    assert set(needs.loc[needs["location"] == "Crossing", "pcode"].fillna("")) <= {""}


def test_winter_months_may_span_the_new_year():
    loc = pd.DataFrame(
        {
            "date": ["2019-12-31", "2020-04-01"],
            "location": ["A", "A"],
            "kind": ["camp_cluster"] * 2,
            "in_camp": [100, 100],
            "in_informal_site": [0, 0],
            "in_host_community": [0, 0],
            "on_the_move": [0, 0],
        }
    )
    n = needs_table(loc, {}, 5.0)
    assert list(n["winterisation_kits"]) == [20, 0]  # Nov-Mar by default


def test_needs_standards_are_a_validated_scenario_section(world):
    sc = load_scenario(world.scenario())
    assert sc.needs == standards({})
    assert sc.resolved["needs"]["covered_space_m2_per_person"] == 3.5
    for name, f in NeedsSection.model_fields.items():
        assert extra_of(f)["source"], f"{name} has no source"
    with pytest.raises(InputError) as err:
        load_scenario(world.scenario("[needs]\npeople_per_latrine = 0\n"))
    assert "needs.people_per_latrine" in str(err.value)
    with pytest.raises(InputError) as err:
        load_scenario(world.scenario("[needs]\nlitres = 3\n"))
    assert "litres" in str(err.value)


def test_summary_staying_lists_are_net_of_the_first_day(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    loc = pd.read_csv(run_dir / "locations.csv")
    loc["staying"] = loc["in_host_community"] + loc["in_camp"] + loc["in_informal_site"]
    wide = loc.pivot(index="date", columns="location", values="staying").sort_index()
    net = wide - wide.iloc[0]
    assert s["staying_at_end"], "somebody stays somewhere"
    for place, people in s["staying_at_end"].items():
        assert people == int(net[place].iloc[-1])
    for place, v in s["staying_at_peak"].items():
        assert v["people"] == int(net[place].max())
        assert v["date"] == str(net[place].idxmax())
    # a camp full of earlier residents is not "where people went" unless it gained people
    assert s["staying_at_end"].get("Border Camp", 0) == int(net["Border Camp"].iloc[-1])
    assert "top_destinations" not in s


def test_staying_is_not_pass_through_arrivals():
    """People who arrive and move on count as arrivals, not as staying."""
    rows = []
    for d, (here, gone) in enumerate([(0, 0), (100, 0), (0, 100)]):
        for name, host in (("Hop", here), ("End", gone)):
            rows.append(
                {
                    "date": f"2019-05-0{d + 1}", "location": name, "displaced_from_here": 0,
                    "in_host_community": host, "in_camp": 0, "in_informal_site": 0,
                    "on_the_move": 0, "arrivals": 100 if (name, d) in (("Hop", 1), ("End", 2)) else 0,
                }
            )  # fmt: skip
    s = staying_summary(pd.DataFrame(rows))
    assert s["staying_at_end"] == {"End": 100}
    assert s["staying_at_peak"]["Hop"] == {"people": 100, "date": "2019-05-02"}


def test_summary_fled_from_is_homes_left_net_of_the_first_day(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    loc = pd.read_csv(run_dir / "locations.csv")
    wide = loc.pivot(index="date", columns="location", values="displaced_from_here").sort_index()
    net = wide - wide.iloc[0]
    assert s["fled_from_at_peak"], "somebody fled from somewhere"
    assert s["fled_counted_from"] == str(wide.index[0])
    for place, v in s["fled_from_at_peak"].items():
        assert v["people"] == int(net[place].max())
        assert v["date"] == str(net[place].idxmax())
    departures = loc.groupby("location")["departures"].sum()
    for place, n in s["departures_most_from"].items():
        assert n == int(departures[place])
    assert "top_origins" not in s


def test_fled_from_is_not_onward_moves_out_of_sites():
    """A camp area people move on from is not a place people fled: they had no home there."""
    rows = []
    for d, (away, camp_departures) in enumerate([(0, 0), (300, 0), (300, 250)]):
        for name, frm, dep in (("Front", away, 300 if d == 1 else 0), ("Camp", 0, camp_departures)):
            rows.append(
                {
                    "date": f"2019-05-0{d + 1}", "location": name, "displaced_from_here": frm,
                    "in_host_community": 0, "in_camp": 0, "in_informal_site": 0,
                    "on_the_move": 0, "departures": dep,
                }
            )  # fmt: skip
    s = fled_from_summary(pd.DataFrame(rows))
    assert s["fled_from_at_peak"] == {"Front": {"people": 300, "date": "2019-05-02"}}
    assert s["fled_counted_from"] == "2019-05-01"


def test_geojson_has_a_feature_per_sub_district_and_camp(run_dir):
    doc = json.loads((run_dir / "places.geojson").read_text())
    feats = doc["features"]
    subs = {
        f["properties"]["pcode"]: f for f in feats if f["properties"]["feature"] == "sub_district"
    }
    camps = {f["properties"]["name"]: f for f in feats if f["properties"]["feature"] == "camp"}
    # places with a pcode that has a polygon; Dana holds the camp and Dana Town, summed
    assert set(subs) == {"SY070201", "SY070000", "SY070301"}
    assert set(camps) == {"Border Camp"}
    loc = pd.read_csv(run_dir / "locations.csv")
    last = loc[loc["date"] == loc["date"].max()].set_index("location")
    staying = last["in_host_community"] + last["in_camp"] + last["in_informal_site"]
    dana = subs["SY070301"]["properties"]
    assert dana["staying_end"] == int(staying["Border Camp"] + staying["Dana Town"])
    assert dana["places"] == "Border Camp; Dana Town"
    assert subs["SY070201"]["properties"]["displaced_from_end"] == int(
        last.loc["Bombed Town", "displaced_from_here"]
    )
    assert subs["SY070000"]["geometry"]["type"] == "MultiPolygon"
    assert camps["Border Camp"]["geometry"]["coordinates"] == [36.68, 36.3]
    for f in feats:
        assert "peak_water_litres_per_day" in f["properties"]


def test_weekly_table_sums_flows_and_keeps_stocks(run_dir):
    daily = pd.read_csv(run_dir / "daily.csv")
    weekly = pd.read_csv(run_dir / "weekly.csv")
    assert weekly["days"].sum() == len(daily)
    assert weekly["movements_in_week"].sum() == daily["new_displacements"].sum()
    assert list(weekly["displaced_now"]) == list(daily["displaced_now"].iloc[6::7]) + (
        [int(daily["displaced_now"].iloc[-1])] if len(daily) % 7 else []
    )
    assert list(weekly_table(daily)["week_end"])[-1] == daily["date"].iloc[-1]


def test_report_is_one_file_with_every_plot_embedded(run_dir):
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert set(pngs) <= set(FIGURES), "every plot has a 'how to read it'"
    for name in pngs:
        m = re.search(
            rf"<figure id='{re.escape(name)}'>.*?src='data:image/png;base64,([^']+)'", text, re.S
        )
        assert m, name
        assert base64.b64decode(m.group(1)) == (run_dir / "plots" / name).read_bytes()
    assert "src='http" not in text and 'src="http' not in text and "<link" not in text
    assert "One bombarded town and one safe town" in text
    assert "Sphere Handbook 2018" in text
    for expected in ("map_staying.png", "flow_map.png", "needs.png", "situation_by_week.png"):
        assert expected in pngs


def test_places_without_a_polygon_are_kept_out_of_sub_district_totals(world):
    world.locations(LOCATIONS_WITH_PCODES)
    pc = place_pcodes(world.folder / "data" / "locations.csv")
    assert pc["Nowhere"] == "SY999999" and pc["Crossing"] == ""
    assert "SY999999" not in load_boundaries().sub_districts
    assert place_pcodes(world.folder / "missing.csv") == {}


def test_boundaries_are_the_projects_own_copy():
    assert GEO_DIR.is_relative_to(Path(__file__).resolve().parent.parent)
    total = sum(p.stat().st_size for p in GEO_DIR.glob("*.geojson"))
    assert total < 400_000
    b = load_boundaries()
    assert b.border and b.coast
    # every pcode of the 2019 scenario's places that names a sub-district has a polygon
    pcodes = place_pcodes(load_scenario(SCENARIOS / "idlib_2019.toml").locations_file)
    have = [p for p in pcodes.values() if re.fullmatch(r"SY\d{6}", p)]
    assert have and sum(p in b.sub_districts for p in have) >= 0.9 * len(have)
    idleb = b.sub_districts["SY070000"]
    assert 36.5 < idleb.centroid[0] < 36.8 and 35.8 < idleb.centroid[1] < 36.1
    assert math.isclose(idleb.rings[0][0, 0], idleb.rings[0][-1, 0])


def test_plots_drawn_in_one_process_equal_those_drawn_in_two(run_dir, tmp_path):
    import shutil

    from sim.outputs.report import render_plots

    copy = tmp_path / "serial"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "plots")
    (copy / "plots").mkdir()
    sc = load_scenario(Path(json.loads((run_dir / "manifest.json").read_text())["scenario_file"]))
    summary = json.loads((run_dir / "summary.json").read_text())
    render_plots(copy, sc, summary, parallel=False)
    names = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert names == sorted(FIGURES)
    for name in names:
        assert (copy / "plots" / name).read_bytes() == (run_dir / "plots" / name).read_bytes(), name


def test_flow_map_knows_which_crossings_are_closed_on_the_last_day():
    from sim.outputs.maps import scenario_closures

    crossings = ["Bab al-Hawa crossing", "Bab al-Salameh crossing"]
    closed = load_scenario(SCENARIOS / "idlib_2019.toml")
    opened = load_scenario(SCENARIOS / "whatif_2019_border_open.toml")
    assert scenario_closures(closed, crossings)[1] == crossings
    assert scenario_closures(opened, crossings)[1] == []


class _ReversedSet(frozenset):
    """A set that iterates in the opposite order to another: stands in for a different
    PYTHONHASHSEED, under which a set of pcodes iterates in another order."""

    def __iter__(self):
        return iter(sorted(frozenset.__iter__(self), reverse=True))


def test_maps_do_not_depend_on_the_order_a_set_of_pcodes_iterates_in():
    from matplotlib.figure import Figure

    from sim.outputs.maps import draw_base

    bounds = load_boundaries()
    pcodes = sorted(bounds.sub_districts)[:6]
    drawn = []
    for captured in (frozenset(pcodes), _ReversedSet(pcodes)):
        ax = Figure().add_subplot()
        draw_base(ax, bounds, captured_pcodes=captured)
        hatched = [c for c in ax.collections if c.get_hatch()]
        drawn.append([p.vertices.tobytes() for c in hatched for p in c.get_paths()])
    assert drawn[0] and drawn[0] == drawn[1]


def _overlap(a, b, slack: float = 0.5) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack


def test_every_figure_keeps_its_text_on_the_page_and_apart(run_dir, monkeypatch):
    """Laid out without a layout engine (_fit_grid): every axes with its tick labels, axis
    labels, titles and legends inside the figure, clear of the other axes and of the title
    block, legend and note of the figure."""
    from sim.outputs import report

    figures = {}
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.setdefault(path.name, fig))
    sc = load_scenario(Path(json.loads((run_dir / "manifest.json").read_text())["scenario_file"]))
    summary = json.loads((run_dir / "summary.json").read_text())
    report.draw_batch(run_dir, sc, summary, tuple(FIGURES))
    assert sorted(figures) == sorted(FIGURES)
    for name, fig in figures.items():
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        page = fig.bbox.padded(1)
        panels = [ax.get_tightbbox(r) for ax in fig.axes if ax.get_visible()]
        frame = [t.get_window_extent(r) for t in fig.texts if t.get_text()]
        frame += [leg.get_window_extent(r) for leg in fig.legends]
        if fig._suptitle is not None:
            frame.append(fig._suptitle.get_window_extent(r))
        for box in panels + frame:
            assert page.x0 <= box.x0 and box.x1 <= page.x1, name
            assert page.y0 <= box.y0 and box.y1 <= page.y1, name
        for i, a in enumerate(panels):
            assert not any(_overlap(a, b) for b in panels[i + 1 :]), name
            assert not any(_overlap(a, b) for b in frame), name


def test_daily_series_reshaped_is_the_pivot(run_dir, monkeypatch):
    """A run's locations table is reshaped into the day x place series; any other table
    (rows shuffled, a place missing a day) is pivoted: the same frames either way."""
    from sim.outputs import places

    loc = pd.read_csv(run_dir / "locations.csv")
    shuffled = loc.sample(frac=1.0, random_state=3)
    gap = loc.drop(index=loc.index[5])
    assert places._day_by_place(loc, {"x": loc["residents"]}, loc["location"].nunique())
    for table in (shuffled, gap):
        assert (
            places._day_by_place(table, {"x": table["residents"]}, loc["location"].nunique())
            is None
        )
    fast = {k: places.daily_series(t) for k, t in (("run", loc), ("shuffled", shuffled))}
    monkeypatch.setattr(places, "_day_by_place", lambda *a: None)
    for key, table in (("run", loc), ("shuffled", shuffled)):
        pivoted = places.daily_series(table)
        assert fast[key].keys() == pivoted.keys()
        for s in pivoted:
            pd.testing.assert_frame_equal(fast[key][s], pivoted[s], check_exact=True)


@pytest.mark.parametrize(
    "coast_lon, named", [(5.0, True), (0.3, False), (None, False)], ids=["sea", "sliver", "none"]
)
def test_the_sea_is_named_only_at_sea(coast_lon, named):
    """The sea's name lies west of the coast at its height and inside the map, or nowhere
    (the 2019 maps wrote "Mediterranean Sea" on the land of Latakia)."""
    import numpy as np

    from sim.outputs import maps as M
    from sim.outputs import plots as P
    from sim.outputs.geo import Boundaries

    coast = () if coast_lon is None else (np.array([[coast_lon, -1.0], [coast_lon, 11.0]]),)
    bounds = Boundaries(sub_districts={}, border=(), coast=coast)
    fig = P._new_figure(4, 4, layout=None)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    assert M.name_the_sea(fig, ax, bounds) is named
    texts = [t for t in ax.texts if t.get_text() == M.SEA_NAME]
    assert len(texts) == int(named)
    if named:
        fig.canvas.draw()
        box = texts[0].get_window_extent(fig.canvas.get_renderer())
        (x0, y0), (x1, y1) = ax.transData.inverted().transform([(box.x0, box.y0), (box.x1, box.y1)])
        assert 0 < x0 < x1 < coast_lon and 0 < y0 < y1 < 10
