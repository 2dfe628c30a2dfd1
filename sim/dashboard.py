"""The planners' dashboard: ``idlibsim dashboard`` (needs ``pip install -e ".[dashboard]"``).

A Solara page (the framework of Mesa's SolaraViz) where a planner picks a scenario or
what-if from ``scenarios/``, changes its main levers (border crossings, new camp places,
a ceasefire; the logic is :mod:`sim.scenario_edit`), runs it in the background with a
progress bar, and sees the curves with the UN/OCHA figures, the map of where the
displaced are on a chosen day, and camps and informal sites against capacity, compared
with earlier runs or an ensemble's bands. "Save" writes the edited scenario as a
validated TOML file that ``extends`` the one picked, and the run as a normal results
folder: everything done in the page can be reproduced with ``idlibsim run``.

Runs happen in a background thread so the page stays responsive; population scale 0.1
(one simulated person per 10 people, a few seconds) is proposed for interactive use, the
full population (scale 1) takes longer and about 0.4 GB.

Configuration (set by ``idlibsim dashboard``): ``IDLIBSIM_DASHBOARD_SCENARIOS`` (folder
of scenario files; edited scenarios are saved there), ``IDLIBSIM_DASHBOARD_RESULTS``
(results folder root; ensembles are looked for there).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import solara
import solara.lab

from . import dashboard_views as views
from . import scenario_edit as edit
from .dashboard_server import results_dir, scenarios_dir
from .errors import InputError
from .scenario.loading import Scenario, load_scenario

SCALES = {"0.01": 0.01, "0.1": 0.1, "1": 1.0}  # population scale: person-rows per person
DEFAULT_SCALE = "0.1"  # proposed for interactive use
MAX_RUNS = 6  # runs kept in the page for comparison


def ensembles() -> list[Path]:
    """Ensemble folders directly under the results folder, newest first."""
    from .folders import EnsembleFolder

    root = results_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and EnsembleFolder(p).is_ensemble()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# State (module-level reactives are per browser session in Solara's server)
# --------------------------------------------------------------------------------------

scenario_file = solara.reactive("")
crossings = solara.reactive({})  # name -> {"open": bool, "from": str, "capacity": int}
camps = solara.reactive([])  # [{"location": str, "from": str, "places": int}]
ceasefire_on = solara.reactive(False)
ceasefire_from = solara.reactive("")
ceasefire_factor = solara.reactive(0.2)
scale_choice = solara.reactive(DEFAULT_SCALE)
seed = solara.reactive(1)
runs = solara.reactive([])  # list[views.RunView], oldest first
compare_runs = solara.reactive([])  # run numbers shown beside the latest
ensemble_choice = solara.reactive("")
day = solara.reactive(-1)  # map day; -1: the last day
save_name = solara.reactive("")
message = solara.reactive("")
VIEWS = ["Curves", "Map, camps, needs", "Save"]
view = solara.reactive(VIEWS[0])


def load_base() -> Scenario:
    """The scenario picked: only a file listed in the scenarios folder, never a typed path."""
    listed = {p.name for p in edit.list_scenarios(scenarios_dir())}
    if scenario_file.value not in listed:
        raise ValueError(f"{scenario_file.value!r} is not a scenario file of {scenarios_dir()}")
    return load_scenario(scenarios_dir() / scenario_file.value)


def _try_load() -> tuple[object, str]:
    if not scenario_file.value:
        return None, ""
    try:
        return load_base(), ""
    except (InputError, ValueError) as exc:
        return None, str(exc)


def reset_levers(sc) -> None:
    """Show the scenario's own policy in the levers."""
    pol = edit.crossing_policy(sc)
    crossings.value = {
        n: {
            "open": c.open,
            "from": (c.from_date or sc.start).isoformat(),
            "capacity": int(c.daily_capacity or 2000),
        }
        for n, c in pol.items()
    }
    camps.value = []
    ceasefire_on.value = False
    ceasefire_from.value = sc.start.isoformat()
    ceasefire_factor.value = float(sc.conflict["ceasefire_factor"])
    day.value = -1


def levers_from_inputs(sc) -> tuple[edit.Levers, list[str]]:
    """The levers the inputs describe (only what differs from the scenario) and problems."""
    problems = []
    pol = edit.crossing_policy(sc)
    lv = edit.Levers()
    for name, st in crossings.value.items():
        d = parse_date(st["from"])
        if st["open"] and d is None:
            problems.append(f"{name}: give the opening date as YYYY-MM-DD")
            continue
        want = (
            edit.CrossingLever(True, d, int(st["capacity"] or 0))
            if st["open"]
            else edit.CrossingLever(False)
        )
        if want != pol.get(name):
            lv.crossings[name] = want
    for k, c in enumerate(camps.value, 1):
        d = parse_date(c["from"])
        if d is None:
            problems.append(f"new camp places {k}: give the date as YYYY-MM-DD")
            continue
        lv.new_camps.append(edit.NewCamp(c["location"], d, int(c["places"] or 0)))
    if ceasefire_on.value:
        d = parse_date(ceasefire_from.value)
        if d is None:
            problems.append("ceasefire: give the date as YYYY-MM-DD")
        lv.ceasefire_from = d
        lv.ceasefire_factor = float(ceasefire_factor.value)
    problems += edit.check_levers(sc, lv)
    return lv, problems


# --------------------------------------------------------------------------------------
# Background work
# --------------------------------------------------------------------------------------


@solara.lab.task
def run_task() -> str:
    """Apply the levers, validate and simulate in a background thread (progress 0-100)."""
    try:
        base = load_base()
        lv, problems = levers_from_inputs(base)
        if problems:
            return "Not run: " + "; ".join(problems)
        sc = edit.edited_scenario(base, lv)
    except (InputError, ValueError) as exc:
        return f"Not run: {exc}"
    last = [-1]

    def tick(done: int, n: int) -> None:
        pct = int(100 * done / n)
        if pct != last[0]:
            last[0] = pct
            run_task.progress = pct

    res = views.simulate_with_progress(sc, int(seed.value), SCALES[scale_choice.value], tick)
    number = (runs.value[-1].number + 1) if runs.value else 1
    rv = views.RunView(number, res, edit.describe(lv), base, lv)
    runs.value = [*runs.value, rv][-MAX_RUNS:]
    day.value = -1
    return f"Run {number} done in {res.wall_seconds:.1f} s."


@solara.lab.task
def save_task() -> str:
    """Save the latest run's scenario (TOML, if edited) and its results folder."""
    import sim

    if not runs.value:
        return "Nothing to save: run a scenario first."
    rv = runs.value[-1]
    name = (save_name.value or "").strip()
    try:
        if rv.levers is None or rv.levers.is_empty():
            path = rv.base.path
            said = f"no change to {path.name}: the run uses it as it is"
        else:
            why = edit.check_name(name)
            if why:
                return f"Not saved: scenario name '{name}': {why}"
            path = edit.save_what_if(rv.base, rv.levers, name, scenarios_dir())
            said = f"scenario saved: {path}"
        sc = load_scenario(path)
        r = rv.result
        cmd = [
            "idlibsim",
            "run",
            str(path),
            "--seed",
            str(r.seed),
            "--population-scale",
            f"{r.population_scale:g}",
        ]
        out = sim.run(
            sc,
            seed=r.seed,
            population_scale=r.population_scale,
            results_root=results_dir(),
            command=cmd,
        )
    except FileExistsError as exc:
        return f"Not saved: {exc}. Choose another name."
    except (InputError, ValueError) as exc:
        return f"Not saved: {exc}"
    return f"{said}; run saved: {out.run_dir}. Reproduce with: {' '.join(cmd)}"


# --------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------


@solara.component
def ScenarioPicker():
    files = [p.name for p in edit.list_scenarios(scenarios_dir())]
    if not files:
        solara.Error(f"No scenario files (*.toml) in {scenarios_dir()}")
        return
    if scenario_file.value not in files:
        scenario_file.set(files[0])

    def pick(name: str) -> None:
        scenario_file.set(name)
        try:
            reset_levers(load_base())
            message.set("")
        except (InputError, ValueError) as exc:
            message.set(str(exc))

    solara.Select("Scenario or what-if", values=files, value=scenario_file.value, on_value=pick)


@solara.component
def CrossingLevers(base: Scenario | None = None):
    solara.Markdown("**Border crossings into Turkey** (open for civilians from a date)")
    complex_policy = solara.use_memo(
        lambda: (
            []
            if base is None
            else [
                n for n in edit.crossing_names(base) if not edit.crossing_policy_is_simple(base, n)
            ]
        ),
        dependencies=[str(base.path) if base else ""],
    )
    for name in complex_policy:
        solara.Text(
            f"{name}: this scenario opens and closes it more than once; the lever shows its "
            "first opening, and changing it replaces the whole policy.",
            style={"font-size": "0.85em"},
        )
    for name, st in crossings.value.items():

        def update(key, value, name=name):
            crossings.set({**crossings.value, name: {**crossings.value[name], key: value}})

        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.Checkbox(label=name, value=st["open"], on_value=lambda v, u=update: u("open", v))
            if st["open"]:
                _from_date_and_number(st, update, "capacity", "people a day", "120px")


def _from_date_and_number(
    row: dict[str, Any], update: Callable[[str, Any], None], key: str, label: str, width: str
) -> None:
    """The two inputs of a dated lever: its start date ``row["from"]`` and ``row[key]``."""
    solara.InputText(
        "from (YYYY-MM-DD)",
        value=row["from"],
        on_value=lambda v: update("from", v),
        error=parse_date(row["from"]) is None,
        style={"max-width": "140px"},
    )
    solara.InputInt(
        label, value=row[key], on_value=lambda v: update(key, v), style={"max-width": width}
    )


@solara.component
def CampLevers(base):
    places = solara.use_memo(lambda: edit.camp_places(base), dependencies=[str(base.path)])
    solara.Markdown("**New camp places** (added to what the scenario has from that date)")
    for k, c in enumerate(camps.value):

        def update(key, value, k=k):
            rows = list(camps.value)
            rows[k] = {**rows[k], key: value}
            camps.set(rows)

        def remove(k=k):
            camps.set([r for i, r in enumerate(camps.value) if i != k])

        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.Select(
                "place",
                values=places,
                value=c["location"],
                on_value=lambda v, u=update: u("location", v),
                style={"max-width": "170px"},
            )
            _from_date_and_number(c, update, "places", "places", "110px")
            solara.Button(icon_name="mdi-delete", on_click=remove, text=True)

    def add():
        camps.set(
            [
                *camps.value,
                {"location": places[0], "from": base.start.isoformat(), "places": 20000},
            ]
        )

    solara.Button("Add camp places", icon_name="mdi-plus", on_click=add, outlined=True)


@solara.component
def CeasefireLever():
    solara.Checkbox(
        label="A ceasefire holds from a date to the end",
        value=ceasefire_on.value,
        on_value=ceasefire_on.set,
    )
    if ceasefire_on.value:
        solara.InputText(
            "ceasefire from (YYYY-MM-DD)",
            value=ceasefire_from,
            error=parse_date(ceasefire_from.value) is None,
        )
        solara.SliderFloat(
            "intensity left (0 calm, 1 not respected)",
            value=ceasefire_factor,
            min=0.0,
            max=1.0,
            step=0.05,
        )
        solara.Text("Captures on or after that date are dropped.", style={"font-size": "0.85em"})


@solara.component
def RunControls():
    solara.Markdown("**Population scale** (simulated person-rows per person)")
    solara.ToggleButtonsSingle(value=scale_choice, values=list(SCALES), classes=["idl-scale"])
    solara.Text(
        {
            "0.01": "one row per 100 people: a rough look, about a second",
            "0.1": "one row per 10 people: recommended here, a few seconds, the same curves "
            "within noise",
            "1": "everyone: slower (seconds to a minute) and about 0.4 GB; runs in the background",
        }[scale_choice.value],
        style={"font-size": "0.85em"},
    )
    solara.InputInt("Seed", value=seed)
    solara.Button(
        "Run",
        icon_name="mdi-play",
        color="primary",
        on_click=run_task,
        disabled=run_task.pending,
        classes=["idl-run"],
    )
    if run_task.pending:
        pct = run_task.progress or 0
        solara.ProgressLinear(pct or True)
        solara.Text(f"Running: {pct:.0f}% of the days", classes=["idl-progress"])
    elif run_task.finished and run_task.value:
        solara.Text(run_task.value, classes=["idl-status"])
    elif run_task.error:
        solara.Error(f"The run failed: {run_task.exception}")


@solara.component
def Curves(shown: list, ens_curves: dict):
    latest = shown[-1]
    solara.Text(views.curves_caption(latest), classes=["idl-curve-caption"])
    table = views.observed_table(latest)
    if table:
        solara.Markdown(
            "UN/OCHA figures of the period and this run, counted over the same days:\n\n" + table
        )
    key = [[rv.number for rv in shown], ensemble_choice.value]
    figs = solara.use_memo(
        lambda: [views.curves_figure(shown, m, ens_curves.get(m)) for m in views.CURVE_METRICS],
        dependencies=key,
    )
    for fig in figs:
        solara.FigureMatplotlib(fig, format="png", dependencies=key)


@solara.component
def MapAndCamps(rv):
    loc = rv.result.locations
    n = int(loc["day"].max()) + 1
    d = n - 1 if day.value < 0 or day.value >= n else day.value
    dates = sorted(set(loc["date"]))
    solara.SliderInt(f"Day: {dates[d]}", value=d, min=0, max=n - 1, on_value=day.set)
    key = [rv.number, d]
    pcodes = views.pcodes_of(rv.result.scenario.locations_file)
    map_fig, camps_fig = solara.use_memo(
        lambda: (
            views.displaced_map(loc, d, pcodes, rv.label),
            views.camps_figure(loc, d),
        ),
        dependencies=key,
    )
    solara.Text(views.map_caption(loc, d, pcodes), classes=["idl-map-caption"])
    solara.FigureMatplotlib(map_fig, format="png", dependencies=key)
    solara.Text(views.camps_caption(loc, d), classes=["idl-camps-caption"])
    solara.FigureMatplotlib(camps_fig, format="png", dependencies=key)
    with solara.Column(classes=["idl-needs"]):
        solara.Text(views.needs_caption(rv.result, d), classes=["idl-needs-caption"])
        solara.Markdown(views.needs_markdown(rv.result, d))


@solara.component
def Compare():
    nums = [rv.number for rv in runs.value[:-1]]
    if nums:
        solara.SelectMultiple(
            "Compare the latest run with earlier runs",
            values=compare_runs.value,
            all_values=nums,
            on_value=compare_runs.set,
        )
    found = [""] + [p.name for p in ensembles()]
    if len(found) > 1:
        solara.Select(
            f"... and with an ensemble's bands (from {results_dir()})",
            values=found,
            value=ensemble_choice,
        )


@solara.component
def Save():
    if not runs.value:
        return
    rv = runs.value[-1]
    edited = rv.levers is not None and not rv.levers.is_empty()
    if edited:
        if not save_name.value:
            save_name.set(f"{rv.base.name}_whatif_{rv.number}"[:64])
        solara.InputText(
            f"Name of the what-if (saved as {scenarios_dir()}/NAME.toml)",
            value=save_name,
            error=edit.check_name(save_name.value) or False,
        )
    solara.Button(
        f"Save run {rv.number}" + (" and its scenario" if edited else ""),
        icon_name="mdi-content-save",
        on_click=save_task,
        disabled=save_task.pending,
        outlined=True,
    )
    if save_task.pending:
        solara.ProgressLinear(True)
    elif save_task.finished and save_task.value:
        solara.Text(save_task.value, classes=["idl-save-status"])


@solara.component
def Page():
    solara.Title("idlibsim dashboard")
    with solara.AppBar():
        solara.AppBarTitle("idlibsim: displacement what-ifs, north-west Syria")
    with solara.Sidebar():
        ScenarioPicker()
        base, error = solara.use_memo(_try_load, dependencies=[scenario_file.value])
        if error:
            solara.Error(error)
        if base is not None:
            if not crossings.value:
                reset_levers(base)
            solara.Markdown(f"*{base.title}*  \n{base.start} to {base.end}")
            CrossingLevers(base)
            CampLevers(base)
            CeasefireLever()
            RunControls()
        if message.value:
            solara.Warning(message.value)

    if not runs.value:
        solara.Markdown(
            "### Pick a scenario, change its levers, press **Run**\n"
            "Scale 0.1 (one simulated person per 10 people) takes a few seconds and gives the "
            "same curves within noise; the full population takes longer. Runs happen in the "
            "background: the page stays usable."
        )
        return
    latest = runs.value[-1]
    shown = [rv for rv in runs.value if rv.number in compare_runs.value and rv is not latest]
    shown = [*shown, latest]
    ens_curves = {}
    if ensemble_choice.value and ensemble_choice.value in {p.name for p in ensembles()}:
        from .compare import load_curves

        folder = results_dir() / ensemble_choice.value
        try:
            ens_curves = {m: load_curves([folder], m) for m in views.CURVE_METRICS}
        except (InputError, ValueError) as exc:
            solara.Warning(f"Ensemble {folder} cannot be shown: {exc}")
    solara.Markdown(f"**{latest.label}**")
    # one view at a time: only what is shown is drawn, and nothing slides in
    solara.ToggleButtonsSingle(value=view, values=VIEWS, classes=["idl-views"])
    if view.value == "Curves":
        Compare()
        Curves(shown, ens_curves)
    elif view.value == "Map, camps, needs":
        MapAndCamps(latest)
    else:
        Save()


@solara.component
def Live():
    """Mesa's SolaraViz stepping the model day by day (sim/dashboard_live.py)."""
    from .dashboard_live import LivePage

    LivePage()


routes = [
    solara.Route(path="/", component=Page, label="Run and compare"),
    solara.Route(path="day-by-day", component=Live, label="Day by day (Mesa SolaraViz)"),
]
