"""The planners' dashboard (sim/dashboard/page.py): its components under Solara's test renderer,
and the whole page end to end in headless Chromium driven by Playwright.

Skipped, with the reason, when the ``dashboard`` extra (Solara), Playwright or Chromium is
missing. The scenario-edit logic behind the page is tested in test_scenario_edit.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

solara = pytest.importorskip(
    "solara", reason='the dashboard extra is not installed (pip install -e ".[dashboard]")'
)

import sim  # noqa: E402
from sim.dashboard import scenario_edit as edit  # noqa: E402
from sim.dashboard import server as dashboard_server  # noqa: E402
from sim.dashboard import views  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("IDLIBSIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_TIMEOUT_MS = 240_000  # generous: the machine may be shared and the first run imports a lot


@pytest.fixture
def scenarios_copy(tmp_path) -> Path:
    """The project's scenarios in a temporary folder (the page saves what-ifs there)."""
    dst = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", dst)
    return dst


# --------------------------------------------------------------------------------------
# Components (Solara's test renderer, no browser)
# --------------------------------------------------------------------------------------


def test_page_shows_the_scenario_policy_in_its_levers(scenarios_copy, monkeypatch):
    import ipyvuetify as v

    from sim.dashboard import page as dashboard

    monkeypatch.setenv(dashboard_server.SCENARIOS_ENV, str(scenarios_copy))
    dashboard.scenario_file.set("whatif_2019_border_open.toml")
    base = sim.load_scenario(scenarios_copy / "whatif_2019_border_open.toml")
    dashboard.reset_levers(base)
    box, rc = solara.render(dashboard.CrossingLevers(), handle_error=False)
    boxes = rc.find(v.Checkbox).widgets
    labels = {w.label: w.v_model for w in boxes}
    assert labels["Bab al-Hawa crossing"] is True
    assert labels["Bab al-Salameh crossing"] is True
    dates = [w.v_model for w in rc.find(v.TextField, label="from (YYYY-MM-DD)").widgets]
    assert dates == ["2019-06-01", "2019-06-01"]
    # nothing changed yet: the levers are empty, so a run uses the file as it is
    lv, problems = dashboard.levers_from_inputs(base)
    assert problems == [] and lv.is_empty()
    # the planner closes Bab al-Hawa: one lever
    rc.find(v.Checkbox, label="Bab al-Hawa crossing").widget.v_model = False
    lv, problems = dashboard.levers_from_inputs(base)
    assert problems == []
    assert lv.crossings == {"Bab al-Hawa crossing": edit.CrossingLever(False)}
    # a bad date is reported, not run
    dashboard.ceasefire_on.set(True)
    dashboard.ceasefire_from.set("1 June")
    lv, problems = dashboard.levers_from_inputs(base)
    assert any("YYYY-MM-DD" in p for p in problems)
    rc.close()
    dashboard.ceasefire_on.set(False)


def test_live_page_lists_the_places_from_the_models_location_agents(scenarios_copy, monkeypatch):
    from sim.dashboard import live as dashboard_live

    monkeypatch.setenv(dashboard_server.SCENARIOS_ENV, str(scenarios_copy))
    model = dashboard_live.LiveModel("idlib_2019.toml", 1, 0.01)
    before = views.places_now(model.places)  # people already in camps at the start
    assert before["in_camp"].sum() == model.status_totals()["in_camp"] > 0
    for _ in range(45):
        model.step()
    # the table is what the agents carry, which is what locations.csv says of the last day
    loc = model.locations()
    last = loc[loc["day"] == loc["day"].max()]
    staying = last["in_host_community"] + last["in_camp"] + last["in_informal_site"]
    top = last.assign(staying=staying).sort_values(["staying", "location"], ascending=[False, True])
    table = views.places_now(model.places)
    assert table["place"].head(5).tolist() == top["location"].head(5).tolist()
    assert table["displaced_staying"].head(5).tolist() == top["staying"].head(5).tolist()
    text = views.places_markdown(model.places)
    first = top.iloc[0]
    assert f"| {first.location} | {views.people(first.staying)} |" in text
    model.close()


# --------------------------------------------------------------------------------------
# End to end in a browser
# --------------------------------------------------------------------------------------


def _browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> bool:
    """Poll the server until it answers (True); False if it exited because its port was
    taken meanwhile; fail with its log if it exits otherwise or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if "address already in use" in log.read_text().lower():
                return False
            pytest.fail(f"the dashboard server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)  # a poll interval, not a wait for a state
    pytest.fail(f"the dashboard server did not answer within {seconds:.0f} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def server(tmp_path, scenarios_copy):
    results = tmp_path / "results"
    log = tmp_path / "server.log"
    # A port found free here can be taken by another process (another suite on the machine)
    # before the server binds it: the server then exits saying so, and gets another port.
    for _ in range(5):
        port = _free_port()
        cmd = [sys.executable, "-m", "sim", "dashboard", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--no-open", "--scenarios", str(scenarios_copy), "--results", str(results)]
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}/"
        try:
            serving = _wait_until_serving(url, proc, log, 180)
        except BaseException:
            _stop(proc)
            raise
        if serving:
            break
        _stop(proc)
    else:
        pytest.fail(
            f"five ports in a row were taken before the server bound them:\n{log.read_text()}"
        )
    try:
        yield {"url": url, "scenarios": scenarios_copy, "results": results}
    finally:
        _stop(proc)


@pytest.mark.slow
def test_planner_runs_a_what_if_sees_curves_and_map_and_saves_it(server, tmp_path):
    sync_playwright = _browser()
    from playwright.sync_api import expect

    # What the page must show, computed here with the public API.
    base = sim.load_scenario(server["scenarios"] / "idlib_2019.toml")
    levers = edit.Levers(
        crossings={"Bab al-Hawa crossing": edit.CrossingLever(True, date(2019, 6, 1), 3000)}
    )
    expected = views.RunView(
        1,
        sim.simulate(edit.edited_scenario(base, levers), seed=1, population_scale=0.01),
        edit.describe(levers),
        base,
        levers,
    )
    loc = expected.result.locations
    last = int(loc["day"].max())
    pcodes = views.pcodes_of(base.locations_file)
    # needs.csv semantics, counted here: the place with most displaced people (hosted, in
    # camps, in informal sites, on the move) on the last day, times the water standard
    today = loc[loc["day"] == last].set_index("location")
    displaced = today[["in_host_community", "in_camp", "in_informal_site", "on_the_move"]].sum(
        axis=1
    )
    most = displaced.sort_values(ascending=False, kind="stable").index[0]
    water = int(displaced[most]) * base.needs["water_litres_per_person_day"]

    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1150})
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        expect.set_options(timeout=PAGE_TIMEOUT_MS)
        page.goto(server["url"])
        expect(page.get_by_text("Population scale")).to_be_visible()

        # levers: open Bab al-Hawa from 1 June at 3,000 a day; scale 0.01
        page.get_by_text("Bab al-Hawa crossing", exact=True).click()
        when = page.get_by_label("from (YYYY-MM-DD)")
        expect(when).to_have_count(1)
        when.fill("2019-06-01")
        when.press("Enter")
        per_day = page.get_by_label("people a day")
        per_day.fill("3000")
        per_day.press("Enter")
        page.get_by_role("button", name="0.01", exact=True).click()
        page.get_by_role("button", name="Run", exact=True).click()

        # curves: the headline numbers of this very run, and two figures
        caption = page.locator(".idl-curve-caption")
        expect(caption).to_have_text(views.curves_caption(expected))
        expect(page.get_by_text(expected.label, exact=True)).to_be_visible()
        expect(page.get_by_text("Run 1 done")).to_be_visible()
        obs = expected.result.summary["observed"][-1]
        expect(page.locator("table")).to_contain_text(f"{obs['model']:,}")
        figures = page.locator("img")
        expect(figures).to_have_count(2)
        page.wait_for_function(
            "() => [...document.images].filter(i => i.complete && i.naturalWidth > 300).length >= 2"
        )
        page.screenshot(path=tmp_path / "dashboard_curves.png", full_page=True)

        # map, camps and needs: the last day, then the first day with the slider
        page.get_by_role("button", name="Map, camps, needs").click()
        map_caption = page.locator(".idl-map-caption")
        expect(map_caption).to_have_text(views.map_caption(loc, last, pcodes))
        expect(map_caption).to_contain_text("sub-districts; most in")
        expect(page.locator(".idl-camps-caption")).to_have_text(views.camps_caption(loc, last))
        row = page.locator(".idl-needs tr", has=page.get_by_role("cell", name=most, exact=True))
        expect(row.locator("td").nth(2)).to_have_text(f"{int(displaced[most]):,}")
        expect(row.locator("td").nth(3)).to_have_text(f"{water:,.0f}")
        page.wait_for_function(
            "() => [...document.images].filter(i => i.complete && i.naturalWidth > 300"
            " && i.offsetParent !== null).length >= 2"
        )
        page.screenshot(path=tmp_path / "dashboard_map.png", full_page=True)
        slider = page.get_by_role("slider")
        slider.focus()
        slider.press("Home")
        expect(map_caption).to_have_text(views.map_caption(loc, 0, pcodes))

        # save: the what-if TOML and the results folder, reproducible with the CLI
        page.get_by_role("button", name="Save", exact=True).click()
        name = page.get_by_label("Name of the what-if", exact=False)
        name.fill("e2e_whatif")
        name.press("Enter")
        page.get_by_role("button", name="Save run 1 and its scenario").click()
        expect(page.locator(".idl-save-status")).to_contain_text("Reproduce with: idlibsim run")

        # day by day: Mesa's SolaraViz steps the model (the saved what-if is listed too)
        page.get_by_role("tab", name="day-by-day").click()
        step = page.get_by_role("button", name="Step", exact=True)
        step.click()
        live = page.locator(".idl-live-caption")
        expect(live).to_contain_text(f"On {base.start}:")
        step.click()
        expect(live).to_contain_text(f"On {date.fromordinal(base.start.toordinal() + 1)}:")
        page.screenshot(path=tmp_path / "dashboard_day_by_day.png")
        browser.close()
    elapsed = time.monotonic() - t0

    saved = server["scenarios"] / "e2e_whatif.toml"
    assert 'extends = "idlib_2019.toml"' in saved.read_text(encoding="utf-8")
    assert edit.same_scenario(sim.load_scenario(saved), edit.edited_scenario(base, levers)) == []
    runs = list((server["results"] / "e2e_whatif").iterdir())
    assert len(runs) == 1 and (runs[0] / "manifest.json").is_file()
    daily = pd.read_csv(runs[0] / "daily.csv")
    assert daily["displacements_cumulative"].tolist() == (
        expected.result.daily["displacements_cumulative"].tolist()
    )
    print(f"end-to-end in the browser: {elapsed:.1f} s")


def test_compare_two_runs_and_an_ensembles_bands(tmp_path, monkeypatch):
    from sim.analysis.compare import load_curves
    from sim.analysis.ensemble import run_ensemble
    from sim.dashboard import page as dashboard

    base = sim.load_scenario(ROOT / "scenarios" / "idlib_2019.toml").truncated(30)
    ens = run_ensemble([base], replicates=2, population_scale=0.01, out=tmp_path / "ens_small")
    monkeypatch.setenv(dashboard_server.RESULTS_ENV, str(tmp_path))
    assert dashboard.ensembles() == [tmp_path / "ens_small"]
    lv = edit.Levers(ceasefire_from=date(2019, 5, 5), ceasefire_factor=0.0)
    first = views.RunView(1, sim.simulate(base, seed=1, population_scale=0.01), [], base)
    second = views.RunView(
        2,
        views.simulate_with_progress(edit.edited_scenario(base, lv), 1, 0.01),
        edit.describe(lv),
        base,
        lv,
    )
    metric = "displacements_cumulative"
    fig = views.curves_figure([first, second], metric, load_curves([ens.folder], metric))
    legend = " ".join(
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    )
    assert "Run 1: idlib_2019 (scale 0.01)" in legend
    assert "Run 2: idlib_2019 + ceasefire from 2019-05-05 (intensities x0)" in legend
    assert base.label in legend  # the ensemble's scenario, drawn with its bands
    assert len(fig.axes) >= 2  # with two or more scenarios: the differences panel
    # a ceasefire with nothing left of the fighting: fewer movements than the first run
    assert second.result.summary["displacements"] < first.result.summary["displacements"]


def test_dashboard_refuses_a_bad_folder_before_starting(tmp_path, capsys):
    from sim.cli import main

    assert main(["dashboard", "--no-open", "--scenarios", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "is not a folder" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["dashboard", "--no-open", "--scenarios", str(tmp_path / "empty")]) == 2
    assert "holds no scenario file" in capsys.readouterr().err
