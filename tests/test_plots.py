"""Plots: each figure has a title, labelled axes and a legend; run folders get four PNGs."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from sim.outputs import plots
from sim.outputs.folders import RunFolder

N_DAYS = 12
START = date(2019, 5, 1)
DATES = [(START + timedelta(days=k)).isoformat() for k in range(N_DAYS)]

# name, kind, district, lat, lon, residents at start, camp capacity, government_held at start/end
PLACES = [
    ("Front Town", "sub_district", "South", 35.50, 36.60, 10_000, 0, (0, 1)),
    ("Middle Town", "sub_district", "Centre", 35.90, 36.65, 20_000, 0, (0, 0)),
    ("Border Camp", "camp_cluster", "North", 36.30, 36.68, 2_000, 3_000, (0, 0)),
    ("Small Camp", "camp_cluster", "North", 36.25, 36.72, 500, 1_000, (0, 0)),
    ("Crossing", "crossing", "North", 36.23, 36.69, 0, 0, (0, 0)),
    ("Turkey", "abroad", "Turkey", 36.35, 36.55, 0, 0, (0, 0)),
    ("Hama", "government", "Hama", 35.13, 36.76, 0, 0, (1, 1)),
]
ROADS = [
    ("Front Town", "Middle Town", 50.0),
    ("Middle Town", "Border Camp", 45.0),
    ("Middle Town", "Small Camp", 40.0),
    ("Border Camp", "Crossing", 5.0),
    ("Crossing", "Turkey", 8.0),
    ("Hama", "Front Town", 40.0),
]


def make_daily() -> pd.DataFrame:
    k = np.arange(N_DAYS)
    new = np.where(k == 0, 0, 1000 - 60 * k)
    moves = np.cumsum(new)
    people = (moves * 0.9).astype(int)
    return pd.DataFrame(
        {
            "date": DATES,
            "day": k,
            "population": 32_500,
            "at_home": 30_000 - people,
            "on_the_move": 100,
            "in_host_community": people // 3,
            "in_camps": 2_500 + people // 3,
            "in_informal_sites": people // 4,
            "displaced_now": 2_500 + people,
            "returned": 0,
            "abroad": 0,
            "new_displacements": new,
            "displacements_cumulative": moves,
            "new_people_displaced": np.diff(people, prepend=0),
            "displaced_people_cumulative": people,
            "returns_started": 0,
            "returns_cumulative": 0,
            "crossed_to_turkey": 0,
            "camp_capacity": 4_000,
            "camp_overflow": people // 4,
        }
    )


def make_locations() -> pd.DataFrame:
    rows = []
    for d, day in enumerate(DATES):
        for name, kind, district, lat, lon, res, cap, (gov0, gov1) in PLACES:
            gone = 800 * d if name == "Front Town" else 0
            in_camp = min(cap, int(res * (1 + 0.1 * d))) if cap else 0
            informal = 150 * d if name == "Border Camp" else 0
            rows.append(
                {
                    "date": day,
                    "day": d,
                    "location": name,
                    "kind": kind,
                    "district": district,
                    "lat": lat,
                    "lon": lon,
                    "government_held": gov1 if d == N_DAYS - 1 else gov0,
                    "intensity": 0.5 if name == "Front Town" else 0.0,
                    "fear": 0.5 if name == "Front Town" else 0.0,
                    "residents": max(res - gone, 0) + informal,
                    "at_home": max(res - gone, 0) if not cap else 0,
                    "returned": 0,
                    "in_host_community": 0,
                    "in_camp": in_camp,
                    "in_informal_site": informal,
                    "on_the_move": 0,
                    "abroad": 0,
                    "arrivals": 300 if cap else 0,
                    "departures": 800 if name == "Front Town" and d else 0,
                    "returns_home": 0,
                    "displaced_from_here": gone,
                    "host_capacity": 1000,
                    "camp_capacity": cap,
                    "camp_occupancy_pct": 100.0 * in_camp / cap if cap else np.nan,
                }
            )
    return pd.DataFrame(rows)


def make_routes() -> pd.DataFrame:
    rows = []
    for d, day in enumerate(DATES):
        for i, (a, b, km) in enumerate(ROADS):
            rows.append(
                {
                    "date": day,
                    "day": d,
                    "from": a,
                    "to": b,
                    "road": "M5" if i < 2 else "",
                    "km": km,
                    "people": (400 - 60 * i) * (d > 0) if i < 4 else 0,
                }
            )
    return pd.DataFrame(rows)


def make_observed() -> pd.DataFrame:
    rows = [
        ("2019-05-05", "2019-05-01", 3000, "movements", "fit"),
        ("2019-05-10", "2019-04-29", 7000, "movements", "fit"),
        ("2019-05-08", "2019-05-01", 4000, "people", "check"),
        ("2019-05-09", "2019-01-01", 90000, "movements", "context"),
        ("2019-05-11", "2019-04-01", 50000, "people", "context"),
    ]
    df = pd.DataFrame(rows, columns=["as_of", "period_start", "value", "measure", "use"])
    for c in ("as_of", "period_start"):
        df[c] = pd.to_datetime(df[c]).dt.date
    df["source"] = "test"
    return df


def legend_texts(fig: Figure) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def all_text(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.texts]
        texts += [ax.get_title(loc) for loc in ("left", "center", "right")]
    return "\n".join([fig.get_suptitle(), *texts])


def check_figure(fig: Figure, title: str = "Test scenario") -> None:
    assert isinstance(fig, Figure)
    assert fig.get_suptitle().strip()
    assert title in all_text(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert visible
    assert any(ax.get_xlabel() for ax in visible)
    assert any(ax.get_ylabel() for ax in visible)
    assert legend_texts(fig)


def observed_offsets(fig: Figure) -> np.ndarray:
    ax = fig.axes[0]
    pts = [c.get_offsets() for c in ax.collections if (c.get_gid() or "").startswith("observed")]
    return np.concatenate(pts) if pts else np.empty((0, 2))


# --------------------------------------------------------------------------------------


def test_format_people():
    assert plots.format_people(0) == "0"
    assert plots.format_people(950) == "950"
    assert plots.format_people(2500) == "2.5k"
    assert plots.format_people(100_000) == "100k"
    assert plots.format_people(1_250_000) == "1.25M"


def test_cumulative_displacement_draws_fit_and_check_but_not_context():
    fig = plots.cumulative_displacement(make_daily(), make_observed(), title="Test scenario")
    check_figure(fig)
    assert len(fig.axes[0].get_lines()) == 3  # movements, people, displaced now
    pts = observed_offsets(fig)
    assert len(pts) == 3  # two fit + one check; the two context figures are left out
    assert 90000 not in pts[:, 1] and 50000 not in pts[:, 1]
    # check points are hollow, fit points filled
    ax = fig.axes[0]
    check = [c for c in ax.collections if c.get_gid() == "observed-people-check"][0]
    fit = [c for c in ax.collections if c.get_gid() == "observed-movements-fit"][0]
    assert tuple(check.get_facecolors()[0]) == to_rgba("white")
    assert tuple(fit.get_facecolors()[0]) != to_rgba("white")
    assert "a person displaced twice counts twice" in all_text(fig)
    assert "no UN/OCHA figures" not in all_text(fig)


def test_cumulative_displacement_without_observed_says_so():
    for observed in (None, make_observed().iloc[3:]):  # none, or only context figures
        fig = plots.cumulative_displacement(make_daily(), observed, title="Test scenario")
        check_figure(fig)
        assert len(observed_offsets(fig)) == 0
        assert "no UN/OCHA figures for this period" in all_text(fig)


def test_observed_counted_from_a_later_date_is_lifted_onto_the_curve():
    daily = make_daily()
    obs = make_observed().iloc[:1].copy()
    obs["period_start"] = date(2019, 5, 9)
    obs["as_of"] = date(2019, 5, 11)
    fig = plots.cumulative_displacement(daily, obs, title="Test scenario")
    base = daily.set_index("date").loc["2019-05-08", "displacements_cumulative"]
    assert observed_offsets(fig)[0, 1] == pytest.approx(3000 + base)


def test_displaced_by_district_names_top_districts_and_stacks_the_rest():
    loc = make_locations()
    extra = []
    for i in range(10):  # ten more districts, each with one displaced town
        t = loc[loc["location"] == "Front Town"].copy()
        t["location"] = f"Town {i}"
        t["district"] = f"District {i} (SY07{i:02d})"
        t["displaced_from_here"] = t["displaced_from_here"] * (i + 1) / 10
        extra.append(t)
    loc = pd.concat([loc, *extra], ignore_index=True)
    fig = plots.displaced_by_district(loc, title="Test scenario")
    check_figure(fig)
    labels = legend_texts(fig)
    assert any(lab.startswith("Other districts (3)") for lab in labels)
    assert "District 9" in labels  # admin code dropped from the label
    assert not any("SY07" in lab for lab in labels)


def test_camp_occupancy_one_panel_per_camp_fullest_first():
    fig = plots.camp_occupancy(make_locations(), title="Test scenario")
    check_figure(fig)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2
    assert panels[0].get_title(loc="left").startswith("Border Camp")
    assert "% of capacity" in panels[0].get_title(loc="left")
    assert "Formal camp capacity" in legend_texts(fig)


def test_camp_occupancy_without_camps():
    loc = make_locations()
    loc["camp_capacity"] = 0
    fig = plots.camp_occupancy(loc, title="Test scenario")
    check_figure(fig)
    assert "no place has formal camp capacity" in all_text(fig)


def test_flow_map_legend_and_labels():
    fig = plots.flow_map(make_locations(), make_routes(), title="Test scenario")
    check_figure(fig)
    labels = legend_texts(fig)
    assert any("Captured in the run" in lab for lab in labels)  # Front Town
    assert any("Government-held throughout" in lab for lab in labels)  # Hama
    assert "Camp cluster" in labels and "Border crossing" in labels
    text = all_text(fig)
    assert "Schematic map" in text
    assert "km" in text  # scale bar
    assert "Front Town" in text and "Crossing" in text  # top departures, crossings labelled


def write_run_folder(folder, title="Test scenario"):
    folder.mkdir(parents=True, exist_ok=True)
    make_daily().to_csv(folder / "daily.csv", index=False)
    make_locations().to_csv(folder / "locations.csv", index=False)
    make_routes().to_csv(folder / "routes.csv", index=False)
    (folder / "manifest.json").write_text(json.dumps({"scenario_title": title}))


def test_save_run_plots_writes_four_identical_pngs(tmp_path):
    run = tmp_path / "run"
    write_run_folder(run)
    paths = plots.save_run_plots(run)
    assert [p.name for p in paths] == list(plots.PLOT_FILES)
    first = {}
    for p in paths:
        assert p.parent == run / "plots"
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        first[p.name] = data
    again = plots.save_run_plots(run)
    for p in again:
        assert p.read_bytes() == first[p.name], f"{p.name} differs between two saves"


def test_title_and_observed_file_from_manifest(tmp_path):
    run = tmp_path / "run"
    write_run_folder(run)
    obs = tmp_path / "observed.csv"
    make_observed().to_csv(obs, index=False)
    manifest = {"scenario_title": "From manifest", "scenario": {"scenario": {"observed": str(obs)}}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert RunFolder(run).title_and_observed() == ("From manifest", obs)
    (run / "manifest.json").unlink()
    assert RunFolder(run).title_and_observed() == ("", None)


def test_a_figure_prepared_ahead_is_drawn_to_the_same_bytes(tmp_path):
    fresh = plots.save_png(plots.camp_occupancy(make_locations(), "T"), tmp_path / "a.png")
    nrows, ncols = plots._grid(2)  # the two places with camps
    try:
        plots.prepare_panels(4.2 * ncols + 1.8, 2.35 * nrows + 1.9, nrows, ncols)
        assert sum(map(len, plots._PREPARED.values())) == 1
        prepared = plots.save_png(plots.camp_occupancy(make_locations(), "T"), tmp_path / "b.png")
        assert sum(map(len, plots._PREPARED.values())) == 0  # taken, not made again
    finally:
        plots._PREPARED.clear()
    assert prepared.read_bytes() == fresh.read_bytes()


def test_png_holds_the_drawn_pixels_and_the_resolution(tmp_path):
    from PIL import Image

    fig = plots.cumulative_displacement(make_daily(), make_observed(), "T")
    path = plots.save_png(fig, tmp_path / "f.png")
    drawn = np.asarray(fig.canvas.buffer_rgba())
    with Image.open(path) as im:
        assert im.mode == "RGB"
        assert round(im.info["dpi"][0]) == plots.DPI
        assert (np.asarray(im) == drawn[..., :3]).all()
    assert (drawn[..., 3] == 255).all()  # opaque: nothing lost with the alpha channel


def test_fixed_layout_margins_are_those_the_labels_take():
    """The margins _fit_grid leaves are what the drawn decorations take (to a pixel)."""
    fig = plots.displaced_by_district(make_locations(), "T")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    box, tight = ax.get_window_extent(renderer), ax.get_tightbbox(renderer)
    pt = 72 / fig.dpi
    left, _right, bottom, _top = plots._axes_margins_pt(ax, box.width * pt, box.height * pt)
    assert abs(left - (box.x0 - tight.x0) * pt) < 1.0
    assert abs(bottom - (box.y0 - tight.y0) * pt) < 1.0


def test_camps_full_within_days_of_each_other_are_named_apart():
    from sim.outputs.report import displaced_by_setting

    camps = [{"location": f"Camp cluster {k}", "full_from": DATES[2 + k % 3]} for k in range(7)]
    fig = displaced_by_setting(make_daily(), camps, "T")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in fig.axes[0].texts if t.get_text().endswith(" full")]
    assert len(boxes) == 7
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert min(a.x1, b.x1) <= max(a.x0, b.x0) or min(a.y1, b.y1) <= max(a.y0, b.y0)


def test_map_labels_stay_off_the_names_already_on_the_map():
    """A place label does not cover a sea or country name drawn before it (the 2019 run's
    "Madiq Castle" label sat on "Mediterranean Sea")."""
    from sim.outputs import plots as P

    fig = P._new_figure(4, 4, layout=None)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    sea = ax.text(5.3, 4.9, "Mediterranean\nSea", fontsize=7)
    # the label's first choice, right of its marker, is where the sea's name is
    P._place_labels(fig, ax, [(5.0, 5.0, "Madiq Castle 36.4k", 0.5)], [(5.0, 5.0, 0.5)])
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    (label,) = [t for t in ax.texts if t is not sea]
    a, b = label.get_window_extent(r), sea.get_window_extent(r)
    assert min(a.x1, b.x1) <= max(a.x0, b.x0) or min(a.y1, b.y1) <= max(a.y0, b.y0)
