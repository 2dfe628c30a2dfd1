"""The dashboard's "day by day" page: Mesa's own SolaraViz stepping the model live.

Mesa's SolaraViz drives a :class:`~sim.model.DisplacementModel` one day per step (Step,
Play, Reset in the sidebar), with Mesa's plot component reading the model's
DataCollector, a map of where the displaced are staying redrawn each step and a table of
the places read from the model's ``Location`` agents. Only the
SolaraViz API that Mesa 3.3 and 3.5 share is used: ``SolaraViz(model, components=...,
model_params=..., name=...)``, ``make_plot_component(measure, page=...)`` and
``mesa.visualization.utils.update_counter``.

SolaraViz re-creates the model from keyword parameters on Reset. Mesa 3.5 also passes its
own experiment ``scenario`` object to a model whose ``__init__`` takes a ``scenario``
parameter, which ours does, so the page steps :class:`LiveModel`, which is keyed by a
scenario *file name* instead.
"""

from __future__ import annotations

import solara
from mesa.visualization import SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter

from . import dashboard_views as views
from .dashboard_server import scenarios_dir
from .model import DisplacementModel
from .scenario.loading import load_scenario
from .scenario_edit import list_scenarios

LIVE_SCALES = [0.01, 0.1]  # person-rows per person; stepping redraws every day


class LiveModel(DisplacementModel):
    """The displacement model of a scenario file in the dashboard's scenarios folder."""

    def __init__(
        self, scenario_file: str = "idlib_2019.toml", seed: int = 1, population_scale: float = 0.01
    ):
        files = {p.name for p in list_scenarios(scenarios_dir())}
        if scenario_file not in files:  # only the listed files: never a typed path
            raise ValueError(f"unknown scenario file {scenario_file!r}")
        super().__init__(
            load_scenario(scenarios_dir() / scenario_file),
            seed=int(seed),
            population_scale=float(population_scale),
        )


@solara.component
def LiveMap(model: LiveModel):
    """Where the displaced are staying on the model's latest day (redrawn every step)."""
    update_counter.get()
    if model.day <= model.config.report_offset:
        solara.Text("Press Step or Play: the map shows the latest simulated day.")
        return
    loc = model.locations()
    last = int(loc["day"].max())
    pcodes = views.pcodes_of(model.config.locations_file)
    solara.Text(views.map_caption(loc, last, pcodes), classes=["idl-live-caption"])
    solara.FigureMatplotlib(
        views.displaced_map(loc, last, pcodes, f"{model.config.name}, day by day"),
        format="png",
        dependencies=[model.day, id(model)],
    )


@solara.component
def LivePlaces(model: LiveModel):
    """The places with most displaced people now, read from the model's Location agents."""
    update_counter.get()
    solara.Markdown(views.places_markdown(model.places))


@solara.component
def LivePage():
    files = [p.name for p in list_scenarios(scenarios_dir())]
    first = "idlib_2019.toml" if "idlib_2019.toml" in files else files[0]
    model = solara.use_memo(lambda: LiveModel(first, 1, LIVE_SCALES[0]), dependencies=[])
    SolaraViz(
        model,
        components=[
            make_plot_component(
                {
                    "displacements_cumulative": "tab:blue",
                    "displaced_people_cumulative": "tab:orange",
                },
                page=0,
            ),
            (LiveMap, 0),
            (LivePlaces, 0),
        ],
        model_params={
            "scenario_file": {
                "type": "Select",
                "value": first,
                "values": files,
                "label": "Scenario",
            },
            "population_scale": {
                "type": "Select",
                "value": LIVE_SCALES[0],
                "values": LIVE_SCALES,
                "label": "Population scale",
            },
            "seed": 1,
        },
        name="idlibsim: day by day (Mesa SolaraViz)",
    )
