"""A fast start (issue 16): checking a scenario needs neither NumPy nor pandas, and the fast
readers behind that give what the slow ones gave (no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim import observed
from sim.errors import InputError
from sim.model import geography

ROOT = Path(__file__).resolve().parent.parent
IDLIB_2019 = ROOT / "scenarios" / "idlib_2019.toml"
OBSERVED_2019 = ROOT / "scenarios" / "data" / "observed" / "displacement_2019.csv"


def test_validate_imports_neither_numpy_nor_pandas():
    code = (
        "import sys; from sim.cli import main; "
        f"rc = main(['validate', {str(IDLIB_2019)!r}]); assert rc == 0, rc; "
        "print(sorted(m for m in ('numpy', 'pandas', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _variants() -> dict[str, bytes]:
    base = OBSERVED_2019.read_bytes()
    lines = base.split(b"\n")
    return {
        "as shipped": base,
        "blank lines": base.replace(b"\n", b"\n\n", 2),
        "byte-order mark": b"\xef\xbb\xbf" + base,
        "latin-1": base.replace(b"people", b"peopl\xe9", 1),
        "short row": b"\n".join([*lines[:2], b"2019-05-09,2019-04-29,5,people", *lines[3:]]),
        "long row": b"\n".join([*lines[:2], lines[2] + b",extra", *lines[3:]]),
        "impossible date": base.replace(b"2019-05-09", b"2019-02-30", 1),
        "not a date": base.replace(b"2019-05-09", b"soon", 1),
        "old year": base.replace(b"2019-05-09", b"1019-05-09", 1),
        "infinite value": base.replace(b",150000,", b",inf,", 1),
        "negative value": base.replace(b",150000,", b",-1,", 1),
        "empty value": base.replace(b",150000,", b",,", 1),
        "unknown measure": base.replace(b",people,", b",persons,", 1),
        "unknown use": base.replace(b",check,", b",maybe,", 1),
        "missing column": base.replace(b"period_start", b"period", 1),
        "duplicated column": base.replace(b"report_date", b"use", 1),
        "CRLF": base.replace(b"\n", b"\r\n"),
        "spaces only line": base + b"   \n",
        "header only": lines[0] + b"\n",
        "empty": b"",
        "NUL": base.replace(b"people", b"peo\x00ple", 1),
        "unclosed quote": base.replace(b",people,", b',"people,', 1),
        "NA": base.replace(b",people,", b",NA,", 1),
        "empty column name": base.replace(b"report_date", b"", 1),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_observed_files_read_with_the_csv_module_as_pandas_reads_them(
    variant, tmp_path, monkeypatch
):
    """The csv-module reader of `validate` accepts and rejects what pandas' reader did, with
    the same messages, and loads the same table."""
    path = tmp_path / "observed.csv"
    path.write_bytes(_variants()[variant])

    def outcome():
        try:
            return "ok", observed.load_observed(path)
        except InputError as exc:
            return "error", str(exc)

    fast = outcome()
    monkeypatch.setattr(observed, "_plain_csv", lambda data: None)  # pandas reads every file
    slow = outcome()
    assert fast[0] == slow[0]
    if fast[0] == "ok":
        import pandas as pd

        pd.testing.assert_frame_equal(fast[1], slow[1])
    else:
        assert fast[1] == slow[1]


def test_places_read_without_numpy_make_the_world_of_arrays():
    data = ROOT / "scenarios" / "data"
    places = geography.read(data / "locations.csv", data / "routes.csv")
    world = geography.load(data / "locations.csv", data / "routes.csv")
    assert places.names == world.names and places.index == world.index
    assert places.kind == list(world.kind)
    assert sum(places.camp_population) == world.camp_population.sum()
    for a, b in [(0, 1), (3, 7)]:
        na, nb = world.names[a], world.names[b]
        assert places.route_index(na, nb) == world.route_index(na, nb)
    assert list(world.route_km) == places.route_km
