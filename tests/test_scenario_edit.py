"""The dashboard's scenario levers (sim/dashboard/scenario_edit.py): levers -> a validated what-if
TOML file with ``extends`` that loads to the scenario the dashboard runs. No browser and
no Solara needed."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.dashboard import scenario_edit as edit
from sim.dashboard import views
from sim.model.conflict import compile_timeline
from sim.model.geography import load as load_world

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BAB_AL_HAWA = "Bab al-Hawa crossing"
BAB_AL_SALAMEH = "Bab al-Salameh crossing"


@pytest.fixture(scope="module")
def base():
    return sim.load_scenario(SCENARIOS / "idlib_2019.toml")


def levers_2019() -> edit.Levers:
    return edit.Levers(
        crossings={BAB_AL_HAWA: edit.CrossingLever(True, date(2019, 6, 10), 3000)},
        new_camps=[
            edit.NewCamp("Atmeh camps", date(2019, 5, 20), 25_000),
            edit.NewCamp("Atmeh camps", date(2019, 7, 1), 5_000),
            edit.NewCamp("Azaz", date(2019, 6, 1), 10_000),
        ],
        ceasefire_from=date(2019, 8, 1),
        ceasefire_factor=0.3,
    )


def timeline(sc):
    world = load_world(sc.locations_file, sc.routes_file)
    return world, compile_timeline(sc, world)


def test_saved_what_if_extends_the_scenario_and_loads_to_what_the_dashboard_runs(base, tmp_path):
    lv = levers_2019()
    path = edit.save_what_if(base, lv, "my_whatif", tmp_path)
    assert path == tmp_path / "my_whatif.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert (tmp_path / raw["extends"]).resolve() == (SCENARIOS / "idlib_2019.toml").resolve()
    saved = sim.load_scenario(path)
    assert saved.name == "my_whatif"
    ran = edit.edited_scenario(base, lv)
    assert edit.same_scenario(saved, ran) == []
    assert edit.same_scenario(saved, base) != []  # the levers changed something
    assert saved.resolved["events"] == ran.resolved["events"]


def test_levers_do_what_they_say(base, tmp_path):
    lv = levers_2019()
    sc = sim.load_scenario(edit.save_what_if(base, lv, "effects", tmp_path))
    w, t = timeline(sc)
    w0, t0 = timeline(base)
    days = [sc.start + timedelta(days=d) for d in range(sc.n_days)]
    # border: closed before 10 June, open at 3,000 a day from then to the end
    i = w.index[BAB_AL_HAWA]
    want_open = np.array([d >= date(2019, 6, 10) for d in days])
    assert (t.crossing_open[:, i] == want_open).all()
    assert (t.crossing_capacity[want_open, i] == 3000).all()
    j = w.index[BAB_AL_SALAMEH]
    assert (t.crossing_open[:, j] == t0.crossing_open[:, j]).all()
    # camps: the scenario's capacity plus the places added, from their dates on
    for place, adds in (
        ("Atmeh camps", [(date(2019, 5, 20), 25_000), (date(2019, 7, 1), 5_000)]),
        ("Azaz", [(date(2019, 6, 1), 10_000)]),
    ):
        extra = np.array([sum(n for d0, n in adds if d >= d0) for d in days])
        k = w.index[place]
        assert (t.camp_capacity[:, k] - t0.camp_capacity[:, k] == extra).all(), place
    others = [k for k in range(w.n) if w.names[k] not in ("Atmeh camps", "Azaz")]
    assert (t.camp_capacity[:, others] == t0.camp_capacity[:, others]).all()
    # ceasefire from 1 August: intensities x0.3 (or less) from then, unchanged before
    cut = sc.day_index(date(2019, 8, 1))
    assert np.allclose(t.intensity[:cut], t0.intensity[:cut])
    assert np.allclose(t.intensity[cut:], 0.3 * t0.intensity[cut:])
    captures = {e.id: e.start for e in sc.events if e.kind == "capture"}
    assert captures and all(d < date(2019, 8, 1) for d in captures.values())
    assert {e.id for e in base.events if e.kind == "capture" and e.start < date(2019, 8, 1)} == set(
        captures
    )


def test_new_camps_on_a_what_if_with_its_own_expansion(tmp_path):
    """Places added before the what-if's own 1 June expansion stay added after it."""
    wi = sim.load_scenario(SCENARIOS / "whatif_2019_new_camps.toml")
    lv = edit.Levers(new_camps=[edit.NewCamp("Atmeh camps", date(2019, 5, 1), 7_000)])
    sc = sim.load_scenario(edit.save_what_if(wi, lv, "more_camps", tmp_path))
    before = edit.camp_capacity_series(wi, "Atmeh camps")
    after = edit.camp_capacity_series(sc, "Atmeh camps")
    d = wi.day_index(date(2019, 5, 1))
    assert (after[:d] == before[:d]).all()
    assert (after[d:] == before[d:] + 7_000).all()
    assert before[-1] > before[0]  # the what-if's own expansion is still there
    assert (
        edit.camp_capacity_series(sc, "Kafr Lusin camps")
        == edit.camp_capacity_series(wi, "Kafr Lusin camps")
    ).all()


def test_levers_show_the_scenario_policy_and_replace_it_when_changed(tmp_path):
    wi = sim.load_scenario(SCENARIOS / "whatif_2019_border_open.toml")
    pol = edit.crossing_policy(wi)
    assert pol[BAB_AL_HAWA] == edit.CrossingLever(True, date(2019, 6, 1), 5000)
    assert pol[BAB_AL_SALAMEH] == edit.CrossingLever(True, date(2019, 6, 1), 2000)
    assert edit.crossing_policy_is_simple(wi, BAB_AL_HAWA)
    assert edit.edited_scenario(wi, edit.Levers()) is wi  # nothing changed: the file itself
    lv = edit.Levers(crossings={BAB_AL_HAWA: edit.CrossingLever(False)})
    sc = sim.load_scenario(edit.save_what_if(wi, lv, "hawa_closed", tmp_path))
    now = edit.crossing_policy(sc)
    assert now[BAB_AL_HAWA] == edit.CrossingLever(False)
    assert now[BAB_AL_SALAMEH] == pol[BAB_AL_SALAMEH]


@pytest.mark.parametrize(
    "levers, said",
    [
        (
            edit.Levers(crossings={BAB_AL_HAWA: edit.CrossingLever(True, date(2020, 1, 1), 10)}),
            "opening date",
        ),
        (
            edit.Levers(crossings={BAB_AL_HAWA: edit.CrossingLever(True, date(2019, 6, 1), 0)}),
            "daily capacity",
        ),
        (
            edit.Levers(crossings={"Atmeh camps": edit.CrossingLever(False)}),
            "not a border crossing",
        ),
        (edit.Levers(new_camps=[edit.NewCamp("Hama", date(2019, 6, 1), 100)]), "cannot take"),
        (edit.Levers(new_camps=[edit.NewCamp("Azaz", date(2019, 6, 1), -5)]), "places"),
        (edit.Levers(ceasefire_from=date(2019, 1, 1)), "ceasefire"),
        (edit.Levers(ceasefire_from=date(2019, 6, 1), ceasefire_factor=1.5), "factor"),
    ],
)
def test_bad_levers_are_refused_and_nothing_is_written(base, tmp_path, levers, said):
    with pytest.raises(ValueError, match=said):
        edit.save_what_if(base, levers, "bad", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../escape", "a b", "x.toml", "/etc/passwd", "é", "x" * 65])
def test_typed_names_are_checked(base, tmp_path, name):
    assert edit.check_name(name)
    with pytest.raises(ValueError, match="letters, digits"):
        edit.save_what_if(base, levers_2019(), name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_never_replaces_a_file(base, tmp_path):
    mine = tmp_path / "taken.toml"
    mine.write_text("# the user's own file\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        edit.save_what_if(base, levers_2019(), "taken", tmp_path)
    assert mine.read_text(encoding="utf-8") == "# the user's own file\n"
    edit.save_what_if(base, levers_2019(), "fresh", tmp_path)
    with pytest.raises(FileExistsError):
        edit.save_what_if(base, edit.Levers(ceasefire_from=date(2019, 6, 1)), "fresh", tmp_path)


def test_saved_file_gives_the_numbers_the_dashboard_showed(base, tmp_path):
    lv = edit.Levers(
        crossings={BAB_AL_HAWA: edit.CrossingLever(True, date(2019, 5, 1), 4000)},
        ceasefire_from=date(2019, 7, 1),
    )
    shown = views.simulate_with_progress(edit.edited_scenario(base, lv), 3, 0.01)
    saved = sim.load_scenario(edit.save_what_if(base, lv, "same_numbers", tmp_path))
    again = sim.simulate(saved, seed=3, population_scale=0.01)
    pd.testing.assert_frame_equal(shown.daily, again.daily)
    pd.testing.assert_frame_equal(shown.locations, again.locations)
    assert shown.daily["crossed_to_turkey"].sum() > 0


def test_progress_is_reported_every_day(base):
    seen = []
    res = views.simulate_with_progress(
        base.truncated(10), 1, 0.01, lambda done, n: seen.append((done, n))
    )
    assert seen == [(d, 10) for d in range(1, 11)]
    plain = sim.simulate(base.truncated(10), seed=1, population_scale=0.01)
    pd.testing.assert_frame_equal(res.daily, plain.daily)


def test_dashboard_without_the_extra_says_how_to_install_it(monkeypatch, capsys):
    from sim.cli import main
    from sim.dashboard import server as dashboard_server

    monkeypatch.setattr(dashboard_server, "available", lambda: False)
    assert main(["dashboard", "--no-open"]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[dashboard]"' in err
    assert "Traceback" not in err


def test_map_camps_and_needs_hold_the_tables_numbers(base):
    from sim.outputs.geo import load_boundaries, place_pcodes

    res = sim.simulate(base.truncated(40), seed=1, population_scale=0.01)
    loc = res.locations
    last = int(loc["day"].max())
    today = loc[loc["day"] == last].copy()
    # the map: displaced staying summed by sub-district (pcode of each place), counted here
    bounds = load_boundaries()
    today["pcode"] = today["location"].map(place_pcodes(base.locations_file))
    today["staying"] = today[list(views.STAYING)].sum(axis=1)
    by_sd = today[today["pcode"].isin(set(bounds.sub_districts))].groupby("pcode")["staying"].sum()
    total = int(by_sd.sum())
    assert total > 0
    pcodes = views.pcodes_of(base.locations_file)
    cap = views.map_caption(loc, last, pcodes)
    assert f"{total:,} displaced people staying in {int((by_sd > 0).sum())} sub-districts" in cap
    top = by_sd.idxmax()
    assert f"most in {bounds.sub_districts[top].name} {int(by_sd[top]):,}" in cap
    fig = views.displaced_map(loc, last, pcodes)
    assert fig.axes[0].texts  # the largest sub-districts are named on the map
    # camps
    camps = views.camps_table(loc, last)
    assert set(camps["place"]) == set(today.loc[today["camp_capacity"] > 0, "location"])
    assert f"{int(camps['capacity'].sum()):,} camp places" in views.camps_caption(loc, last)
    # needs: people (hosted, camps, sites, on the move) x the scenario's standards
    ppl = today.set_index("location")[list(views.STAYING) + ["on_the_move"]].sum(axis=1)
    place = ppl.sort_values(ascending=False, kind="stable").index[0]
    water = int(ppl[place]) * base.needs.get("water_litres_per_person_day", 15.0)
    table = views.needs_markdown(res, last)
    row = next(line for line in table.splitlines() if line.startswith(f"| {place} |"))
    assert row.split(" | ")[2:4] == [f"{int(ppl[place]):,}", f"{water:,.0f}"]
    assert f"**all {int((ppl > 0).sum())} places**" in table
