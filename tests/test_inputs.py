"""Bad input: every way a scenario or data file can be wrong gives one clear message.

Each case writes a small valid scenario (a five-place world, or one extending the real
``scenarios/idlib_2019.toml``) into a temporary folder, breaks one thing, and runs
``idlibsim validate`` and ``idlibsim run --out DIR`` on it. Both must exit with status 2,
print no traceback, name the file (and the line or field) with what was expected and,
for names, the closest valid ones, and ``run`` must leave no results folder behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sim import geography
from sim.cli import main
from sim.scenario import reading

REPO = Path(__file__).resolve().parent.parent
IDLIB_2019 = REPO / "scenarios" / "idlib_2019.toml"

LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population
Saraqib,sub_district,opposition,35.86,36.80,50000,0,0,
Idlib,sub_district,opposition,35.93,36.63,50000,0,0,
Atmeh camps,camp_cluster,opposition,36.31,36.69,2000,2000,5000,
Bab al-Hawa crossing,crossing,opposition,36.23,36.69,0,0,0,0
Reyhanli (Turkey),abroad,turkey,36.27,36.57,0,0,0,0
"""

ROUTES = """\
from,to,km
Saraqib,Idlib,20
Idlib,Atmeh camps,45
Atmeh camps,Bab al-Hawa crossing,10
Bab al-Hawa crossing,Reyhanli (Turkey),8
"""

SCENARIO = """\
[scenario]
name = "tiny"
title = "Tiny world"
start = 2019-05-01
end = 2019-05-30

[population]
total = 102000
household_size = 5.0

[geography]
locations = "data/locations.csv"
routes = "data/routes.csv"

[behaviour]
flee_rate = 0.1

[crossings."Bab al-Hawa crossing"]
open = false
daily_capacity = 0

[events.strikes]
kind = "bombardment"
locations = ["Saraqib"]
start = 2019-05-02
end = 2019-05-20
intensity = 0.5
source = "test"
"""


def replace(text: str, old: str, new: str) -> str:
    assert old in text, f"test bug: {old!r} not in the text"
    return text.replace(old, new, 1)


def tiny(
    folder: Path,
    edits: tuple[tuple[str, str], ...] = (),
    extra: str = "",
    locations: str = LOCATIONS,
    routes: str = ROUTES,
    name: str = "tiny.toml",
) -> Path:
    """Write the five-place world and its scenario (with ``edits`` applied); return the TOML."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "locations.csv").write_text(locations, encoding="utf-8")
    (folder / "data" / "routes.csv").write_text(routes, encoding="utf-8")
    text = SCENARIO
    for old, new in edits:
        text = replace(text, old, new)
    path = folder / name
    path.write_text(text + extra, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line of ``path`` containing ``needle``."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"test bug: {needle!r} not in {path}")


# --------------------------------------------------------------------------------------
# Cases. Each builder writes the files into a folder and returns
# (file given on the command line, file the message must name, line or None).
# --------------------------------------------------------------------------------------

Built = tuple[Path, Path, int | None]


def edit(
    *edits: tuple[str, str], extra: str = "", at: str | None = None
) -> Callable[[Path], Built]:
    """A scenario with text edits; the message must point at the line containing ``at``."""

    def build(folder: Path) -> Built:
        p = tiny(folder, edits, extra)
        return p, p, line_of(p, at) if at else None

    return build


def extending_idlib(extra: str, at: str | None = None) -> Callable[[Path], Built]:
    """A scenario that extends the real 2019 scenario by absolute path."""

    def build(folder: Path) -> Built:
        p = folder / "whatif.toml"
        p.write_text(f'extends = "{IDLIB_2019.as_posix()}"\n\n{extra}', encoding="utf-8")
        return p, p, line_of(p, at) if at else None

    return build


def raw_file(data: bytes | None = None, name: str = "bad.toml") -> Callable[[Path], Built]:
    """A scenario file with exactly these bytes (None: a folder of that name)."""

    def build(folder: Path) -> Built:
        p = folder / name
        if data is None:
            p.mkdir()
        else:
            p.write_bytes(data)
        return p, p, None

    return build


def missing_file(folder: Path) -> Built:
    p = folder / "no_such_scenario.toml"
    return p, p, None


def extends_loop(folder: Path) -> Built:
    tiny(folder)
    a, b = folder / "a.toml", folder / "b.toml"
    a.write_text('extends = "b.toml"\n\n[scenario]\nname = "a"\n', encoding="utf-8")
    b.write_text('extends = "a.toml"\n\n[scenario]\nname = "b"\n', encoding="utf-8")
    return a, b, 1


def extends_missing(folder: Path) -> Built:
    tiny(folder)
    p = folder / "child.toml"
    p.write_text('extends = "tinny.toml"\n\n[scenario]\nname = "child"\n', encoding="utf-8")
    return p, p, 1


def bad_parameter_file(folder: Path) -> Built:
    """The error is in the behaviour parameter file the scenario names."""
    params = folder / "params.toml"
    params.write_text("[behaviour]\nflee_rat = 0.2\n", encoding="utf-8")
    tiny(folder, (("flee_rate = 0.1", 'parameters = "params.toml"'),))
    return folder / "tiny.toml", params, 2


def bad_parent(folder: Path) -> Built:
    """The error is in the file being extended: that file is named, not the child."""
    parent = tiny(folder, (("flee_rate = 0.1", "flee_rate = -0.1"),), name="parent.toml")
    child = folder / "child.toml"
    child.write_text('extends = "parent.toml"\n\n[scenario]\nname = "child"\n', encoding="utf-8")
    return child, parent, line_of(parent, "flee_rate")


HUGE = b"# padding\n" * (reading.MAX_FILE_BYTES // 10 + 1) + SCENARIO.encode()

SCENARIO_CASES = [
    # -- file-level problems ------------------------------------------------------------
    pytest.param(missing_file, ["scenario file not found"], id="missing-file"),
    pytest.param(raw_file(None, "folder.toml"), ["is a folder"], id="directory"),
    pytest.param(raw_file(b""), ["is empty"], id="empty-file"),
    pytest.param(raw_file(b"  \n\n# only a comment\n"), ["holds no settings"], id="comments-only"),
    pytest.param(raw_file(bytes(range(256)) * 4), ["binary file"], id="binary-file"),
    pytest.param(raw_file(HUGE), ["bytes", "limit"], id="huge-file"),
    pytest.param(
        raw_file(SCENARIO.replace("Tiny world", "Café de Saraqib").encode("latin-1")),
        ["not UTF-8", "save the file as UTF-8"],
        id="not-utf8",
    ),
    pytest.param(
        raw_file(SCENARIO.encode("utf-16")),
        ["UTF-16", "UTF-8"],
        id="utf16",
    ),
    pytest.param(raw_file(SCENARIO.encode(), "tiny.txt"), ["must end in .toml"], id="not-toml"),
    pytest.param(
        edit(('title = "Tiny world"', 'title = "Tiny world'), at="title ="),
        ["TOML syntax error", "column"],
        id="toml-syntax",
    ),
    pytest.param(
        edit(("start = 2019-05-01", "start = 2019-02-30"), at="start ="),
        ["TOML syntax error", "date"],
        id="toml-impossible-date",
    ),
    pytest.param(
        edit(("total = 102000", "total = 102000\ntotal = 5"), at="total = 5"),
        ["TOML syntax error", "given twice"],
        id="toml-duplicate-key",
    ),
    pytest.param(
        edit(
            ('title = "Tiny world"', 'title = "Tiny world"\ndescription = """\nNever closed.'),
            at="description",
        ),
        ["TOML syntax error", "Unterminated string", "closing double quote"],
        id="toml-unclosed-string",
    ),
    pytest.param(
        edit(('locations = ["Saraqib"]', "locations = [Saraqib]"), at="[Saraqib]"),
        ["TOML syntax error", "in double quotes"],
        id="toml-unquoted-name",
    ),
    pytest.param(
        edit(("total = 102000", "total = 4,000,000"), at="total ="),
        ["TOML syntax error", "thousands"],
        id="toml-thousands-separator",
    ),
    # -- unknown keys -------------------------------------------------------------------
    pytest.param(
        edit(("[scenario]", "household_size = 4.0\n\n[scenario]"), at="household_size = 4"),
        ["unknown key 'household_size'", "belongs in [population]: move it below that header"],
        id="section-key-at-top-level",
    ),
    pytest.param(
        edit(("[scenario]", 'extend = "idlib_2019.toml"\n\n[scenario]'), at="extend ="),
        ["unknown key 'extend'", "did you mean 'extends'"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        edit(("[population]", "[populaton]"), at="[populaton]"),
        ["unknown key 'populaton'", "did you mean 'population'"],
        id="misspelled-section",
    ),
    pytest.param(
        edit(("start = 2019-05-01", "strat = 2019-05-01"), at="strat ="),
        ["scenario.strat", "unknown key 'strat'", "did you mean 'start'"],
        id="misspelled-key-in-section",
    ),
    pytest.param(
        edit(("flee_rate = 0.1", "flee_rat = 0.1"), at="flee_rat ="),
        ["behaviour.flee_rat", "did you mean 'flee_rate'"],
        id="misspelled-behaviour-key",
    ),
    pytest.param(
        edit(("intensity = 0.5", "intensty = 0.5"), at="intensty ="),
        ["events.strikes.intensty", "did you mean 'intensity'"],
        id="misspelled-key-in-event",
    ),
    pytest.param(
        edit(('kind = "bombardment"', 'kind = "bombardmnet"'), at="kind ="),
        ["unknown event kind 'bombardmnet'", "did you mean 'bombardment'"],
        id="misspelled-event-kind",
    ),
    # -- wrong types --------------------------------------------------------------------
    pytest.param(
        edit(("total = 102000", 'total = "102000"'), at="total ="),
        ["population.total", "expected a whole number", "without the quotes"],
        id="string-for-number",
    ),
    pytest.param(
        edit(("total = 102000", "total = 102000.0"), at="total ="),
        ["population.total", "whole number without a decimal point", "total = 102000"],
        id="float-for-int",
    ),
    pytest.param(
        edit(("start = 2019-05-01", "start = 20190501"), at="start ="),
        ["scenario.start", "expected a date like 2019-04-28"],
        id="number-for-date",
    ),
    pytest.param(
        edit(("start = 2019-05-01", 'start = "1 May 2019"'), at="start ="),
        ["scenario.start", "expected a date like 2019-04-28"],
        id="text-for-date",
    ),
    pytest.param(
        edit(("start = 2019-05-01", "start = 2019-05-01T06:00:00"), at="start ="),
        ["scenario.start", "date without a time"],
        id="datetime-for-date",
    ),
    pytest.param(
        edit(("open = false", 'open = "no"'), at="open ="),
        ["open", "true or false"],
        id="string-for-bool",
    ),
    pytest.param(
        edit(('locations = ["Saraqib"]', "locations = 7"), at="locations = 7"),
        ["events.strikes.locations", "list of place names"],
        id="number-for-names",
    ),
    pytest.param(
        edit(('locations = ["Saraqib"]', "locations = []"), at="locations = []"),
        ["events.strikes.locations", "at least one place"],
        id="empty-names",
    ),
    pytest.param(
        edit(
            (
                '[scenario]\nname = "tiny"\ntitle = "Tiny world"\nstart = 2019-05-01\nend = 2019-05-30\n',
                "",
            )
        ),
        ["missing the [scenario] table", "name, title, start, end are required"],
        id="no-scenario-table",
    ),
    pytest.param(
        raw_file(b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        ["nested too deeply"],
        id="toml-nested-too-deeply",
    ),
    pytest.param(
        edit(
            ("[behaviour]\nflee_rate = 0.1\n", ""),
            ("[scenario]", 'behaviour = "fast"\n\n[scenario]'),
            at="behaviour =",
        ),
        ["behaviour", "must be a table, got a string"],
        id="value-for-table",
    ),
    pytest.param(
        edit(("[events.strikes]", "[[events]]"), at="[[events]]"),
        ["events must be named tables", "[events.some_name]"],
        id="array-of-events",
    ),
    # -- numbers out of range -----------------------------------------------------------
    pytest.param(
        edit(("household_size = 5.0", "household_size = -5.0"), at="household_size ="),
        ["population.household_size", "-5", "between 1 and 15"],
        id="negative-number",
    ),
    pytest.param(
        edit(("flee_rate = 0.1", "flee_rate = nan"), at="flee_rate ="),
        ["behaviour.flee_rate", "finite number", "nan"],
        id="nan",
    ),
    pytest.param(
        edit(("flee_rate = 0.1", "flee_rate = inf"), at="flee_rate ="),
        ["behaviour.flee_rate", "finite number", "inf"],
        id="inf",
    ),
    pytest.param(
        edit(("total = 102000", "total = nan"), at="total ="),
        ["population.total", "finite", "nan"],
        id="nan-for-int",
    ),
    pytest.param(
        edit(("intensity = 0.5", "intensity = 1.5"), at="intensity ="),
        ["events.strikes.intensity", "1.5", "between 0 and 1"],
        id="probability-above-1",
    ),
    pytest.param(
        edit(extra="\n[conflict]\nceasefire_factor = -0.2\n", at="ceasefire_factor"),
        ["conflict.ceasefire_factor", "between 0 and 1"],
        id="probability-below-0",
    ),
    pytest.param(
        edit(("daily_capacity = 0", "daily_capacity = -100"), at="daily_capacity ="),
        ["daily_capacity", "-100", "between 0 and 1,000,000 people/day"],
        id="negative-capacity",
    ),
    pytest.param(
        edit(
            extra='\n[events.camps]\nkind = "camp_capacity"\nlocations = ["Atmeh camps"]\n'
            'date = 2019-05-10\ncapacity = -5000\nsource = "test"\n',
            at="capacity = -5000",
        ),
        ["events.camps.capacity", "-5,000", "between 0 and 10,000,000"],
        id="negative-camp-capacity",
    ),
    pytest.param(
        edit(("total = 102000", "total = 0"), at="total ="),
        ["population.total", "0 people", "between 1,000 and 20,000,000 people"],
        id="population-zero",
    ),
    pytest.param(
        edit(("total = 102000", "total = 7_000_000_000"), at="total ="),
        ["population.total", "7,000,000,000 people", "between 1,000 and 20,000,000 people"],
        id="population-billions",
    ),
    pytest.param(
        edit(("total = 102000", "total = 1" + "0" * 400), at="total ="),
        ["population.total", "a number of 401 digits is outside", "between 1,000 and 20,000,000"],
        id="population-of-400-digits",
    ),
    pytest.param(
        edit(("flee_rate = 0.1", "flee_rate = 1" + "0" * 400), at="flee_rate ="),
        ["behaviour.flee_rate", "finite number", "between 0 and 20"],
        id="rate-of-400-digits",
    ),
    pytest.param(
        edit(("total = 102000", "total = 1500"), at="total ="),
        ["population.total", "camp residents"],
        id="population-below-camps",
    ),
    # -- dates --------------------------------------------------------------------------
    pytest.param(
        edit(("end = 2019-05-30", "end = 2019-04-01"), at="end = 2019-04-01"),
        ["scenario.end", "before start"],
        id="end-before-start",
    ),
    pytest.param(
        edit(("end = 2019-05-30", "end = 2019-05-30\nreport_from = 2019-06-15"), at="report_from"),
        ["scenario.report_from", "2019-06-15 is outside the period 2019-05-01 to 2019-05-30"],
        id="report-from-outside-period",
    ),
    pytest.param(
        edit(("end = 2019-05-30", "end = 2025-05-30"), at="end = 2025"),
        ["scenario.end", "at most"],
        id="period-too-long",
    ),
    pytest.param(
        edit(("start = 2019-05-02", "start = 2019-03-02"), at="start = 2019-03-02"),
        ["events.strikes.start", "outside the scenario period 2019-05-01 to 2019-05-30"],
        id="event-before-period",
    ),
    pytest.param(
        edit(("end = 2019-05-20", "end = 2019-07-20"), at="end = 2019-07-20"),
        ["events.strikes.end", "after the scenario end 2019-05-30"],
        id="event-after-period",
    ),
    pytest.param(
        edit(("end = 2019-05-20", "end = 2019-05-01"), at="end = 2019-05-01"),
        ["events.strikes.end", "before start"],
        id="event-end-before-start",
    ),
    pytest.param(
        edit(extra="report_from = 2019-05-10\n", at="report_from"),
        ["events.strikes.report_from", "'report_from' belongs in [scenario]"],
        id="key-below-the-wrong-table",
    ),
    pytest.param(
        edit(extra='extends = "idlib_2019.toml"\n', at="extends"),
        ["events.strikes.extends", "belongs in the top level", "before the first [table] header"],
        id="extends-below-a-table",
    ),
    # -- place names --------------------------------------------------------------------
    pytest.param(
        edit(('locations = ["Saraqib"]', 'locations = ["Saraqeb"]'), at="Saraqeb"),
        ["unknown location 'Saraqeb'", "did you mean 'Saraqib'"],
        id="unknown-place-in-event",
    ),
    pytest.param(
        edit(('locations = ["Saraqib"]', 'locations = ["' + "x" * 5000 + '"]'), at="xxx"),
        ["unknown location 'xxxxxxxx", "...'", "valid: 'Atmeh camps', 'Bab al-Hawa crossing'"],
        id="unknown-place-very-long",
    ),
    pytest.param(
        edit(
            extra='\n[events.close]\nkind = "route_closure"\nbetween = ["Saraqib", "Atmeh camps"]\n'
            'start = 2019-05-03\nsource = "test"\n',
            at="between",
        ),
        ["events.close.between", "no road between 'Saraqib' and 'Atmeh camps'"],
        id="route-closure-without-road",
    ),
    pytest.param(
        edit(
            extra='\n[events.close]\nkind = "route_closure"\nbetween = ["Saraqib"]\n'
            'start = 2019-05-03\nsource = "test"\n',
            at="between",
        ),
        ["events.close.between", "expected two place names"],
        id="route-closure-one-place",
    ),
    pytest.param(
        edit(
            extra='\n[events.open]\nkind = "border"\ncrossing = "Idlib"\nopen = true\n'
            'daily_capacity = 100\nstart = 2019-05-03\nsource = "test"\n',
            at='crossing = "Idlib"',
        ),
        [
            "events.open.crossing",
            "'Idlib' is a sub_district, not a crossing",
            "'Bab al-Hawa crossing'",
        ],
        id="border-event-at-a-town",
    ),
    pytest.param(
        edit(
            extra='\n[events.taken]\nkind = "capture"\nlocations = ["Idlib"]\nby = "goverment"\n'
            'date = 2019-05-03\nsource = "test"\n',
            at="goverment",
        ),
        ["events.taken.by", "did you mean 'government'?"],
        id="capture-by-misspelled",
    ),
    pytest.param(
        edit(('source = "test"\n', ""), at="[events.strikes]"),
        ["events.strikes.source", "missing required field 'source'", 'add source = "..."'],
        id="event-without-source",
    ),
    pytest.param(
        edit(('[crossings."Bab al-Hawa crossing"]', '[crossings."Bab al-Hawa"]'), at="Bab al-Hawa"),
        ["unknown location 'Bab al-Hawa'", "did you mean 'Bab al-Hawa crossing'?"],
        id="unknown-crossing",
    ),
    pytest.param(
        edit(("[behaviour]", 'government_held = ["Idleb"]\n\n[behaviour]'), at="Idleb"),
        ["geography.government_held", "unknown location 'Idleb'", "did you mean 'Idlib'?"],
        id="unknown-place-in-geography",
    ),
    pytest.param(
        extending_idlib(
            '[events.strikes_saraqeb]\nkind = "bombardment"\nlocations = ["Saraqeb"]\n'
            'start = 2019-06-01\nend = 2019-06-10\nsource = "what-if: test"\n',
            at="Saraqeb",
        ),
        ["whatif.toml", "unknown location 'Saraqeb'", "did you mean 'Saraqib'"],
        id="unknown-place-extending-idlib-2019",
    ),
    pytest.param(
        extending_idlib("[events.air_campaign_hama_idlib]\nintesity = 0.3\n", at="intesity"),
        ["events.air_campaign_hama_idlib.intesity", "did you mean 'intensity'"],
        id="misspelled-key-overriding-idlib-2019",
    ),
    pytest.param(
        extending_idlib('[geography]\nlocations = "data/nowhere.csv"\n', at="locations ="),
        ["geography.locations", "file not found"],
        id="missing-data-file",
    ),
    pytest.param(
        extending_idlib('[behaviour]\nparameters = "."\n', at="parameters ="),
        ["behaviour.parameters", "folder"],
        id="folder-as-parameter-file",
    ),
    pytest.param(
        edit(("[behaviour]", '[behaviour]\nparameters = "' + "p" * 300 + '.toml"'), at="ppp"),
        ["behaviour.parameters", "cannot be used as a file path"],
        id="parameter-file-name-too-long",
    ),
    pytest.param(
        edit(
            ('title = "Tiny world"', 'title = "Tiny world"\nobserved = "' + "o" * 300 + '"'),
            at="ooo",
        ),
        ["scenario.observed", "cannot be used as a file path"],
        id="observed-file-name-too-long",
    ),
    # -- extends ------------------------------------------------------------------------
    pytest.param(
        extends_loop,
        ["extends loops back on itself", "a.toml -> b.toml -> a.toml"],
        id="extends-loop",
    ),
    pytest.param(
        edit(("[scenario]", 'extends = "data"\n\n[scenario]'), at="extends ="),
        ["extends 'data', which is a folder"],
        id="extends-folder",
    ),
    pytest.param(
        edit(("[scenario]", 'extends = "data/routes.csv"\n\n[scenario]'), at="extends ="),
        ["not a .toml scenario file"],
        id="extends-csv",
    ),
    pytest.param(
        edit(("[scenario]", 'extends = "' + "e" * 300 + '.toml"\n\n[scenario]'), at="extends ="),
        ["extends 'eeee", "cannot be used as a file path"],
        id="extends-name-too-long",
    ),
    pytest.param(
        extends_missing,
        ["extends 'tinny.toml', which does not exist", "did you mean 'tiny.toml'?"],
        id="extends-missing",
    ),
    pytest.param(
        bad_parameter_file,
        ["behaviour.flee_rat", "did you mean 'flee_rate'?"],
        id="error-in-parameter-file",
    ),
    pytest.param(
        bad_parent, ["behaviour.flee_rate", "between 0 and 20"], id="error-in-extended-file"
    ),
]


def check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    given: Path,
    named: Path,
    line: int | None,
    expected: list[str],
) -> str:
    """Run the command; exit 2, one message naming the file (and line) with the texts."""
    out = tmp_path / "results"
    argv = [command, str(given)]
    if command == "run":
        argv += ["--out", str(out), "--population-scale", "0.01", "--days", "3", "--no-plots"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("idlibsim: error: 1 problem in the input:"), err
    assert named.name in err, err
    if line is not None:
        assert f"{named.name}:{line}:" in err, err
    for text in expected:
        assert text in err, err
    assert "fix: " in err, err
    assert not out.exists()
    return err


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(("build", "expected"), SCENARIO_CASES)
def test_bad_scenario_file(tmp_path, capsys, build, expected, command):
    given, named, line = build(tmp_path)
    check(tmp_path, capsys, command, given, named, line, expected)


# --------------------------------------------------------------------------------------
# Data files, reached through a scenario whose [geography] points at the bad copies.
# --------------------------------------------------------------------------------------


def drop_column(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    i = rows[0].index(column)
    return "\n".join(",".join(r[:i] + r[i + 1 :]) for r in rows) + "\n"


def data(
    which: str,
    content: str | bytes | None,
    at: str | int | None = None,
) -> Callable[[Path], Built]:
    """The tiny world with ``data/<which>_bad.csv`` (None: a folder) as its locations or routes.

    ``at``: the line the message must give, or text on that line.
    """

    def build(folder: Path) -> Built:
        p = tiny(
            folder,
            ((f'{which} = "data/{which}.csv"', f'{which} = "data/{which}_bad.csv"'),),
        )
        bad = folder / "data" / f"{which}_bad.csv"
        if content is None:
            bad.mkdir()
            return p, p, line_of(p, f"{which}_bad")
        if isinstance(content, str):
            content_bytes = content.encode("utf-8")
        else:
            content_bytes = content
        bad.write_bytes(content_bytes)
        return p, bad, line_of(bad, at) if isinstance(at, str) else at

    return build


def idlib_routes_with(old: str, new: str, at: str) -> Callable[[Path], Built]:
    """The real 2019 scenario with a copy of the real routes file, one name misspelled."""

    def build(folder: Path) -> Built:
        routes = (REPO / "scenarios" / "data" / "routes.csv").read_text(encoding="utf-8")
        bad = folder / "routes.csv"
        bad.write_text(replace(routes, old, new), encoding="utf-8")
        p = folder / "whatif.toml"
        p.write_text(
            f'extends = "{IDLIB_2019.as_posix()}"\n\n[geography]\nroutes = "routes.csv"\n',
            encoding="utf-8",
        )
        return p, bad, line_of(bad, at)

    return build


def bad_observed(folder: Path) -> Built:
    obs = folder / "observed.csv"
    obs.write_text("as_of,value,measure,use,source\n2019-08-31,400000,movements,fit,x\n")
    p = folder / "whatif.toml"
    p.write_text(
        f'extends = "{IDLIB_2019.as_posix()}"\n\n[scenario]\nobserved = "observed.csv"\n',
        encoding="utf-8",
    )
    return p, obs, 1


def with_pcodes(text: str, saraqib: str) -> str:
    """The tiny locations with a pcode column (Saraqib's pcode given, the others valid)."""
    codes = {"Saraqib": saraqib, "Idlib": "SY070000", "Atmeh camps": "SY070301"}
    lines = text.splitlines()
    out = [lines[0] + ",pcode"]
    for line in lines[1:]:
        out.append(line + "," + codes.get(line.split(",")[0], ""))
    return "\n".join(out) + "\n"


def bombardment_table(content: str, line: int | None = None) -> Callable[[Path], Built]:
    """The tiny world with [conflict] bombardment_table = a table holding ``content``."""

    def build(folder: Path) -> Built:
        p = tiny(folder, extra='\n[conflict]\nbombardment_table = "data/bombardment.csv"\n')
        table = folder / "data" / "bombardment.csv"
        table.write_text(content, encoding="utf-8")
        return p, table, line if line is not None else 2

    return build


def camp_table(content: str) -> Callable[[Path], Built]:
    """The tiny world with [geography] camp_table = a table holding ``content``."""

    def build(folder: Path) -> Built:
        p = tiny(
            folder,
            (
                (
                    'routes = "data/routes.csv"\n',
                    'routes = "data/routes.csv"\ncamp_table = "data/c.csv"\n',
                ),
            ),
        )
        table = folder / "data" / "c.csv"
        table.write_text(content, encoding="utf-8")
        return p, table, 2

    return build


L, R = LOCATIONS, ROUTES
DATA_CASES = [
    # -- locations.csv ------------------------------------------------------------------
    pytest.param(
        data("locations", drop_column(L, "kind"), at=1),
        ["missing column(s) kind", "needs the columns name, kind, control"],
        id="locations-missing-column",
    ),
    pytest.param(
        data("locations", replace(L, ",lat,lon,", ",latitude,lon,"), at=1),
        ["missing column(s) lat", "rename column 'latitude' to 'lat'"],
        id="locations-misnamed-column",
    ),
    pytest.param(
        data("locations", L.replace(",", ";"), at=1),
        ["separated by ';'", "commas"],
        id="locations-semicolons",
    ),
    pytest.param(
        data(
            "locations",
            L + "Idlib,sub_district,opposition,35.9,36.6,1000,0,0,\n",
            at="Idlib,sub_district,opposition,35.9,",
        ),
        ["duplicated name 'Idlib' (also on line 3)", "names must be unique"],
        id="locations-duplicated-name",
    ),
    pytest.param(
        data("locations", replace(L, "35.86,36.80", "95.0,36.80"), at="Saraqib"),
        ["lat/lon (row 'Saraqib')", "not a coordinate on Earth", "latitude within -90..90"],
        id="locations-latitude-95",
    ),
    pytest.param(
        data("locations", replace(L, "35.86,36.80", "48.85,2.35"), at="Saraqib"),
        ["lat/lon (row 'Saraqib')", "outside north-west Syria"],
        id="locations-far-from-syria",
    ),
    pytest.param(
        data("locations", replace(L, "35.86,36.80", "north,36.80"), at="Saraqib"),
        ["lat (row 'Saraqib')", "'north' is not a number", "decimal degrees"],
        id="locations-text-latitude",
    ),
    pytest.param(
        data("locations", replace(L, "36.80,50000", "36.80,-50000"), at="Saraqib"),
        ["population (row 'Saraqib')", "-50000 is negative"],
        id="locations-negative-population",
    ),
    pytest.param(
        data("locations", replace(L, "36.80,50000", '36.80,"50,000"'), at="Saraqib"),
        ["population (row 'Saraqib')", "'50,000' is not a number", "no thousands separators"],
        id="locations-population-with-comma",
    ),
    pytest.param(
        data("locations", replace(L, "36.80,50000", "36.80,nan"), at="Saraqib"),
        ["population (row 'Saraqib')", "not a finite number"],
        id="locations-population-nan",
    ),
    pytest.param(
        data(
            "locations",
            replace(
                L,
                "Atmeh camps,camp_cluster,opposition,36.31,36.69,2000,2000",
                "Atmeh camps,camp_cluster,opposition,36.31,36.69,2000,3000",
            ),
            at="Atmeh",
        ),
        ["camp_population (row 'Atmeh camps')", "3000 people in camps but population is only 2000"],
        id="locations-camp-above-population",
    ),
    pytest.param(
        data("locations", replace(L, "Saraqib,sub_district", "Saraqib,subdistrict"), at="Saraqib"),
        ["unknown kind 'subdistrict'", "did you mean 'sub_district'?"],
        id="locations-unknown-kind",
    ),
    pytest.param(
        data(
            "locations",
            replace(L, "Saraqib,sub_district,opposition", "Saraqib,sub_district,oposition"),
            at="Saraqib",
        ),
        ["unknown control 'oposition'", "did you mean 'opposition'?"],
        id="locations-unknown-control",
    ),
    pytest.param(
        data("locations", replace(L, "36.80,50000,0,0,", "36.80,50000,0,0,,extra"), at="Saraqib"),
        ["row has 10 fields but the header has 9 columns"],
        id="locations-extra-field",
    ),
    pytest.param(
        data(
            "locations",
            replace(
                L,
                "Saraqib,sub_district,opposition,35.86,36.80,50000,0,0,",
                "Saraqib,sub_district,opposition,35.86,36.80",
            ),
            at="Saraqib",
        ),
        ["row has 5 fields but the header has 9 columns"],
        id="locations-missing-fields",
    ),
    pytest.param(data("locations", ""), ["is empty", "header row"], id="locations-empty"),
    pytest.param(
        data("locations", L.splitlines()[0] + "\n"), ["no data rows"], id="locations-header-only"
    ),
    pytest.param(
        data("locations", None), ["geography.locations", "is a folder"], id="locations-folder"
    ),
    pytest.param(
        data("locations", L.encode("utf-16")),
        ["UTF-16", "save the file as UTF-8"],
        id="locations-utf16",
    ),
    pytest.param(
        data("locations", replace(L, "Idlib,", "Idlib \xe9,").encode("latin-1"), at=3),
        ["not UTF-8"],
        id="locations-not-utf8",
    ),
    pytest.param(data("locations", bytes(range(256)) * 8), ["binary file"], id="locations-binary"),
    pytest.param(
        data("locations", L + "#" * (geography.MAX_CSV_BYTES + 1) + "\n"),
        ["too large", "limit"],
        id="locations-huge",
    ),
    # -- routes.csv ---------------------------------------------------------------------
    pytest.param(
        data("routes", drop_column(R, "km"), at=1),
        ["missing column(s) km", "needs the columns from, to, km"],
        id="routes-missing-column",
    ),
    pytest.param(
        data("routes", replace(R, "Saraqib,Idlib,20", "Saraqeb,Idlib,20"), at="Saraqeb"),
        ["from: unknown place 'Saraqeb'", "did you mean 'Saraqib'"],
        id="routes-unknown-place",
    ),
    pytest.param(
        data("routes", replace(R, "Saraqib,Idlib,20", "Saraqib,Idlib,-20"), at="Saraqib"),
        ["km (road 'Saraqib' - 'Idlib')", "road length", "not positive"],
        id="routes-negative-km",
    ),
    pytest.param(
        data("routes", replace(R, "Saraqib,Idlib,20", "Saraqib,Idlib,0"), at="Saraqib"),
        ["km (road 'Saraqib' - 'Idlib')", "road length", "not positive"],
        id="routes-zero-km",
    ),
    pytest.param(
        data("routes", replace(R, "Saraqib,Idlib,20", "Saraqib,Idlib,20 km"), at="Saraqib"),
        ["km (road 'Saraqib' - 'Idlib')", "'20 km' is not a number", "no units"],
        id="routes-text-km",
    ),
    pytest.param(
        data("routes", replace(R, "Saraqib,Idlib,20", "Saraqib,Idlib,"), at="Saraqib"),
        ["km (road 'Saraqib' - 'Idlib')", "is empty"],
        id="routes-empty-km",
    ),
    pytest.param(
        data("routes", replace(R, "Bab al-Hawa crossing,Reyhanli (Turkey),8\n", "")),
        ["road network is not connected", "'Reyhanli (Turkey)'", "add road links"],
        id="routes-disconnected",
    ),
    pytest.param(
        data("routes", R + "Idlib,Saraqib,21\n", at="Idlib,Saraqib"),
        ["duplicated road 'Idlib' - 'Saraqib' (also on line 2)"],
        id="routes-duplicated-road",
    ),
    pytest.param(
        data("routes", R + "Idlib,Idlib,1\n", at="Idlib,Idlib"),
        ["road from 'Idlib' to itself"],
        id="routes-loop",
    ),
    pytest.param(data("routes", ""), ["is empty"], id="routes-empty"),
    pytest.param(data("routes", "from,to,km\n"), ["no data rows"], id="routes-header-only"),
    pytest.param(
        idlib_routes_with("Taftanaz,Saraqib,", "Taftanaz,Saraqeb,", at="Saraqeb"),
        ["to: unknown place 'Saraqeb' (not in locations.csv)", "did you mean 'Saraqib'"],
        id="real-routes-unknown-place",
    ),
    # -- pcodes ---------------------------------------------------------------------------
    pytest.param(
        data("locations", with_pcodes(L, saraqib="SY7003"), at="Saraqib"),
        ["pcode (row 'Saraqib')", "'SY7003' is not an OCHA sub-district pcode", "SY followed by 6"],
        id="locations-bad-pcode",
    ),
    pytest.param(
        data("locations", with_pcodes(L, saraqib=""), at="Saraqib"),
        ["pcode (row 'Saraqib')", "a sub_district needs the pcode of its sub-district"],
        id="locations-missing-pcode",
    ),
    # -- bombardment table ----------------------------------------------------------------
    pytest.param(
        bombardment_table(
            "place,week_start,week_end,intensity\nSaraqeb,2019-05-06,2019-05-12,0.3\n"
        ),
        ["unknown place 'Saraqeb'", "did you mean 'Saraqib'"],
        id="bombardment-table-unknown-place",
    ),
    pytest.param(
        bombardment_table(
            "place,week_start,week_end,intensity\nSaraqib,2019-05-06,2019-05-12,1.5\n"
        ),
        ["intensity (place 'Saraqib')", "'1.5' is not a number from 0 to 1"],
        id="bombardment-table-intensity-above-1",
    ),
    pytest.param(
        bombardment_table("place,week_start,intensity\nSaraqib,2019-05-06,0.3\n", line=1),
        ["missing column(s) week_end"],
        id="bombardment-table-missing-column",
    ),
    pytest.param(
        camp_table("place,date,capacity\nAtmeh camps,2019-05-06,-3\n"),
        ["capacity (place 'Atmeh camps')", "'-3' is not a whole number of people"],
        id="camp-table-negative-capacity",
    ),
    # -- observed figures ---------------------------------------------------------------
    pytest.param(bad_observed, ["missing column(s) period_start"], id="observed-missing-column"),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(("build", "expected"), DATA_CASES)
def test_bad_data_file(tmp_path, capsys, build, expected, command):
    given, named, line = build(tmp_path)
    check(tmp_path, capsys, command, given, named, line, expected)


def test_several_problems_are_reported_together(tmp_path, capsys):
    """One run shows every problem of every file, each with its file and line."""
    p = tiny(
        tmp_path,
        (
            ("total = 102000", "total = 0"),
            ('locations = ["Saraqib"]', 'locations = ["Saraqeb"]'),
            ("intensity = 0.5", "intensity = 2.0"),
        ),
        routes=replace(ROUTES, "Idlib,Atmeh camps,45", "Idlib,Atmeh camp,45"),
    )
    code = main(["validate", str(p)])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 problems in the input" in err or "4 problems in the input" in err, err
    assert "did you mean 'Atmeh camps'?" in err
    assert f"tiny.toml:{line_of(p, 'total =')}: population.total" in err
    assert f"tiny.toml:{line_of(p, 'intensity =')}: events.strikes.intensity" in err


# --------------------------------------------------------------------------------------
# The valid tiny world works (so the cases above fail for the reason they say) and a real
# process prints the same message with no traceback.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario", sorted((REPO / "scenarios").glob("*.toml")), ids=lambda p: p.stem
)
def test_the_shipped_scenarios_still_validate(scenario, capsys):
    assert main(["validate", str(scenario)]) == 0, capsys.readouterr().err


def test_a_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    """Windows editors often save UTF-8 with a byte-order mark: that is still UTF-8."""
    p = tiny(tmp_path)
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert main(["validate", str(p)]) == 0, capsys.readouterr().err


def test_the_valid_tiny_world_validates_and_runs(tmp_path, capsys):
    p = tiny(tmp_path)
    assert main(["validate", str(p)]) == 0
    assert "ok: " in capsys.readouterr().out
    out = tmp_path / "results"
    argv = ["run", str(p), "--out", str(out), "--population-scale", "0.01", "--days", "3"]
    assert main([*argv, "--no-plots", "--quiet"]) == 0
    assert (out / "daily.csv").is_file()


def python_m_sim(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_python_m_sim_validate_and_run_exit_2_without_traceback(tmp_path):
    p = tiny(tmp_path, (('locations = ["Saraqib"]', 'locations = ["Saraqeb"]'),))
    line = line_of(p, "Saraqeb")
    res = python_m_sim("validate", str(p))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{p}:{line}: events.strikes.locations: unknown location 'Saraqeb'" in res.stderr
    assert "did you mean 'Saraqib'" in res.stderr
    assert res.stdout == ""

    out = tmp_path / "results"
    res = python_m_sim("run", str(p), "--out", str(out), "--no-plots")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "did you mean 'Saraqib'" in res.stderr
    assert not out.exists()
