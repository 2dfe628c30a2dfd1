"""Property-based tests (Hypothesis): random valid scenarios run and conserve the
population; random invalid ones are refused cleanly, with an InputError naming the file.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from conftest import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import EXIT_INPUT, main
from sim.config import load_scenario
from sim.errors import InputError
from sim.model import DisplacementModel

START, N_DAYS = date(2019, 5, 1), 30
PLACES = ["Bombed Town", "Safe Town", "Border Camp"]
ROADS = [("Bombed Town", "Safe Town"), ("Safe Town", "Border Camp"), ("Border Camp", "Crossing")]
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _day(i: int) -> str:
    return (START + timedelta(days=i)).isoformat()


@st.composite
def period(draw) -> tuple[str, str | None]:
    a = draw(st.integers(0, N_DAYS - 1))
    b = draw(st.one_of(st.none(), st.integers(a, N_DAYS - 1)))
    return _day(a), None if b is None else _day(b)


def _names(xs: list[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in xs) + "]"


@st.composite
def event(draw, i: int) -> str:
    kind = draw(
        st.sampled_from(
            ["bombardment", "ground_assault", "capture", "ceasefire", "border", "camp_capacity",
             "route_closure"]
        )
    )  # fmt: skip
    lines = [f"[events.e{i}]", f'kind = "{kind}"', 'source = "generated"']
    places = draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True))
    start, end = draw(period())
    ends = [f"end = {end}"] if end else []
    if kind in ("bombardment", "ground_assault"):
        lines += [f"locations = {_names(places)}", f"start = {start}", *ends]
        if draw(st.booleans()):
            lines.append(f"intensity = {draw(st.floats(0, 1)):.6g}")
    elif kind == "capture":
        lines += [f"locations = {_names(places[:1])}", f"date = {start}"]
        lines.append(f'by = "{draw(st.sampled_from(["government", "opposition"]))}"')
    elif kind == "ceasefire":
        covered = draw(st.sampled_from([[], places]))
        lines += [f"locations = {_names(covered)}", f"start = {start}", *ends]
        lines.append(f"factor = {draw(st.floats(0, 1)):.6g}")
    elif kind == "border":
        lines += ['crossing = "Crossing"', f"start = {start}", *ends]
        lines.append(f"open = {'true' if draw(st.booleans()) else 'false'}")
        lines.append(f"daily_capacity = {draw(st.integers(1, 5000))}")  # open with 0: refused
    elif kind == "camp_capacity":
        lines += ['locations = ["Border Camp"]', f"date = {start}"]
        lines.append(f"capacity = {draw(st.integers(0, 20000))}")
    else:
        a, b = draw(st.sampled_from(ROADS))
        lines += [f'between = ["{a}", "{b}"]', f"start = {start}", *ends]
    return "\n".join(lines) + "\n"


@st.composite
def valid_scenario(draw) -> str:
    total = draw(st.integers(5_000, 150_000))
    head = [
        "[scenario]",
        'name = "generated"',
        'title = "A generated scenario"',
        f"start = {_day(0)}",
        f"end = {_day(N_DAYS - 1)}",
        "",
        "[population]",
        f"total = {total}",
        f"household_size = {draw(st.floats(1, 8)):.3g}",
        "",
        "[geography]",
        'locations = "data/locations.csv"',
        'routes = "data/routes.csv"',
        "",
        "[behaviour]",
        f"flee_rate = {draw(st.floats(0.001, 2)):.4g}",
        f"return_rate = {draw(st.floats(0, 0.2)):.4g}",
        f"travel_km_per_day = {draw(st.floats(5, 200)):.4g}",
        "",
    ]
    n = draw(st.integers(0, 6))
    events = [draw(event(i)) for i in range(n)]
    return "\n".join(head) + "\n" + "\n".join(events)


@SETTINGS
@given(text=valid_scenario(), seed=st.integers(0, 2**32))
def test_valid_scenarios_run_and_conserve_the_population(tmp_path_factory, text, seed):
    world = World(tmp_path_factory.mktemp("w"))
    path = world.folder / "generated.toml"
    path.write_text(text)
    sc = load_scenario(path)
    model = DisplacementModel(sc, seed=seed, population_scale=0.1, check=True)
    model.run()  # check=True asserts conservation and every invariant every day
    daily = model.daily()
    assert len(daily) == N_DAYS
    assert (daily["population"] == daily["population"].iloc[0]).all()
    parts = ["at_home", "on_the_move", "displaced_now", "returned"]
    assert np.all(daily[[c for c in parts if c in daily]].to_numpy() >= 0)


# --- invalid scenarios ------------------------------------------------------------------
BASE = """\
[scenario]
name = "generated"
title = "A generated scenario"
start = 2019-05-01
end = 2019-05-30

[population]
total = 50000

[geography]
locations = "data/locations.csv"
routes = "data/routes.csv"

[events.shelling]
kind = "bombardment"
locations = ["Bombed Town"]
start = 2019-05-03
end = 2019-05-20
intensity = 0.5
source = "generated"
"""

# (old text, new text, a word the message must contain)
DEFECTS = [
    ('"Bombed Town"]', '"Bombed Twn"]', "Bombed Town"),
    ("intensity = 0.5", "intensity = 1.5", "intensity"),
    ("intensity = 0.5", "intensity = -0.1", "intensity"),
    ("intensity = 0.5", "intensity = nan", "intensity"),
    ("intensity = 0.5", "intensity = inf", "intensity"),
    ("intensity = 0.5", 'intensity = "high"', "intensity"),
    ("start = 2019-05-03", "start = 2019-04-03", "start"),
    ("end = 2019-05-20", "end = 2019-07-20", "end"),
    ("end = 2019-05-20", "end = 2019-05-02", "end"),
    ("total = 50000", "total = 0", "total"),
    ("total = 50000", "total = 4000000000", "total"),
    ("total = 50000", "totl = 50000", "totl"),
    ('kind = "bombardment"', 'kind = "bombing"', "kind"),
    ("end = 2019-05-30", "end = 2019-04-01", "end"),
    ('source = "generated"', "", "source"),
    ("[population]", "[populaton]", "populaton"),
]


@SETTINGS
@given(defects=st.lists(st.sampled_from(DEFECTS), min_size=1, max_size=3, unique=True))
def test_invalid_scenarios_are_refused_naming_the_field(tmp_path_factory, defects):
    world = World(tmp_path_factory.mktemp("w"))
    text = BASE
    for old, new, _ in defects:
        text = text.replace(old, new)
    path = world.folder / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert any(word in message for _, _, word in defects), message


@SETTINGS
@given(data=st.data())
def test_any_corruption_of_a_file_is_loaded_or_refused_never_a_crash(tmp_path_factory, data):
    """Cut, splice or overwrite bytes of a valid file: it loads, or it gets an InputError."""
    world = World(tmp_path_factory.mktemp("w"))
    raw = bytearray(BASE.encode())
    how = data.draw(st.sampled_from(["cut", "insert", "overwrite"]))
    i = data.draw(st.integers(0, len(raw) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    if how == "cut":
        raw = raw[:i]
    elif how == "insert":
        raw[i:i] = junk
    else:
        raw[i : i + len(junk)] = junk
    path = world.folder / "corrupt.toml"
    path.write_bytes(bytes(raw))
    try:
        sc = load_scenario(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    assert sc.population_total >= 1 and math.isfinite(sc.behaviour.flee_rate)


def test_the_command_line_refuses_an_invalid_scenario_without_writing(world, tmp_path, capsys):
    path = world.folder / "bad.toml"
    path.write_text(BASE.replace('"Bombed Town"]', '"Bombed Twn"]'))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "did you mean 'Bombed Town'" in err and "Traceback" not in err
    assert not out.exists()
